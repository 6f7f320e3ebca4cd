/*
 * Shared-memory zones created by the master before fork, reused across
 * reloads when name, size and tag match, each with an array of pid-tagged
 * locks that the master force-unlocks when a worker dies holding one.
 */

#ifndef _RX_SHMEM_H_INCLUDED_
#define _RX_SHMEM_H_INCLUDED_

typedef struct {
    volatile uint64_t lock;    /* 0 or the owner's pid */
    u_char            pad[56]; /* one cache line each */
} rx_shmtx_t;

typedef rx_int_t (*rx_shm_zone_init_pt)(rx_shm_zone_t *zone, void *old_data);

#define RX_SHM_MAGIC 0x52585a4f4e453031ULL /* "RXZONE01" */

typedef struct {
    uint64_t magic;
    uint64_t size; /* user area bytes */
    uint64_t nlocks;
    uint64_t pad[5];
} rx_shm_header_t;

struct rx_shm_zone_s {
    rx_str_t            name;
    size_t              size; /* user area */
    rx_uint_t           nlocks;
    const void         *tag;  /* owner module */
    rx_str_t            path; /* file-backed mapping when set */
    rx_shm_zone_init_pt init;
    void               *data; /* owner's view, set by init */
    u_char             *addr; /* whole mapping */
    size_t              mapped;
    rx_shmtx_t         *locks;
    u_char             *user;         /* user area */
    unsigned            reused : 1;   /* inherited from the previous cycle */
    unsigned            existing : 1; /* file-backed data found on disk */
};

extern pid_t rx_pid;

void     rx_shmtx_lock(rx_shmtx_t *m);
rx_int_t rx_shmtx_trylock(rx_shmtx_t *m);
void     rx_shmtx_unlock(rx_shmtx_t *m);
/** Releases @m if @pid holds it; returns 1 if it did. */
rx_uint_t rx_shmtx_force_unlock(rx_shmtx_t *m, pid_t pid);

/** Maps the zone (anonymous, or the file at zone->path). */
rx_int_t rx_shm_alloc(rx_shm_zone_t *zone, rx_log_t *log);
void     rx_shm_free(rx_shm_zone_t *zone);

#endif /* _RX_SHMEM_H_INCLUDED_ */
