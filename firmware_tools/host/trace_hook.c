/* Host-side layer hook: forwards each layer's output to a callback set from Python. */
#include <stdint.h>

typedef void (*mcuf_host_callback)(int layer, const int8_t *output, uint32_t bytes);
static mcuf_host_callback callback;

void mcuf_host_set_callback(mcuf_host_callback cb) { callback = cb; }

void mcuf_host_hook(int layer, const int8_t *output, uint32_t bytes)
{
    if (callback) {
        callback(layer, output, bytes);
    }
}
