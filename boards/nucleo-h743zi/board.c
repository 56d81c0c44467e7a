/* NUCLEO-H743ZI / NUCLEO-H743ZI2. Console: USART3 on PD8 (TX) / PD9 (RX), wired to the
 * ST-LINK virtual COM port, 115200 8N1. Time: DWT CYCCNT.
 *
 * Clock: 480 MHz on revision V silicon (every NUCLEO-H743ZI2), 400 MHz on revision Y (the
 * first NUCLEO-H743ZI boards), the rated maximum of each, from the ST-LINK's 8 MHz MCO fed
 * into OSC_IN (HSE in bypass mode) through PLL1. From RM0433, by section title: "Power control
 * (PWR)": "Power supply configuration", "Voltage scaling" (VOS0 = VOS1 plus the LDO over-drive,
 * SYSCFG_PWRCR.ODEN), registers PWR_CR3, PWR_CSR1, PWR_D3CR; "System configuration controller
 * (SYSCFG)": SYSCFG_PWRCR; "Reset and clock control (RCC)": RCC_CR, RCC_CFGR, RCC_D1CFGR..
 * RCC_D3CFGR, RCC_PLLCKSELR, RCC_PLLCFGR, RCC_PLL1DIVR; "Embedded flash memory (FLASH)": the
 * table of wait states and programming delay per AXI clock and VOS, FLASH_ACR; "Debug support":
 * DBGMCU_IDCODE.REV_ID, 0x1003 = rev Y, 0x2003 = rev V. The sequence:
 *   1. supply: LDO on, bypass off (PWR_CR3, written once after power-on), wait ACTVOSRDY;
 *   2. VOS1 (PWR_D3CR.VOS = 11), wait VOSRDY; for 480 MHz (rev V only) SYSCFG clock on and
 *      SYSCFG_PWRCR.ODEN = 1, which gives VOS0, wait VOSRDY again;
 *   3. HSE in bypass (HSEBYP then HSEON), wait HSERDY;
 *   4. PLL1 from HSE: DIVM1 = 4 (2 MHz reference, PLL1RGE = 01: 2..4 MHz), wide VCO
 *      (PLL1VCOSEL = 0), DIVN1 = 480 (VCO 960 MHz) or 400 (800 MHz), DIVP1 = 2 (480 or
 *      400 MHz), DIVQ1 = 4, DIVR1 = 2; only the P output enabled; PLL1 on, wait PLL1RDY;
 *   5. flash: 4 wait states and WRHIGHFREQ = 10 for a 240 MHz AXI clock in VOS0, 2 wait states
 *      and WRHIGHFREQ = 10 for 200 MHz in VOS1; read back;
 *   6. D1CPRE /1, HPRE /2 (AXI/AHB 240 or 200 MHz), D1PPRE, D2PPRE1, D2PPRE2, D3PPRE /2
 *      (APB1..4 at 120 or 100 MHz, their maxima);
 *   7. SYSCLK from PLL1 (SW = 011), wait SWS = 011.
 * If the HSE (the ST-LINK MCO; solder bridges as shipped) or PLL1 does not start, the core stays
 * on the 64 MHz HSI and board_clock_hz() says so. USART3's kernel clock is PCLK1
 * (RCC_D2CCIP2R.USART234578SEL = 000 after reset), so its baud divisor comes from APB1.
 * I- and D-caches are enabled before main() (startup). */
#include "board.h"
#include "cortexm.h"
#include "stm32_usart.h"

#define RCC          0x58024400u
#define RCC_CR       (RCC + 0x000u)  /* HSEON bit16, HSERDY bit17, HSEBYP bit18, PLL1ON bit24, PLL1RDY bit25 */
#define RCC_CFGR     (RCC + 0x010u)  /* SW[2:0], SWS[5:3] */
#define RCC_D1CFGR   (RCC + 0x018u)  /* HPRE[3:0], D1PPRE[6:4], D1CPRE[11:8] */
#define RCC_D2CFGR   (RCC + 0x01Cu)  /* D2PPRE1[6:4], D2PPRE2[10:8] */
#define RCC_D3CFGR   (RCC + 0x020u)  /* D3PPRE[6:4] */
#define RCC_PLLCKSELR (RCC + 0x028u) /* PLLSRC[1:0] (10 = HSE), DIVM1[9:4] */
#define RCC_PLLCFGR  (RCC + 0x02Cu)  /* PLL1FRACEN bit0, PLL1VCOSEL bit1, PLL1RGE[3:2], DIVP1EN bit16.. */
#define RCC_PLL1DIVR (RCC + 0x030u)  /* DIVN1[8:0], DIVP1[15:9], DIVQ1[22:16], DIVR1[30:24], each value-1 */
#define RCC_AHB4ENR  (RCC + 0x0E0u)
#define RCC_APB1LENR (RCC + 0x0E8u)
#define RCC_APB4ENR  (RCC + 0x0F4u)  /* SYSCFGEN bit1 */
#define PWR_CSR1     0x58024804u     /* ACTVOSRDY bit13 */
#define PWR_CR3      0x5802480Cu     /* BYPASS bit0, LDOEN bit1, SCUEN bit2 */
#define PWR_D3CR     0x58024818u     /* VOSRDY bit13, VOS[15:14] */
#define SYSCFG_PWRCR 0x5800042Cu     /* ODEN bit0 */
#define FLASH_ACR    0x52002000u     /* LATENCY[3:0], WRHIGHFREQ[5:4] */
#define DBGMCU_IDCODE 0x5C001000u    /* REV_ID[31:16] */
#define GPIOD       0x58020C00u
#define USART3      0x40004800u
#define BOARD_NAME "nucleo-h743zi"
#define BOARD_CPU "cortex-m7"
#define CONSOLE USART3
#define CLOCK_HZ    board_sysclk

