/* NUCLEO-U575ZI-Q (STM32U575ZIT6Q, Cortex-M33 with DSP and FPv5-SP, TrustZone off as shipped).
 * Console: USART1 on PA9 (TX) / PA10 (RX), AF7, wired to the ST-LINK virtual COM port,
 * 115200 8N1. The core runs from the 4 MHz MSIS as after reset, which is also USART1's
 * kernel clock (PCLK2). Addresses are the non-secure aliases of RM0456 (with TZEN = 0 the
 * only ones): RCC 0x46020C00, GPIOA 0x42020000, USART1 0x40013800; its USART has the
 * register layout of the H7's. Time: DWT CYCCNT. */
#include "board.h"
#include "cortexm.h"
#include "stm32_usart.h"

#define RCC          0x46020C00u
#define RCC_AHB2ENR1 (RCC + 0x08Cu)
#define RCC_APB2ENR  (RCC + 0x0A4u)
#define GPIOA        0x42020000u
#define USART1       0x40013800u
#define BOARD_NAME "nucleo-u575zi-q"
#define BOARD_CPU "cortex-m33"
#define CONSOLE USART1
#define CLOCK_HZ     4000000u
#define BOARD_NO_CORE_CACHES 1

void board_init(void)
{
    REG32(RCC_AHB2ENR1) |= 1u << 0;    /* GPIOA */
    REG32(RCC_APB2ENR) |= 1u << 14;    /* USART1 */
    (void)REG32(RCC_APB2ENR);
    stm32_gpio_af(GPIOA, 9, 7);
    stm32_gpio_af(GPIOA, 10, 7);
    stm32_usart_init(USART1, CLOCK_HZ, 115200u);
}

#include "board_stm32.h"
