/* Validation firmware: the generated model behind the HIL wire protocol (docs/protocol.md).
 *
 * The host writes inputs, invokes (all layers or up to one), reads the output, any layer's
 * output and per-layer counts. The receive loop never blocks on bad input: a frame that is
 * too long is dropped up to the next 0x00, and every malformed or unknown request gets an
 * ERROR reply. Build with -DMCUF_LAYER_HOOK=hil_layer_hook (firmware_tools does); a
 * test-only -DHIL_PERTURB_LAYER=n flips one bit of layer n's output, to prove that the
 * host's layer-by-layer comparison finds it.
 */
#include "board.h"
#include "hil_protocol.h"
#include "model.h"

static uint32_t layer_count[MODEL_NUM_LAYERS];
static uint64_t last_time, total_time;
static int last_layer_run = -1;       /* the layer the last INVOKE stopped after */

void hil_layer_hook(int layer, const int8_t *output, uint32_t bytes);
void hil_layer_hook(int layer, const int8_t *output, uint32_t bytes)
{
    const uint64_t now = board_counter_read();
    if (layer >= 0) {
        layer_count[layer] = (uint32_t)(now - last_time);
        total_time += now - last_time;
#ifdef HIL_PERTURB_LAYER
        if (layer == HIL_PERTURB_LAYER && bytes > 0) {
            ((int8_t *)(uintptr_t)output)[bytes / 2] ^= 1;
        }
#endif
    }
    (void)output;
    (void)bytes;
    last_time = now;
}

static uint8_t *put_tensor(uint8_t *p, const model_io_info *t)
{
    union {
        float f;
        uint32_t u;
    } s = {t->scale};
    p = hil_put32(p, t->size);
    for (int i = 0; i < 4; ++i) {
        p = hil_put16(p, t->shape[i]);
    }
    p = hil_put32(p, s.u);
    p = hil_put32(p, (uint32_t)t->zero_point);
    *p++ = t->type;
    return p;
}

/* 21 bytes per input/output: they must fit the INFO payload beside the rest (about 130 B) */
#if MODEL_NUM_INPUTS + MODEL_NUM_OUTPUTS > 40
#error "more than 40 inputs and outputs do not fit the HIL INFO payload"
#endif

static uint32_t info_payload(uint8_t *buf)
{
    const char *unit = board_counter_unit();
    uint8_t *p = buf;
    *p++ = HIL_VERSION;
    *p++ = (uint8_t)(unit[0] == 'c');   /* 1: cycles, 0: instructions (QEMU) */
    p = hil_put16(p, HIL_MAX_PAYLOAD);
    p = hil_put32(p, board_clock_hz());
    p = hil_put32(p, MODEL_ARENA_SIZE);
    p = hil_put16(p, MODEL_NUM_LAYERS);
#ifndef MODEL_KERNELS_MVE
#define MODEL_KERNELS_MVE 0   /* code generated before the flag existed */
#endif
    /* flags: bit 0 = optimized (DSP) kernels, bit 1 = the Helium (MVE) set */
    p = hil_put16(p, MODEL_KERNELS_DSP | (MODEL_KERNELS_MVE << 1));
    for (int i = 0; i < 32; ++i) {
        *p++ = model_sha256[i];
    }
    *p++ = MODEL_NUM_INPUTS;
    *p++ = MODEL_NUM_OUTPUTS;
    for (int k = 0; k < MODEL_NUM_INPUTS; ++k) {
        p = put_tensor(p, model_input_info(k));
    }
    for (int k = 0; k < MODEL_NUM_OUTPUTS; ++k) {
        p = put_tensor(p, model_output_info(k));
    }
    const char *strings[2] = {board_name(), board_cpu()};
    for (int k = 0; k < 2; ++k) {
        const char *c = strings[k];
        uint8_t *len = p++;
        *len = 0;
        while (*c && *len < 40) {
            *p++ = (uint8_t)*c++;
            ++*len;
        }
    }
    return (uint32_t)(p - buf);
}

