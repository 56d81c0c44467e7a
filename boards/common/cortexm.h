/* System registers common to every Armv7-M / Armv8-M core (ARMv7-M ARM, B3.2). */
#ifndef MCUF_CORTEXM_H
#define MCUF_CORTEXM_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

#define SCB_CPACR    REG32(0xE000ED88u)  /* coprocessor access: CP10/CP11 = FPU */
#define SCB_CCR      REG32(0xE000ED14u)  /* bit 16 DC, bit 17 IC (Cortex-M7) */
#define SCB_CCSIDR   REG32(0xE000ED80u)
#define SCB_CSSELR   REG32(0xE000ED84u)
#define SCB_ICIALLU  REG32(0xE000EF50u)
#define SCB_DCISW    REG32(0xE000EF60u)

#define SYST_CSR     REG32(0xE000E010u)
#define SYST_RVR     REG32(0xE000E014u)
#define SYST_CVR     REG32(0xE000E018u)

#define DEMCR        REG32(0xE000EDFCu)  /* bit 24 TRCENA */
#define DWT_CTRL     REG32(0xE0001000u)  /* bit 0 CYCCNTENA */
#define DWT_CYCCNT   REG32(0xE0001004u)
#define DWT_LAR      REG32(0xE0001FB0u)  /* Cortex-M7: write 0xC5ACCE55 to unlock */

static inline void cortexm_dsb_isb(void)
{
    __asm__ volatile("dsb 0xF\n\tisb 0xF" ::: "memory");
}

void cortexm_enable_caches(void);   /* Cortex-M7 I- and D-cache, after invalidation */

/* SysTick as a free-running 24-bit down counter with a software high part. */
void systick_counter_start(void);
uint64_t systick_counter_ticks(void);

/* DWT cycle counter (real cores; QEMU does not model it). */
void dwt_counter_start(void);
uint64_t dwt_counter_cycles(void);

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code`. */
void semihosting_exit(int code) __attribute__((noreturn));

#endif /* MCUF_CORTEXM_H */
