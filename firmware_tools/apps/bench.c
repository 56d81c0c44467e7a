/* Bench firmware: runs the generated model on the anchor's deterministic input and reports
 * the output bytes, the time of one inference and the stack high-water mark, then exits.
 *
 * Output, one item per line (the host tools parse it):
 *   mcuforge-bench board=<name> clock_hz=<hz>
 *   output: <MODEL_OUTPUT_SIZE signed bytes>
 *   time: <n> <unit>
 *   stack: <bytes>
 *   arena: <bytes>
 *   layer <i>: <n>          (only when built with -DBENCH_PROFILE)
 *   done
 *
 * With -DBENCH_PROFILE -DMCUF_LAYER_HOOK=bench_layer_hook the counter is read after every
 * layer; the per-layer figures then add up exactly to the total (hook cost included).
 */
#include "board.h"
#include "model.h"

#ifdef BENCH_PROFILE
static uint64_t layer_end[MODEL_NUM_LAYERS + 1];
static int profiling;

void bench_layer_hook(int layer, const int8_t *output, uint32_t bytes);
void bench_layer_hook(int layer, const int8_t *output, uint32_t bytes)
{
    (void)output;
    (void)bytes;
    if (profiling) {
        layer_end[layer + 1] = board_counter_read();
    }
}
#endif

static void fill_input(void)
{
    int8_t *in = model_input();
    for (uint32_t i = 0; i < MODEL_INPUT_SIZE; ++i) {
        in[i] = (int8_t)(((i * 7u + 3u) % 256u) - 128u);
    }
}

int main(void)
{
    board_init();
    console_puts("mcuforge-bench board=");
    console_puts(board_name());
    console_puts(" clock_hz=");
    console_put_uint(board_clock_hz());
    console_puts("\n");

    fill_input();
    model_invoke();          /* warm-up, as the anchor does (caches on real cores) */
    fill_input();            /* the arena reuses the input's bytes: write it again */
    stack_paint();
    board_counter_start();
#ifdef BENCH_PROFILE
    profiling = 1;
    model_invoke();
    profiling = 0;
    const uint64_t t0 = layer_end[0], t1 = layer_end[MODEL_NUM_LAYERS];
#else
    const uint64_t t0 = board_counter_read();
    model_invoke();
    const uint64_t t1 = board_counter_read();
#endif
    const uint32_t stack = stack_high_water();

    console_puts("output:");
    const int8_t *out = model_output();
    for (uint32_t i = 0; i < MODEL_OUTPUT_SIZE; ++i) {
        console_puts(" ");
        console_put_int(out[i]);
    }
    console_puts("\ntime: ");
    console_put_uint(t1 - t0);
    console_puts(" ");
    console_puts(board_counter_unit());
    console_puts("\nstack: ");
    console_put_uint(stack);
    console_puts("\narena: ");
    console_put_uint(MODEL_ARENA_SIZE);
    console_puts("\n");
#ifdef BENCH_PROFILE
    for (int i = 0; i < MODEL_NUM_LAYERS; ++i) {
        console_puts("layer ");
        console_put_int(i);
        console_puts(": ");
        console_put_uint(layer_end[i + 1] - layer_end[i]);
        console_puts("\n");
    }
#endif
    console_puts("done\n");
    return 0;
}
