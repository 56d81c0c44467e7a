/* qemu-mps2-an386: Arm MPS2 FPGA image (Cortex-M4) as QEMU models it. Console on CMSDK
 * UART0; time from SysTick at the 25 MHz core clock, which under -icount shift=0 (one
 * instruction per virtual nanosecond) advances once per 40 executed instructions. */
#include "board.h"
#include "cmsdk_uart.h"

#define UART0_RX_IRQ 0u   /* QEMU: mps2.c uartirq[0] */
#define UART0 0x40004000u
#define CLOCK_HZ 25000000u
#define INSTRUCTIONS_PER_TICK 40u

void board_init(void) { cmsdk_uart_init(UART0, CLOCK_HZ / 115200u); }
void board_putc(char c) { cmsdk_uart_putc(UART0, c); }
int board_getc(void) { return cmsdk_uart_getc(UART0); }
void board_idle(void) { cmsdk_uart_wait_rx(UART0, UART0_RX_IRQ); }
void Board_IRQHandler(void);
void Board_IRQHandler(void) { cmsdk_uart_ack_rx(UART0); }
void board_counter_start(void) { systick_counter_start(); }
uint64_t board_counter_read(void) { return systick_counter_ticks() * INSTRUCTIONS_PER_TICK; }
const char *board_counter_unit(void) { return "instructions (QEMU)"; }
const char *board_name(void) { return "qemu-mps2-an386"; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }
void board_exit(int code) { semihosting_exit(code); }
