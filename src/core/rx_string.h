/*
 * Counted strings and small string helpers.
 */

#ifndef _RX_STRING_H_INCLUDED_
#define _RX_STRING_H_INCLUDED_

typedef struct {
    size_t  len;
    u_char *data;
} rx_str_t;

#define rx_string(s)                                                           \
    {                                                                          \
        sizeof(s) - 1, (u_char *) (s)                                          \
    }
#define rx_null_string                                                         \
    {                                                                          \
        0, NULL                                                                \
    }
#define rx_str_set(str, text)                                                  \
    do {                                                                       \
        (str)->len = sizeof(text) - 1;                                         \
        (str)->data = (u_char *) (text);                                       \
    } while (0)

#define rx_memzero(p, n)       (void) memset(p, 0, n)
#define rx_cpymem(dst, src, n) (((u_char *) memcpy(dst, src, n)) + (n))

#define rx_tolower(c)                                                          \
    ((u_char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c)))

/** Equal length and bytes. */
int rx_str_eq(const rx_str_t *a, const rx_str_t *b);
/** Case-insensitive compare of a counted string against a C string. */
int rx_str_eq_ci(const rx_str_t *a, const char *b);
/** Case-insensitive substring search; returns 1 if @needle occurs. */
int rx_str_contains_ci(const rx_str_t *hay, const char *needle);
/** Copies @src into @pool as a NUL-terminated string (len excludes NUL). */
rx_int_t rx_str_dup(rx_pool_t *pool, rx_str_t *dst, const rx_str_t *src);
/** Parses a non-negative decimal; RX_ERROR on overflow or junk. */
int64_t rx_atoi64(const u_char *p, size_t n);
/** Lowercase hex of @n bytes into @dst (2n bytes, no NUL). Returns end. */
u_char *rx_hex_dump(u_char *dst, const u_char *src, size_t n);
/** Decodes 2n hex chars into n bytes; RX_ERROR on a non-hex char. */
rx_int_t rx_hex_decode(u_char *dst, const u_char *src, size_t n2);
/** Constant-time compare of two equal-length byte strings (0 = equal). */
int rx_memcmp_ct(const u_char *a, const u_char *b, size_t n);

/** snprintf into [buf, last); returns the end of what was written. */
u_char *rx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
u_char *rx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

#endif /* _RX_STRING_H_INCLUDED_ */
