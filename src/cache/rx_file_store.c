/*
 * The shared file store: disk blobs plus a set-associative index in a
 * shared zone, guarded by striped pid-tagged locks.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_shmem.h>
#include <rx_file_store.h>
#include <dirent.h>

#define RX_FS_WAYS    8
#define RX_FS_STRIPES 64
#define RX_FS_MAGIC   0x5258465331ULL

typedef struct {
    u_char   key[RX_SHA256_LEN];
    uint64_t size;
    uint64_t atime; /* logical LRU clock stamp (rx_fs_now) */
    uint32_t used;
    uint32_t pad;
} rx_fs_slot_t;

typedef struct {
    uint64_t magic;
    uint64_t nbuckets; /* power of two */
    int64_t  epoch;
    uint64_t loaded;
    uint64_t bytes;   /* atomic */
    uint64_t entries; /* atomic */
    uint64_t stores;
    uint64_t store_errors;
    uint64_t hits;
    uint64_t misses;
    uint64_t corrupt;
    uint64_t evictions;
    uint64_t clock; /* atomic: strictly increasing use stamps */
} rx_fs_header_t;

typedef struct {
    rx_shm_zone_t  *zone;
    rx_fs_header_t *hdr;
    rx_fs_slot_t   *slots;
    rx_str_t        path;
    size_t          max_size;
    uint64_t        tmp_seq;
} rx_file_store_t;

static rx_int_t rx_fs_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static rx_int_t rx_fs_init_zone(rx_shm_zone_t *zone, void *old_data);
static rx_int_t rx_fs_init_worker(rx_cycle_t *cycle);

const rx_module_t rx_file_store_module = {
    .name = "file_store",
    .init_cycle = rx_fs_init_cycle,
    .init_worker = rx_fs_init_worker,
    .manage = rx_file_store_manage,
};

static rx_file_store_t rx_fs; /* this process's view */

#define rx_fs_add(field, n)                                                    \
    __atomic_fetch_add(&rx_fs.hdr->field, (uint64_t) (n), __ATOMIC_RELAXED)
#define rx_fs_sub(field, n)                                                    \
    __atomic_fetch_sub(&rx_fs.hdr->field, (uint64_t) (n), __ATOMIC_RELAXED)

static rx_uint_t
rx_fs_entries(rx_cycle_t *cycle)
{
    rx_uint_t n = 1024;

    while (n < (rx_uint_t) cycle->conf->file_store.index_entries) {
        n <<= 1;
    }
    return n;
}

static rx_int_t
rx_fs_mkdirs(rx_cycle_t *cycle, const rx_str_t *path)
{
    char      dir[PATH_MAX];
    rx_uint_t i;

    for (i = 0; i < 257; i++) {
        if (i == 256) {
            snprintf(dir, sizeof(dir), "%s/tmp", (char *) path->data);
        } else {
            snprintf(dir, sizeof(dir), "%s/%02lx", (char *) path->data,
                     (unsigned long) i);
        }
        if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
            rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                         "mkdir(\"%s\") for the file store failed", dir);
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static rx_int_t
rx_fs_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_file_store_t *fc = &cycle->conf->file_store;
    rx_shm_zone_t        *z;
    size_t                size;

    if (cycle->test_only) {
        return RX_OK; /* -t changes nothing on disk */
    }
    if (mkdir((char *) fc->path.data, 0700) == -1 && errno != EEXIST) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "mkdir(\"%s\") for the file store failed", fc->path.data);
        return RX_ERROR;
    }
    if (rx_fs_mkdirs(cycle, &fc->path) != RX_OK) {
        return RX_ERROR;
    }
    size = sizeof(rx_fs_header_t) + rx_fs_entries(cycle) * sizeof(rx_fs_slot_t);
    z = rx_shm_zone_add(cycle, "file_store", size, RX_FS_STRIPES,
                        &rx_file_store_module);
    if (z == NULL) {
        return RX_ERROR;
    }
    z->init = rx_fs_init_zone;
    cycle->modules[1] = z;
    return RX_OK;
}

