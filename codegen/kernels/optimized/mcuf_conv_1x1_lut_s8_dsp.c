/* 1x1 convolution of a ONE-channel input (groups 1, any stride, no padding before the first
 * row / column) as a table look-up.
 *
 * With one input channel every output is one MAC, bias + (x + input_offset) * w[c], then
 * TFLite's requantization (MultiplyByQuantizedMultiplier, output zero point, fused
 * activation clamp); as x takes only 256 values, the generator tabulates every output
 * exactly: lut[(uint8_t)x][c] = the reference conv's output for input byte x and channel c
 * (codegen/ops/convolution.py, _lut_1x1_table). The kernel copies one table row of out_c
 * bytes per output pixel (copy_row: per 4 output channels one LDR and one STR, unaligned where
 * out_c % 4 != 0, which Armv7-M and later allow; a 2-byte tail as one halfword).
 * lut: 256 * out_c bytes, row r for the input byte (int8_t)r. No scratch. Reads input pixel
 * (oy * stride_h, ox * stride_w): the generator sends only layers where that pixel is inside
 * the input (pad_top == pad_left == 0). Same results as the reference mcuf_conv_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

/* n >= 4 bytes from s to d: whole words, and for n % 4 != 0 one more word ending at byte n
 * (overlapping the last one: the same bytes written twice) */
MCUF_INLINE uint8_t *copy_any(uint8_t *d, const uint8_t *s, int32_t n)
{
    const uint32_t last = mcuf_read32(s + n - 4);
    for (int32_t i = 4; i <= n; i += 4, s += 4, d += 4) {
        mcuf_write32(d, mcuf_read32(s));
    }
    mcuf_write32(d + (n & 3) - 4, last);
    return d + (n & 3);
}

/* n bytes from s to d: unrolled where n is a constant of the switch, else copy_any */
MCUF_INLINE uint8_t *copy_row(uint8_t *d, const uint8_t *s, int32_t n)
{
    switch (n) {
    case 1:
        d[0] = s[0];
        return d + 1;
    case 2: {
        uint16_t h;
        memcpy(&h, s, 2);
        memcpy(d, &h, 2);
        return d + 2;
    }
    case 3: {
        uint16_t h;
        memcpy(&h, s, 2);
        memcpy(d, &h, 2);
        d[2] = s[2];
        return d + 3;
    }
    case 4:
        mcuf_write32(d, mcuf_read32(s));
        return d + 4;
    case 8: {
        const uint32_t a = mcuf_read32(s), b = mcuf_read32(s + 4);
        mcuf_write32(d, a);
        mcuf_write32(d + 4, b);
        return d + 8;
    }
    case 16: {
        const uint32_t a = mcuf_read32(s), b = mcuf_read32(s + 4);
        const uint32_t c = mcuf_read32(s + 8), e = mcuf_read32(s + 12);
        mcuf_write32(d, a);
        mcuf_write32(d + 4, b);
        mcuf_write32(d + 8, c);
        mcuf_write32(d + 12, e);
        return d + 16;
    }
    default:
        return copy_any(d, s, n);
    }
}

/* The pixel loop of mcuf_conv_1x1_lut_s8_dsp with the row width N a constant where it is one
 * (copy_row's switch resolved at compile time, out of the loop) */
MCUF_INLINE uint8_t *lut_rows(uint8_t *out, const uint8_t *px, const uint8_t *end, int32_t sw,
                              const uint8_t *t, int32_t N)
{
    for (; px != end; px += sw) {
        out = copy_row(out, t + N * (int32_t)*px, N);
    }
    return out;
}

