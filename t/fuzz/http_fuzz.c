/*
 * libFuzzer harness for the HTTP/1.1 request parser: the head up to the
 * first empty line, then, when the head announces a chunked body, the rest
 * as that body, fed to the chunked decoder in pieces whose sizes come from
 * the input (so every state is entered at a piece boundary too).
 *
 * Besides "no crash, no over-read": a parsed head has a method, a path
 * that starts with '/', and headers inside the limit; a decoded body never
 * exceeds its limit.  make fuzz builds and runs it.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>

#define RX_FUZZ_MAX_HEADERS 32
#define RX_FUZZ_MAX_BODY    (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
rx_fuzz_head_len(const u_char *p, size_t size)
{
    size_t i;

    for (i = 0; i + 1 < size; i++) {
        if (p[i] == '\n'
            && (p[i + 1] == '\n'
                || (p[i + 1] == '\r' && i + 2 < size && p[i + 2] == '\n'))) {
            return i + (p[i + 1] == '\n' ? 2 : 3);
        }
    }
    return size;
}

static void
rx_fuzz_chunked(rx_pool_t *pool, u_char *p, u_char *last)
{
    rx_http_chunked_t ctx;
    rx_buf_t          out;
    u_char           *end;
    size_t            step;
    rx_int_t          rc = RX_AGAIN;

    rx_memzero(&ctx, sizeof(ctx));
    if (rx_buf_init(&out, pool, 4096) != RX_OK) {
        return;
    }
    while (p < last && rc == RX_AGAIN) {
        step = (size_t) (*p % 7) + 1;
        end = p + rx_min(step, (size_t) (last - p));
        while (p < end && rc == RX_AGAIN) {
            rc = rx_http_parse_chunked(&ctx, &p, end, &out, RX_FUZZ_MAX_BODY);
        }
    }
    if (rx_buf_len(&out) > RX_FUZZ_MAX_BODY) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rx_http_req_t *r;
    rx_pool_t     *pool;
    u_char        *in;
    size_t         head;
    rx_int_t       rc;

    pool = rx_create_pool(4096, &rx_log_stderr);
    if (pool == NULL) {
        return 0;
    }
    pool->limit = 16 * 1024 * 1024;
    r = rx_pcalloc(pool, sizeof(rx_http_req_t));
    /* an exact-size heap copy: ASan sees any read past the end */
    in = malloc(size ? size : 1);
    if (r == NULL || in == NULL
        || rx_array_init(&r->headers, pool, 16, sizeof(rx_http_header_t))
               != RX_OK) {
        free(in);
        rx_destroy_pool(pool);
        return 0;
    }
    memcpy(in, data, size);
    r->pool = pool;
    r->content_length = -1;

    head = rx_fuzz_head_len(in, size);
    rc = rx_http_parse_request(r, in, in + head, RX_FUZZ_MAX_HEADERS);
    if (rc == RX_OK) {
        if (r->method_name.len == 0 || r->path.len == 0
            || r->path.data[0] != '/'
            || r->headers.nelts > RX_FUZZ_MAX_HEADERS) {
            abort();
        }
        if (r->chunked) {
            rx_fuzz_chunked(pool, in + head, in + size);
        }
    }
    free(in);
    rx_destroy_pool(pool);
    return 0;
}
