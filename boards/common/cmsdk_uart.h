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

#endif
