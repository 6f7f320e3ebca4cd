/*
 * The shared digest cache: fixed-layout buckets of RX_DC_WAYS slots in a
 * shared zone, LRU within each set, striped writer locks and per-bucket
 * sequence counters so that readers never take a lock.
 *
 * Writer: stripe lock, seq to odd, write the slot (its check word last),
 * seq to even, unlock. Reader: seq (even), copy the slot, seq again; a
 * changed or odd seq is retried RX_DC_TRIES times, then is a miss. A
 * writer that dies leaves its stripe locked (the master force-unlocks it
 * by pid) and its bucket's seq odd: the next writer of the bucket sees the
 * odd seq, clears every slot whose check word does not match its content
 * and closes the seq. The check word also rejects slots torn in a
 * file-backed zone by a crash of the whole machine.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_shmem.h>
#include <rx_http.h>
#include <rx_digest_cache.h>

#define RX_DC_MAGIC       0x5258444331ULL /* "RXDC1" */
#define RX_DC_VERSION     1 /* bump on any change of layout or rx_dc_check() */
#define RX_DC_TRIES       16
#define RX_DC_MIN_BUCKETS 16
#define RX_DC_MODULE      4 /* cycle->modules[] slot */
#define RX_DC_STATUS      1 /* rx_http_status_sections[] slot */
#define RX_DC_CHANGING    (-2)
#define RX_DC_ABSENT      (-1)

typedef struct {
    u_char   key[RX_SHA256_LEN];
    u_char   hash[RX_SHA256_LEN];
    int64_t  size;
    uint32_t last_used; /* seconds since hdr->epoch; racy on hits */
    uint32_t check;     /* 0: empty; else rx_dc_check() of the slot */
} rx_dc_slot_t;

typedef struct {
    uint32_t     seq;              /* odd while a writer is inside */
    uint32_t     tags[RX_DC_WAYS]; /* key bytes 8..11 of each way: a hint */
    uint32_t     pad[7];
    rx_dc_slot_t slots[RX_DC_WAYS];
} rx_dc_bucket_t;

typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t ways;
    uint64_t nbuckets; /* power of two */
    uint64_t nstripes;
    int64_t  epoch; /* unix time of last_used 0 */
    uint64_t pad0[3];
    uint64_t hits; /* atomics, on a cache line of their own */
    uint64_t misses;
    uint64_t inserts;
    uint64_t evictions;
    uint64_t entries;
    uint64_t pad1[3];
} rx_dc_header_t;

_Static_assert(sizeof(rx_dc_slot_t) == 80, "slot layout");
_Static_assert(sizeof(rx_dc_bucket_t) == 64 + 80 * RX_DC_WAYS, "bucket");
_Static_assert(sizeof(rx_dc_header_t) == 128, "header layout");

typedef struct {
    rx_dc_header_t *hdr;
    rx_dc_bucket_t *buckets;
    rx_shmtx_t     *locks;
    uint64_t        mask;        /* nbuckets - 1 */
    uint64_t        stripe_mask; /* nstripes - 1 */
    int64_t         epoch;
    unsigned        persistent : 1;
} rx_digest_cache_t;

static rx_int_t        rx_dc_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static void            rx_dc_unlink_resized(rx_cycle_t *cycle, rx_cycle_t *old,
                                            size_t size);
static rx_int_t        rx_dc_init_zone(rx_shm_zone_t *zone, void *old_data);
static rx_int_t        rx_dc_init_worker(rx_cycle_t *cycle);
static uint64_t        rx_dc_nbuckets(size_t size);
static rx_uint_t       rx_dc_valid(rx_shm_zone_t *zone);
static void            rx_dc_format(rx_shm_zone_t *zone, rx_uint_t zero);
static void            rx_dc_view(rx_shm_zone_t *zone);
static uint32_t        rx_dc_now(void);
static uint32_t        rx_dc_tag(const u_char *key);
static uint32_t        rx_dc_check(const u_char *key, const u_char *hash,
                                   int64_t size);
