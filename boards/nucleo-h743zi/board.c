/* NUCLEO-H743ZI. Console: USART3 on PD8 (TX) / PD9 (RX), wired to the ST-LINK virtual COM
 * port, 115200 8N1. Time: DWT CYCCNT. The core runs from the 64 MHz HSI as after reset;
 * USART3's kernel clock is PCLK1 = 64 MHz (RM0433 s.8.5). */
#include "board.h"
#include "cortexm.h"
#include "stm32_usart.h"

#define RCC         0x58024400u
#define RCC_AHB4ENR (RCC + 0x0E0u)
#define RCC_APB1LENR (RCC + 0x0E8u)
#define GPIOD       0x58020C00u
#define USART3      0x40004800u
#define BOARD_NAME "nucleo-h743zi"
#define BOARD_CPU "cortex-m7"
#define CONSOLE USART3
#define CLOCK_HZ    64000000u

void board_init(void)
{
    REG32(RCC_AHB4ENR) |= 1u << 3;     /* GPIOD */
    REG32(RCC_APB1LENR) |= 1u << 18;   /* USART3 */
    (void)REG32(RCC_APB1LENR);
    stm32_gpio_af(GPIOD, 8, 7);
    stm32_gpio_af(GPIOD, 9, 7);
    stm32_usart_init(USART3, CLOCK_HZ, 115200u);
}

#include "board_stm32.h"
