/* Bench firmware: runs the generated model on the anchor's deterministic input and reports
 * the output bytes, the time of one inference and the stack high-water mark, then exits.
 *
 * Output, one item per line (the host tools parse it):
 *   mcuforge-bench board=<name> clock_hz=<hz>
 *   output: <MODEL_OUTPUT_SIZE signed bytes>
 *   output <k>: <output k's signed bytes>            (k >= 1, models with several outputs)
 *   time: <n> <unit>
 *   stack: <bytes>
 *   arena: <bytes>
 *   hook: <n>               (only when built with -DBENCH_PROFILE: the hook's own cost)
 *   layer <i>: <n>          (only when built with -DBENCH_PROFILE)
 *   output_f32 <k>: <hex of each float's bits>    (outputs with a float32 edge, after the
 *   output_u8 <k>: <bytes>                           inputs got the pattern through their edges)
 *   done
 *
 * With -DBENCH_PROFILE -DMCUF_LAYER_HOOK=bench_layer_hook the counter is read after every
 * layer; the per-layer figures then add up exactly to the total (hook cost included). Each
 * layer's figure holds exactly one hook's cost (the end of the previous hook, after its counter
 * read, and the start of its own, up to its read), which a production build does not have:
 * "hook:" reports that cost, measured on the device as the mean of 64 calls made the way the
 * model makes them (firmware_tools.qemu.parse_bench subtracts it from each layer).
 *
 * A counter that ticks every P instructions (QEMU's SysTick: P = 40 on mps2, 50 on mps2-an505,
 * 31.25 on mps3-an547, 62.5 on the micro:bit) reads each layer to within P; a 32-MAC layer's
 * figure then moved by 1.25-1.56 instructions per MAC with the phase the earlier layers left.
 * So the profiled inference runs PHASES times, each started a further 5 instructions after a
 * counter tick (PHASES = ceil(P / 5): the starts cover one tick's period evenly), and every
 * figure printed is the mean over the runs: within 5 instructions of the exact count (exact
 * when P is a multiple of 5). A counter of one instruction or cycle (P = 1) runs once.
 */
#include "board.h"
#include "model.h"

#ifdef BENCH_PROFILE
static uint64_t layer_end[MODEL_NUM_LAYERS + 1];
static uint64_t layer_sum[MODEL_NUM_LAYERS + 1];   /* [0]: whole inference; [i + 1]: layer i */
static int profiling;
static void fill_input(void);

void bench_layer_hook(int layer, const int8_t *output, uint32_t bytes) __attribute__((noinline));
void bench_layer_hook(int layer, const int8_t *output, uint32_t bytes)
{
    (void)output;
    (void)bytes;
    if (profiling) {
        layer_end[layer + 1] = board_counter_read();
    }
}

/* The hook's cost, call included, as a layer's count holds it: 64 direct calls with the
 * model's argument set-up, back to back (the mps2 counter ticks every 40 instructions, so a
 * mean over 64 is within one instruction). */
#define HOOK_CALL bench_layer_hook(-1, (const int8_t *)0, 0u)
#define HOOK_CALLS8 HOOK_CALL; HOOK_CALL; HOOK_CALL; HOOK_CALL; HOOK_CALL; HOOK_CALL; HOOK_CALL; HOOK_CALL
static uint32_t hook_instructions(void)
{
    profiling = 1;
    const uint64_t a = board_counter_read();
    HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8; HOOK_CALLS8;
    const uint64_t b = board_counter_read();
    profiling = 0;
    return (uint32_t)((b - a + 32u) / 64u);
}

/* Spins until the counter moves; returns the instructions (cycles) of one tick. */
static uint32_t next_tick(void)
{
    const uint64_t a = board_counter_read();
    uint64_t b;
    while ((b = board_counter_read()) == a) {
    }
    return (uint32_t)(b - a);
}

/* 5 * n executed instructions (n >= 1): three NOPs, SUBS, BNE a turn, in Thumb-1 for M0+ too. */
static void __attribute__((noinline)) delay_5n(uint32_t n)
{
#if __ARM_ARCH_ISA_THUMB == 1   /* GCC hands Thumb-1 inline assembly over in divided syntax */
    __asm volatile("1: nop\n nop\n nop\n sub %0, #1\n bne 1b" : "+l"(n) : : "cc");
#else
    __asm volatile("1: nop\n nop\n nop\n subs %0, %0, #1\n bne 1b" : "+l"(n) : : "cc");
#endif
}

/* One profiled inference started `offset` instructions after a tick; adds its figures to layer_sum. */
static void profiled_run(uint32_t offset)
{
    fill_input();          /* the arena reuses the input's bytes */
    (void)next_tick();
    delay_5n(offset / 5u + 1u);   /* always called: the same overhead in every run */
    profiling = 1;
    model_invoke();
    profiling = 0;
    layer_sum[0] += layer_end[MODEL_NUM_LAYERS] - layer_end[0];
    for (int i = 0; i < MODEL_NUM_LAYERS; ++i) {
        layer_sum[i + 1] += layer_end[i + 1] - layer_end[i];
    }
}
#endif

static int8_t pattern(uint32_t i)
{
    return (int8_t)(((i * 7u + 3u) % 256u) - 128u);
}