void mcuf_conv_1x1_lut_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *lut,
                              int8_t *output)
{
    const int32_t OC = p->out_c, out_w = p->out_w, sw = p->stride_w;
    const int32_t row_step = (int32_t)p->stride_h * p->in_w;
    const uint8_t *const t = (const uint8_t *)lut;
    const uint8_t *row = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    for (int32_t oy = 0; oy < p->out_h; ++oy, row += row_step) {
        const uint8_t *const end = row + out_w * sw;
        switch (OC) {
        case 1:
            out = lut_rows(out, row, end, sw, t, 1);
            break;
        case 2:
            out = lut_rows(out, row, end, sw, t, 2);
            break;
        case 4:
            out = lut_rows(out, row, end, sw, t, 4);
            break;
        case 8:
            out = lut_rows(out, row, end, sw, t, 8);
            break;
        case 16:
            out = lut_rows(out, row, end, sw, t, 16);
            break;
        case 3:
            out = lut_rows(out, row, end, sw, t, 3);
            break;
        case 32:
            out = lut_rows(out, row, end, sw, t, 32);
            break;
        default:   /* OC >= 5 */
            for (const uint8_t *px = row; px != end; px += sw) {
                out = copy_any(out, t + OC * (int32_t)*px, OC);
            }
            break;
        }
    }
}

/* The channel loop of mcuf_depthwise_conv_1x1_lut_s8_dsp at multiplier M > 1 (a constant where
 * it is one): per input channel its M outputs, one table row */
MCUF_INLINE uint8_t *lut_channels(uint8_t *out, const uint8_t *x, int32_t C, const uint8_t *t, int32_t M)
{
    for (int32_t c = C; c > 0; --c, t += 256 * M) {
        out = copy_row(out, t + M * (int32_t)*x++, M);
    }
    return out;
}

/* 1x1 DEPTHWISE_CONV_2D (any depth multiplier M, any stride, no padding before the first row /
 * column) as table look-ups: the M outputs of input channel c are lut[c][(uint8_t)x_c][0..M-1],
 * the reference depthwise conv's outputs for input byte x_c (the generator's _lut_1x1_table per
 * channel). At M = 1 per 4 channels one LDR of the inputs, 4 byte look-ups, one STR; else per
 * input channel a copy_row of M bytes. lut: in_c * 256 * M bytes. No scratch. Same results as
 * the reference mcuf_depthwise_conv_s8, byte for byte. (Over ONE input channel the layer is a
 * 1x1 CONV_2D over one channel: the generator sends it to mcuf_conv_1x1_lut_s8_dsp.) */
void mcuf_depthwise_conv_1x1_lut_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *lut,
                                        int8_t *output)
{
    const int32_t C = p->in_c, M = p->depth_multiplier, out_w = p->out_w;
    const int32_t pix_step = (int32_t)p->stride_w * C, row_step = (int32_t)p->stride_h * p->in_w * C;
    const uint8_t *row = (const uint8_t *)input;
    const uint8_t *const t0 = (const uint8_t *)lut;
    uint8_t *out = (uint8_t *)output;
    for (int32_t oy = 0; oy < p->out_h; ++oy, row += row_step) {
        const uint8_t *px = row;
        if (M == 1) {
            for (int32_t ox = 0; ox < out_w; ++ox, px += pix_step) {
                const uint8_t *t = t0, *x = px;
                int32_t c = C;
                for (; c >= 4; c -= 4, t += 1024, x += 4, out += 4) {
                    const uint32_t v = mcuf_read32(x);
                    const uint32_t y = (uint32_t)t[v & 0xFF] | (uint32_t)t[256 + ((v >> 8) & 0xFF)] << 8
                                       | (uint32_t)t[512 + ((v >> 16) & 0xFF)] << 16
                                       | (uint32_t)t[768 + (v >> 24)] << 24;
                    mcuf_write32(out, y);
                }
                for (; c > 0; --c, t += 256) {
                    *out++ = t[*x++];
                }
            }
        } else if (M == 2) {
            for (int32_t ox = 0; ox < out_w; ++ox, px += pix_step) {
                out = lut_channels(out, px, C, t0, 2);
            }
        } else if (M == 4) {
            for (int32_t ox = 0; ox < out_w; ++ox, px += pix_step) {
                out = lut_channels(out, px, C, t0, 4);
            }
        } else if (M == 8) {
            for (int32_t ox = 0; ox < out_w; ++ox, px += pix_step) {
                out = lut_channels(out, px, C, t0, 8);
            }
        } else {
            for (int32_t ox = 0; ox < out_w; ++ox, px += pix_step) {
                out = lut_channels(out, px, C, t0, M);
            }
        }
    }
}
