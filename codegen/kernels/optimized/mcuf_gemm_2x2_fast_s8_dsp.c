/* The GEMM kernels' inner run in Armv7E-M assembly: mcuf_gemm_2x2_s8, one channel pair's run
 * (for the kernels' C loops), and mcuf_gemm_2x2_fast_s8, every output channel of one pixel
 * pair with the fast output stage.
 *
 * Per channel pair this is mcuf_gemm_2x2 (one LDM of the column pair, one LDRD of the
 * weights, 4 SXTB16, 8 SMLAD per 16 MACs) followed by the SMMLAR output stage of the four
 * results (mcuf_out_fast2). In C, gcc has to spill the loop's pointers around the 14
 * registers the inner run holds and reloads them one by one; here they live in a small
 * stack frame the block reads with single loads: about 45 instructions per channel pair
 * besides the MACs instead of about 70 -- on a MobileNet 1x1 layer that is most of what is
 * not multiplication. The accumulators are 2 * acc from the start (the column pair and the
 * biases are doubled), as the output stage wants. Each channel's rounding constant is one
 * LSL of 2 * zero point + 1 by its shift byte (2 instructions more per pair than loading it,
 * and 7 flash bytes less per channel).
 *
 * Register use: r0-r3 accumulators (pixel 0 channel 0, pixel 0 channel 1, pixel 1 channel 0,
 * pixel 1 channel 1), r4-r7 column words, r8/r9 weights, r10 scratch, r11 column pointer,
 * ip weight pointer, lr end of the pair's weights. Frame: the job's first nine words; the
 * output stage reuses r4-r9 for the constants and r11, lr for their pointers. */
#include "mcuf_dsp.h"

/* The unrolled inline assembly below is one string literal longer than the 4,095 characters
 * C99 asks compilers to support; gcc and clang take it, so -pedantic's warning is off here. */
#pragma GCC diagnostic ignored "-Woverlength-strings"

#if MCUF_HAS_DSP

/* one step: 4 inputs of both pixels times 4 weights of both channels */
#define STEP                                                                         \
    "ldmia r11!, {r4, r5, r6, r7}\n\t" /* (x0,x2) (x1,x3) of pixel 0, then pixel 1 */ \
    "ldrd r8, r9, [ip], #8\n\t"        /* 4 weights of channel 0, 4 of channel 1 */   \
    "sxtb16 r10, r8\n\t"                                                              \
    "sxtb16 r8, r8, ror #8\n\t"                                                       \
    "smlad r0, r4, r10, r0\n\t"                                                       \
    "smlad r2, r6, r10, r2\n\t"                                                       \
    "smlad r0, r5, r8, r0\n\t"                                                        \
    "smlad r2, r7, r8, r2\n\t"                                                        \
    "sxtb16 r10, r9\n\t"                                                              \
    "sxtb16 r9, r9, ror #8\n\t"                                                       \
    "smlad r1, r4, r10, r1\n\t"                                                       \
    "smlad r3, r6, r10, r3\n\t"                                                       \
    "smlad r1, r5, r9, r1\n\t"                                                        \
    "smlad r3, r7, r9, r3\n\t"

/* y = (SMMLAR(acc, multiplier, round) + (acc >> 31)) >> b >> 1, saturated to int8 */
#define OUT(acc, m, rnd, b)                                                          \
    "smmlar r10, " acc ", " m ", " rnd "\n\t"                                         \
    "add r10, r10, " acc ", asr #31\n\t"                                              \
    "asr r10, r10, " b "\n\t"                                                         \
    "ssat " acc ", #8, r10, asr #1\n\t"

/* The run from w to w_end, unrolled twice; the flags of a TST of its length with 8 say
 * whether the step count is odd, and then it enters at the second step. Expects r11 column,
 * ip weights, lr end, r0-r3 accumulators; uses r4-r10. */
#define RUN_AFTER_TST                                                                \
    "bne 3f\n\t"                                                                     \
    "2:\n\t" STEP                                                                    \
    "3:\n\t" STEP                                                                    \
    "cmp ip, lr\n\t"                                                                 \
    "bne 2b\n\t"

