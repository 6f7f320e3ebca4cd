/*
 * The digest cache: goma hash_key -> REAPI Digest (REMOTEEXEC.md §5), a
 * set-associative table in a shared zone (STYLE.md §2.5). Keys and values
 * are raw 32-byte sha256s. Writers take a striped pid-tagged lock; readers
 * never lock nor wait: each bucket has a sequence counter (a seqlock), and
 * a read that overlaps a write is retried a few times, then is a miss.
 * Correctness never depends on a hit. With digest_cache.path the zone is a
 * file-backed mapping that survives restarts.
 */

#ifndef _RX_DIGEST_CACHE_H_INCLUDED_
#define _RX_DIGEST_CACHE_H_INCLUDED_

#include <rx_cycle.h>

#define RX_DC_WAYS    8    /* slots per bucket */
#define RX_DC_STRIPES 1024 /* writer locks (zone nlocks) */

typedef struct {
    u_char  hash[RX_SHA256_LEN]; /* raw sha256 of the content */
    int64_t size;                /* content length */
} rx_dc_digest_t;

typedef struct {
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;   /* new keys stored */
    uint64_t evictions; /* keys dropped for a new one */
    uint64_t entries;
    uint64_t capacity;
    int      persistent; /* file-backed */
} rx_dc_stats_t;

extern const rx_module_t rx_digest_cache_module;

/** RX_OK and *@out filled on a hit; RX_DECLINED on a miss (also while a
 *  writer is changing the bucket, or when the cache is not attached).
 *  No locks, no syscalls. */
rx_int_t rx_digest_cache_get(const u_char    key[RX_SHA256_LEN],
                             rx_dc_digest_t *out);
/** Stores @key -> @d, replacing the set's least recently used entry when
 *  it is full. A no-op when the cache is not attached. */
void rx_digest_cache_put(const u_char          key[RX_SHA256_LEN],
                         const rx_dc_digest_t *d);
/** Counters of the shared table (all zero when not attached). */
void rx_digest_cache_stats(rx_dc_stats_t *st);

/** Zone user-area size for @entries (rounded up to a power of two number
 *  of buckets of RX_DC_WAYS). */
size_t rx_digest_cache_size(rx_uint_t entries);
/** Makes the mapped @zone (nlocks RX_DC_STRIPES) this process's cache,
 *  formatting it first when it holds no valid table of its geometry or
 *  when @reset is set. Used by the module's zone init and by tests. */
rx_int_t rx_digest_cache_attach(rx_shm_zone_t *zone, rx_uint_t reset);
/** Tests only: does what a writer killed in the middle of storing @key
 *  would do (stripe lock taken as rx_pid, bucket sequence left odd, the
 *  slot half written) and returns that stripe lock. */
rx_shmtx_t *rx_digest_cache_debug_tear(const u_char          key[RX_SHA256_LEN],
                                       const rx_dc_digest_t *d);

#endif /* _RX_DIGEST_CACHE_H_INCLUDED_ */
