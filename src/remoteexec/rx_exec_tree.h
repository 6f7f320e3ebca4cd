/*
 * The input tree: root-relative entries (files, symlinks, directories)
 * turned into REAPI Directory messages with canonical ordering, digested
 * bottom-up (REMOTEEXEC.md §6.5.9, REAPI_SUBSET.md §8).
 */

#ifndef _RX_EXEC_TREE_H_INCLUDED_
#define _RX_EXEC_TREE_H_INCLUDED_

#include <rx_reapi_cas.h>

typedef struct rx_exec_tree_s rx_exec_tree_t;

/** Called for every serialized Directory (digest and bytes in the pool). */
typedef rx_int_t (*rx_exec_tree_blob_pt)(void *data, const u_char *bytes,
                                         size_t                   len,
                                         const rx_reapi_digest_t *d);

rx_exec_tree_t *rx_exec_tree_create(rx_pool_t *pool);
/* RX_ERROR (with *err) for absolute names, ".." above the root, a leaf
 * "."/".." for a file, or a node with both digest and target */
rx_int_t rx_exec_tree_add_file(rx_exec_tree_t *t, const rx_str_t *name,
                               const rx_reapi_digest_t *d, int executable,
                               const char **err);
rx_int_t rx_exec_tree_add_symlink(rx_exec_tree_t *t, const rx_str_t *name,
                                  const rx_str_t *target, const char **err);
rx_int_t rx_exec_tree_add_dir(rx_exec_tree_t *t, const rx_str_t *name,
                              const char **err);
/** Sorts, drops exact duplicates, fails on conflicting ones, serializes
 *  and digests every directory (emitted through @blob), sets @root. */
rx_int_t rx_exec_tree_finish(rx_exec_tree_t *t, rx_exec_tree_blob_pt blob,
                             void *data, rx_reapi_digest_t *root,
                             const char **err);

#endif /* _RX_EXEC_TREE_H_INCLUDED_ */
