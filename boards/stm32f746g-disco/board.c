/* STM32F746G-DISCO. Console: USART1 on PA9 (TX) / PB7 (RX), wired to the ST-LINK virtual
 * COM port, 115200 8N1. Time: DWT CYCCNT.
 *
 * Clock: 216 MHz, the STM32F746's rated maximum, from the board's 25 MHz HSE crystal (X2)
 * through the main PLL, with the regulator in over-drive (RM0385, "Entering
 * Over-drive mode" under 4.1.4 "Voltage regulator"; 5.3.1 RCC_CR, 5.3.2 RCC_PLLCFGR, 5.3.3
 * RCC_CFGR, 5.3.13 RCC_APB1ENR; 4.4.1 PWR_CR1, 4.4.2 PWR_CSR1; 3.3.2 "Read access latency",
 * Table 5, for the wait states; 3.7.1 FLASH_ACR). The sequence:
 *   1. PWR clock on; regulator voltage scale 1 (VOS = 11; takes effect once the PLL runs);
 *   2. HSE on (a crystal: HSEBYP = 0), wait HSERDY;
 *   3. PLL from HSE: M = 25 (1 MHz into the VCO), N = 432 (VCO 432 MHz), P = 2 (216 MHz),
 *      Q = 9 (48 MHz for USB/SDMMC); PLL on, wait PLLRDY;
 *   4. over-drive: ODEN, wait ODRDY; ODSWEN, wait ODSWRDY (needed above 180 MHz);
 *   5. flash: 7 wait states (HCLK 210..216 MHz at 2.7..3.6 V), ART accelerator and prefetch on;
 *   6. AHB /1 (216 MHz), APB1 /4 (54 MHz, its maximum), APB2 /2 (108 MHz, its maximum);
 *   7. SYSCLK from the PLL (SW = 10), wait SWS = 10.
 * If the HSE or the PLL does not start, the core stays on the 16 MHz HSI and board_clock_hz()
 * says so. USART1's kernel clock is PCLK2 (RCC_DCKCFGR2.USART1SEL = 00 after reset), so its
 * baud divisor is computed from 108 MHz. I- and D-caches are enabled before main() (startup). */
#include "board.h"
#include "cortexm.h"
#include "stm32_usart.h"

#define RCC         0x40023800u
#define RCC_CR      (RCC + 0x00u)   /* HSEON bit16, HSERDY bit17, HSEBYP bit18, PLLON bit24, PLLRDY bit25 */
#define RCC_PLLCFGR (RCC + 0x04u)   /* PLLM[5:0] PLLN[14:6] PLLP[17:16] PLLSRC bit22 PLLQ[27:24] */
#define RCC_CFGR    (RCC + 0x08u)   /* SW[1:0] SWS[3:2] HPRE[7:4] PPRE1[12:10] PPRE2[15:13] */
#define RCC_AHB1ENR (RCC + 0x30u)
#define RCC_APB1ENR (RCC + 0x40u)   /* PWREN bit28 */
#define RCC_APB2ENR (RCC + 0x44u)
#define PWR_CR1     0x40007000u     /* VOS[15:14], ODEN bit16, ODSWEN bit17 */
#define PWR_CSR1    0x40007004u     /* ODRDY bit16, ODSWRDY bit17 */
#define FLASH_ACR   0x40023C00u     /* LATENCY[3:0], PRFTEN bit8, ARTEN bit9 */
#define GPIOA     0x40020000u
#define GPIOB     0x40020400u
#define USART1    0x40011000u
#define BOARD_NAME "stm32f746g-disco"
#define BOARD_CPU "cortex-m7"
#define CONSOLE USART1
#define CLOCK_HZ  board_hclk

#define HSI_HZ    16000000u
#define HSE_HZ    25000000u
#define PLL_M     25u
#define PLL_N     432u
#define PLL_P     2u
#define PLL_Q     9u
#define SYSCLK_HZ (HSE_HZ / PLL_M * PLL_N / PLL_P)   /* 216 MHz */
#define PCLK2_HZ  (SYSCLK_HZ / 2u)                   /* 108 MHz: USART1 */

