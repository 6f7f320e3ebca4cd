/*
 * Counted strings and small string helpers.
 */

#include <rx_config.h>
#include <rx_core.h>

int
rx_str_eq(const rx_str_t *a, const rx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int
rx_str_eq_ci(const rx_str_t *a, const char *b)
{
    size_t n = strlen(b);

    return a->len == n && (n == 0 || strncasecmp((char *) a->data, b, n) == 0);
}

int
rx_str_contains_ci(const rx_str_t *hay, const char *needle)
{
    size_t i, j, n;

    n = strlen(needle);
    if (n == 0) {
        return 1;
    }
    for (i = 0; i + n <= hay->len; i++) {
        for (j = 0; j < n; j++) {
            if (rx_tolower(hay->data[i + j])
                != rx_tolower((u_char) needle[j])) {
                break;
            }
        }
        if (j == n) {
            return 1;
        }
    }
    return 0;
}

rx_int_t
rx_str_dup(rx_pool_t *pool, rx_str_t *dst, const rx_str_t *src)
{
    u_char *p;

    p = rx_pnalloc(pool, src->len + 1);
    if (p == NULL) {
        return RX_ERROR;
    }
    if (src->len) {
        memcpy(p, src->data, src->len);
    }
    p[src->len] = '\0';
    dst->data = p;
    dst->len = src->len;
    return RX_OK;
}

int64_t
rx_atoi64(const u_char *p, size_t n)
{
    int64_t v = 0;

    if (n == 0) {
        return RX_ERROR;
    }
    for (; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return RX_ERROR;
        }
        if (v > (INT64_MAX - (*p - '0')) / 10) {
            return RX_ERROR;
        }
        v = v * 10 + (*p - '0');
    }
    return v;
}

u_char *
rx_hex_dump(u_char *dst, const u_char *src, size_t n)
{
    static const u_char hex[] = "0123456789abcdef";

    while (n--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }
    return dst;
}

static int
rx_hex_val(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = rx_tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

rx_int_t
rx_hex_decode(u_char *dst, const u_char *src, size_t n2)
{
    int hi, lo;

    if (n2 % 2) {
        return RX_ERROR;
    }
    for (; n2; n2 -= 2, src += 2) {
        hi = rx_hex_val(src[0]);
        lo = rx_hex_val(src[1]);
        if (hi < 0 || lo < 0) {
            return RX_ERROR;
        }
        *dst++ = (u_char) (hi << 4 | lo);
    }
    return RX_OK;
}

int
rx_memcmp_ct(const u_char *a, const u_char *b, size_t n)
{
    u_char d = 0;

    while (n--) {
        d |= *a++ ^ *b++;
    }
    return d;
}

u_char *
rx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    int n;

    if (buf >= last) {
        return buf;
    }
    n = vsnprintf((char *) buf, (size_t) (last - buf), fmt, args);
    if (n < 0) {
        return buf;
    }
    return (n >= last - buf) ? last - 1 : buf + n;
}

u_char *
rx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    buf = rx_vslprintf(buf, last, fmt, args);
    va_end(args);
    return buf;
}