#define HSI_HZ      64000000u
#define HSE_HZ      8000000u         /* ST-LINK MCO */
#define DIVM1       4u

static uint32_t board_sysclk = HSI_HZ;
static uint32_t board_pclk1 = HSI_HZ;

static int wait_bits(uint32_t addr, uint32_t mask, uint32_t want, uint32_t tries)
{
    while (tries--) {
        if ((REG32(addr) & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static void clock_init(void)
{
    const int rev_v = (REG32(DBGMCU_IDCODE) >> 16) == 0x2003u;
    const uint32_t divn = rev_v ? 480u : 400u;                 /* VCO = 2 MHz x DIVN1 */
    const uint32_t sysclk = HSE_HZ / DIVM1 * divn / 2u;        /* 480 or 400 MHz */

    REG32(PWR_CR3) = (REG32(PWR_CR3) & ~7u) | (1u << 1);       /* 1. LDOEN, no bypass, no SCU */
    if (!wait_bits(PWR_CSR1, 1u << 13, 1u << 13, 1000000u)) {
        return;
    }
    REG32(PWR_D3CR) = (REG32(PWR_D3CR) & ~(3u << 14)) | (3u << 14);   /* 2. VOS1 */
    if (!wait_bits(PWR_D3CR, 1u << 13, 1u << 13, 1000000u)) {
        return;
    }
    if (rev_v) {
        REG32(RCC_APB4ENR) |= 1u << 1;                         /*    SYSCFG clock */
        (void)REG32(RCC_APB4ENR);
        REG32(SYSCFG_PWRCR) |= 1u;                             /*    ODEN: VOS0 */
        if (!wait_bits(PWR_D3CR, 1u << 13, 1u << 13, 1000000u)) {
            return;
        }
    }
    REG32(RCC_CR) |= 1u << 18;                                 /* 3. HSEBYP, then HSEON */
    REG32(RCC_CR) |= 1u << 16;
    if (!wait_bits(RCC_CR, 1u << 17, 1u << 17, 1000000u)) {
        return;
    }
    REG32(RCC_PLLCKSELR) = (REG32(RCC_PLLCKSELR) & ~(3u | (0x3Fu << 4))) | 2u | (DIVM1 << 4);   /* 4. */
    REG32(RCC_PLLCFGR) = (REG32(RCC_PLLCFGR) & ~(0xFu | (7u << 16))) | (1u << 2) | (1u << 16);
    REG32(RCC_PLL1DIVR) = (divn - 1u) | ((2u - 1u) << 9) | ((4u - 1u) << 16) | ((2u - 1u) << 24);
    REG32(RCC_CR) |= 1u << 24;                                 /*    PLL1ON */
    if (!wait_bits(RCC_CR, 1u << 25, 1u << 25, 1000000u)) {
        return;
    }
    const uint32_t acr = (rev_v ? 4u : 2u) | (2u << 4);        /* 5. wait states, WRHIGHFREQ */
    REG32(FLASH_ACR) = (REG32(FLASH_ACR) & ~0x3Fu) | acr;
    if ((REG32(FLASH_ACR) & 0x3Fu) != acr) {
        return;
    }
    REG32(RCC_D1CFGR) = (0u << 8) | (4u << 4) | 8u;            /* 6. D1CPRE /1, D1PPRE /2, HPRE /2 */
    REG32(RCC_D2CFGR) = (4u << 8) | (4u << 4);                 /*    D2PPRE2 /2, D2PPRE1 /2 */
    REG32(RCC_D3CFGR) = 4u << 4;                               /*    D3PPRE /2 */
    REG32(RCC_CFGR) = (REG32(RCC_CFGR) & ~7u) | 3u;            /* 7. SW = PLL1 */
    if (!wait_bits(RCC_CFGR, 7u << 3, 3u << 3, 1000000u)) {
        board_pclk1 = HSI_HZ / 4u;                             /*    still on HSI, prescalers /2 /2 */
        return;
    }
    board_sysclk = sysclk;
    board_pclk1 = sysclk / 4u;                                 /* /2 (HPRE) /2 (D2PPRE1) */
}

void board_init(void)
{
    clock_init();
    REG32(RCC_AHB4ENR) |= 1u << 3;     /* GPIOD */
    REG32(RCC_APB1LENR) |= 1u << 18;   /* USART3 */
    (void)REG32(RCC_APB1LENR);
    stm32_gpio_af(GPIOD, 8, 7);
    stm32_gpio_af(GPIOD, 9, 7);
    stm32_usart_init(USART3, board_pclk1, 115200u);
}

#include "board_stm32.h"
