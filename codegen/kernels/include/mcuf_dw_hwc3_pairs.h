/* mcuforge -- the HWC depthwise kernel's 3x3 pair loop as a template, included twice by
 * optimized/mcuf_depthwise_conv_hwc_s8_dsp.c (after the assembly pair routines it calls):
 * MCUF_HWC3_PAIRS names the function, MCUF_HWC3_TAIL1 1 runs the channel tail of 4k + 1
 * channels at stride 2 on one lane (dwt1s2_groups_fast) instead of two (dwt2s2_groups_fast).
 * Two copies rather than a run-time switch, so the entry point most models call
 * (mcuf_depthwise_conv_hwc_s8_dsp_fast) compiles to the same code as before the one-lane tail
 * and does not link it; only mcuf_depthwise_conv_hwc_3x3_tail1_s8_dsp_fast does.
 * Not a public header: no include guard (included once per copy). */

/* The _fast entry point's 3x3, undilated layers at stride_w 1 or 2 with C >= 4: the body's
 * two-pixel paths in a loop of their own (its registers for the pairs, not the general paths'):
 * per row, the runs of pairs inside the input (one call each), border pairs (their outside taps
 * pointed at the zero-point row by offset, bit mask zp_mask), an odd last column in pairs of
 * rows (dw3x2v1/v2) or pixel by pixel (in place, and the last row's), and the channel tail
 * (C % 4) as one more group over the last 4 channels (xtail) or through pixel() in place.
 * Same results and same order of writes as the body's paths it replaces. */
