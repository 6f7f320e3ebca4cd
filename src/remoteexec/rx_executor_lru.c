/*
 * The store's size cap: an in-memory index of the CAS blobs and cached
 * action results on disk (open addressing, backward-shift deletion) with
 * one LRU list keeps both together under executor.max_size. At start the
 * 256 shard directories of each are scanned one pair per timer tick and
 * the entries ordered by their on-disk atime; eviction then removes a
 * bounded number of the least recently used entries per tick. The atime
 * of a used entry is refreshed on disk at most once a minute so that the
 * order survives a restart. A cached result whose blobs were evicted is
 * found out, and dropped, when it is next looked up.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <dirent.h>

#define RX_EX_SHARDS       256
#define RX_EX_EVICT_BUDGET 256
#define RX_EX_ATIME_SLACK  60

typedef struct {
    u_char   key[RX_SHA256_LEN];
    int64_t  size;
    int64_t  atime;
    uint32_t prev; /* LRU neighbours: index + 1, 0 = none */
    uint32_t next;
    uint32_t listed : 1;
    uint32_t used : 1;
    uint32_t ac : 1; /* an action result, not a blob */
} rx_ex_blob_t;

typedef struct {
    rx_ex_blob_t *blobs;
    uint32_t      nblobs; /* high-water mark */
    uint32_t      cap;
    uint32_t      free_list; /* index + 1, through next */
    uint32_t     *table;     /* index + 1, 0 = empty */
    uint32_t      mask;
    uint32_t      count;
    uint32_t      head; /* most recently used, index + 1 */
    uint32_t      tail;
    uint64_t      bytes;
    uint64_t      max;
    uint32_t     *pending; /* loaded from disk, not yet listed */
    uint32_t      npending;
    uint32_t      pending_cap;
    rx_uint_t     shard; /* next shard to load */
    unsigned      loaded : 1;
    uint64_t      evicted;
    uint32_t      nac; /* action results among count */
    rx_event_t    timer;
} rx_ex_cas_t;

static void     rx_ex_cas_timer(rx_event_t *ev);
static uint32_t rx_ex_idx_find(const u_char *key, unsigned ac);
static uint32_t rx_ex_idx_add(const u_char *key, unsigned ac, int64_t size,
                              int64_t atime);
static void     rx_ex_idx_del(uint32_t i);
static void     rx_ex_lru_unlink(uint32_t i);
static void     rx_ex_lru_push(uint32_t i, int tail);
static void     rx_ex_cas_clean_tmp(void);
static void rx_ex_entry_path(const rx_ex_blob_t *b, char *path, size_t size);

static rx_ex_cas_t rx_ex_cas;

/* ---- the index ---- */

/* the Action blob and the action's result share a hash: the namespace
   bit sends them to different homes */
static uint32_t
rx_ex_idx_home(const u_char *key, unsigned ac)
{
    uint32_t h;

    memcpy(&h, key, sizeof(h));
    return (h ^ (ac ? 0x9e3779b9u : 0)) & rx_ex_cas.mask;
}

static uint32_t
rx_ex_idx_find(const u_char *key, unsigned ac)
{
    rx_ex_blob_t *b;

    uint32_t s, i;

    if (rx_ex_cas.table == NULL) {
        return 0;
    }
    for (s = rx_ex_idx_home(key, ac);; s = (s + 1) & rx_ex_cas.mask) {
        i = rx_ex_cas.table[s];
        if (i == 0) {
            return 0;
        }
        b = &rx_ex_cas.blobs[i - 1];
        if (b->ac == ac && memcmp(b->key, key, RX_SHA256_LEN) == 0) {
            return i;
        }
    }
}

static void
rx_ex_idx_place(uint32_t i)
{
    rx_ex_blob_t *b = &rx_ex_cas.blobs[i - 1];
    uint32_t      s = rx_ex_idx_home(b->key, b->ac);

    while (rx_ex_cas.table[s]) {
        s = (s + 1) & rx_ex_cas.mask;
    }
    rx_ex_cas.table[s] = i;
}