static rx_dc_bucket_t *rx_dc_bucket(const u_char *key, rx_shmtx_t **m);
static rx_int_t        rx_dc_read(rx_dc_bucket_t *bk, const u_char *key,
                                  rx_dc_slot_t *s);
static void            rx_dc_touch(rx_dc_slot_t *s);
static void            rx_dc_write_begin(rx_dc_bucket_t *bk);
static void            rx_dc_write_end(rx_dc_bucket_t *bk);
static void            rx_dc_heal(rx_dc_bucket_t *bk);
static rx_int_t        rx_dc_find(rx_dc_bucket_t *bk, const u_char *key);
static rx_uint_t       rx_dc_same(rx_dc_slot_t *s, const rx_dc_digest_t *d);
static rx_int_t        rx_dc_claim(rx_dc_bucket_t *bk);
static void rx_dc_store(rx_dc_bucket_t *bk, rx_uint_t i, const u_char *key,
                        const rx_dc_digest_t *d);
static void rx_dc_status(rx_buf_t *b);
static void rx_dc_metrics(rx_buf_t *b);

const rx_module_t rx_digest_cache_module = {
    .name = "digest_cache",
    .init_cycle = rx_dc_init_cycle,
    .init_worker = rx_dc_init_worker,
};

static rx_digest_cache_t rx_dc; /* this process's view */

#define rx_dc_add(field, n)                                                    \
    (void) __atomic_fetch_add(&rx_dc.hdr->field, (uint64_t) (n),               \
                              __ATOMIC_RELAXED)
#define rx_dc_sub(field, n)                                                    \
    (void) __atomic_fetch_sub(&rx_dc.hdr->field, (uint64_t) (n),               \
                              __ATOMIC_RELAXED)
#define rx_dc_load(field) __atomic_load_n(&rx_dc.hdr->field, __ATOMIC_RELAXED)

static inline void
rx_dc_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* master side: the zone */

static rx_int_t
rx_dc_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_digest_cache_t *dc = &cycle->conf->digest_cache;
    rx_shm_zone_t          *z;
    size_t                  size;

    size = rx_digest_cache_size((rx_uint_t) rx_max(dc->entries, 0));
    rx_dc_unlink_resized(cycle, old, size);
    z = rx_shm_zone_add(cycle, "digest_cache", size, RX_DC_STRIPES,
                        &rx_digest_cache_module);
    if (z == NULL) {
        return RX_ERROR;
    }
    z->path = dc->path;
    z->init = rx_dc_init_zone;
    cycle->modules[RX_DC_MODULE] = z;
    rx_http_status_sections[RX_DC_STATUS] = rx_dc_status;
    rx_http_metrics_sections[RX_DC_STATUS + 1] = rx_dc_metrics;
    return RX_OK;
}

/*
 * A new size for the same file: the old cycle's workers keep the old
 * mapping until they exit, so the new zone must not truncate the file
 * under them (SIGBUS). Unlinking keeps their inode alive and lets the new
 * zone start cold in a new file. Should the reload fail later, the running
 * cycle keeps the unlinked file: only persistence is lost.
 */
static void
rx_dc_unlink_resized(rx_cycle_t *cycle, rx_cycle_t *old, size_t size)
{
    rx_shm_zone_t *oz;
    rx_str_t      *path = &cycle->conf->digest_cache.path;
    rx_uint_t      i;

    if (old == NULL || path->len == 0) {
        return;
    }
    oz = old->zones.elts;
    for (i = 0; i < old->zones.nelts; i++) {
        if (oz[i].addr == NULL || oz[i].tag != &rx_digest_cache_module
            || oz[i].size == size || !rx_str_eq(&oz[i].path, path)) {
            continue;
        }
        if (unlink((char *) path->data) == -1 && errno != ENOENT) {
            rx_log_error(RX_LOG_WARN, &cycle->log, errno,
                         "unlink(\"%s\") failed", path->data);
        }
        rx_log_error(RX_LOG_NOTICE, &cycle->log, 0,
                     "digest cache size changed, \"%s\" starts cold",
                     path->data);
    }
}

