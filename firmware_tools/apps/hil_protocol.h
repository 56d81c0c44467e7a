/* mcuforge HIL wire protocol v2, device side (docs/protocol.md): COBS framing, CRC-32. */
#ifndef MCUF_HIL_PROTOCOL_H
#define MCUF_HIL_PROTOCOL_H

#include <stdint.h>

#define HIL_VERSION 2u
#define HIL_MAX_PAYLOAD 1024u
#define HIL_HEADER 6u
#define HIL_MAX_PACKET (HIL_HEADER + HIL_MAX_PAYLOAD + 4u)

enum {
    HIL_INFO = 0x01, HIL_WRITE_INPUT = 0x02, HIL_INVOKE = 0x03, HIL_READ_OUTPUT = 0x04,
    HIL_PROFILE = 0x05, HIL_READ_TENSOR = 0x06, HIL_BOOT = 0xFE, HIL_ERROR = 0xFF
};

enum {
    HIL_E_CRC = 1, HIL_E_TRUNCATED = 2, HIL_E_TOO_LONG = 3, HIL_E_VERSION = 4,
    HIL_E_UNKNOWN_TYPE = 5, HIL_E_BAD_ARGS = 6, HIL_E_STALE_TENSOR = 7, HIL_E_COBS = 8
};

uint32_t hil_crc32(const uint8_t *data, uint32_t n);
/* Returns the decoded length, or -1 if `in` is not valid COBS. */
int32_t hil_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out);
/* Encodes and sends one packet followed by the 0x00 delimiter. */
void hil_send(uint8_t type, uint16_t seq, const uint8_t *payload, uint32_t n);
void hil_send_error(uint8_t code, uint8_t request_type, uint16_t seq, const char *message);

static inline uint16_t hil_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t hil_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint8_t *hil_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static inline uint8_t *hil_put32(uint8_t *p, uint32_t v)
{
    hil_put16(p, v);
    hil_put16(p + 2, v >> 16);
    return p + 4;
}

#endif