static rx_int_t
rx_ex_idx_grow(void)
{
    uint32_t *old = rx_ex_cas.table, size, n, i;
    void     *p;

    n = old ? rx_ex_cas.mask + 1 : 0;
    if (rx_ex_cas.nblobs == rx_ex_cas.cap) {
        size = rx_ex_cas.cap ? rx_ex_cas.cap * 2 : 4096;
        p = realloc(rx_ex_cas.blobs, size * sizeof(rx_ex_blob_t));
        if (p == NULL) {
            return RX_ERROR;
        }
        rx_ex_cas.blobs = p;
        rx_ex_cas.cap = size;
    }
    if (old && (rx_ex_cas.count + 1) * 2 < n) {
        return RX_OK;
    }
    size = n ? n * 2 : 8192;
    rx_ex_cas.table = calloc(size, sizeof(uint32_t));
    if (rx_ex_cas.table == NULL) {
        rx_ex_cas.table = old;
        return RX_ERROR;
    }
    rx_ex_cas.mask = size - 1;
    for (i = 0; i < n; i++) {
        if (old[i]) {
            rx_ex_idx_place(old[i]);
        }
    }
    free(old);
    return RX_OK;
}

static uint32_t
rx_ex_idx_add(const u_char *key, unsigned ac, int64_t size, int64_t atime)
{
    rx_ex_blob_t *b;
    uint32_t      i;

    if (rx_ex_idx_grow() != RX_OK) {
        return 0;
    }
    if (rx_ex_cas.free_list) {
        i = rx_ex_cas.free_list;
        rx_ex_cas.free_list = rx_ex_cas.blobs[i - 1].next;
    } else {
        i = ++rx_ex_cas.nblobs;
    }
    b = &rx_ex_cas.blobs[i - 1];
    rx_memzero(b, sizeof(*b));
    memcpy(b->key, key, RX_SHA256_LEN);
    b->size = size;
    b->atime = atime;
    b->used = 1;
    b->ac = ac ? 1 : 0;
    rx_ex_idx_place(i);
    rx_ex_cas.count++;
    rx_ex_cas.nac += b->ac;
    rx_ex_cas.bytes += (uint64_t) size;
    return i;
}

static void
rx_ex_idx_del(uint32_t i)
{
    rx_ex_blob_t *b = &rx_ex_cas.blobs[i - 1], *o;
    uint32_t      s, j, k, mask = rx_ex_cas.mask;

    s = rx_ex_idx_home(b->key, b->ac);
    while (rx_ex_cas.table[s] != i) {
        s = (s + 1) & mask;
    }
    rx_ex_cas.table[s] = 0;
    /* backward-shift deletion keeps every probe chain unbroken */
    for (j = (s + 1) & mask; rx_ex_cas.table[j]; j = (j + 1) & mask) {
        o = &rx_ex_cas.blobs[rx_ex_cas.table[j] - 1];
        k = rx_ex_idx_home(o->key, o->ac);
        if (((j - k) & mask) >= ((j - s) & mask)) {
            rx_ex_cas.table[s] = rx_ex_cas.table[j];
            rx_ex_cas.table[j] = 0;
            s = j;
        }
    }
    rx_ex_lru_unlink(i);
    rx_ex_cas.bytes -= (uint64_t) b->size;
    rx_ex_cas.count--;
    rx_ex_cas.nac -= b->ac;
    b->used = 0;
    b->next = rx_ex_cas.free_list;
    rx_ex_cas.free_list = i;
}

static void
rx_ex_lru_unlink(uint32_t i)
{
    rx_ex_blob_t *b = &rx_ex_cas.blobs[i - 1];

    if (!b->listed) {
        return;
    }
    if (b->prev) {
        rx_ex_cas.blobs[b->prev - 1].next = b->next;
    } else {
        rx_ex_cas.head = b->next;
    }
    if (b->next) {
        rx_ex_cas.blobs[b->next - 1].prev = b->prev;
    } else {
        rx_ex_cas.tail = b->prev;
    }
    b->prev = b->next = 0;
    b->listed = 0;
}

static void
rx_ex_lru_push(uint32_t i, int tail)
{
    rx_ex_blob_t *b = &rx_ex_cas.blobs[i - 1];

    rx_ex_lru_unlink(i);
    b->listed = 1;
    if (tail) {
        b->prev = rx_ex_cas.tail;
        if (rx_ex_cas.tail) {
            rx_ex_cas.blobs[rx_ex_cas.tail - 1].next = i;
        } else {
            rx_ex_cas.head = i;
        }
        rx_ex_cas.tail = i;
        return;
    }
    b->next = rx_ex_cas.head;
    if (rx_ex_cas.head) {
        rx_ex_cas.blobs[rx_ex_cas.head - 1].prev = i;
    } else {
        rx_ex_cas.tail = i;
    }
    rx_ex_cas.head = i;
}