static void fill_input(void)
{
    for (int k = 0; k < MODEL_NUM_INPUTS; ++k) {
        int8_t *in = model_input_at(k);
        for (uint32_t i = 0; i < model_input_info(k)->size; ++i) {
            in[i] = pattern(i);
        }
    }
}

static void put_bytes(const char *label, int k, const int8_t *p, uint32_t n)
{
    console_puts(label);
    if (k > 0) {
        console_puts(" ");
        console_put_int(k);
    }
    console_puts(":");
    for (uint32_t i = 0; i < n; ++i) {
        console_puts(" ");
        console_put_int(p[i]);
    }
    console_puts("\n");
}

#if MODEL_EDGE_F32_SIZE > 0 || MODEL_EDGE_U8_SIZE > 0
/* The float32/uint8 entry points on the device: input k gets the pattern through its edge --
 * float32: x[i] = (pattern(i) - zero_point + ((i % 5) - 2) / 4) * scale in single precision
 * (exact halves included), uint8: the pattern's bytes -- and every output with an edge is
 * printed through it (float32 as the hex of its bits). */
static float fbuf[MODEL_EDGE_F32_SIZE + 1];
static uint8_t ubuf[MODEL_EDGE_U8_SIZE + 1];

static void put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char s[9];
    for (int i = 0; i < 8; ++i) {
        s[i] = digits[(v >> (28 - 4 * i)) & 15u];
    }
    s[8] = 0;
    console_puts(s);
}

static void run_edges(void)
{
    fill_input();
    for (int k = 0; k < MODEL_NUM_INPUTS; ++k) {
        const model_io_info *info = model_input_info(k);
        for (uint32_t i = 0; i < info->size && info->type != MCUF_IO_INT8; ++i) {
            const float frac = (float)((int32_t)(i % 5u) - 2) / 4.0f;
            fbuf[i % (MODEL_EDGE_F32_SIZE + 1)] =
                ((float)((int32_t)pattern(i) - info->zero_point) + frac) * info->scale;
            ubuf[i % (MODEL_EDGE_U8_SIZE + 1)] = (uint8_t)pattern(i);
        }
        if (info->type == MCUF_IO_FLOAT32) {
            model_set_input_f32(k, fbuf);
        } else if (info->type == MCUF_IO_UINT8) {
            model_set_input_u8(k, ubuf);
        }
    }
    model_invoke();
    for (int k = 0; k < MODEL_NUM_OUTPUTS; ++k) {
        const model_io_info *info = model_output_info(k);
        if (info->type == MCUF_IO_FLOAT32 && model_get_output_f32(k, fbuf) == 0) {
            console_puts("output_f32 ");
            console_put_int(k);
            console_puts(":");
            for (uint32_t i = 0; i < info->size; ++i) {
                union {
                    float f;
                    uint32_t u;
                } v = {fbuf[i]};
                console_puts(" ");
                put_hex(v.u);
            }
            console_puts("\n");
        } else if (info->type == MCUF_IO_UINT8 && model_get_output_u8(k, ubuf) == 0) {
            console_puts("output_u8 ");
            console_put_int(k);
            console_puts(":");
            for (uint32_t i = 0; i < info->size; ++i) {
                console_puts(" ");
                console_put_uint(ubuf[i]);
            }
            console_puts("\n");
        }
    }
}
#endif

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
    const uint32_t hook = hook_instructions();
    (void)next_tick();
    const uint32_t period = next_tick();
    const uint32_t phases = period > 1u ? (period + 4u) / 5u : 1u;
    profiled_run(0);
    for (uint32_t r = 1; r < phases; ++r) {
        profiled_run(5u * r);
    }
    const uint64_t t0 = 0, t1 = (layer_sum[0] + phases / 2u) / phases;
    uint64_t done = 0;     /* the layers' sums so far: each mean is rounded from the running */
    uint64_t shown = 0;    /* total, so the figures printed add up exactly to "time:" */
#else
    const uint64_t t0 = board_counter_read();
    model_invoke();
    const uint64_t t1 = board_counter_read();
#endif
    const uint32_t stack = stack_high_water();

    for (int k = 0; k < MODEL_NUM_OUTPUTS; ++k) {
        put_bytes("output", k, model_output_at(k), model_output_info(k)->size);
    }
    console_puts("time: ");
    console_put_uint(t1 - t0);
    console_puts(" ");
    console_puts(board_counter_unit());
    console_puts("\nstack: ");
    console_put_uint(stack);
    console_puts("\narena: ");
    console_put_uint(MODEL_ARENA_SIZE);
    console_puts("\n");
#ifdef BENCH_PROFILE
    console_puts("hook: ");
    console_put_uint(hook);
    console_puts("\n");
    for (int i = 0; i < MODEL_NUM_LAYERS; ++i) {
        console_puts("layer ");
        console_put_int(i);
        console_puts(": ");
        done += layer_sum[i + 1];
        const uint64_t upto = (done + phases / 2u) / phases;
        console_put_uint(upto - shown);
        shown = upto;
        console_puts("\n");
    }
#endif
#if MODEL_EDGE_F32_SIZE > 0 || MODEL_EDGE_U8_SIZE > 0
    run_edges();
#endif
    console_puts("done\n");
    return 0;
}
