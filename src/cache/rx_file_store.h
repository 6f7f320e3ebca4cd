/*
 * The file store: a content-addressed directory of Goma FileBlobs shared
 * by every worker (path/ab/<64 hex>), with an index in shared memory that
 * answers "do we have key K" without disk I/O. Writes are atomic (temp
 * file + rename). The cache-manager process loads the index from disk at
 * start and evicts the least recently used blobs above max_size.
 */

#ifndef _RX_FILE_STORE_H_INCLUDED_
#define _RX_FILE_STORE_H_INCLUDED_

#include <rx_cycle.h>

typedef struct {
    uint64_t stores;
    uint64_t store_errors;
    uint64_t hits;
    uint64_t misses;
    uint64_t corrupt;
    uint64_t evictions;
    uint64_t entries;
    uint64_t bytes;
    uint64_t max_bytes;
    uint64_t loaded;
} rx_file_store_stats_t;

extern const rx_module_t rx_file_store_module;

/** 1 if the index (or, while it loads, the disk) has @key. */
rx_int_t rx_file_store_has(const u_char key[RX_SHA256_LEN]);
/** Reads the blob into @pool after checking it hashes to @key.
 *  RX_OK, RX_DECLINED (absent), RX_ERROR (I/O; logged). */
rx_int_t rx_file_store_get(rx_pool_t *pool, const u_char key[RX_SHA256_LEN],
                           rx_str_t *out);
/** Stores @data under @key (the caller verified the hash). RX_OK, RX_DONE
 *  (already present), RX_ERROR (disk full, I/O; logged). */
rx_int_t rx_file_store_put(const u_char key[RX_SHA256_LEN], const u_char *data,
                           size_t len);
void     rx_file_store_get_stats(rx_file_store_stats_t *st);
/** Cache-manager work: load the index, evict above the cap. Returns the
 *  milliseconds until it wants to run again. */
rx_msec_t rx_file_store_manage(rx_cycle_t *cycle);

#endif /* _RX_FILE_STORE_H_INCLUDED_ */
