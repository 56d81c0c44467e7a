/* The board API for Arm's MPS2/MPS3 FPGA images as QEMU models them. A board.c defines
 * BOARD_NAME, BOARD_CPU, UART0 (CMSDK UART base), UART0_RX_IRQ, CLOCK_HZ and ticks_to_instructions(),
 * then includes this file.
 *
 * Console on CMSDK UART0. Time: SysTick at the core clock, which under -icount shift=0 (one
 * instruction per virtual nanosecond) advances once per 1e9 / CLOCK_HZ instructions. */
#include "board.h"
#include "cmsdk_uart.h"

void Board_IRQHandler(void);

void board_init(void) { cmsdk_uart_init(UART0, CLOCK_HZ / 115200u); }
void board_putc(char c) { cmsdk_uart_putc(UART0, c); }
int board_getc(void) { return cmsdk_uart_getc(UART0); }
void board_idle(void) { cmsdk_uart_wait_rx(UART0, UART0_RX_IRQ); }
void Board_IRQHandler(void) { cmsdk_uart_ack_rx(UART0); }
void board_counter_start(void) { systick_counter_start(); }
uint64_t board_counter_read(void) { return ticks_to_instructions(systick_counter_ticks()); }
const char *board_counter_unit(void) { return "instructions (QEMU)"; }
const char *board_name(void) { return BOARD_NAME; }
const char *board_cpu(void) { return BOARD_CPU; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }
void board_exit(int code) { semihosting_exit(code); }
