/* Arm CMSDK APB UART (the MPS2/MPS3 FPGA images): DATA +0x0, STATE +0x4 (bit0 TX full,
 * bit1 RX full), CTRL +0x8 (bit0 TX enable, bit1 RX enable), BAUDDIV +0x10 (>= 16). */
#ifndef MCUF_CMSDK_UART_H
#define MCUF_CMSDK_UART_H

#include "cortexm.h"

static inline void cmsdk_uart_init(uint32_t base, uint32_t bauddiv)
{
    REG32(base + 0x10) = bauddiv < 16 ? 16 : bauddiv;
    REG32(base + 0x08) = 0x3u;
}

static inline void cmsdk_uart_putc(uint32_t base, char c)
{
    while (REG32(base + 0x04) & 0x1u) {
    }
    REG32(base + 0x00) = (uint8_t)c;
}

static inline int cmsdk_uart_getc(uint32_t base)
{
    return (REG32(base + 0x04) & 0x2u) ? (int)(REG32(base + 0x00) & 0xFFu) : -1;
}

/* Sleep until a byte arrives: RX interrupt on (CTRL bit 3) and enabled in the NVIC, then
 * WFI; the handler only acknowledges (INTSTATUS bit 1). Interrupts are masked around the
 * check and the WFI: a byte arriving in between would otherwise be acknowledged before the
 * WFI, which would then sleep with the byte waiting (a masked pending interrupt still
 * wakes WFI; its handler runs once unmasked). */
static inline void cmsdk_uart_wait_rx(uint32_t base, unsigned irq)
{
    REG32(base + 0x08) |= 1u << 3;
    REG32(0xE000E100u + 4u * (irq / 32u)) = 1u << (irq % 32u);   /* NVIC ISER */
    __asm__ volatile("cpsid i" ::: "memory");
    if (!(REG32(base + 0x04) & 0x2u)) {
        __asm__ volatile("dsb 0xF\n\twfi" ::: "memory");
    }
    __asm__ volatile("cpsie i" ::: "memory");
}

static inline void cmsdk_uart_ack_rx(uint32_t base) { REG32(base + 0x0C) = 0x2u; }

#endif