/* marks a present entry as just used (index, LRU, atime on disk) */
void
rx_ex_lru_touch(const rx_ex_digest_t *d, int64_t size, unsigned ac)
{
    rx_ex_blob_t   *b;
    struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    u_char          key[RX_SHA256_LEN];
    char            path[PATH_MAX];
    uint32_t        i;
    int64_t         now = (int64_t) time(NULL);

    if (rx_sha256_parse_hex(d->hex, RX_SHA256_HEX_LEN, key) != RX_OK) {
        return;
    }
    i = rx_ex_idx_find(key, ac);
    if (i == 0) {
        i = rx_ex_idx_add(key, ac, size, 0);
        if (i == 0) {
            return;
        }
    }
    b = &rx_ex_cas.blobs[i - 1];
    if (b->size != size) { /* a rewritten action result */
        rx_ex_cas.bytes += (uint64_t) size - (uint64_t) b->size;
        b->size = size;
    }
    rx_ex_lru_push(i, 0);
    if (b->atime + RX_EX_ATIME_SLACK < now) {
        b->atime = now;
        rx_ex_entry_path(b, path, sizeof(path));
        (void) utimensat(AT_FDCWD, path, ts, 0);
    }
}

void
rx_ex_lru_forget(const rx_ex_digest_t *d, unsigned ac)
{
    u_char   key[RX_SHA256_LEN];
    uint32_t i;

    if (rx_sha256_parse_hex(d->hex, RX_SHA256_HEX_LEN, key) == RX_OK
        && (i = rx_ex_idx_find(key, ac)) != 0) {
        rx_ex_idx_del(i);
    }
}

static void
rx_ex_entry_path(const rx_ex_blob_t *b, char *path, size_t size)
{
    rx_ex_digest_t d;

    (void) rx_hex_dump(d.hex, b->key, RX_SHA256_LEN);
    d.hex[RX_SHA256_HEX_LEN] = '\0';
    if (b->ac) {
        rx_ex_ac_path(&d, path, size);
    } else {
        rx_ex_cas_path(&d, path, size);
    }
}

/* ---- loading the index and evicting ---- */

rx_int_t
rx_ex_cas_init(rx_cycle_t *cycle)
{
    char      dir[PATH_MAX];
    rx_uint_t i;

    for (i = 0; i < 2 * RX_EX_SHARDS; i++) {
        snprintf(dir, sizeof(dir), "%s/%02lx",
                 i < RX_EX_SHARDS ? rx_ex.cas_dir : rx_ex.ac_dir,
                 (unsigned long) (i % RX_EX_SHARDS));
        if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
            rx_log_error(RX_LOG_EMERG, rx_ex.log, errno,
                         "executor: mkdir(\"%s\") failed", dir);
            return RX_ERROR;
        }
    }
    rx_ex_cas_clean_tmp();
    rx_ex_cas.max = cycle->conf->executor.max_size;
    rx_ex_cas.timer.handler = rx_ex_cas_timer;
    rx_ex_cas.timer.log = rx_ex.log;
    rx_ex_cas.timer.cancelable = 1;
    rx_event_add_timer(&rx_ex_cas.timer, 1);
    return RX_OK;
}

static int
rx_ex_pid_dead(const char *name)
{
    long pid = strtol(name, NULL, 10);

    return pid > 0 && pid != (long) getpid() && kill((pid_t) pid, 0) == -1
           && errno == ESRCH;
}

/* uploads of a crashed executor: "<pid>.<seq>" whose pid is gone */
static void
rx_ex_cas_clean_tmp(void)
{
    struct dirent *de;
    DIR           *dir;

    dir = opendir(rx_ex.tmp_dir);
    if (dir == NULL) {
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] != '.' && rx_ex_pid_dead(de->d_name)) {
            (void) unlinkat(dirfd(dir), de->d_name, 0);
        }
    }
    closedir(dir);
}

static void
rx_ex_cas_load_entry(int dfd, const char *name, unsigned ac)
{
    struct stat st;
    u_char      key[RX_SHA256_LEN];
    uint32_t    i, *p;

    if (strlen(name) != RX_SHA256_HEX_LEN
        || rx_sha256_parse_hex((u_char *) name, RX_SHA256_HEX_LEN, key) != RX_OK
        || rx_ex_idx_find(key, ac) != 0
        || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1
        || !S_ISREG(st.st_mode)) {
        return;
    }
    if (rx_ex_cas.npending == rx_ex_cas.pending_cap) {
        p = realloc(rx_ex_cas.pending,
                    (rx_ex_cas.pending_cap * 2 + 1024) * sizeof(uint32_t));
        if (p == NULL) {
            return;
        }
        rx_ex_cas.pending = p;
        rx_ex_cas.pending_cap = rx_ex_cas.pending_cap * 2 + 1024;
    }
    i = rx_ex_idx_add(key, ac, (int64_t) st.st_size, (int64_t) st.st_atime);
    if (i) {
        rx_ex_cas.pending[rx_ex_cas.npending++] = i;
    }
}

