/*
 * libFuzzer harness for request body decoding: the first byte picks gzip
 * or goma's raw deflate, the rest is the body.  Besides "no crash, no
 * over-read": a decoded body never exceeds the limit (the bomb guard), and
 * what we encode decodes back to the same bytes.  make fuzz runs it.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_zlib.h>

#define RX_FUZZ_MAX_OUT (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rx_encoding_e enc;
    rx_pool_t    *pool;
    rx_str_t      out, again, back;
    u_char       *in;

    if (size == 0) {
        return 0;
    }
    enc = (data[0] & 1) ? RX_ENC_GZIP : RX_ENC_DEFLATE;
    pool = rx_create_pool(4096, &rx_log_stderr);
    if (pool == NULL) {
        return 0;
    }
    pool->limit = 64 * 1024 * 1024;
    in = malloc(size - 1 ? size - 1 : 1);
    if (in == NULL) {
        rx_destroy_pool(pool);
        return 0;
    }
    memcpy(in, data + 1, size - 1);

    if (rx_zlib_decode(pool, enc, in, size - 1, RX_FUZZ_MAX_OUT, &out)
        == RX_OK) {
        if (out.len > RX_FUZZ_MAX_OUT) {
            abort();
        }
        if (rx_zlib_encode(pool, enc, 1, out.data, out.len, &again) != RX_OK
            || rx_zlib_decode(pool, enc, again.data, again.len, RX_FUZZ_MAX_OUT,
                              &back)
                   != RX_OK
            || back.len != out.len
            || (out.len && memcmp(back.data, out.data, out.len) != 0)) {
            abort();
        }
    }
    free(in);
    rx_destroy_pool(pool);
    return 0;
}
