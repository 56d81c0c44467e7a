/* classify_image: an image through two generated models that share one arena.
 *
 * The pixels (image.c, converted from triangle.ppm at build time) go through each model's
 * pixel helper, the model runs, and the application prints the output bytes, the top-1 label
 * with its dequantized score, the runner-up and the time of the inference:
 *
 *   classify_image board=qemu-mps2-an500 arena=140656 models=2
 *   shapes_v1 output: -120 -128 115 -123
 *   shapes_v1 top-1: triangle (2) score 0.949 next: circle 0.031 time 2345678 instructions (QEMU)
 *   ...
 *   done
 *
 * The models were emitted with --arena external: neither has a static arena; the application
 * owns one buffer sized for the larger and hands it to each model's _init(). They never run at
 * the same time, and each input is written just before its model runs (the input lives in the
 * arena too).
 */
#include "board.h"
#include "image.h"
#include "shapes_v1.h"
#ifdef CLASSIFY_TWO_MODELS
#include "shapes_v2.h"
#define NUM_MODELS 2
#define ARENA_BYTES (SHAPES_V1_ARENA_SIZE > SHAPES_V2_ARENA_SIZE ? SHAPES_V1_ARENA_SIZE : SHAPES_V2_ARENA_SIZE)
#define ARENA_ALIGN (SHAPES_V1_ARENA_ALIGN > SHAPES_V2_ARENA_ALIGN ? SHAPES_V1_ARENA_ALIGN : SHAPES_V2_ARENA_ALIGN)
#else
#define NUM_MODELS 1
#define ARENA_BYTES SHAPES_V1_ARENA_SIZE
#define ARENA_ALIGN SHAPES_V1_ARENA_ALIGN
#endif

/* The one arena. (Named `arena`: `firmware size` reports a symbol of that name as the arena.)
 * EXAMPLE_ARENA_SECTION places it (CMake option CLASSIFY_PLACED: PSRAM). */
#ifndef EXAMPLE_ARENA_SECTION
#define EXAMPLE_ARENA_SECTION
#endif
static int8_t arena[ARENA_BYTES] __attribute__((aligned(ARENA_ALIGN))) EXAMPLE_ARENA_SECTION;

/* The counter the models' _invoke_timed() reads (-DMCUF_COUNTER_READ=example_counter): the
 * board's, which counts instructions on QEMU (SysTick under -icount) and cycles on hardware. */
uint32_t example_counter(void);
uint32_t example_counter(void) { return (uint32_t)board_counter_read(); }

static void put_permille(float x)
{
    const int32_t m = (int32_t)(x * 1000.0f + 0.5f);
    console_put_int(m / 1000);
    console_puts(".");
    console_put_int(m / 100 % 10);
    console_put_int(m / 10 % 10);
    console_put_int(m % 10);
}

static void fail(const char *model, const char *what, int rc)
{
    console_puts(model);
    console_puts(": ");
    console_puts(what);
    console_puts(" returned ");
    console_put_int(rc);
    console_puts("\n");
    board_exit(1);
}

/* The same steps for every model; `m` is the model's --name, `M` its upper-case prefix. */
#define CLASSIFY(m, M)                                                                        \
    do {                                                                                      \
        int rc = m##_init(arena, sizeof arena);                                               \
        if (rc != M##_OK) {                                                                   \
            fail(#m, "init", rc);                                                             \
        }                                                                                     \
        rc = m##_input_from_pixels(image_pixels, IMAGE_BYTES);                                \
        if (rc != M##_OK) {                                                                   \
            fail(#m, "input_from_pixels", rc);                                                \
        }                                                                                     \
        uint32_t elapsed = 0;                                                                 \
        rc = m##_invoke_timed(&elapsed);                                                      \
        if (rc != M##_OK) {                                                                   \
            fail(#m, "invoke", rc);                                                           \
        }                                                                                     \
        console_puts(#m " output:");                                                          \
        for (int i = 0; i < M##_OUTPUT_SIZE; ++i) {                                           \
            console_puts(" ");                                                                \
            console_put_int(m##_output()[i]);                                                 \
        }                                                                                     \
        int top[2];                                                                           \
        const int n = m##_top_k(2, top);                                                      \
        console_puts("\n" #m " top-1: ");                                                     \
        console_puts(m##_label(top[0]));                                                      \
        console_puts(" (");                                                                   \
        console_put_int(top[0]);                                                              \
        console_puts(") score ");                                                             \
        put_permille(m##_output_float(top[0]));                                               \
        if (n > 1) {                                                                          \
            console_puts(" next: ");                                                          \
            console_puts(m##_label(top[1]));                                                  \
            console_puts(" ");                                                                \
            put_permille(m##_output_float(top[1]));                                           \
        }                                                                                     \
        console_puts(" time ");                                                               \
        console_put_uint(elapsed);                                                            \
        console_puts(" ");                                                                    \
        console_puts(board_counter_unit());                                                   \
        console_puts("\n");                                                                   \
    } while (0)

int main(void)
{
    board_init();
    board_counter_start();
    console_puts("classify_image board=");
    console_puts(board_name());
    console_puts(" arena=");
    console_put_uint(sizeof arena);
    console_puts(" models=");
    console_put_uint(NUM_MODELS);
    console_puts("\n");

    CLASSIFY(shapes_v1, SHAPES_V1);
#ifdef CLASSIFY_TWO_MODELS
    CLASSIFY(shapes_v2, SHAPES_V2);
#endif
    console_puts("done\n");
    return 0;
}