static uint32_t board_hclk = HSI_HZ;

/* Polls `addr` until (value & mask) == want, at most `tries` reads. */
static int wait_bits(uint32_t addr, uint32_t mask, uint32_t want, uint32_t tries)
{
    while (tries--) {
        if ((REG32(addr) & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static uint32_t clock_init(void)
{
    REG32(RCC_APB1ENR) |= 1u << 28;                            /* 1. PWREN */
    (void)REG32(RCC_APB1ENR);
    REG32(PWR_CR1) = (REG32(PWR_CR1) & ~(3u << 14)) | (3u << 14);   /* VOS = scale 1 */

    REG32(RCC_CR) = (REG32(RCC_CR) & ~(1u << 18)) | (1u << 16);     /* 2. HSE on, crystal */
    if (!wait_bits(RCC_CR, 1u << 17, 1u << 17, 1000000u)) {
        return HSI_HZ;
    }
    const uint32_t fields = 0x3Fu | (0x1FFu << 6) | (3u << 16) | (1u << 22) | (0xFu << 24);
    REG32(RCC_PLLCFGR) = (REG32(RCC_PLLCFGR) & ~fields)        /*    reserved bits keep their reset value */
                         | PLL_M | (PLL_N << 6) | (((PLL_P / 2u) - 1u) << 16) | (1u << 22) | (PLL_Q << 24);
    REG32(RCC_CR) |= 1u << 24;                                  /* 3. PLL on */
    if (!wait_bits(RCC_CR, 1u << 25, 1u << 25, 1000000u)) {
        return HSI_HZ;
    }
    REG32(PWR_CR1) |= 1u << 16;                                 /* 4. ODEN */
    if (!wait_bits(PWR_CSR1, 1u << 16, 1u << 16, 1000000u)) {
        return HSI_HZ;
    }
    REG32(PWR_CR1) |= 1u << 17;                                 /*    ODSWEN */
    if (!wait_bits(PWR_CSR1, 1u << 17, 1u << 17, 1000000u)) {
        return HSI_HZ;
    }
    REG32(FLASH_ACR) = 7u | (1u << 8) | (1u << 9);              /* 5. 7 WS, PRFTEN, ARTEN */
    if ((REG32(FLASH_ACR) & 0xFu) != 7u) {                      /*    read back before the switch */
        return HSI_HZ;
    }
    REG32(RCC_CFGR) = (REG32(RCC_CFGR) & ~((0xFu << 4) | (7u << 10) | (7u << 13)))
                      | (0u << 4) | (5u << 10) | (4u << 13);    /* 6. AHB /1, APB1 /4, APB2 /2 */
    REG32(RCC_CFGR) = (REG32(RCC_CFGR) & ~3u) | 2u;             /* 7. SW = PLL */
    if (!wait_bits(RCC_CFGR, 3u << 2, 2u << 2, 1000000u)) {
        REG32(RCC_CFGR) &= ~((7u << 10) | (7u << 13));          /*    still on HSI: APBs back to /1 */
        return HSI_HZ;
    }
    return SYSCLK_HZ;
}

void board_init(void)
{
    board_hclk = clock_init();
    const uint32_t usart_clock = board_hclk == SYSCLK_HZ ? PCLK2_HZ : HSI_HZ;
    REG32(RCC_AHB1ENR) |= (1u << 0) | (1u << 1);   /* GPIOA, GPIOB */
    REG32(RCC_APB2ENR) |= 1u << 4;                 /* USART1 */
    (void)REG32(RCC_APB2ENR);                      /* the enable takes two cycles */
    stm32_gpio_af(GPIOA, 9, 7);
    stm32_gpio_af(GPIOB, 7, 7);
    stm32_usart_init(USART1, usart_clock, 115200u);
}

#include "board_stm32.h"
