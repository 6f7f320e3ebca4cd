/*
 * Byte buffers.
 */

#include <rx_config.h>
#include <rx_core.h>

rx_int_t
rx_buf_init(rx_buf_t *b, rx_pool_t *pool, size_t size)
{
    b->start = rx_pnalloc(pool, size);
    if (b->start == NULL) {
        return RX_ERROR;
    }
    b->pos = b->last = b->start;
    b->end = b->start + size;
    b->pool = pool;
    return RX_OK;
}

rx_int_t
rx_buf_reserve(rx_buf_t *b, size_t n)
{
    size_t  len, size, old;
    u_char *p;

    if (rx_buf_free(b) >= n) {
        return RX_OK;
    }
    len = rx_buf_len(b);
    old = (size_t) (b->end - b->start);
    if (old - len >= n && b->pos - b->start >= (ptrdiff_t) (old / 2)) {
        memmove(b->start, b->pos, len);
        b->pos = b->start;
        b->last = b->start + len;
        return RX_OK;
    }
    if (b->pool == NULL) {
        return RX_ERROR;
    }
    size = old ? old : 256;
    while (size - len < n) {
        if (size > SIZE_MAX / 2) {
            return RX_ERROR;
        }
        size *= 2;
    }
    if (b->pos == b->start) {
        p = rx_prealloc(b->pool, b->start, old, size);
        if (p == NULL) {
            return RX_ERROR;
        }
    } else {
        p = rx_pnalloc(b->pool, size);
        if (p == NULL) {
            return RX_ERROR;
        }
        memcpy(p, b->pos, len);
        rx_pfree(b->pool, b->start);
    }
    b->start = b->pos = p;
    b->last = p + len;
    b->end = p + size;
    return RX_OK;
}

rx_int_t
rx_buf_append(rx_buf_t *b, const void *data, size_t n)
{
    if (rx_buf_reserve(b, n) != RX_OK) {
        return RX_ERROR;
    }
    if (n) {
        memcpy(b->last, data, n);
        b->last += n;
    }
    return RX_OK;
}

rx_int_t
rx_buf_printf(rx_buf_t *b, const char *fmt, ...)
{
    va_list args;
    int     n;

    va_start(args, fmt);
    n = vsnprintf((char *) b->last, rx_buf_free(b), fmt, args);
    va_end(args);
    if (n < 0) {
        return RX_ERROR;
    }
    if ((size_t) n < rx_buf_free(b)) {
        b->last += n;
        return RX_OK;
    }
    if (rx_buf_reserve(b, (size_t) n + 1) != RX_OK) {
        return RX_ERROR;
    }
    va_start(args, fmt);
    n = vsnprintf((char *) b->last, rx_buf_free(b), fmt, args);
    va_end(args);
    b->last += n;
    return RX_OK;
}
