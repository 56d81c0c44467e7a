/* STM32F746G-DISCO. Console: USART1 on PA9 (TX) / PB7 (RX), wired to the ST-LINK virtual
 * COM port, 115200 8N1. Time: DWT CYCCNT. The core runs from the 16 MHz HSI as after reset
 * (cycle counts do not depend on the clock); flash wait states stay at their reset value. */
#include "board.h"
#include "cortexm.h"
#include "stm32_usart.h"

#define RCC       0x40023800u
#define RCC_AHB1ENR (RCC + 0x30u)
#define RCC_APB2ENR (RCC + 0x44u)
#define GPIOA     0x40020000u
#define GPIOB     0x40020400u
#define USART1    0x40011000u
#define BOARD_NAME "stm32f746g-disco"
#define BOARD_CPU "cortex-m7"
#define CONSOLE USART1
#define CLOCK_HZ  16000000u   /* HSI; PCLK2 = HCLK = HSI after reset */

void board_init(void)
{
    REG32(RCC_AHB1ENR) |= (1u << 0) | (1u << 1);   /* GPIOA, GPIOB */
    REG32(RCC_APB2ENR) |= 1u << 4;                 /* USART1 */
    (void)REG32(RCC_APB2ENR);                      /* the enable takes two cycles */
    stm32_gpio_af(GPIOA, 9, 7);
    stm32_gpio_af(GPIOB, 7, 7);
    stm32_usart_init(USART1, CLOCK_HZ, 115200u);
}

#include "board_stm32.h"
