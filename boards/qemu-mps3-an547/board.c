/* qemu-mps3-an547: Arm MPS3 AN547 (Cortex-M55 with Helium) as QEMU models it. Console on
 * CMSDK UART0 at 0x49303000; time from SysTick at the 32 MHz core clock: under -icount
 * shift=0 one tick is 31.25 executed instructions, so counts are exact to 32 instructions. */
#include "board.h"
#include "cmsdk_uart.h"

#define UART0_RX_IRQ 33u   /* QEMU: mps2-tz.c an547 uart0 rx */
#define UART0 0x49303000u
#define CLOCK_HZ 32000000u

void board_init(void) { cmsdk_uart_init(UART0, CLOCK_HZ / 115200u); }
void board_putc(char c) { cmsdk_uart_putc(UART0, c); }
int board_getc(void) { return cmsdk_uart_getc(UART0); }
void board_idle(void) { cmsdk_uart_wait_rx(UART0, UART0_RX_IRQ); }
void Board_IRQHandler(void);
void Board_IRQHandler(void) { cmsdk_uart_ack_rx(UART0); }
void board_counter_start(void) { systick_counter_start(); }
uint64_t board_counter_read(void) { return systick_counter_ticks() * 125u / 4u; }
const char *board_counter_unit(void) { return "instructions (QEMU)"; }
const char *board_name(void) { return "qemu-mps3-an547"; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }
void board_exit(int code) { semihosting_exit(code); }
