/*
 * Memory pools.
 */

#include <rx_config.h>
#include <rx_core.h>

static void *rx_palloc_block(rx_pool_t *pool, size_t size, int align);
static void *rx_palloc_large(rx_pool_t *pool, size_t size);

rx_pool_t *
rx_create_pool(size_t size, rx_log_t *log)
{
    rx_pool_t *p;

    if (size < sizeof(rx_pool_t) + 256) {
        size = sizeof(rx_pool_t) + 256;
    }
    p = malloc(size);
    if (p == NULL) {
        return NULL;
    }
    p->first.last = (u_char *) p + sizeof(rx_pool_t);
    p->first.end = (u_char *) p + size;
    p->first.next = NULL;
    p->current = &p->first;
    p->large = NULL;
    p->cleanup = NULL;
    p->max = rx_min(size - sizeof(rx_pool_t), (size_t) 4096);
    p->total = 0;
    p->limit = 0;
    p->log = log;
    return p;
}

static void
rx_pool_free_all(rx_pool_t *pool)
{
    rx_pool_cleanup_t *c;
    rx_pool_large_t   *l;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    pool->cleanup = NULL;
    for (l = pool->large; l; l = l->next) {
        free(l->alloc);
    }
    pool->large = NULL;
}

void
rx_destroy_pool(rx_pool_t *pool)
{
    rx_pool_block_t *b, *n;

    if (pool == NULL) {
        return;
    }
    rx_pool_free_all(pool);
    for (b = pool->first.next; b; b = n) {
        n = b->next;
        free(b);
    }
    free(pool);
}

void
rx_reset_pool(rx_pool_t *pool)
{
    rx_pool_block_t *b;

    rx_pool_free_all(pool);
    pool->first.last = (u_char *) pool + sizeof(rx_pool_t);
    for (b = pool->first.next; b; b = b->next) {
        b->last = (u_char *) b + sizeof(rx_pool_block_t);
    }
    pool->current = &pool->first;
    pool->total = 0;
}

static void *
rx_palloc_small(rx_pool_t *pool, size_t size, int align)
{
    rx_pool_block_t *b;
    u_char          *m;

    for (b = pool->current; b; b = b->next) {
        m = b->last;
        if (align) {
            m = (u_char *) rx_align((uintptr_t) m, RX_POOL_ALIGN);
        }
        if (m <= b->end && (size_t) (b->end - m) >= size) {
            b->last = m + size;
            return m;
        }
        if (b == pool->current && b->next && b->end - b->last < 512) {
            pool->current = b->next;
        }
    }
    return rx_palloc_block(pool, size, align);
}

static void *
rx_palloc_block(rx_pool_t *pool, size_t size, int align)
{
    rx_pool_block_t *b, *last;
    size_t           bsize;
    u_char          *m;

    bsize = (size_t) (pool->first.end - (u_char *) pool);
    b = malloc(bsize);
    if (b == NULL) {
        return NULL;
    }
    b->end = (u_char *) b + bsize;
    b->next = NULL;
    m = (u_char *) b + sizeof(rx_pool_block_t);
    if (align) {
        m = (u_char *) rx_align((uintptr_t) m, RX_POOL_ALIGN);
    }
    b->last = m + size;
    for (last = pool->current; last->next; last = last->next) {
        /* void */
    }
    last->next = b;
    return m;
}

static void *
rx_palloc_large(rx_pool_t *pool, size_t size)
{
    rx_pool_large_t *l;
    void            *p;

    p = malloc(size);
    if (p == NULL) {
        return NULL;
    }
    l = rx_palloc_small(pool, sizeof(rx_pool_large_t), 1);
    if (l == NULL) {
        free(p);
        return NULL;
    }
    l->alloc = p;
    l->size = size;
    l->next = pool->large;
    pool->large = l;
    return p;
}

static void *
rx_palloc_any(rx_pool_t *pool, size_t size, int align)
{
    if (pool->limit && pool->total + size > pool->limit) {
        return NULL;
    }
    pool->total += size;
    if (size <= pool->max) {
        return rx_palloc_small(pool, size, align);
    }
    return rx_palloc_large(pool, size);
}

void *
rx_palloc(rx_pool_t *pool, size_t size)
{
    return rx_palloc_any(pool, size, 1);
}

void *
rx_pnalloc(rx_pool_t *pool, size_t size)
{
    return rx_palloc_any(pool, size, 0);
}

void *
rx_pcalloc(rx_pool_t *pool, size_t size)
{
    void *p;

    p = rx_palloc(pool, size);
    if (p) {
        rx_memzero(p, size);
    }
    return p;
}

rx_int_t
rx_pfree(rx_pool_t *pool, void *p)
{
    rx_pool_large_t *l;

    for (l = pool->large; l; l = l->next) {
        if (l->alloc == p) {
            free(l->alloc);
            l->alloc = NULL;
            pool->total -= rx_min(pool->total, l->size);
            return RX_OK;
        }
    }
    return RX_DECLINED;
}

void *
rx_prealloc(rx_pool_t *pool, void *p, size_t old, size_t size)
{
    rx_pool_large_t *l;
    void            *n;

    if (p != NULL && old > pool->max) {
        for (l = pool->large; l; l = l->next) {
            if (l->alloc != p) {
                continue;
            }
            if (pool->limit && pool->total - old + size > pool->limit) {
                return NULL;
            }
            n = realloc(p, size);
            if (n == NULL) {
                return NULL;
            }
            pool->total = pool->total - old + size;
            l->alloc = n;
            l->size = size;
            return n;
        }
    }
    n = rx_palloc(pool, size);
    if (n && p && old) {
        memcpy(n, p, rx_min(old, size));
    }
    return n;
}

rx_pool_cleanup_t *
rx_pool_cleanup_add(rx_pool_t *pool, rx_pool_cleanup_pt h, void *data)
{
    rx_pool_cleanup_t *c;

    c = rx_palloc(pool, sizeof(rx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }
    c->handler = h;
    c->data = data;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}
