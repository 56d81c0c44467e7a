/* Minimal formatted output on the board console (no printf: it would cost kilobytes). */
#include "board.h"

void console_puts(const char *s)
{
    while (*s) {
        if (*s == '\n') {
            board_putc('\r');
        }
        board_putc(*s++);
    }
}

void console_put_uint(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    console_puts(buf + i);
}

void console_put_int(int64_t v)
{
    if (v < 0) {
        board_putc('-');
        console_put_uint((uint64_t)(-(v + 1)) + 1);
    } else {
        console_put_uint((uint64_t)v);
    }
}