static rx_int_t
rx_fs_init_zone(rx_shm_zone_t *zone, void *old_data)
{
    rx_fs_header_t *h = (rx_fs_header_t *) zone->user;

    if (h->magic == RX_FS_MAGIC) {
        return RX_OK; /* inherited across a reload: keep it */
    }
    h->nbuckets = (zone->size - sizeof(rx_fs_header_t))
                  / (sizeof(rx_fs_slot_t) * RX_FS_WAYS);
    h->epoch = (int64_t) time(NULL) - 1;
    h->clock = (uint64_t) 1 << 40; /* above every stamp the loader gives */
    h->magic = RX_FS_MAGIC;
    return RX_OK;
}

static void
rx_fs_attach(rx_cycle_t *cycle)
{
    rx_shm_zone_t *z = cycle->modules[1];

    rx_fs.zone = z;
    rx_fs.hdr = (rx_fs_header_t *) z->user;
    rx_fs.slots = (rx_fs_slot_t *) (z->user + sizeof(rx_fs_header_t));
    rx_fs.path = cycle->conf->file_store.path;
    rx_fs.max_size = cycle->conf->file_store.max_size;
}

static rx_int_t
rx_fs_init_worker(rx_cycle_t *cycle)
{
    rx_fs_attach(cycle);
    return RX_OK;
}

/* Every use takes the next stamp: exact LRU order across processes.
 * Blobs found on disk at start are stamped below, by their atime. */
static uint64_t
rx_fs_now(void)
{
    return __atomic_add_fetch(&rx_fs.hdr->clock, 1, __ATOMIC_RELAXED);
}

static uint64_t
rx_fs_bucket(const u_char *key)
{
    uint64_t b;

    memcpy(&b, key, sizeof(b)); /* the key is a sha256: uniform */
    return b & (rx_fs.hdr->nbuckets - 1);
}

static rx_shmtx_t *
rx_fs_lock(uint64_t bucket)
{
    rx_shmtx_t *m = &rx_fs.zone->locks[bucket & (RX_FS_STRIPES - 1)];

    rx_shmtx_lock(m);
    return m;
}

static void
rx_fs_file_path(const u_char *key, char *buf, size_t size)
{
    u_char hex[RX_SHA256_HEX_LEN + 1];

    rx_hex_dump(hex, key, RX_SHA256_LEN);
    hex[RX_SHA256_HEX_LEN] = '\0';
    snprintf(buf, size, "%s/%.2s/%s", (char *) rx_fs.path.data, hex, hex);
}

/* Looks @key up under the stripe lock; touches it on a hit. */
static rx_int_t
rx_fs_index_find(const u_char *key, int touch)
{
    rx_fs_slot_t *s;
    rx_shmtx_t   *m;
    uint64_t      b = rx_fs_bucket(key);
    rx_uint_t     i;
    rx_int_t      found = 0;

    m = rx_fs_lock(b);
    s = &rx_fs.slots[b * RX_FS_WAYS];
    for (i = 0; i < RX_FS_WAYS; i++) {
        if (s[i].used && memcmp(s[i].key, key, RX_SHA256_LEN) == 0) {
            if (touch) {
                s[i].atime = rx_fs_now();
            }
            found = 1;
            break;
        }
    }
    rx_shmtx_unlock(m);
    return found;
}

static void
rx_fs_index_remove(const u_char *key)
{
    rx_fs_slot_t *s;
    rx_shmtx_t   *m;
    uint64_t      b = rx_fs_bucket(key);
    rx_uint_t     i;

    m = rx_fs_lock(b);
    s = &rx_fs.slots[b * RX_FS_WAYS];
    for (i = 0; i < RX_FS_WAYS; i++) {
        if (s[i].used && memcmp(s[i].key, key, RX_SHA256_LEN) == 0) {
            s[i].used = 0;
            rx_fs_sub(bytes, s[i].size);
            rx_fs_sub(entries, 1);
            break;
        }
    }
    rx_shmtx_unlock(m);
}

