/* The board API every mcuforge firmware app is written against.
 *
 * A board folder (boards/<name>/) provides board.c implementing these functions for its
 * console UART and its time counter, plus board.json (the manifest the host tools read)
 * and linker.ld (its memory map). Startup code, drivers and counters shared between
 * boards live in boards/common/.
 */
#ifndef MCUF_BOARD_H
#define MCUF_BOARD_H

#include <stdint.h>

void board_init(void);

/* Console */
void board_putc(char c);
int board_getc(void);           /* next received byte, or -1 if none is waiting */
void board_idle(void);          /* wait a little for input: sleep until the UART interrupts,
                                   or return at once where polling is the better choice */

/* Time: the counter counts in the unit board_counter_unit() names. */
void board_counter_start(void);
uint64_t board_counter_read(void);
const char *board_counter_unit(void);   /* "instructions (QEMU)" or "cycles" */

const char *board_name(void);
const char *board_cpu(void);      /* e.g. "cortex-m7" */
uint32_t board_clock_hz(void);

/* Ends the program: QEMU exits with `code`; a real board reports it and halts. */
void board_exit(int code) __attribute__((noreturn));

/* Console helpers (boards/common/console.c) */
void console_puts(const char *s);
void console_put_int(int64_t v);
void console_put_uint(uint64_t v);

/* Stack high-water mark (boards/common/startup.c) */
void stack_paint(void);
uint32_t stack_high_water(void);

#endif /* MCUF_BOARD_H */