/* keeps a valid table (reload, or a file from the previous run) */
static rx_int_t
rx_dc_init_zone(rx_shm_zone_t *zone, void *old_data)
{
    rx_dc_header_t *h = (rx_dc_header_t *) zone->user;

    if (!rx_dc_valid(zone)) {
        rx_dc_format(zone, zone->existing);
    } else if (zone->existing) { /* a restart: traffic counters start over */
        h->hits = 0;
        h->misses = 0;
        h->inserts = 0;
        h->evictions = 0;
    }
    return RX_OK;
}

static rx_int_t
rx_dc_init_worker(rx_cycle_t *cycle)
{
    rx_shm_zone_t *z = cycle->modules[RX_DC_MODULE];

    if (z != NULL && z->user != NULL && rx_dc_valid(z)) {
        rx_dc_view(z);
    }
    return RX_OK;
}

size_t
rx_digest_cache_size(rx_uint_t entries)
{
    uint64_t n = RX_DC_MIN_BUCKETS;

    while (n * RX_DC_WAYS < entries) {
        n <<= 1;
    }
    return sizeof(rx_dc_header_t) + (size_t) n * sizeof(rx_dc_bucket_t);
}

/* the largest power of two number of buckets that fits in @size */
static uint64_t
rx_dc_nbuckets(size_t size)
{
    uint64_t n, p = 1;

    if (size < sizeof(rx_dc_header_t) + sizeof(rx_dc_bucket_t)) {
        return 0;
    }
    n = (size - sizeof(rx_dc_header_t)) / sizeof(rx_dc_bucket_t);
    while (p * 2 <= n) {
        p <<= 1;
    }
    return p;
}

static rx_uint_t
rx_dc_valid(rx_shm_zone_t *zone)
{
    rx_dc_header_t *h = (rx_dc_header_t *) zone->user;

    return h->magic == RX_DC_MAGIC && h->version == RX_DC_VERSION
           && h->ways == RX_DC_WAYS && h->nbuckets != 0
           && h->nbuckets == rx_dc_nbuckets(zone->size)
           && h->nstripes == zone->nlocks;
}

/* @zero: the area may hold stale data (an existing file, a reset) */
static void
rx_dc_format(rx_shm_zone_t *zone, rx_uint_t zero)
{
    rx_dc_header_t *h = (rx_dc_header_t *) zone->user;

    rx_memzero(h, sizeof(rx_dc_header_t));
    if (zero) {
        rx_memzero(zone->user, zone->size);
    }
    h->version = RX_DC_VERSION;
    h->ways = RX_DC_WAYS;
    h->nbuckets = rx_dc_nbuckets(zone->size);
    h->nstripes = zone->nlocks;
    h->epoch = (int64_t) time(NULL) - 1;
    __atomic_store_n(&h->magic, RX_DC_MAGIC, __ATOMIC_RELEASE);
}

static void
rx_dc_view(rx_shm_zone_t *zone)
{
    rx_dc.hdr = (rx_dc_header_t *) zone->user;
    rx_dc.buckets = (rx_dc_bucket_t *) (zone->user + sizeof(rx_dc_header_t));
    rx_dc.locks = zone->locks;
    rx_dc.mask = rx_dc.hdr->nbuckets - 1;
    rx_dc.stripe_mask = zone->nlocks - 1;
    rx_dc.epoch = rx_dc.hdr->epoch;
    rx_dc.persistent = zone->path.len != 0;
}

rx_int_t
rx_digest_cache_attach(rx_shm_zone_t *zone, rx_uint_t reset)
{
    if (zone->user == NULL || zone->nlocks == 0
        || (zone->nlocks & (zone->nlocks - 1)) != 0
        || rx_dc_nbuckets(zone->size) == 0) {
        return RX_ERROR;
    }
    if (reset) {
        rx_dc_format(zone, 1);
    } else {
        (void) rx_dc_init_zone(zone, NULL);
    }
    rx_dc_view(zone);
    return RX_OK;
}

/* slots */

static uint32_t
rx_dc_now(void)
{
    time_t now = rx_current_sec;

    return now > rx_dc.epoch ? (uint32_t) (now - rx_dc.epoch) : 0;
}