/* Inserts @key; a full set gives up its oldest entry, whose file goes. */
static void
rx_fs_index_insert(const u_char *key, uint64_t size, uint64_t atime)
{
    rx_fs_slot_t *s, *victim = NULL;
    rx_shmtx_t   *m;
    u_char        old[RX_SHA256_LEN];
    char          path[PATH_MAX];
    uint64_t      b = rx_fs_bucket(key);
    rx_uint_t     i;
    int           evict = 0;

    m = rx_fs_lock(b);
    s = &rx_fs.slots[b * RX_FS_WAYS];
    for (i = 0; i < RX_FS_WAYS; i++) {
        if (s[i].used && memcmp(s[i].key, key, RX_SHA256_LEN) == 0) {
            rx_shmtx_unlock(m);
            return;
        }
        if (!s[i].used) {
            victim = victim && !victim->used ? victim : &s[i];
        } else if (victim == NULL
                   || (victim->used && s[i].atime < victim->atime)) {
            victim = &s[i];
        }
    }
    if (victim->used) {
        memcpy(old, victim->key, RX_SHA256_LEN);
        rx_fs_sub(bytes, victim->size);
        rx_fs_sub(entries, 1);
        rx_fs_add(evictions, 1);
        evict = 1;
    }
    memcpy(victim->key, key, RX_SHA256_LEN);
    victim->size = size;
    victim->atime = atime;
    victim->used = 1;
    rx_fs_add(bytes, size);
    rx_fs_add(entries, 1);
    rx_shmtx_unlock(m);
    if (evict) {
        rx_fs_file_path(old, path, sizeof(path));
        (void) unlink(path);
    }
}

rx_int_t
rx_file_store_has(const u_char key[RX_SHA256_LEN])
{
    char path[PATH_MAX];

    if (rx_fs_index_find(key, 0)) {
        return 1;
    }
    if (__atomic_load_n(&rx_fs.hdr->loaded, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    rx_fs_file_path(key, path, sizeof(path));
    return access(path, F_OK) == 0;
}

static rx_int_t
rx_fs_read_file(rx_pool_t *pool, const char *path, rx_str_t *out)
{
    struct stat st;
    ssize_t     n;
    size_t      got = 0;
    int         fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return errno == ENOENT ? RX_DECLINED : RX_ERROR;
    }
    if (fstat(fd, &st) == -1 || st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return RX_ERROR;
    }
    out->len = (size_t) st.st_size;
    out->data = rx_pnalloc(pool, out->len + 1);
    while (out->data && got < out->len) {
        n = read(fd, out->data + got, out->len - got);
        if (n <= 0) {
            if (n == -1 && errno == EINTR) {
                continue;
            }
            break;
        }
        got += (size_t) n;
    }
    close(fd);
    return (out->data && got == out->len) ? RX_OK : RX_ERROR;
}

rx_int_t
rx_file_store_get(rx_pool_t *pool, const u_char key[RX_SHA256_LEN],
                  rx_str_t *out)
{
    u_char   md[RX_SHA256_LEN];
    char     path[PATH_MAX];
    rx_int_t rc;

    if (!rx_fs_index_find(key, 1)
        && __atomic_load_n(&rx_fs.hdr->loaded, __ATOMIC_ACQUIRE)) {
        rx_fs_add(misses, 1);
        return RX_DECLINED;
    }
    rx_fs_file_path(key, path, sizeof(path));
    rc = rx_fs_read_file(pool, path, out);
    if (rc == RX_DECLINED) {
        rx_fs_index_remove(key);
        rx_fs_add(misses, 1);
        return RX_DECLINED;
    }
    if (rc != RX_OK) {
        rx_log_error(RX_LOG_ERR, pool->log, errno,
                     "file store read of "
                     "\"%s\" failed",
                     path);
        return RX_ERROR;
    }
    rx_sha256(out->data, out->len, md);
    if (memcmp(md, key, RX_SHA256_LEN) != 0) {
        /* never serve corrupt content: drop it so it can be stored again */
        rx_log_error(RX_LOG_ERR, pool->log, 0,
                     "file store blob \"%s\" does "
                     "not match its key, removed",
                     path);
        rx_fs_add(corrupt, 1);
        rx_fs_index_remove(key);
        (void) unlink(path);
        return RX_DECLINED;
    }
    rx_fs_add(hits, 1);
    return RX_OK;
}

static rx_int_t
rx_fs_write_all(int fd, const u_char *data, size_t len)
{
    ssize_t n;

    while (len) {
        n = write(fd, data, len);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            return RX_ERROR;
        }
        data += n;
        len -= (size_t) n;
    }
    return RX_OK;
}

