/*
 * Byte buffers: [start, end) is the memory, [pos, last) the data.
 */

#ifndef _RX_BUF_H_INCLUDED_
#define _RX_BUF_H_INCLUDED_

struct rx_buf_s {
    u_char    *start;
    u_char    *pos;
    u_char    *last;
    u_char    *end;
    rx_pool_t *pool; /* owner of start, NULL if borrowed */
};

#define rx_buf_len(b)  ((size_t) ((b)->last - (b)->pos))
#define rx_buf_free(b) ((size_t) ((b)->end - (b)->last))

/** Allocates @size bytes of buffer space from @pool. */
rx_int_t rx_buf_init(rx_buf_t *b, rx_pool_t *pool, size_t size);
/** Makes room for @n more bytes after last (moves data down or grows). */
rx_int_t rx_buf_reserve(rx_buf_t *b, size_t n);
rx_int_t rx_buf_append(rx_buf_t *b, const void *data, size_t n);
rx_int_t rx_buf_printf(rx_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* _RX_BUF_H_INCLUDED_ */
