/*
 * Growable arrays.
 */

#include <rx_config.h>
#include <rx_core.h>

rx_array_t *
rx_array_create(rx_pool_t *p, rx_uint_t n, size_t size)
{
    rx_array_t *a;

    a = rx_palloc(p, sizeof(rx_array_t));
    if (a == NULL || rx_array_init(a, p, n, size) != RX_OK) {
        return NULL;
    }
    return a;
}

rx_int_t
rx_array_init(rx_array_t *a, rx_pool_t *p, rx_uint_t n, size_t size)
{
    a->nelts = 0;
    a->size = size;
    a->nalloc = n ? n : 1;
    a->pool = p;
    a->elts = rx_palloc(p, a->nalloc * size);
    return a->elts ? RX_OK : RX_ERROR;
}

void *
rx_array_push(rx_array_t *a)
{
    void   *n;
    u_char *elt;

    if (a->nelts == a->nalloc) {
        n = rx_prealloc(a->pool, a->elts, a->nalloc * a->size,
                        2 * a->nalloc * a->size);
        if (n == NULL) {
            return NULL;
        }
        a->elts = n;
        a->nalloc *= 2;
    }
    elt = (u_char *) a->elts + a->size * a->nelts++;
    rx_memzero(elt, a->size);
    return elt;
}