/* 1 if the stored file holds exactly @data (a cheap read from the page
 * cache; a damaged or vanished blob is then written again) */
static int
rx_fs_same_file(const char *path, const u_char *data, size_t len)
{
    u_char  buf[65536];
    size_t  off = 0;
    ssize_t n;
    int     fd, same = 1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }
    while (same && (n = read(fd, buf, sizeof(buf))) > 0) {
        same =
            off + (size_t) n <= len && memcmp(buf, data + off, (size_t) n) == 0;
        off += (size_t) n;
    }
    close(fd);
    return same && off == len;
}

rx_int_t
rx_file_store_put(const u_char key[RX_SHA256_LEN], const u_char *data,
                  size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int  fd, err;

    rx_fs_file_path(key, path, sizeof(path));
    if (rx_fs_index_find(key, 1)) {
        if (rx_fs_same_file(path, data, len)) {
            return RX_DONE; /* content-addressed: same key, same bytes */
        }
        rx_fs_index_remove(key); /* lost or damaged on disk: write again */
    }
    snprintf(tmp, sizeof(tmp), "%s/tmp/%d.%llu", (char *) rx_fs.path.data,
             (int) rx_pid, (unsigned long long) ++rx_fs.tmp_seq);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        err = errno;
        goto failed;
    }
    if (rx_fs_write_all(fd, data, len) != RX_OK) {
        err = errno;
        close(fd);
        (void) unlink(tmp);
        goto failed;
    }
    if (close(fd) == -1 || rename(tmp, path) == -1) {
        err = errno;
        (void) unlink(tmp);
        goto failed;
    }
    rx_fs_index_insert(key, len, rx_fs_now());
    rx_fs_add(stores, 1);
    return RX_OK;

failed:
    rx_fs_add(store_errors, 1);
    rx_log_error(RX_LOG_ERR, &rx_cycle->log, err,
                 "file store write of "
                 "\"%s\" failed",
                 path);
    return RX_ERROR;
}

void
rx_file_store_get_stats(rx_file_store_stats_t *st)
{
    rx_fs_header_t *h = rx_fs.hdr;

    st->stores = h->stores;
    st->store_errors = h->store_errors;
    st->hits = h->hits;
    st->misses = h->misses;
    st->corrupt = h->corrupt;
    st->evictions = h->evictions;
    st->entries = h->entries;
    st->bytes = h->bytes;
    st->max_bytes = rx_fs.max_size;
    st->loaded = h->loaded;
}

/* cache-manager side */

static void
rx_fs_load_dir(rx_cycle_t *cycle, const char *dir)
{
    struct dirent *de;
    struct stat    st;
    u_char         key[RX_SHA256_LEN];
    char           path[PATH_MAX];
    DIR           *d;

    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (rx_sha256_parse_hex((u_char *) de->d_name, strlen(de->d_name), key)
            != RX_OK) {
            continue;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
                < (int) sizeof(path)
            && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rx_fs_index_insert(
                key, (uint64_t) st.st_size,
                (uint64_t) rx_max((int64_t) st.st_atime, (int64_t) 0));
        }
    }
    closedir(d);
}

