/*
 * Shared-memory zones and pid-tagged spin locks.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_shmem.h>
#include <sched.h>

pid_t rx_pid;

rx_int_t
rx_shmtx_trylock(rx_shmtx_t *m)
{
    uint64_t expected = 0;

    return __atomic_compare_exchange_n(&m->lock, &expected, (uint64_t) rx_pid,
                                       0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
               ? RX_OK
               : RX_BUSY;
}

void
rx_shmtx_lock(rx_shmtx_t *m)
{
    rx_uint_t i, n;

    for (;;) {
        if (__atomic_load_n(&m->lock, __ATOMIC_RELAXED) == 0
            && rx_shmtx_trylock(m) == RX_OK) {
            return;
        }
        for (n = 1; n < 1024; n <<= 1) {
            for (i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
                __asm__ volatile("pause");
#endif
            }
            if (__atomic_load_n(&m->lock, __ATOMIC_RELAXED) == 0
                && rx_shmtx_trylock(m) == RX_OK) {
                return;
            }
        }
        sched_yield();
    }
}

void
rx_shmtx_unlock(rx_shmtx_t *m)
{
    uint64_t expected = (uint64_t) rx_pid;

    (void) __atomic_compare_exchange_n(&m->lock, &expected, 0, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

rx_uint_t
rx_shmtx_force_unlock(rx_shmtx_t *m, pid_t pid)
{
    uint64_t expected = (uint64_t) pid;

    return __atomic_compare_exchange_n(&m->lock, &expected, 0, 0,
                                       __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

static rx_int_t
rx_shm_map_file(rx_shm_zone_t *zone, rx_log_t *log)
{
    struct stat st;
    char        tmp[PATH_MAX];
    int         fd;

    fd = open((char *) zone->path.data, O_RDWR | O_CLOEXEC);
    if (fd != -1 && fstat(fd, &st) == 0
        && (size_t) st.st_size == zone->mapped) {
        zone->existing = 1;
    } else {
        /* a new file renamed over the old one: processes still mapping
           the old file keep valid pages (truncating it would SIGBUS them) */
        if (fd != -1) {
            close(fd);
        }
        snprintf(tmp, sizeof(tmp), "%s.%d", (char *) zone->path.data,
                 (int) getpid());
        fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd == -1 || ftruncate(fd, (off_t) zone->mapped) == -1
            || rename(tmp, (char *) zone->path.data) == -1) {
            rx_log_error(RX_LOG_EMERG, log, errno, "creating \"%s\" failed",
                         zone->path.data);
            if (fd != -1) {
                close(fd);
                (void) unlink(tmp);
            }
            return RX_ERROR;
        }
    }
    zone->addr =
        mmap(NULL, zone->mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return zone->addr == MAP_FAILED ? RX_ERROR : RX_OK;
}

rx_int_t
rx_shm_alloc(rx_shm_zone_t *zone, rx_log_t *log)
{
    rx_shm_header_t *h;
    size_t           hsize;
    rx_uint_t        i;

    hsize = sizeof(rx_shm_header_t) + zone->nlocks * sizeof(rx_shmtx_t);
    zone->mapped = rx_align(hsize + zone->size, (size_t) 4096);
    if (zone->path.len) {
        if (rx_shm_map_file(zone, log) != RX_OK) {
            zone->addr = NULL;
            return RX_ERROR;
        }
    } else {
        zone->addr = mmap(NULL, zone->mapped, PROT_READ | PROT_WRITE,
                          MAP_ANONYMOUS | MAP_SHARED, -1, 0);
        if (zone->addr == MAP_FAILED) {
            rx_log_error(RX_LOG_EMERG, log, errno,
                         "mmap(%lu) for zone "
                         "\"%s\" failed",
                         (unsigned long) zone->mapped, zone->name.data);
            zone->addr = NULL;
            return RX_ERROR;
        }
    }
    h = (rx_shm_header_t *) zone->addr;
    if (zone->existing
        && (h->magic != RX_SHM_MAGIC || h->size != zone->size
            || h->nlocks != zone->nlocks)) {
        zone->existing = 0;
        rx_memzero(zone->addr, zone->mapped);
    }
    h->magic = RX_SHM_MAGIC;
    h->size = zone->size;
    h->nlocks = zone->nlocks;
    zone->locks = (rx_shmtx_t *) (zone->addr + sizeof(rx_shm_header_t));
    for (i = 0; i < zone->nlocks; i++) {
        zone->locks[i].lock = 0; /* nobody can hold a lock across a start */
    }
    zone->user = zone->addr + hsize;
    return RX_OK;
}

void
rx_shm_free(rx_shm_zone_t *zone)
{
    if (zone->addr) {
        munmap(zone->addr, zone->mapped);
        zone->addr = NULL;
    }
}