static void
rx_ex_cas_load_shard(rx_uint_t shard, unsigned ac)
{
    struct dirent *de;
    char           path[PATH_MAX];
    DIR           *dir;

    snprintf(path, sizeof(path), "%s/%02lx", ac ? rx_ex.ac_dir : rx_ex.cas_dir,
             (unsigned long) shard);
    dir = opendir(path);
    if (dir == NULL) {
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] != '.') {
            rx_ex_cas_load_entry(dirfd(dir), de->d_name, ac);
        }
    }
    closedir(dir);
}

static int
rx_ex_cas_older(const void *a, const void *b)
{
    const rx_ex_blob_t *x = &rx_ex_cas.blobs[*(const uint32_t *) a - 1];
    const rx_ex_blob_t *y = &rx_ex_cas.blobs[*(const uint32_t *) b - 1];

    return x->atime < y->atime ? 1 : (x->atime > y->atime ? -1 : 0);
}

/* blobs found on disk are older than any used since start: newest first
   after those, the oldest at the tail */
static void
rx_ex_cas_load_done(void)
{
    uint32_t n, i;

    if (rx_ex_cas.npending) {
        qsort(rx_ex_cas.pending, rx_ex_cas.npending, sizeof(uint32_t),
              rx_ex_cas_older);
    }
    for (n = 0; n < rx_ex_cas.npending; n++) {
        i = rx_ex_cas.pending[n];
        if (rx_ex_cas.blobs[i - 1].used && !rx_ex_cas.blobs[i - 1].listed) {
            rx_ex_lru_push(i, 1);
        }
    }
    free(rx_ex_cas.pending);
    rx_ex_cas.pending = NULL;
    rx_ex_cas.npending = rx_ex_cas.pending_cap = 0;
    rx_ex_cas.loaded = 1;
    rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0,
                 "executor: store holds %lu blob(s) and %lu action "
                 "result(s), %llu bytes (limit %llu)",
                 (unsigned long) (rx_ex_cas.count - rx_ex_cas.nac),
                 (unsigned long) rx_ex_cas.nac,
                 (unsigned long long) rx_ex_cas.bytes,
                 (unsigned long long) rx_ex_cas.max);
}

/* removes up to a budget of the least recently used blobs */
static rx_uint_t
rx_ex_cas_evict(void)
{
    char      path[PATH_MAX];
    rx_uint_t n;
    uint32_t  i;
    uint64_t  low = rx_ex_cas.max - rx_ex_cas.max / 20;

    for (n = 0; n < RX_EX_EVICT_BUDGET && rx_ex_cas.bytes > low; n++) {
        i = rx_ex_cas.tail;
        if (i == 0) {
            break;
        }
        rx_ex_entry_path(&rx_ex_cas.blobs[i - 1], path, sizeof(path));
        if (unlink(path) == -1 && errno != ENOENT) {
            rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                         "executor: unlink(\"%s\") failed", path);
        }
        rx_ex_idx_del(i);
        rx_ex_cas.evicted++;
    }
    rx_log_error(RX_LOG_INFO, rx_ex.log, 0,
                 "executor: evicted %lu entries, store now %llu bytes",
                 (unsigned long) n, (unsigned long long) rx_ex_cas.bytes);
    return n;
}

static void
rx_ex_cas_timer(rx_event_t *ev)
{
    rx_msec_t next = 1000;

    if (!rx_ex_cas.loaded) {
        rx_ex_cas_load_shard(rx_ex_cas.shard, RX_EX_CAS);
        rx_ex_cas_load_shard(rx_ex_cas.shard++, RX_EX_AC);
        if (rx_ex_cas.shard == RX_EX_SHARDS) {
            rx_ex_cas_load_done();
        }
        rx_event_add_timer(ev, 1);
        return;
    }
    if (rx_ex_cas.bytes > rx_ex_cas.max
        && rx_ex_cas_evict() == RX_EX_EVICT_BUDGET) {
        next = 10; /* more to do: come back soon, let the loop run */
    }
    rx_event_add_timer(ev, next);
}
