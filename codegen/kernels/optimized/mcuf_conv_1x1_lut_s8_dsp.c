/* 1x1 convolution of a ONE-channel input (groups 1, any stride, no padding before the first
 * row / column) as a table look-up.
 *
 * With one input channel every output is one MAC, bias + (x + input_offset) * w[c], then
 * TFLite's requantization (MultiplyByQuantizedMultiplier, output zero point, fused
 * activation clamp); as x takes only 256 values, the generator tabulates every output
 * exactly: lut[(uint8_t)x][c] = the reference conv's output for input byte x and channel c
 * (codegen/ops/convolution.py, _lut_1x1_table). The kernel copies one table row of out_c
 * bytes per output pixel: per 4 output channels one LDR and one STR (unaligned where out_c %
 * 4 != 0, which Armv7-M and later allow), the 1-3 last channels byte by byte.
 * lut: 256 * out_c bytes, row r for the input byte (int8_t)r. No scratch. Reads input pixel
 * (oy * stride_h, ox * stride_w): the generator sends only layers where that pixel is inside
 * the input (pad_top == pad_left == 0). Same results as the reference mcuf_conv_s8, byte for byte. */
#include "mcuf_dsp.h"
#include "mcuf_nn.h"

void mcuf_conv_1x1_lut_s8_dsp(const mcuf_conv_params *p, const int8_t *input, const int8_t *lut,
                              int8_t *output)
{
    const int32_t OC = p->out_c, out_w = p->out_w, sw = p->stride_w;
    const int32_t row_step = (int32_t)p->stride_h * p->in_w;
    const uint8_t *const t = (const uint8_t *)lut;
    const uint8_t *row = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const int32_t words = OC >> 2, tail = OC & 3;
    for (int32_t oy = 0; oy < p->out_h; ++oy, row += row_step) {
        const uint8_t *px = row;
        const uint8_t *const end = row + out_w * sw;
        if (OC == 8) {   /* the common widths unrolled: two / eight words a pixel */
            for (; px != end; px += sw, out += 8) {
                const uint8_t *s = t + 8 * (int32_t)*px;
                const uint32_t a = mcuf_read32(s), b = mcuf_read32(s + 4);
                mcuf_write32(out, a);
                mcuf_write32(out + 4, b);
            }
        } else if (OC == 16) {
            for (; px != end; px += sw, out += 16) {
                const uint8_t *s = t + 16 * (int32_t)*px;
                const uint32_t a = mcuf_read32(s), b = mcuf_read32(s + 4);
                const uint32_t c = mcuf_read32(s + 8), d = mcuf_read32(s + 12);
                mcuf_write32(out, a);
                mcuf_write32(out + 4, b);
                mcuf_write32(out + 8, c);
                mcuf_write32(out + 12, d);
            }
        } else if (OC == 1) {
            for (; px != end; px += sw) {
                *out++ = t[*px];
            }
        } else {
            for (; px != end; px += sw) {
                const uint8_t *s = t + OC * (int32_t)*px;
                for (int32_t i = 0; i < words; ++i, s += 4, out += 4) {
                    mcuf_write32(out, mcuf_read32(s));
                }
                for (int32_t i = 0; i < tail; ++i) {
                    *out++ = *s++;
                }
            }
        }
    }
}
