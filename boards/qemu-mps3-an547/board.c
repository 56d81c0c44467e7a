/* qemu-mps3-an547: Arm MPS3 AN547 (Cortex-M55 with Helium, SSE-300) as QEMU models it. */
#include <stdint.h>

#define BOARD_NAME "qemu-mps3-an547"
#define BOARD_CPU "cortex-m55"
#define UART0 0x49303000u
#define UART0_RX_IRQ 33u         /* QEMU hw/arm/mps2-tz.c: an547 uart0 RX on IRQ 33 */
#define CLOCK_HZ 32000000u

/* 32 MHz SysTick under -icount shift=0: 31.25 instructions per tick (exact to 32). */
static inline uint64_t ticks_to_instructions(uint64_t ticks) { return ticks * 125u / 4u; }

#include "board_qemu_mps.h"
