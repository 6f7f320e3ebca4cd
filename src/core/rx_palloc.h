/*
 * Memory pools: bump allocation of small objects, a list of large
 * allocations and cleanup handlers. Nothing is freed piece by piece; the
 * whole pool goes at the end of the request, connection or cycle.
 */

#ifndef _RX_PALLOC_H_INCLUDED_
#define _RX_PALLOC_H_INCLUDED_

#define RX_POOL_DEFAULT_SIZE (16 * 1024)
#define RX_POOL_ALIGN        16

typedef void (*rx_pool_cleanup_pt)(void *data);

typedef struct rx_pool_cleanup_s rx_pool_cleanup_t;
struct rx_pool_cleanup_s {
    rx_pool_cleanup_pt handler;
    void              *data;
    rx_pool_cleanup_t *next;
};

typedef struct rx_pool_large_s rx_pool_large_t;
struct rx_pool_large_s {
    rx_pool_large_t *next;
    void            *alloc;
    size_t           size;
};

typedef struct rx_pool_block_s rx_pool_block_t;
struct rx_pool_block_s {
    u_char          *last;
    u_char          *end;
    rx_pool_block_t *next;
};

struct rx_pool_s {
    rx_pool_block_t    first; /* must stay first: the header block */
    rx_pool_block_t   *current;
    rx_pool_large_t   *large;
    rx_pool_cleanup_t *cleanup;
    size_t             max;   /* larger requests go to malloc */
    size_t             total; /* bytes handed out (accounting) */
    size_t             limit; /* 0 = unbounded; else alloc fails past it */
    rx_log_t          *log;
};

/** Creates a pool whose first block has @size bytes; NULL on ENOMEM. */
rx_pool_t *rx_create_pool(size_t size, rx_log_t *log);
/** Runs cleanups (in reverse registration order) and frees everything. */
void rx_destroy_pool(rx_pool_t *pool);
/** Frees all allocations but keeps the pool for reuse (cleanups run). */
void rx_reset_pool(rx_pool_t *pool);

void *rx_palloc(rx_pool_t *pool, size_t size);  /* aligned */
void *rx_pnalloc(rx_pool_t *pool, size_t size); /* unaligned */
void *rx_pcalloc(rx_pool_t *pool, size_t size);
/** Frees a large allocation early (used by growable buffers). */
rx_int_t rx_pfree(rx_pool_t *pool, void *p);
/** Reallocates a pool allocation made by rx_palloc; old content kept. */
void *rx_prealloc(rx_pool_t *pool, void *p, size_t old, size_t size);

rx_pool_cleanup_t *rx_pool_cleanup_add(rx_pool_t *pool, rx_pool_cleanup_pt h,
                                       void *data);

#endif /* _RX_PALLOC_H_INCLUDED_ */
