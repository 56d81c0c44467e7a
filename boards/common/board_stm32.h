/* The parts of the board API the STM32 boards share. A board.c defines BOARD_NAME, BOARD_CPU, CONSOLE
 * (the USART wired to the ST-LINK virtual COM port) and CLOCK_HZ, implements board_init()
 * (clocks, pins, USART), then includes this file.
 *
 * Time: DWT CYCCNT. The console is polled: the host waits for each answer, so nothing is
 * lost without interrupts. I- and D-caches on before main(). */
#include "board.h"
#include "stm32_usart.h"

#ifndef BOARD_NO_CORE_CACHES   /* Cortex-M33 parts: no L1 caches in the core */
void board_early_init(void) { cortexm_enable_caches(); }
#endif
void board_putc(char c) { stm32_usart_putc(CONSOLE, c); }
int board_getc(void) { return stm32_usart_getc(CONSOLE); }
void board_idle(void) {}
void board_counter_start(void) { dwt_counter_start(); }
uint64_t board_counter_read(void) { return dwt_counter_cycles(); }
const char *board_counter_unit(void) { return "cycles"; }
const char *board_name(void) { return BOARD_NAME; }
const char *board_cpu(void) { return BOARD_CPU; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }

void board_exit(int code)
{
    console_puts("\nmcuforge: exit ");
    console_put_int(code);
    console_puts("\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
}
