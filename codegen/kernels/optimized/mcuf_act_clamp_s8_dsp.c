/* mcuf_act_clamp_s8 (the fused activation's clamp, in place, kernels/reference/) with the DSP
 * extension: four bytes per SSUB8 (the GE flag of each byte lane where x >= the bound) + SEL,
 * one pair per bound the range actually narrows (a RELU6 with a zero point near 0 narrows
 * only the lower one). The head bytes before a word boundary and the tail after the last
 * whole word one at a time, then 16 bytes per LDM / STM step in assembly: 12 instructions per
 * 16 bytes with one bound (0.75 per byte), 20 with both (1.25), measured on QEMU's M7
 * (tests/test_act_clamp_qemu.py). Reads and writes data[0 .. size - 1] only, any size
 * (0 included) and alignment. Same bytes as the reference on every input. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

#if MCUF_HAS_DSP
/* n16 (>= 1) steps of 16 bytes at the word-aligned p: OPS applied to r4, r5, r6, r8 */
#define ACT_CLAMP_LOOP(OPS, ...)                                                            \
    __asm__ volatile("1:\n\t"                                                               \
                     "ldmia %[p], {r4, r5, r6, r8}\n\t"                                     \
                     OPS                                                                    \
                     "stmia %[p]!, {r4, r5, r6, r8}\n\t"                                    \
                     "subs %[n], %[n], #1\n\t"                                              \
                     "bne 1b"                                                               \
                     : [p] "+r"(w), [n] "+r"(n16)                                           \
                     : __VA_ARGS__                                                          \
                     : "r4", "r5", "r6", "r8", "r12", "cc", "memory")
#define MAX4(r) "ssub8 r12, " r ", %[lo]\n\tsel " r ", " r ", %[lo]\n\t"
#define MIN4(r) "ssub8 r12, " r ", %[hi]\n\tsel " r ", %[hi], " r "\n\t"
#endif

void mcuf_act_clamp_s8_dsp(int8_t *data, uint32_t size, int32_t act_min, int32_t act_max)
{
    const int lo_on = act_min > -128, hi_on = act_max < 127;
    if (!lo_on && !hi_on) {
        return;
    }
    while (size > 0 && ((uintptr_t)data & 3u) != 0) {   /* head: up to a word boundary */
        *data = mcuf_clamp_s8(*data, act_min, act_max);
        ++data;
        --size;
    }
    const uint32_t lo4 = mcuf_splat4_s8(act_min), hi4 = mcuf_splat4_s8(act_max);
#if MCUF_HAS_DSP
    uint32_t n16 = size >> 4;
    if (n16 > 0) {
        int8_t *w = data;
        if (lo_on && hi_on) {
            ACT_CLAMP_LOOP(MAX4("r4") MAX4("r5") MAX4("r6") MAX4("r8")
                           MIN4("r4") MIN4("r5") MIN4("r6") MIN4("r8"), [lo] "r"(lo4), [hi] "r"(hi4));
        } else if (lo_on) {
            ACT_CLAMP_LOOP(MAX4("r4") MAX4("r5") MAX4("r6") MAX4("r8"), [lo] "r"(lo4));
        } else {
            ACT_CLAMP_LOOP(MIN4("r4") MIN4("r5") MIN4("r6") MIN4("r8"), [hi] "r"(hi4));
        }
        data = w;
        size &= 15u;
    }
#endif
    for (; size >= 4; size -= 4, data += 4) {             /* whole words left */
        mcuf_write32(data, mcuf_clamp4_s8(mcuf_read32(data), lo4, hi4));
    }
    for (; size > 0; --size, ++data) {                    /* tail bytes */
        *data = mcuf_clamp_s8(*data, act_min, act_max);
    }
}
