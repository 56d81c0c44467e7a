/* STM32F7 / STM32H7 USART (same register layout on both, RM0385 s.34.8 and RM0433 s.48.7):
 * CR1 +0x00 (UE bit0, RE bit2, TE bit3), BRR +0x0C, ISR +0x1C (RXNE bit5, TXE bit7),
 * RDR +0x24, TDR +0x28. 8N1, oversampling by 16: BRR = kernel clock / baud. */
#ifndef MCUF_STM32_USART_H
#define MCUF_STM32_USART_H

#include "cortexm.h"

static inline void stm32_usart_init(uint32_t base, uint32_t clock_hz, uint32_t baud)
{
    REG32(base + 0x00) = 0;
    REG32(base + 0x0C) = (clock_hz + baud / 2) / baud;
    REG32(base + 0x00) = (1u << 0) | (1u << 2) | (1u << 3);
}

static inline void stm32_usart_putc(uint32_t base, char c)
{
    while (!(REG32(base + 0x1C) & (1u << 7))) {
    }
    REG32(base + 0x28) = (uint8_t)c;
}

static inline int stm32_usart_getc(uint32_t base)
{
    if (REG32(base + 0x1C) & 0xFu) {            /* PE/FE/NE/ORE: clear, keep receiving */
        REG32(base + 0x20) = 0xFu;              /* ICR */
    }
    return (REG32(base + 0x1C) & (1u << 5)) ? (int)(REG32(base + 0x24) & 0xFFu) : -1;
}

/* GPIO alternate function for a USART pin (RM0385 s.6.4). */
static inline void stm32_gpio_af(uint32_t gpio, unsigned pin, unsigned af)
{
    REG32(gpio + 0x00) = (REG32(gpio + 0x00) & ~(3u << (2 * pin))) | (2u << (2 * pin)); /* MODER */
    REG32(gpio + 0x08) |= 3u << (2 * pin);                                            /* OSPEEDR */
    const uint32_t afr = gpio + (pin < 8 ? 0x20 : 0x24);
    const unsigned shift = 4 * (pin & 7);
    REG32(afr) = (REG32(afr) & ~(0xFu << shift)) | (af << shift);
}

#endif