static uint32_t
rx_dc_tag(const u_char *key)
{
    uint32_t t;

    memcpy(&t, key + 8, sizeof(t)); /* bytes 0..7 pick the bucket */
    return t;
}

/* position-dependent products: independent multiplies, no long chain */
static uint32_t
rx_dc_check(const u_char *key, const u_char *hash, int64_t size)
{
    static const uint64_t c[8] = {0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL,
                                  0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL,
                                  0xff51afd7ed558ccdULL, 0xc4ceb9fe1a85ec53ULL,
                                  0x94d049bb133111ebULL, 0xbf58476d1ce4e5b9ULL};
    uint64_t              a, b, h = (uint64_t) size * 0x2545f4914f6cdd1dULL;
    rx_uint_t             i;

    for (i = 0; i < 4; i++) {
        memcpy(&a, key + i * 8, 8);
        memcpy(&b, hash + i * 8, 8);
        h += (a ^ (a >> 29)) * c[i] + (b ^ (b >> 29)) * c[i + 4];
    }
    h ^= h >> 32;
    return (uint32_t) h | 1;
}

static rx_dc_bucket_t *
rx_dc_bucket(const u_char *key, rx_shmtx_t **m)
{
    uint64_t b;

    memcpy(&b, key, sizeof(b)); /* the key is a sha256: uniform */
    b &= rx_dc.mask;
    if (m) {
        *m = &rx_dc.locks[b & rx_dc.stripe_mask];
    }
    return &rx_dc.buckets[b];
}

/* one optimistic pass: the way copied to @s, RX_DC_ABSENT or
 * RX_DC_CHANGING (a writer was inside) */
static rx_int_t
rx_dc_read(rx_dc_bucket_t *bk, const u_char *key, rx_dc_slot_t *s)
{
    uint32_t seq, tag = rx_dc_tag(key);
    rx_int_t i, found = RX_DC_ABSENT;

    seq = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) {
        return RX_DC_CHANGING;
    }
    for (i = 0; i < RX_DC_WAYS; i++) {
        if (bk->tags[i] == tag && bk->slots[i].check != 0) {
            memcpy(s, &bk->slots[i], sizeof(rx_dc_slot_t));
            if (memcmp(s->key, key, RX_SHA256_LEN) == 0) {
                found = i;
                break;
            }
        }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&bk->seq, __ATOMIC_RELAXED) != seq) {
        return RX_DC_CHANGING;
    }
    return found;
}

rx_int_t
rx_digest_cache_get(const u_char key[RX_SHA256_LEN], rx_dc_digest_t *out)
{
    rx_dc_bucket_t *bk;
    rx_dc_slot_t    s;
    rx_uint_t       n;
    rx_int_t        i = RX_DC_CHANGING;

    if (rx_dc.hdr == NULL) {
        return RX_DECLINED;
    }
    bk = rx_dc_bucket(key, NULL);
    for (n = 0; n < RX_DC_TRIES; n++) {
        i = rx_dc_read(bk, key, &s);
        if (i != RX_DC_CHANGING) {
            break;
        }
        rx_dc_cpu_pause();
    }
    if (i < 0 || s.check != rx_dc_check(s.key, s.hash, s.size)) {
        rx_dc_add(misses, 1);
        return RX_DECLINED;
    }
    memcpy(out->hash, s.hash, RX_SHA256_LEN);
    out->size = s.size;
    rx_dc_touch(&bk->slots[i]);
    rx_dc_add(hits, 1);
    return RX_OK;
}

/* lock-free and racy on purpose: LRU order only needs to be roughly right */
static void
rx_dc_touch(rx_dc_slot_t *s)
{
    uint32_t now = rx_dc_now();

    if (__atomic_load_n(&s->last_used, __ATOMIC_RELAXED) != now) {
        __atomic_store_n(&s->last_used, now, __ATOMIC_RELAXED);
    }
}

/* writer side: the caller holds the bucket's stripe lock */

static void
rx_dc_write_begin(rx_dc_bucket_t *bk)
{
    uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_RELAXED);

    __atomic_store_n(&bk->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
rx_dc_write_end(rx_dc_bucket_t *bk)
{
    uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_RELAXED);

    __atomic_store_n(&bk->seq, seq + 1, __ATOMIC_RELEASE);
}