/* temp files of writers that died mid-write */
static void
rx_fs_clean_tmp(void)
{
    struct dirent *de;
    char           path[PATH_MAX];
    DIR           *d;
    int            pid;

    snprintf(path, sizeof(path), "%s/tmp", (char *) rx_fs.path.data);
    d = opendir(path);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        pid = atoi(de->d_name); /* "<pid>.<seq>": keep live writers' files */
        if (pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH)) {
            continue;
        }
        if (de->d_name[0] != '.'
            && snprintf(path, sizeof(path), "%s/tmp/%s",
                        (char *) rx_fs.path.data, de->d_name)
                   < (int) sizeof(path)) {
            (void) unlink(path);
        }
    }
    closedir(d);
}

static void
rx_fs_load(rx_cycle_t *cycle)
{
    char      dir[PATH_MAX];
    rx_uint_t i;

    for (i = 0; i < 256; i++) {
        snprintf(dir, sizeof(dir), "%s/%02lx", (char *) rx_fs.path.data,
                 (unsigned long) i);
        rx_fs_load_dir(cycle, dir);
    }
    rx_fs_clean_tmp();
    __atomic_store_n(&rx_fs.hdr->loaded, 1, __ATOMIC_RELEASE);
    rx_log_error(RX_LOG_NOTICE, &cycle->log, 0,
                 "file store loaded: %llu "
                 "blob(s), %llu bytes",
                 (unsigned long long) rx_fs.hdr->entries,
                 (unsigned long long) rx_fs.hdr->bytes);
}

typedef struct {
    uint64_t atime;
    uint64_t slot;
} rx_fs_victim_t;

static int
rx_fs_victim_cmp(const void *a, const void *b)
{
    const rx_fs_victim_t *x = a, *y = b;

    return x->atime < y->atime ? -1 : x->atime > y->atime;
}

/* Least recently used first: one pass over the index (in this process,
 * never in a worker), then unlink down to the cap. */
static rx_uint_t
rx_fs_evict(void)
{
    rx_fs_victim_t *v;
    rx_fs_slot_t   *s;
    rx_shmtx_t     *m;
    u_char          key[RX_SHA256_LEN];
    char            path[PATH_MAX];
    uint64_t        nslots = rx_fs.hdr->nbuckets * RX_FS_WAYS, i, n = 0;
    uint64_t        target = rx_fs.max_size;
    rx_uint_t       evicted = 0;

    v = malloc((size_t) (rx_fs.hdr->entries + 64) * sizeof(rx_fs_victim_t));
    if (v == NULL) {
        return 0;
    }
    for (i = 0; i < nslots && n < rx_fs.hdr->entries + 64; i++) {
        if (rx_fs.slots[i].used) {
            v[n].atime = rx_fs.slots[i].atime;
            v[n++].slot = (uint32_t) i;
        }
    }
    qsort(v, (size_t) n, sizeof(rx_fs_victim_t), rx_fs_victim_cmp);
    for (i = 0; i < n && rx_fs.hdr->bytes > target; i++) {
        s = &rx_fs.slots[v[i].slot];
        m = rx_fs_lock(v[i].slot / RX_FS_WAYS);
        if (!s->used || s->atime != v[i].atime) {
            rx_shmtx_unlock(m); /* gone or used again meanwhile */
            continue;
        }
        memcpy(key, s->key, RX_SHA256_LEN);
        s->used = 0;
        rx_fs_sub(bytes, s->size);
        rx_fs_sub(entries, 1);
        rx_fs_add(evictions, 1);
        rx_shmtx_unlock(m);
        rx_fs_file_path(key, path, sizeof(path));
        (void) unlink(path);
        evicted++;
    }
    free(v);
    return evicted;
}

rx_msec_t
rx_file_store_manage(rx_cycle_t *cycle)
{
    rx_uint_t n;

    if (rx_fs.hdr == NULL) {
        rx_fs_attach(cycle);
    }
    if (!rx_fs.hdr->loaded) {
        rx_fs_load(cycle);
    }
    if (rx_fs.hdr->bytes > rx_fs.max_size) {
        n = rx_fs_evict();
        rx_log_error(RX_LOG_INFO, &cycle->log, 0,
                     "file store: evicted %lu "
                     "blob(s), %llu bytes left",
                     (unsigned long) n, (unsigned long long) rx_fs.hdr->bytes);
    }
    return 1000;
}
