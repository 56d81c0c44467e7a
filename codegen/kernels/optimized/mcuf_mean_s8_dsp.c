/* MEAN over adjacent axes, int8, for cores with the DSP extension: TFLite's integer
 * QuantizedMeanOrSum (reference_ops, as mcuf_mean_s8), byte for byte.
 *
 * The input is [batches][count][channels]. Four channels at a time, one word a row: SXTAB16
 * and SXTAB16 ROR 8 add its bytes (c0, c2) and (c1, c3) into 16-bit lanes, exact for up to
 * 256 rows (|sum| <= 256 * 128 = 2^15); longer runs flush into 32-bit sums every 256 rows.
 * A single channel (a mean over the last axis) sums 4 adjacent bytes per word the same way.
 * Then sum - zero_sum through the optimized output stage (mcuf_dsp.h), saturated to int8. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

#define RUN 256u   /* rows whose 16-bit lane sums cannot overflow */

#if MCUF_HAS_DSP
MCUF_INLINE uint32_t sxtab16(uint32_t acc, uint32_t x) { return __sxtab16(acc, x); }
MCUF_INLINE uint32_t sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
#else
MCUF_INLINE uint32_t sxtab16(uint32_t acc, uint32_t x) { return mcuf_sadd16(acc, mcuf_sxtb16(x)); }
MCUF_INLINE uint32_t sxtab16_ror8(uint32_t acc, uint32_t x) { return mcuf_sadd16(acc, mcuf_sxtb16_ror8(x)); }
#endif

MCUF_INLINE int32_t lo16(uint32_t v) { return (int16_t)(v & 0xFFFFu); }
MCUF_INLINE int32_t hi16(uint32_t v) { return (int16_t)(v >> 16); }

MCUF_INLINE int8_t out_of(mcuf_out_stage o, const mcuf_requant *q, int32_t sum, int32_t zero_sum)
{
    return mcuf_out(o, sum - zero_sum, q);
}

/* sums of channels c .. c + 3 over n <= RUN rows `stride` bytes apart, added to s[0..3] */
MCUF_INLINE void run4(const int8_t *in, uint32_t n, uint32_t stride, int32_t s[4])
{
    uint32_t e = 0, od = 0, e2 = 0, od2 = 0;
    uint32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const int8_t *row = in + i * stride;
        const uint32_t v = mcuf_read32(row), w = mcuf_read32(row + stride);
        e = sxtab16(e, v);
        od = sxtab16_ror8(od, v);
        e2 = sxtab16(e2, w);
        od2 = sxtab16_ror8(od2, w);
    }
    if (i < n) {
        const uint32_t v = mcuf_read32(in + i * stride);
        e = sxtab16(e, v);
        od = sxtab16_ror8(od, v);
    }
    s[0] += lo16(e) + lo16(e2);
    s[1] += lo16(od) + lo16(od2);
    s[2] += hi16(e) + hi16(e2);
    s[3] += hi16(od) + hi16(od2);
}

/* the sum of n contiguous bytes */
static int32_t sum_contiguous(const int8_t *in, uint32_t n)
{
    int32_t s = 0;
    while (n >= 4) {
        const uint32_t words = n / 4 < RUN ? n / 4 : RUN;   /* one byte a lane a word */
        uint32_t e = 0, od = 0;
        for (uint32_t i = 0; i < words; ++i, in += 4) {
            const uint32_t v = mcuf_read32(in);
            e = sxtab16(e, v);
            od = sxtab16_ror8(od, v);
        }
        s += lo16(e) + hi16(e) + lo16(od) + hi16(od);
        n -= 4 * words;
    }
    while (n--) {
        s += *in++;
    }
    return s;
}

MCUF_INLINE void body(const mcuf_mean_dsp_params *p, const int8_t *input, int8_t *output,
                      const int fast)
{
    const mcuf_out_stage o = {p->output_zero_point, -128, 127, 2 * p->output_zero_point + 1, fast};
    const int8_t b = (int8_t)p->shift;
    const mcuf_requant q = mcuf_requant_at(o, &p->multiplier, &b, 0);
    const int32_t zero_sum = p->zero_sum;
    const uint32_t count = p->count, ch = p->channels, c4 = ch & ~3u;
    for (uint32_t batch = 0; batch < p->batches; ++batch) {
        const int8_t *in = input + batch * count * ch;
        if (ch == 1) {
            *output++ = out_of(o, &q, sum_contiguous(in, count), zero_sum);
            continue;
        }
        uint32_t c = 0;
        for (; c < c4; c += 4, output += 4) {
            int32_t s[4] = {0, 0, 0, 0};
            if (count <= RUN) {
                run4(in + c, count, ch, s);
            } else {
                for (uint32_t r = 0; r < count; r += RUN) {
                    run4(in + r * ch + c, count - r < RUN ? count - r : RUN, ch, s);
                }
            }
            const int8_t y0 = out_of(o, &q, s[0], zero_sum), y1 = out_of(o, &q, s[1], zero_sum);
            const int8_t y2 = out_of(o, &q, s[2], zero_sum), y3 = out_of(o, &q, s[3], zero_sum);
            mcuf_write32(output, mcuf_pack4_s8(y0, y1, y2, y3));
        }
        for (; c < ch; ++c) {
            int32_t s = 0;
            for (uint32_t i = 0; i < count; ++i) {
                s += in[i * ch + c];
            }
            *output++ = out_of(o, &q, s, zero_sum);
        }
    }
}

void mcuf_mean_s8_dsp(const mcuf_mean_dsp_params *p, const int8_t *input, int8_t *output)
{
    if (mcuf_requant_is_fast(p->shift)) {
        body(p, input, output, 1);
    } else {
        body(p, input, output, 0);
    }
}
