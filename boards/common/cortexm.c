/* Counters, caches and semihosting shared by the boards. */
#include "cortexm.h"

/* --- SysTick: 24-bit down counter at the core clock; wrap-arounds counted in software --- */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void systick_counter_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    systick_wraps = 0;
    SYST_CSR = 0x7u;   /* CLKSOURCE = core clock, TICKINT, ENABLE */
}

uint64_t systick_counter_ticks(void)
{
    /* The counter holds 0xFFFFFF..0, one value per tick, and the wrap interrupt fires on
     * reaching 0; while it shows 0 the interrupt may or may not have been counted yet,
     * so wait the one tick until it reloads. (Right after start it also shows 0.) */
    uint32_t hi, lo;
    do {
        hi = systick_wraps;
        lo = SYST_CVR;
    } while (lo == 0 || hi != systick_wraps);
    return ((uint64_t)hi << 24) + (0x00FFFFFFu - lo);
}

/* --- DWT CYCCNT: 32 bits at the core clock; fine for one inference (< 19 s at 216 MHz) --- */
void dwt_counter_start(void)
{
    DEMCR |= 1u << 24;
    DWT_LAR = 0xC5ACCE55u;
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
}

uint64_t dwt_counter_cycles(void) { return DWT_CYCCNT; }

/* --- Cortex-M7 caches (ARMv7-M ARM B2.2.7): invalidate, then enable --- */
void cortexm_enable_caches(void)
{
    cortexm_dsb_isb();
    SCB_ICIALLU = 0;
    SCB_CSSELR = 0;   /* level 1 data cache */
    cortexm_dsb_isb();
    const uint32_t ccsidr = SCB_CCSIDR;
    const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1;
    const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1;
    for (uint32_t set = 0; set < sets; ++set) {
        for (uint32_t way = 0; way < ways; ++way) {
            SCB_DCISW = (way << 30) | (set << 5);
        }
    }
    cortexm_dsb_isb();
    SCB_CCR |= (1u << 16) | (1u << 17);
    cortexm_dsb_isb();
}

/* --- Semihosting: only meaningful under a debugger or QEMU -semihosting --- */
void semihosting_exit(int code)
{
    volatile uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;   /* SYS_EXIT_EXTENDED */
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}
