/* mcuforge HIL wire protocol v1, device side: CRC-32, COBS, packet output. */
#include "hil_protocol.h"

#include "board.h"

uint32_t hil_crc32(const uint8_t *data, uint32_t n)
{
    /* IEEE 802.3 (reflected, 0xEDB88320), half a byte at a time: a 64-byte table. */
    static const uint32_t table[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; ++i) {
        crc ^= data[i];
        crc = (crc >> 4) ^ table[crc & 0xF];
        crc = (crc >> 4) ^ table[crc & 0xF];
    }
    return ~crc;
}

int32_t hil_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out)
{
    uint32_t i = 0, o = 0;
    while (i < n) {
        const uint8_t code = in[i++];
        if (code == 0 || i + code - 1u > n) {
            return -1;
        }
        for (uint8_t k = 1; k < code; ++k) {
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < n) {
            out[o++] = 0;
        }
    }
    return (int32_t)o;
}

static void put_block(const uint8_t *block, uint32_t len)
{
    board_putc((char)(len + 1));
    for (uint32_t k = 0; k < len; ++k) {
        board_putc((char)block[k]);
    }
}

/* COBS, streamed: each run of non-zero bytes (at most 254) goes out behind its length + 1;
 * the zero that ended a shorter run is implied. Then the 0x00 frame delimiter. */
static void send_cobs(const uint8_t *data, uint32_t n)
{
    uint32_t start = 0, len = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (data[i] == 0) {
            put_block(data + start, len);
            start = i + 1;
            len = 0;
        } else if (++len == 254) {
            put_block(data + start, len);
            start = i + 1;
            len = 0;
        }
    }
    put_block(data + start, len);
    board_putc(0);
}

void hil_send(uint8_t type, uint16_t seq, const uint8_t *payload, uint32_t n)
{
    static uint8_t packet[HIL_MAX_PACKET];
    packet[0] = HIL_VERSION;
    packet[1] = type;
    hil_put16(packet + 2, seq);
    hil_put16(packet + 4, n);
    for (uint32_t i = 0; i < n; ++i) {
        packet[HIL_HEADER + i] = payload[i];
    }
    hil_put32(packet + HIL_HEADER + n, hil_crc32(packet, HIL_HEADER + n));
    send_cobs(packet, HIL_HEADER + n + 4);
}

void hil_send_error(uint8_t code, uint8_t request_type, uint16_t seq, const char *message)
{
    uint8_t payload[80];
    uint32_t n = 0;
    payload[n++] = code;
    payload[n++] = request_type;
    while (*message && n < sizeof payload) {
        payload[n++] = (uint8_t)*message++;
    }
    hil_send(HIL_ERROR, seq, payload, n);
}
