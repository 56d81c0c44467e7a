/* qemu-mps2-an505: Arm MPS2 AN505 FPGA image (Cortex-M33, IoT Kit / SSE-200 style TrustZone
 * subsystem) as QEMU 7.2 models it (hw/arm/mps2-tz.c). The core starts in the Secure state
 * with the SAU off, so every address is Secure; the firmware runs from the Secure aliases
 * (address bit 28 set) and needs no TrustZone setup. */
#include <stdint.h>

#define BOARD_NAME "qemu-mps2-an505"
#define BOARD_CPU "cortex-m33"
#define UART0 0x40200000u        /* mps2-tz.c: uart0 on apb_ppcexp1 (Secure alias 0x50200000) */
#define UART0_RX_IRQ 32u         /* mps2-tz.c: uart0 irqs { 33 (TX), 32 (RX), 42 }, numbered as the CPU sees
                                  * them (the SSE's first external interrupt is 32) */
#define CLOCK_HZ 20000000u       /* mps2-tz.c: SYSCLK_FRQ for the AN505 */

/* 20 MHz SysTick under -icount shift=0: one tick per 50 instructions, exactly. */
static inline uint64_t ticks_to_instructions(uint64_t ticks) { return ticks * 50u; }

#include "board_qemu_mps.h"