/* the seq is odd: its writer died inside; drop what it may have torn */
static void
rx_dc_heal(rx_dc_bucket_t *bk)
{
    rx_dc_slot_t *s;
    rx_uint_t     i;

    for (i = 0; i < RX_DC_WAYS; i++) {
        s = &bk->slots[i];
        if (s->check == 0) {
            continue;
        }
        if (s->check != rx_dc_check(s->key, s->hash, s->size)) {
            s->check = 0;
            rx_dc_sub(entries, 1);
            continue;
        }
        bk->tags[i] = rx_dc_tag(s->key);
    }
    rx_dc_write_end(bk);
}

static rx_int_t
rx_dc_find(rx_dc_bucket_t *bk, const u_char *key)
{
    uint32_t  tag = rx_dc_tag(key);
    rx_uint_t i;

    for (i = 0; i < RX_DC_WAYS; i++) {
        if (bk->tags[i] == tag && bk->slots[i].check != 0
            && memcmp(bk->slots[i].key, key, RX_SHA256_LEN) == 0) {
            return (rx_int_t) i;
        }
    }
    return RX_DC_ABSENT;
}

/* the stored value is already @d (content addresses: the usual case) */
static rx_uint_t
rx_dc_same(rx_dc_slot_t *s, const rx_dc_digest_t *d)
{
    return s->size == d->size && memcmp(s->hash, d->hash, RX_SHA256_LEN) == 0;
}

/* the way for a new key: an empty one, else the least recently used */
static rx_int_t
rx_dc_claim(rx_dc_bucket_t *bk)
{
    rx_uint_t i, v = 0;
    uint32_t  t, oldest = UINT32_MAX;

    for (i = 0; i < RX_DC_WAYS; i++) {
        if (bk->slots[i].check == 0) {
            return (rx_int_t) i;
        }
        t = __atomic_load_n(&bk->slots[i].last_used, __ATOMIC_RELAXED);
        if (t < oldest) {
            oldest = t;
            v = i;
        }
    }
    rx_dc_add(evictions, 1);
    return (rx_int_t) v;
}

static void
rx_dc_store(rx_dc_bucket_t *bk, rx_uint_t i, const u_char *key,
            const rx_dc_digest_t *d)
{
    rx_dc_slot_t *s = &bk->slots[i];

    bk->tags[i] = rx_dc_tag(key);
    memcpy(s->key, key, RX_SHA256_LEN);
    memcpy(s->hash, d->hash, RX_SHA256_LEN);
    s->size = d->size;
    __atomic_store_n(&s->last_used, rx_dc_now(), __ATOMIC_RELAXED);
    s->check = rx_dc_check(key, d->hash, d->size);
}

void
rx_digest_cache_put(const u_char key[RX_SHA256_LEN], const rx_dc_digest_t *d)
{
    rx_dc_bucket_t *bk;
    rx_shmtx_t     *m;
    rx_int_t        i;
    rx_uint_t       fresh = 0;

    if (rx_dc.hdr == NULL) {
        return;
    }
    bk = rx_dc_bucket(key, &m);
    rx_shmtx_lock(m);
    if (__atomic_load_n(&bk->seq, __ATOMIC_RELAXED) & 1) {
        rx_dc_heal(bk);
    }
    i = rx_dc_find(bk, key);
    if (i >= 0 && rx_dc_same(&bk->slots[i], d)) {
        rx_dc_touch(&bk->slots[i]); /* no seq change: readers go on */
        rx_shmtx_unlock(m);
        return;
    }
    if (i < 0) {
        i = rx_dc_claim(bk);
        fresh = bk->slots[i].check == 0;
        rx_dc_add(inserts, 1);
    }
    rx_dc_write_begin(bk);
    rx_dc_store(bk, (rx_uint_t) i, key, d);
    rx_dc_write_end(bk);
    rx_shmtx_unlock(m);
    if (fresh) {
        rx_dc_add(entries, 1); /* counted once stored: a dead writer's
                                  slot is either intact or dropped */
    }
}

