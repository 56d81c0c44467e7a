/* qemu-microbit: the BBC micro:bit as QEMU 7.2 models it (hw/arm/microbit.c, nrf51_soc.c):
 * an nRF51822 with a Cortex-M0 (Armv6-M, no DSP: the portable kernels), 256 KB flash at
 * 0x00000000, 16 KB RAM at 0x20000000 -- only small models fit. Console: the nRF51 UART at
 * 0x40002000 (TXD +0x51C, EVENTS_TXDRDY +0x11C, STARTTX task +0x008, ENABLE +0x500 = 4,
 * RXD +0x518, EVENTS_RXDRDY +0x108, STARTRX task +0x000). Time: SysTick on the 16 MHz core
 * clock, which under -icount shift=0 ticks once per 62.5 instructions. */
#include "board.h"
#include "cortexm.h"

#define UART 0x40002000u
#define CLOCK_HZ 16000000u

void board_init(void)
{
    REG32(UART + 0x500) = 4u;      /* ENABLE */
    REG32(UART + 0x008) = 1u;      /* STARTTX */
    REG32(UART + 0x000) = 1u;      /* STARTRX */
}

void board_putc(char c)
{
    REG32(UART + 0x11C) = 0u;
    REG32(UART + 0x51C) = (uint8_t)c;
    while (!REG32(UART + 0x11C)) {
    }
}

int board_getc(void)
{
    if (!REG32(UART + 0x108)) {
        return -1;
    }
    REG32(UART + 0x108) = 0u;
    return (int)(REG32(UART + 0x518) & 0xFFu);
}

void board_idle(void) {}
void board_counter_start(void) { systick_counter_start(); }
uint64_t board_counter_read(void) { return systick_counter_ticks() * 125u / 2u; }
const char *board_counter_unit(void) { return "instructions (QEMU)"; }
const char *board_name(void) { return "qemu-microbit"; }
const char *board_cpu(void) { return "cortex-m0"; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }
void board_exit(int code) { semihosting_exit(code); }
