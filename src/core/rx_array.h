/*
 * Growable arrays of fixed-size elements allocated from a pool.
 */

#ifndef _RX_ARRAY_H_INCLUDED_
#define _RX_ARRAY_H_INCLUDED_

struct rx_array_s {
    void      *elts;
    rx_uint_t  nelts;
    size_t     size;
    rx_uint_t  nalloc;
    rx_pool_t *pool;
};

rx_array_t *rx_array_create(rx_pool_t *p, rx_uint_t n, size_t size);
rx_int_t rx_array_init(rx_array_t *a, rx_pool_t *p, rx_uint_t n, size_t size);
/** Appends one zeroed element and returns it; NULL on ENOMEM. */
void *rx_array_push(rx_array_t *a);

#endif /* _RX_ARRAY_H_INCLUDED_ */