static __attribute__((noinline)) void MCUF_HWC3_PAIRS(const mcuf_conv_params *p, const int8_t *input,
                                                      const int16_t *filter, const int32_t *bias_folded,
                                                      const int32_t *multiplier, const int8_t *shift,
                                                      int8_t *output, int16_t *scratch)
{
    const int C = p->in_c, sw = p->stride_w, sh = p->stride_h, W = sw + 3;
    const int in_h = p->in_h, in_w = p->in_w, out_w = p->out_w, out_h = p->out_h;
    const int32_t row = (int32_t)in_w * C;
    const int8_t *const zp_row = (const int8_t *)(void *)scratch;   /* C4 input zero points */
    const uint32_t *const filter_w = (const uint32_t *)(const void *)filter;
    const int32_t *const otab = (const int32_t *)(const void *)(filter_w + ((C + 3) / 4) * 18);
    memset(scratch, (uint8_t)(-p->input_offset), (size_t)((C + 3) & ~3));
    intptr_t offs[9];   /* a pixel's taps: byte offsets from its window's top-left */
    for (int ky = 0, t = 0; ky < 3; ++ky, t += 3) {
        offs[t] = (intptr_t)ky * row;
        offs[t + 1] = offs[t] + C;
        offs[t + 2] = offs[t] + 2 * C;
    }
    const int alias = (uintptr_t)output < (uintptr_t)(input + (int32_t)in_h * row) &&
                      (uintptr_t)input < (uintptr_t)(output + (int32_t)out_h * out_w * C);
    const int colpair = (out_w & 1) && !alias;
    /* pairs inside the input: one job for the layer, dw3x2s1/s2's 3x4 / 3x5 block as byte
     * offsets from A's window (whose address the call passes as cur) */
    dw3x2_job jin;   /* every field the assembly reads set (it copies the rest unread) */
    {
        intptr_t *o = jin.tab.off;
        for (int ky = 0; ky < 3; ++ky) {
            for (intptr_t j = 0, v = (intptr_t)ky * row; j < W; ++j, v += C) {
                *o++ = v;
            }
        }
    }
    jin.bias = bias_folded;
    jin.otab = otab;
    jin.in_step = 2 * (intptr_t)sw * C - (C & ~3);
    jin.end_step = 2 * (intptr_t)sw * C;
    jin.d_step = 2 * (intptr_t)C - 2 * (intptr_t)sw * C;
    jin.bias0 = bias_folded;
    jin.otab0 = otab;
    jin.w0 = filter_w;
    /* a channel tail (C % 4, C > 4, the output not over the input): the last 4 channels as one
     * more group (channels C-4 .. C-1; C-4 .. C4-5 computed twice, the same bytes stored
     * twice), with its own weights, biases and table after the output table */
    const int xtail = (C & 3) && C > 4 && !alias;
    const int tail2 = xtail && (C & 3) != 3 && sw == 2;   /* the tail's pairs on two lanes (dwt2s2) */
    const uint32_t *const xw = (const uint32_t *)(const void *)(otab + 4 * ((C + 3) & ~3) + 4);
    const int32_t *const xbias = (const int32_t *)(const void *)(xw + 18);   /* its record */
    dw3x2_job jtl;
    if (xtail) {
        jtl = jin;
        jtl.bias = jtl.bias0 = xbias;
        jtl.otab = jtl.otab0 = xbias;
        jtl.w0 = xw;
        jtl.in_step = 2 * (intptr_t)sw * C - (tail2 ? 0 : 4);
    }
    /* border pairs: jin's block, the taps outside the input (bd_mask) pointed at the
     * zero-point row; the previous pair's put back where this one differs */
    void (*const pair_fn)(const dw3x2_job *, intptr_t, const uint32_t *) =
        sw == 1 ? dw3x2s1_groups_fast : dw3x2s2_groups_fast;
#if MCUF_HWC3_TAIL1
    /* the channel tail's pairs at stride 2: two lanes (C-2, C-1) for 4k + 2 channels, lane C-1
     * alone for 4k + 1 (its cur at channel C-1, not C-4) */
    const int tail1 = tail2 && (C & 3) == 1;
    void (*const tail_fn)(const dw3x2_job *, intptr_t, const uint32_t *) =
        tail1 ? dwt1s2_groups_fast : tail2 ? dwt2s2_groups_fast : pair_fn;
#define MCUF_HWC3_TAIL_BACK (tail1 ? 1 : 4)   /* the tail's cur: channel C-1 or C-4 */
#else
    /* the channel tail's pairs: two lanes (C-2, C-1) for 4k + 2 and 4k + 1 channels at stride 2 */
    void (*const tail_fn)(const dw3x2_job *, intptr_t, const uint32_t *) =
        tail2 ? dwt2s2_groups_fast : pair_fn;
#define MCUF_HWC3_TAIL_BACK 4
#endif
    dw3x2_job jbd;   /* pairs = 1: the assembly reads its block, otab, da, db and end */
    for (int t = 0; t < 3 * W; ++t) {
        jbd.tab.off[t] = jin.tab.off[t];
    }
    jbd.otab = otab;
    uint32_t bd_mask = 0;
    /* output columns whose window is inside the input horizontally: ox_lo .. ox_hi */
    const int ox_lo = (p->pad_left + sw - 1) / sw;
    const int ox_hi = in_w - 3 + p->pad_left >= 0 ? (in_w - 3 + p->pad_left) / sw : -1;
    const int m_hi = (ox_hi < out_w - 1 ? ox_hi : out_w - 1) + 1;   /* run pairs end before m_hi */
    for (int oy = 0; oy < out_h; ++oy) {
        const int iy0 = oy * sh - p->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + 2 < in_h;
        int8_t *const orow = output + (int32_t)oy * out_w * C;
        const uintptr_t rbase = (uintptr_t)input + (uintptr_t)((intptr_t)iy0 * row);
        /* the row's block rows outside the input (bit W * ky + j, every j) */
        const uint32_t rows_out = rows_in ? 0 : zp_mask(iy0, in_h, 0, W, W);
        int ox = 0;
        for (; ox + 1 < out_w;) {
            const int ix0 = ox * sw - p->pad_left;
            const uintptr_t base = rbase + (uintptr_t)((intptr_t)ix0 * C);
            int8_t *const out = orow + (int32_t)ox * C;
            if (rows_in && ox >= ox_lo && ox < m_hi - 1) {   /* a run of pairs inside the input */
                const int n = (m_hi - ox) / 2;
                jin.da = (intptr_t)((uintptr_t)out - base);
                jin.db = jin.da + C;
                jin.end = (intptr_t)(base + (uintptr_t)(C & ~3));
                jin.pairs = n;
                pair_fn(&jin, (intptr_t)base, filter_w);
                if (xtail) {   /* the run's channel tails: one more group per pair */
                    jtl.da = jin.da;
                    jtl.db = jin.db;
                    jtl.end = (intptr_t)(base + (uintptr_t)C);
                    jtl.pairs = n;
                    tail_fn(&jtl, (intptr_t)(base + (uintptr_t)(C - MCUF_HWC3_TAIL_BACK)), xw);
                } else if (C & 3) {
                    for (int i = 0; i < 2 * n; ++i) {
                        pixel(p, input, iy0, ix0 + i * sw, 1, C & ~3, filter, bias_folded, multiplier, shift,
                              out + i * C, 1);
                    }
                }
                ox += 2 * n;
                continue;
            }
            const intptr_t zoff = (intptr_t)((uintptr_t)zp_row - base);
            uint32_t mask = rows_out;
            if (ix0 < 0 || ix0 + W > in_w) {   /* block columns outside the input, in every row */
                mask |= zp_mask(0, 3, ix0, in_w, W);
            }
            for (uint32_t m = bd_mask & ~mask; m != 0; m &= m - 1) {
                const int t = __builtin_ctz(m);
                jbd.tab.off[t] = jin.tab.off[t];
            }
            zp_point(jbd.tab.off, mask, zoff);
            bd_mask = mask;
            jbd.da = (intptr_t)((uintptr_t)out - base);
            jbd.db = jbd.da + C;
            jbd.end = (intptr_t)(base + (uintptr_t)(C & ~3));
            jbd.pairs = 1;
            pair_fn(&jbd, (intptr_t)base, filter_w);
            if (xtail) {
                jbd.otab = xbias;
                jbd.end = (intptr_t)(base + (uintptr_t)C);
                tail_fn(&jbd, (intptr_t)(base + (uintptr_t)(C - MCUF_HWC3_TAIL_BACK)), xw);
                jbd.otab = otab;
            } else if (C & 3) {
                const int ins0 = rows_in && ix0 >= 0 && ix0 + 2 < in_w;
                const int ins1 = rows_in && ix0 + sw >= 0 && ix0 + sw + 2 < in_w;
                pixel(p, input, iy0, ix0, ins0, C & ~3, filter, bias_folded, multiplier, shift, out, 1);
                pixel(p, input, iy0, ix0 + sw, ins1, C & ~3, filter, bias_folded, multiplier, shift, out + C, 1);
            }
            ox += 2;
        }
        if (ox == out_w) {
            continue;
        }
        /* an odd last column */
        const int ix0 = ox * sw - p->pad_left;
        const int inside = rows_in && ix0 >= 0 && ix0 + 2 < in_w;
        const uintptr_t base = rbase + (uintptr_t)((intptr_t)ix0 * C);
        const intptr_t zoff = (intptr_t)((uintptr_t)zp_row - base);
        int8_t *const out = orow + (int32_t)ox * C;
        if (colpair && (oy & 1)) {
            continue;   /* done with the row above */
        }
        if (colpair && oy + 1 < out_h) {   /* with the next row's last pixel */
            const int iy1 = iy0 + sh;
            const int inside1 = iy1 >= 0 && iy1 + 2 < in_h && ix0 >= 0 && ix0 + 2 < in_w;
            int8_t *const out1 = out + (int32_t)out_w * C;
            dw3x2_job job;
            if (sh <= 2) {   /* dw3x2v1/v2's column-major 4x3 / 5x3 block */
                const int H = sh + 3;
                intptr_t *o = job.tab.off;
                for (int kx = 0; kx < 3; ++kx) {
                    for (intptr_t j = 0, v = (intptr_t)kx * C; j < H; ++j, v += row) {
                        *o++ = v;
                    }
                }
                if (!inside || !inside1) {
                    zp_point(job.tab.off, zp_mask(ix0, in_w, iy0, in_h, H), zoff);
                }
            } else {   /* A's taps from its window (cur), B's from A's window too (sh rows down) */
                const intptr_t dy = (intptr_t)sh * row;
                for (int t = 0; t < 9; ++t) {
                    job.tab.off[t] = offs[t];
                    job.tab.off[9 + t] = offs[t] + dy;
                }
                if (!inside) {
                    zp_point(job.tab.off, zp_mask(iy0, in_h, ix0, in_w, 3), zoff);
                }
                if (!inside1) {
                    zp_point(job.tab.off + 9, zp_mask(iy1, in_h, ix0, in_w, 3), zoff);
                }
            }
            job.bias = bias_folded;
            job.otab = otab;
            job.da = (intptr_t)((uintptr_t)out - base);
            job.db = (intptr_t)((uintptr_t)out1 - base);
            job.end = (intptr_t)(base + (uintptr_t)(C & ~3));
            job.pairs = 1;
            dw3x2v_call(&job, (intptr_t)base, filter_w, sh);
            if (xtail) {
                job.bias = xbias;
                job.otab = xbias;
                job.end = (intptr_t)(base + (uintptr_t)C);
                dw3x2v_call(&job, (intptr_t)(base + (uintptr_t)(C - 4)), xw, sh);
            } else if (C & 3) {
                pixel(p, input, iy0, ix0, inside, C & ~3, filter, bias_folded, multiplier, shift, out, 1);
                pixel(p, input, iy1, ix0, inside1, C & ~3, filter, bias_folded, multiplier, shift, out1, 1);
            }
            continue;
        }
        /* one pixel: the whole groups in assembly (taps outside the input to the zero-point
         * row by offset), then a channel tail in C */
        intptr_t o9[9];
        if (!inside) {
            for (int t = 0; t < 9; ++t) {
                o9[t] = offs[t];
            }
            zp_point(o9, zp_mask(iy0, in_h, ix0, in_w, 3), zoff);
        }
        dw3_job job = {bias_folded, otab, 0, (intptr_t)((uintptr_t)out - base),
                       (intptr_t)(base + (uintptr_t)(C & ~3))};
        dw3_groups_fast(&job, (intptr_t)base, filter_w, inside ? offs : o9);
        if (C & 3) {
            pixel(p, input, iy0, ix0, inside, C & ~3, filter, bias_folded, multiplier, shift, out, 1);
        }
    }
}
#undef MCUF_HWC3_TAIL_BACK