rx_shmtx_t *
rx_digest_cache_debug_tear(const u_char          key[RX_SHA256_LEN],
                           const rx_dc_digest_t *d)
{
    rx_dc_bucket_t *bk;
    rx_shmtx_t     *m;
    rx_dc_slot_t   *s;
    rx_int_t        i;

    if (rx_dc.hdr == NULL) {
        return NULL;
    }
    bk = rx_dc_bucket(key, &m);
    rx_shmtx_lock(m);
    i = rx_dc_find(bk, key);
    if (i < 0) {
        i = rx_dc_claim(bk);
    }
    rx_dc_write_begin(bk);
    s = &bk->slots[i];
    bk->tags[i] = rx_dc_tag(key);
    memcpy(s->key, key, RX_SHA256_LEN);
    memcpy(s->hash, d->hash, RX_SHA256_LEN / 2); /* killed here */
    return m;
}

void
rx_digest_cache_stats(rx_dc_stats_t *st)
{
    rx_memzero(st, sizeof(rx_dc_stats_t));
    if (rx_dc.hdr == NULL) {
        return;
    }
    st->hits = rx_dc_load(hits);
    st->misses = rx_dc_load(misses);
    st->inserts = rx_dc_load(inserts);
    st->evictions = rx_dc_load(evictions);
    st->entries = rx_dc_load(entries);
    st->capacity = (rx_dc.mask + 1) * RX_DC_WAYS;
    st->persistent = rx_dc.persistent;
}

static void
rx_dc_status(rx_buf_t *b)
{
    rx_dc_stats_t st;
    uint64_t      lookups;

    if (rx_dc.hdr == NULL) {
        return;
    }
    rx_digest_cache_stats(&st);
    lookups = st.hits + st.misses;
    (void) rx_buf_printf(
        b,
        "<h2>Digest cache</h2>\n<table>\n"
        "<tr><th>entries</th><td>%llu</td></tr>\n"
        "<tr><th>capacity</th><td>%llu</td></tr>\n"
        "<tr><th>hits</th><td>%llu</td></tr>\n"
        "<tr><th>misses</th><td>%llu</td></tr>\n"
        "<tr><th>hit ratio</th><td>%.1f%%</td></tr>\n"
        "<tr><th>inserts</th><td>%llu</td></tr>\n"
        "<tr><th>evictions</th><td>%llu</td></tr>\n"
        "<tr><th>persistent</th><td>%s</td></tr>\n</table>\n",
        (unsigned long long) st.entries, (unsigned long long) st.capacity,
        (unsigned long long) st.hits, (unsigned long long) st.misses,
        lookups ? 100.0 * (double) st.hits / (double) lookups : 0.0,
        (unsigned long long) st.inserts, (unsigned long long) st.evictions,
        st.persistent ? "yes" : "no");
}

static void
rx_dc_metrics(rx_buf_t *b)
{
    rx_dc_stats_t st;

    if (rx_dc.hdr == NULL) {
        return;
    }
    rx_digest_cache_stats(&st);
    rx_http_metric_head(b, "digest_cache_entries", "gauge",
                        "Entries in the digest cache.");
    rx_http_metric(b, "digest_cache_entries", NULL, st.entries);
    rx_http_metric_head(b, "digest_cache_capacity", "gauge",
                        "Entries the digest cache can hold.");
    rx_http_metric(b, "digest_cache_capacity", NULL, st.capacity);
    rx_http_metric_head(b, "digest_cache_lookups_total", "counter",
                        "Digest cache lookups, by result.");
    rx_http_metric(b, "digest_cache_lookups_total", "result=\"hit\"", st.hits);
    rx_http_metric(b, "digest_cache_lookups_total", "result=\"miss\"",
                   st.misses);
    rx_http_metric_head(b, "digest_cache_inserts_total", "counter",
                        "Entries added to the digest cache.");
    rx_http_metric(b, "digest_cache_inserts_total", NULL, st.inserts);
    rx_http_metric_head(b, "digest_cache_evictions_total", "counter",
                        "Entries evicted from the digest cache.");
    rx_http_metric(b, "digest_cache_evictions_total", NULL, st.evictions);
}