static void handle(const uint8_t *pkt, uint32_t n)
{
    static uint8_t out[HIL_MAX_PAYLOAD];
    if (n < HIL_HEADER + 4) {
        hil_send_error(HIL_E_TRUNCATED, 0, 0xFFFF, "packet shorter than its header");
        return;
    }
    const uint8_t type = pkt[1];
    const uint16_t seq = hil_u16(pkt + 2);
    const uint32_t len = hil_u16(pkt + 4);
    if (hil_crc32(pkt, n - 4) != hil_u32(pkt + n - 4)) {
        hil_send_error(HIL_E_CRC, type, seq, "CRC mismatch");
        return;
    }
    if (pkt[0] != HIL_VERSION) {
        hil_send_error(HIL_E_VERSION, type, seq, "unsupported protocol version; this firmware speaks 2");
        return;
    }
    if (HIL_HEADER + len + 4 != n) {
        hil_send_error(HIL_E_TRUNCATED, type, seq, "payload length does not match the packet");
        return;
    }
    if (len > HIL_MAX_PAYLOAD) {   /* docs/protocol.md: at most 1024 payload bytes */
        hil_send_error(HIL_E_TOO_LONG, type, seq, "payload longer than 1024 bytes");
        return;
    }
    /* fixed-size requests take exactly their size (docs/protocol.md): a 1-byte INVOKE ran the
       whole model as if last_layer were absent, extra bytes were ignored without a word */
    if ((type == HIL_INFO && len != 0) || (type == HIL_INVOKE && len != 0 && len != 2) ||
        (type == HIL_READ_OUTPUT && len != 7) || (type == HIL_PROFILE && len != 4) ||
        (type == HIL_READ_TENSOR && len != 8)) {
        hil_send_error(HIL_E_BAD_ARGS, type, seq, "payload length is not the request's");
        return;
    }
    const uint8_t *a = pkt + HIL_HEADER;
    uint8_t *p = out;
    switch (type) {
    case HIL_INFO:
        hil_send(type | 0x80, seq, out, info_payload(out));
        return;
    case HIL_WRITE_INPUT: {
        const int k = len >= 5 ? a[0] : -1;
        const model_io_info *t = model_input_info(k);
        const uint32_t offset = len >= 5 ? hil_u32(a + 1) : 0xFFFFFFFFu;
        if (!t || offset > t->size || len - 5 > t->size - offset) {
            hil_send_error(HIL_E_BAD_ARGS, type, seq, "input index/offset/length out of range");
            return;
        }
        int8_t *in = model_input_at(k);
        for (uint32_t i = 0; i < len - 5; ++i) {
            in[offset + i] = (int8_t)a[5 + i];
        }
        p = hil_put32(hil_put32(p, offset), len - 5);
        break;
    }
    case HIL_INVOKE: {
        const uint16_t last = len >= 2 ? hil_u16(a) : 0xFFFF;
        const int layers = MODEL_NUM_LAYERS;   /* a variable: with 0 layers (the output is an
                                                  input) `last >= 0 - 1` was -Werror=type-limits */
        board_counter_start();
        total_time = 0;
        last_time = board_counter_read();
        int ran;
        if (last == 0xFFFF || last >= layers - 1) {
            model_invoke();
            ran = MODEL_NUM_LAYERS;
        } else {
            ran = model_invoke_until(last);
        }
        last_layer_run = ran - 1;
        *p++ = 0;
        p = hil_put16(p, (uint32_t)ran);
        *p++ = (uint8_t)(board_counter_unit()[0] == 'c');
        p = hil_put32(hil_put32(p, (uint32_t)total_time), (uint32_t)(total_time >> 32));
        break;
    }
    case HIL_READ_OUTPUT: {
        const int k = len >= 7 ? a[0] : -1;
        const model_io_info *t = model_output_info(k);
        const uint32_t offset = len >= 7 ? hil_u32(a + 1) : 0xFFFFFFFFu;
        const uint32_t count = len >= 7 ? hil_u16(a + 5) : 0;
        if (!t || offset > t->size || count > t->size - offset || count > HIL_MAX_PAYLOAD) {
            hil_send_error(HIL_E_BAD_ARGS, type, seq, "output index/offset/length out of range");
            return;
        }
        const int8_t *o = model_output_at(k);
        for (uint32_t i = 0; i < count; ++i) {
            *p++ = (uint8_t)o[offset + i];
        }
        break;
    }
    case HIL_PROFILE: {
        const uint32_t first = len >= 4 ? hil_u16(a) : 0xFFFF;
        const uint32_t count = len >= 4 ? hil_u16(a + 2) : 0;
        if (first > MODEL_NUM_LAYERS || count > MODEL_NUM_LAYERS - first || 4 + 4 * count > HIL_MAX_PAYLOAD) {
            hil_send_error(HIL_E_BAD_ARGS, type, seq, "layer range out of range");
            return;
        }
        p = hil_put16(hil_put16(p, first), count);
        for (uint32_t i = 0; i < count; ++i) {
            p = hil_put32(p, layer_count[first + i]);
        }
        break;
    }
    case HIL_READ_TENSOR: {
        const int layer = len >= 8 ? hil_u16(a) : -1;
        uint32_t bytes;
        const int8_t *t = model_layer_output(layer, &bytes);
        const uint32_t offset = len >= 8 ? hil_u32(a + 2) : 0;
        const uint32_t count = len >= 8 ? hil_u16(a + 6) : 0;
        if (!t || offset > bytes || count > bytes - offset || count + 4 > HIL_MAX_PAYLOAD) {
            hil_send_error(HIL_E_BAD_ARGS, type, seq, "layer/offset/length out of range");
            return;
        }
        if (layer != last_layer_run) {
            hil_send_error(HIL_E_STALE_TENSOR, type, seq, "not available: INVOKE with last_layer first");
            return;
        }
        p = hil_put32(p, bytes);
        for (uint32_t i = 0; i < count; ++i) {
            *p++ = (uint8_t)t[offset + i];
        }
        break;
    }
    default:
        hil_send_error(HIL_E_UNKNOWN_TYPE, type, seq, "unknown request type");
        return;
    }
    hil_send(type | 0x80, seq, out, (uint32_t)(p - out));
}

int main(void)
{
    static uint8_t frame[HIL_MAX_PACKET + HIL_MAX_PACKET / 254 + 2];
    static uint8_t packet[HIL_MAX_PACKET + HIL_MAX_PACKET / 254 + 2];
    board_init();
    {
        static uint8_t boot[HIL_MAX_PAYLOAD];
        hil_send(HIL_BOOT, 0, boot, info_payload(boot));
    }
    uint32_t n = 0;
    int overflow = 0;
    for (;;) {
        const int c = board_getc();
        if (c < 0) {
            board_idle();
            continue;
        }
        if (c != 0) {
            if (n < sizeof frame) {
                frame[n++] = (uint8_t)c;
            } else {
                overflow = 1;   /* keep reading until the delimiter, then report */
            }
            continue;
        }
        if (overflow) {
            hil_send_error(HIL_E_TOO_LONG, 0, 0xFFFF, "frame longer than the device buffer; dropped");
        } else if (n > 0) {   /* empty frames are harmless resync markers */
            const int32_t m = hil_cobs_decode(frame, n, packet);
            if (m < 0) {
                hil_send_error(HIL_E_COBS, 0, 0xFFFF, "invalid COBS encoding");
            } else {
                handle(packet, (uint32_t)m);
            }
        }
        n = 0;
        overflow = 0;
    }
}
