/* Startup for every board: vector table, .data/.bss initialisation, FPU, then main().
 * The linker script (boards/common/sections.ld) provides the symbols used here. */
#include <stdint.h>

#include "board.h"
#include "cortexm.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void Board_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));
void board_early_init(void) __attribute__((weak));

/* 16 system exceptions, then 64 external interrupts, all routed to the board's handler. */
#define IRQ16(h) h, h, h, h, h, h, h, h, h, h, h, h, h, h, h, h
__attribute__((section(".isr_vector"), used))
void (*const vector_table[16 + 64])(void) = {
    (void (*)(void))&_estack, Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0,
    Default_Handler /* SVC */, Default_Handler /* DebugMon */, 0,
    Default_Handler /* PendSV */, SysTick_Handler,
    IRQ16(Board_IRQHandler), IRQ16(Board_IRQHandler), IRQ16(Board_IRQHandler), IRQ16(Board_IRQHandler),
};

void board_early_init(void) {}

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20;   /* full access to CP10 and CP11 before any FP instruction */
    cortexm_dsb_isb();
#endif
    for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    board_early_init();
    board_exit(main());
}

void Default_Handler(void)
{
    console_puts("\r\nmcuforge: unexpected interrupt\r\n");
    board_exit(120);
}

void HardFault_Handler(void)
{
    console_puts("\r\nmcuforge: HardFault\r\n");
    board_exit(121);
}

#define STACK_PAINT 0xA5A5A5A5u

void stack_paint(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; p < sp - 16; ++p) {
        *p = STACK_PAINT;
    }
}

uint32_t stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