/* acc[0..3] += the run of col against w .. w_end (mcuf_gemm_2x2's contract; w_end > w). */
__attribute__((naked)) void mcuf_gemm_2x2_s8(__attribute__((unused)) const void *col,
                                             __attribute__((unused)) const void *w,
                                             __attribute__((unused)) const void *w_end,
                                             __attribute__((unused)) int32_t acc[4])
{
    __asm__ volatile(
        "push {r3, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "mov r11, r0\n\t"
        "mov ip, r1\n\t"
        "mov lr, r2\n\t"
        "ldmia r3, {r0, r1, r2, r3}\n\t"
        "sub r10, lr, ip\n\t"
        "tst r10, #8\n\t"
        RUN_AFTER_TST
        "pop {r4}\n\t"                               /* acc */
        "stmia r4, {r0, r1, r2, r3}\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

__attribute__((naked)) void mcuf_gemm_2x2_fast_s8(__attribute__((unused)) const mcuf_gemm_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #36\n\t"
        /* frame: multipliers, shifts, 2 * zero point + 1, bias, out0, out1, 2C, column, shifts' end */
        "ldmia r0!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "stmia sp, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "ldrd r4, ip, [r0]\n\t"                       /* shifts' end, weights */
        "str r4, [sp, #32]\n\t"
        "1:\n\t"                                       /* a channel pair */
        "ldr r10, [sp, #12]\n\t"
        "ldrd r0, r1, [r10], #8\n\t"
        "str r10, [sp, #12]\n\t"
        "mov r2, r0\n\t"
        "mov r3, r1\n\t"
        "ldrd lr, r11, [sp, #24]\n\t"                 /* 2C, column */
        "tst lr, #8\n\t"                               /* the run's length, before it becomes its end */
        "add lr, ip, lr\n\t"
        RUN_AFTER_TST
        "ldm sp, {r10, r11, lr}\n\t"                  /* the two channels' constants: */
        "ldrd r4, r7, [r10], #8\n\t"                  /* multipliers */
        "ldrb r6, [r11], #1\n\t"                      /* shift bytes b */
        "ldrb r9, [r11], #1\n\t"
        "strd r10, r11, [sp]\n\t"
        "lsl r5, lr, r6\n\t"                           /* round = (2 * zero point + 1) << b */
        "lsl r8, lr, r9\n\t"
        OUT("r0", "r4", "r5", "r6")
        OUT("r2", "r4", "r5", "r6")
        OUT("r1", "r7", "r8", "r9")
        OUT("r3", "r7", "r8", "r9")
        "ldrd r4, r5, [sp, #16]\n\t"
        "strb r1, [r4, #1]\n\t"
        "strb r0, [r4], #2\n\t"
        "strb r3, [r5, #1]\n\t"                       /* a lone pixel's twin: the same bytes again */
        "strb r2, [r5], #2\n\t"
        "strd r4, r5, [sp, #16]\n\t"
        "ldr r10, [sp, #32]\n\t"                      /* the shift pointer is the loop counter */
        "cmp r11, r10\n\t"
        "bne 1b\n\t"
        "add sp, sp, #36\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* mcuf_gemm_2x2_packed_s8: every channel pair of one pixel pair, fast output stage, over the
 * generator's packed stream (mcuf_gemm_packed_job in mcuf_dsp.h): per channel pair one LDM of
 * the four doubled biases, the run, one LDM of the five output constants -- no constants,
 * biases or pointers read from separate tables. The run is unrolled four steps deep and
 * entered at the step that leaves a whole number of passes (every step is 14 32-bit
 * instructions, 56 bytes, so the entry is the loop's address + 56 * skipped steps). About 32
 * instructions per channel pair besides the MACs, against 43 in mcuf_gemm_2x2_fast_s8.
 * Frame: out0, out1, column, end of the pairs, entry address (Thumb bit set), run bytes. */
__attribute__((naked)) void mcuf_gemm_2x2_packed_s8(__attribute__((unused)) const mcuf_gemm_packed_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #24\n\t"
        "ldmia r0, {r4, r5, r6, r7, r8, r9}\n\t"     /* out0 out1 col end skip_bytes run_bytes */
        "ldr ip, [r0, #24]\n\t"                        /* the first record */
        "adr r10, 2f\n\t"
        "add r8, r8, r10\n\t"
        "orr r8, r8, #1\n\t"                           /* a Thumb address for BX */
        "stmia sp, {r4, r5, r6, r7, r8, r9}\n\t"
        "1:\n\t"                                       /* a channel pair */
        "ldmia ip!, {r0, r1, r2, r3}\n\t"             /* 2 * bias: channel 0, 1, 0, 1 */
        "ldr r11, [sp, #8]\n\t"                        /* column */
        "ldrd r10, lr, [sp, #16]\n\t"                 /* entry, run bytes */
        "add lr, ip, lr\n\t"                           /* the run's end */
        "bx r10\n\t"
        ".p2align 2\n\t"
        "2:\n\t" STEP STEP STEP STEP
        "cmp ip, lr\n\t"
        "bne 2b\n\t"
        "ldmia ip!, {r4, r5, r6, r7, r8}\n\t"         /* m0, round0, b0 | b1 << 8, m1, round1 */
        "lsr r9, r6, #8\n\t"                           /* ASR by a register reads its low byte */
        OUT("r0", "r4", "r5", "r6")
        OUT("r2", "r4", "r5", "r6")
        OUT("r1", "r7", "r8", "r9")
        OUT("r3", "r7", "r8", "r9")
        "ldrd r4, r5, [sp]\n\t"
        "strb r1, [r4, #1]\n\t"
        "strb r0, [r4], #2\n\t"
        "strb r3, [r5, #1]\n\t"                       /* a lone pixel's twin: the same bytes again */
        "strb r2, [r5], #2\n\t"
        "strd r4, r5, [sp]\n\t"
        "ldr r10, [sp, #12]\n\t"
        "cmp ip, r10\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* One pixel (the column pair's pixel 0) times 4 weights of both channels of a pair */
#define STEP1                                                                        \
    "ldrd r4, r5, [r11], #8\n\t"       /* (2x0,2x2) (2x1,2x3) of the one pixel */     \
    "ldrd r8, r9, [ip], #8\n\t"                                                      \
    "sxtb16 r10, r8\n\t"                                                              \
    "sxtb16 r8, r8, ror #8\n\t"                                                       \
    "smlad r0, r4, r10, r0\n\t"                                                       \
    "smlad r0, r5, r8, r0\n\t"                                                        \
    "sxtb16 r10, r9\n\t"                                                              \
    "sxtb16 r9, r9, ror #8\n\t"                                                       \
    "smlad r1, r4, r10, r1\n\t"                                                       \
    "smlad r1, r5, r9, r1\n\t"

/* mcuf_gemm_1x2_packed_s8: mcuf_gemm_2x2_packed_s8 for one pixel (a 1x1 plane, a layer's odd
 * last pixel): the same stream and job (out1 unused; skip_bytes: 40 bytes per skipped step,
 * each step 10 32-bit instructions); col: the one pixel's doubled words, (2x0, 2x2) (2x1, 2x3)
 * per 4 inputs, without a twin's. */
__attribute__((naked)) void mcuf_gemm_1x2_packed_s8(__attribute__((unused)) const mcuf_gemm_packed_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #24\n\t"
        "ldmia r0, {r4, r5, r6, r7, r8, r9}\n\t"     /* out0 out1 col end skip_bytes run_bytes */
        "ldr ip, [r0, #24]\n\t"
        "adr r10, 2f\n\t"
        "add r8, r8, r10\n\t"
        "orr r8, r8, #1\n\t"
        "stmia sp, {r4, r5, r6, r7, r8, r9}\n\t"
        "1:\n\t"
        "ldmia ip!, {r0, r1, r2, r3}\n\t"             /* r2, r3: pixel 1's copies, unused */
        "ldr r11, [sp, #8]\n\t"
        "ldrd r10, lr, [sp, #16]\n\t"
        "add lr, ip, lr\n\t"
        "bx r10\n\t"
        ".p2align 2\n\t"
        "2:\n\t" STEP1 STEP1 STEP1 STEP1
        "cmp ip, lr\n\t"
        "bne 2b\n\t"
        "ldmia ip!, {r4, r5, r6, r7, r8}\n\t"
        "lsr r9, r6, #8\n\t"
        OUT("r0", "r4", "r5", "r6")
        OUT("r1", "r7", "r8", "r9")
        "ldr r4, [sp]\n\t"
        "strb r1, [r4, #1]\n\t"
        "strb r0, [r4], #2\n\t"
        "str r4, [sp]\n\t"
        "ldr r10, [sp, #12]\n\t"
        "cmp ip, r10\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* 4 inputs of both pixels times both channels' 4 int16 weights, (w0,w2) (w1,w3) per channel */
#define STEP16                                                                       \
    "ldmia lr!, {r4, r5, r6, r7}\n\t"   /* (x0,x2) (x1,x3) of pixel 0, then pixel 1 */ \
    "ldmia ip!, {r8, r9, r10, r11}\n\t" /* channel 0's two words, then channel 1's */ \
    "smlad r0, r4, r8, r0\n\t"                                                        \
    "smlad r0, r5, r9, r0\n\t"                                                        \
    "smlad r2, r6, r8, r2\n\t"                                                        \
    "smlad r2, r7, r9, r2\n\t"                                                        \
    "smlad r1, r4, r10, r1\n\t"                                                       \
    "smlad r1, r5, r11, r1\n\t"                                                       \
    "smlad r3, r6, r10, r3\n\t"                                                       \
    "smlad r3, r7, r11, r3\n\t"

/* mcuf_gemm_2x2_packed16_s8: mcuf_gemm_2x2_packed_s8 for at most 64 input channels with the
 * weights stored as int16 (SXTB16 order, (w0, w2) (w1, w3)): per step one LDM of the column
 * pair, one LDM of both channels' weights, 8 SMLAD -- 10 instructions for 16 MACs instead of
 * 14. The run is unrolled all 16 steps deep, without a loop: entered at the step that leaves
 * in_c / 4 of them (skip_bytes: 40 per skipped step, each step 10 32-bit instructions), so
 * no end pointer is held and the 14 registers suffice. Records: 36 + 4 * in_c bytes (the
 * weights int16), otherwise mcuf_gemm_packed_job's. */
__attribute__((naked)) void mcuf_gemm_2x2_packed16_s8(__attribute__((unused)) const mcuf_gemm_packed_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #24\n\t"
        "ldmia r0, {r4, r5, r6, r7, r8, r9}\n\t"     /* out0 out1 col end skip_bytes run_bytes */
        "ldr ip, [r0, #24]\n\t"
        "adr r10, 2f\n\t"
        "add r8, r8, r10\n\t"
        "orr r8, r8, #1\n\t"
        "stmia sp, {r4, r5, r6, r7, r8, r9}\n\t"
        "1:\n\t"
        "ldmia ip!, {r0, r1, r2, r3}\n\t"
        "ldr lr, [sp, #8]\n\t"
        "ldr r10, [sp, #16]\n\t"
        "bx r10\n\t"
        ".p2align 2\n\t"
        "2:\n\t" STEP16 STEP16 STEP16 STEP16 STEP16 STEP16 STEP16 STEP16
        STEP16 STEP16 STEP16 STEP16 STEP16 STEP16 STEP16 STEP16
        "ldmia ip!, {r4, r5, r6, r7, r8}\n\t"
        "lsr r9, r6, #8\n\t"
        OUT("r0", "r4", "r5", "r6")
        OUT("r2", "r4", "r5", "r6")
        OUT("r1", "r7", "r8", "r9")
        OUT("r3", "r7", "r8", "r9")
        "ldrd r4, r5, [sp]\n\t"
        "strb r1, [r4, #1]\n\t"
        "strb r0, [r4], #2\n\t"
        "strb r3, [r5, #1]\n\t"
        "strb r2, [r5], #2\n\t"
        "strd r4, r5, [sp]\n\t"
        "ldr r10, [sp, #12]\n\t"
        "cmp ip, r10\n\t"
        "bne 1b\n\t"
        "add sp, sp, #24\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

/* One pixel's 4 inputs times both channels' 4 int16 weights (mcuf_gemm_1x2_packed16_s8) */
#define STEP16_1                                                                     \
    "ldrd r4, r5, [lr], #8\n\t"          /* (2x0,2x2) (2x1,2x3) of the one pixel */ \
    "ldmia ip!, {r8, r9, r10, r11}\n\t" /* channel 0's two words, then channel 1's */ \
    "smlad r0, r4, r8, r0\n\t"                                                        \
    "smlad r0, r5, r9, r0\n\t"                                                        \
    "smlad r1, r4, r10, r1\n\t"                                                       \
    "smlad r1, r5, r11, r1\n\t"

/* mcuf_gemm_1x2_packed16_s8: mcuf_gemm_2x2_packed16_s8 for one pixel (a 1x1 plane such as a
 * squeeze-excite layer's, or a layer's odd last pixel): the same records and job (out1
 * unused), 6 instructions per 8 MACs; skip_bytes: 24 per skipped step (each step six 32-bit
 * instructions), 24 * (16 - in_c / 4); col: the one pixel's doubled words, (2x0, 2x2)
 * (2x1, 2x3) per 4 inputs, without a twin's. */
__attribute__((naked)) void mcuf_gemm_1x2_packed16_s8(__attribute__((unused)) const mcuf_gemm_packed_job *job)
{
    __asm__ volatile(
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub sp, sp, #8\n\t"
        "ldmia r0, {r4, r5, r6, r7, r8}\n\t"         /* out0 out1 col end skip_bytes */
        "ldr ip, [r0, #24]\n\t"
        "adr r10, 2f\n\t"
        "add r8, r8, r10\n\t"
        "orr r8, r8, #1\n\t"
        "strd r6, r8, [sp]\n\t"                       /* frame: column, entry */
        "mov r2, r4\n\t"                              /* r2 out, r3 end: the steps leave them */
        "mov r3, r7\n\t"
        "1:\n\t"
        "ldrd r0, r1, [ip], #16\n\t"                 /* 2 * bias of both channels (pixel 0's) */
        "ldrd lr, r10, [sp]\n\t"
        "bx r10\n\t"
        ".p2align 2\n\t"
        "2:\n\t" STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1
        STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1 STEP16_1
        "ldmia ip!, {r4, r5, r6, r7, r8}\n\t"
        "lsr r9, r6, #8\n\t"
        OUT("r0", "r4", "r5", "r6")
        OUT("r1", "r7", "r8", "r9")
        "strb r1, [r2, #1]\n\t"
        "strb r0, [r2], #2\n\t"
        "cmp ip, r3\n\t"
        "bne 1b\n\t"
        "add sp, sp, #8\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}

#endif
