/* AVERAGE_POOL_2D and MAX_POOL_2D, int8: reference_integer_ops::AveragePool / MaxPool.
 * Padding cells are left out of the window (and of the average's count). */
#include "mcuf_math.h"
#include "mcuf_nn.h"

static void pool_window(const mcuf_pool_params *p, int oy, int ox, int *y0, int *y1, int *x0,
                        int *x1)
{
    const int iy = oy * p->stride_h - p->pad_top;
    const int ix = ox * p->stride_w - p->pad_left;
    *y0 = iy < 0 ? 0 : iy;
    *x0 = ix < 0 ? 0 : ix;
    *y1 = iy + p->k_h > p->in_h ? p->in_h : iy + p->k_h;
    *x1 = ix + p->k_w > p->in_w ? p->in_w : ix + p->k_w;
}

void mcuf_avgpool_s8(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            int y0, y1, x0, x1;
            pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            const int32_t count = (int32_t)(y1 - y0) * (x1 - x0);
            for (int c = 0; c < p->channels; ++c) {
                int32_t acc = 0;
                for (int y = y0; y < y1; ++y) {
                    for (int x = x0; x < x1; ++x) {
                        acc += input[((int32_t)y * p->in_w + x) * p->channels + c];
                    }
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                *output++ = mcuf_clamp_s8(acc, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_avgpool_u8(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            int y0, y1, x0, x1;
            pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            const int32_t count = (int32_t)(y1 - y0) * (x1 - x0);
            for (int c = 0; c < p->channels; ++c) {
                int32_t acc = 0;   /* the uint8 sum: each stored value + 128 */
                for (int y = y0; y < y1; ++y) {
                    for (int x = x0; x < x1; ++x) {
                        acc += input[((int32_t)y * p->in_w + x) * p->channels + c] + 128;
                    }
                }
                if (count > 0) {
                    acc = (acc + count / 2) / count;
                }
                *output++ = mcuf_clamp_s8(acc - 128, p->act_min, p->act_max);
            }
        }
    }
}

void mcuf_maxpool_s8(const mcuf_pool_params *p, const int8_t *input, int8_t *output)
{
    for (int oy = 0; oy < p->out_h; ++oy) {
        for (int ox = 0; ox < p->out_w; ++ox) {
            int y0, y1, x0, x1;
            pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            for (int c = 0; c < p->channels; ++c) {
                int32_t m = -128;
                for (int y = y0; y < y1; ++y) {
                    for (int x = x0; x < x1; ++x) {
                        m = mcuf_max32(m, input[((int32_t)y * p->in_w + x) * p->channels + c]);
                    }
                }
                *output++ = mcuf_clamp_s8(m, p->act_min, p->act_max);
            }
        }
    }
}
