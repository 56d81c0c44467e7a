/* qemu-mps2-an500: Arm MPS2 an500 FPGA image (Cortex-M7) as QEMU models it. */
#include <stdint.h>

#define BOARD_NAME "qemu-mps2-an500"
#define BOARD_CPU "cortex-m7"
#define UART0 0x40004000u
#define UART0_RX_IRQ 0u          /* QEMU hw/arm/mps2.c: UART0 RX on IRQ 0, TX on 1 */
#define CLOCK_HZ 25000000u

/* 25 MHz SysTick under -icount shift=0: one tick per 40 instructions, exactly. */
static inline uint64_t ticks_to_instructions(uint64_t ticks) { return ticks * 40u; }

#include "board_qemu_mps.h"
