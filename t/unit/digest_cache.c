/*
 * Unit tests of src/cache/rx_digest_cache.c: round trips, overwrite, LRU
 * within a set, concurrent writers in forked processes (no torn or mixed
 * value is ever returned), a writer that dies inside a bucket, file-backed
 * persistence, the module hooks (zone, status section, resize on reload)
 * and a speed diagnostic.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_shmem.h>
#include <rx_cycle.h>
#include <rx_http.h>
#include <rx_digest_cache.h>
#include <sys/wait.h>
#include "tap.h"

#define NCHILD      4
#define NOPS        100000
#define NVARIANTS   NCHILD
#define STRESS_KEYS 4096
#define STRESS_HOT  16 /* keys every child keeps rewriting */

/* keys 1..5 of one bucket; key 2 gets a second value */
typedef struct {
    u_char         k[6][RX_SHA256_LEN];
    rx_dc_digest_t v[6], vb2;
} dead_set_t;


static uint64_t splitmix(uint64_t *x);
static void     make_key(uint64_t n, u_char key[RX_SHA256_LEN]);
static void bucket_key(uint64_t bucket, uint64_t n, u_char key[RX_SHA256_LEN]);
static void make_value(const u_char *key, unsigned variant, rx_dc_digest_t *d);
static int  value_ok(const u_char *key, const rx_dc_digest_t *d);
static int  get_is(const u_char *key, const rx_dc_digest_t *exp);
static rx_int_t zone_open(rx_shm_zone_t *z, rx_uint_t entries, const char *path,
                          rx_uint_t reset);
static void     test_basic(void);
static void     test_lru(void);
static void     test_stress(void);
static int      stress_child(unsigned variant, volatile uint32_t *go);
static void     test_dead_writer(void);
static void     test_persistence(void);
static void     test_dead_overwrite(dead_set_t *t, pid_t dead);
static void     test_dead_insert(dead_set_t *t, pid_t dead);
static rx_int_t module_cycle(rx_cycle_t *cycle, rx_conf_t *conf);
static int      has(rx_buf_t *b, const char *s);
static void     test_module(void);
static void     test_module_reload(void);
static double   time_gets(u_char (*keys)[RX_SHA256_LEN], rx_uint_t n,
                          rx_uint_t loops, rx_uint_t *hits);
static void     test_speed(void);

static uint64_t
splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
make_key(uint64_t n, u_char key[RX_SHA256_LEN])
{
    uint64_t  x = n * 4 + 1, w;
    rx_uint_t i;

    for (i = 0; i < RX_SHA256_LEN; i += 8) {
        w = splitmix(&x);
        memcpy(key + i, &w, 8);
    }
}

/* keys sharing bytes 0..7 share a bucket whatever the table size */
static void
bucket_key(uint64_t bucket, uint64_t n, u_char key[RX_SHA256_LEN])
{
    make_key(n + 1000000, key);
    memcpy(key, &bucket, 8);
}

/* every byte depends on (key, variant): a mix of two values never passes */
static void
make_value(const u_char *key, unsigned variant, rx_dc_digest_t *d)
{
    uint64_t  x, w;
    rx_uint_t i;

    memcpy(&x, key + 16, 8);
    x ^= (uint64_t) variant * 0x51ed270b27a3f0c1ULL;
    for (i = 0; i < RX_SHA256_LEN; i += 8) {
        w = splitmix(&x);
        memcpy(d->hash + i, &w, 8);
    }
    d->size = (int64_t) (splitmix(&x) >> 20);
}

static int
value_ok(const u_char *key, const rx_dc_digest_t *d)
{
    rx_dc_digest_t exp;
    unsigned       v;

    for (v = 0; v < NVARIANTS; v++) {
        make_value(key, v, &exp);
        if (exp.size == d->size
            && memcmp(exp.hash, d->hash, RX_SHA256_LEN) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
get_is(const u_char *key, const rx_dc_digest_t *exp)
{
    rx_dc_digest_t d;

    return rx_digest_cache_get(key, &d) == RX_OK && d.size == exp->size
           && memcmp(d.hash, exp->hash, RX_SHA256_LEN) == 0;
}

static rx_int_t
zone_open(rx_shm_zone_t *z, rx_uint_t entries, const char *path,
          rx_uint_t reset)
{
    rx_memzero(z, sizeof(rx_shm_zone_t));
    rx_str_set(&z->name, "digest_cache");
    z->size = rx_digest_cache_size(entries);
    z->nlocks = RX_DC_STRIPES;
    if (path) {
        z->path.data = (u_char *) path;
        z->path.len = strlen(path);
    }
    if (rx_shm_alloc(z, &rx_log_stderr) != RX_OK) {
        return RX_ERROR;
    }
    return rx_digest_cache_attach(z, reset);
}

static void
test_basic(void)
{
    rx_shm_zone_t  z;
    rx_dc_digest_t v1, v2, d;
    rx_dc_stats_t  st;
    u_char         k1[RX_SHA256_LEN], k2[RX_SHA256_LEN];

    make_key(1, k1);
    make_key(2, k2);
    ok(rx_digest_cache_get(k1, &d) == RX_DECLINED, "get before attach");
    is_int(zone_open(&z, 1024, NULL, 0), RX_OK, "anonymous zone attached");
    make_value(k1, 0, &v1);
    make_value(k1, 1, &v2);
    ok(rx_digest_cache_get(k1, &d) == RX_DECLINED, "miss on an empty table");
    rx_digest_cache_put(k1, &v1);
    ok(get_is(k1, &v1), "put then get returns the value");
    ok(rx_digest_cache_get(k2, &d) == RX_DECLINED, "other key misses");
    rx_digest_cache_put(k1, &v1);
    rx_digest_cache_put(k1, &v2);
    ok(get_is(k1, &v2), "overwrite returns the new value");
    rx_digest_cache_stats(&st);
    is_int(st.entries, 1, "one entry after overwrite");
    is_int(st.inserts, 1, "one insert");
    is_int(st.hits, 2, "hits counted");
    is_int(st.misses, 2, "misses counted");
    is_int(st.capacity, 1024, "capacity is 1024 for 1024 entries");
    is_int(st.persistent, 0, "anonymous zone is not persistent");
    is_int(rx_digest_cache_size(1000), rx_digest_cache_size(1024),
           "sizes round up to a power of two of buckets");
    rx_shm_free(&z);
}

static void
test_lru(void)
{
    rx_shm_zone_t  z;
    rx_dc_digest_t v[9], d;
    rx_dc_stats_t  st;
    u_char         k[9][RX_SHA256_LEN];
    time_t         base = time(NULL) + 100;
    rx_uint_t      i, hits = 0;

    if (zone_open(&z, 1024, NULL, 1) != RX_OK) {
        ok(0, "lru zone");
        return;
    }
    for (i = 0; i < 9; i++) {
        bucket_key(0x77, i, k[i]);
        make_value(k[i], 0, &v[i]);
    }
    for (i = 0; i < 8; i++) {
        rx_current_sec = base + (time_t) i;
        rx_digest_cache_put(k[i], &v[i]);
    }
    rx_current_sec = base + 8;
    ok(get_is(k[0], &v[0]), "oldest key read again (now most recent)");
    rx_current_sec = base + 9;
    rx_digest_cache_put(k[8], &v[8]);
    ok(rx_digest_cache_get(k[1], &d) == RX_DECLINED,
       "9th key in a full set evicts the least recently used");
    for (i = 0; i < 9; i++) {
        hits += i != 1 && get_is(k[i], &v[i]);
    }
    is_int(hits, 8, "the other 8 keys of the set are kept");
    rx_digest_cache_stats(&st);
    is_int(st.evictions, 1, "one eviction");
    is_int(st.entries, 8, "8 entries");
    rx_shm_free(&z);
    rx_current_sec = time(NULL);
}

static int
stress_child(unsigned variant, volatile uint32_t *go)
{
    rx_dc_digest_t d;
    u_char         key[RX_SHA256_LEN];
    uint64_t       x = variant + 7, r;
    rx_uint_t      n, bad = 0;

    rx_pid = getpid();
    alarm(120); /* a deadlock fails the test instead of hanging it */
    (void) __atomic_add_fetch(go, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(go, __ATOMIC_ACQUIRE) < NCHILD) {
        sched_yield(); /* start together: the point is to overlap */
    }
    for (n = 0; n < NOPS; n++) {
        r = splitmix(&x);
        make_key((r >> 1) % (r & 1 ? STRESS_HOT : STRESS_KEYS), key);
        if (rx_digest_cache_get(key, &d) == RX_OK) {
            bad += !value_ok(key, &d);
        }
        if (n % 3 != 0) { /* overwrite with this child's own variant */
            make_value(key, variant, &d);
            rx_digest_cache_put(key, &d);
        }
    }
    return bad ? 2 : 0;
}

static void
test_stress(void)
{
    rx_shm_zone_t  z;
    rx_dc_digest_t d;
    rx_dc_stats_t  st;
    u_char         key[RX_SHA256_LEN];
    pid_t          pid[NCHILD];
    rx_uint_t      i, good = 0, bad = 0;
    int            status;
    uint32_t      *go;

    go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (go == MAP_FAILED || zone_open(&z, 1024, NULL, 1) != RX_OK) {
        ok(0, "stress zone");
        return;
    }
    fflush(stdout);
    for (i = 0; i < NCHILD; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            _exit(stress_child((unsigned) i, go));
        }
    }
    for (i = 0; i < NCHILD; i++) {
        status = -1;
        if (pid[i] > 0) {
            (void) waitpid(pid[i], &status, 0);
        }
        good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    is_int(good, NCHILD, "%d writers x %d ops: every hit was an exact value",
           NCHILD, NOPS);
    for (i = 0; i < STRESS_KEYS; i++) {
        make_key(i, key);
        if (rx_digest_cache_get(key, &d) == RX_OK) {
            bad += !value_ok(key, &d);
        }
    }
    is_int(bad, 0, "no torn entry left in the table");
    rx_digest_cache_stats(&st);
    ok(st.hits > 0 && st.misses > 0 && st.evictions > 0,
       "the run hit, missed and evicted (%llu/%llu/%llu)",
       (unsigned long long) st.hits, (unsigned long long) st.misses,
       (unsigned long long) st.evictions);
    is_int(st.entries, st.capacity, "entries == capacity when full");
    rx_shm_free(&z);
    munmap(go, 4096);
}

/* the writer of b's new value dies mid-copy: seq odd, b half written */
static void
test_dead_overwrite(dead_set_t *t, pid_t dead)
{
    rx_dc_stats_t st;
    rx_shmtx_t   *m;
    pid_t         saved = rx_pid;

    rx_pid = dead;
    m = rx_digest_cache_debug_tear(t->k[2], &t->vb2);
    rx_pid = saved;
    ok(m != NULL && m->lock == (uint64_t) dead, "stripe held by the dead pid");
    ok(!get_is(t->k[1], &t->v[1]), "odd seq: intact key of the bucket misses");
    ok(!get_is(t->k[2], &t->v[2]), "odd seq: torn key misses");
    is_int(m ? rx_shmtx_force_unlock(m, dead) : 0, 1,
           "master force-unlocks the pid");
    ok(!get_is(t->k[1], &t->v[1]), "still a miss until a put");
    rx_digest_cache_put(t->k[4], &t->v[4]);
    ok(get_is(t->k[1], &t->v[1]) && get_is(t->k[3], &t->v[3]),
       "next put heals: intact keys hit");
    ok(get_is(t->k[4], &t->v[4]), "the healing put stored its key");
    ok(!get_is(t->k[2], &t->v[2]) && !get_is(t->k[2], &t->vb2),
       "the half-written slot was dropped, never returned mixed");
    rx_digest_cache_stats(&st);
    is_int(st.entries, 3, "entries exact after healing");
    rx_digest_cache_put(t->k[2], &t->vb2);
    ok(get_is(t->k[2], &t->vb2), "the torn key can be stored again");
}

/* a writer dies while filling an empty way */
static void
test_dead_insert(dead_set_t *t, pid_t dead)
{
    rx_dc_stats_t st;
    rx_shmtx_t   *m;
    pid_t         saved = rx_pid;

    rx_pid = dead;
    m = rx_digest_cache_debug_tear(t->k[5], &t->v[5]);
    rx_pid = saved;
    is_int(m ? rx_shmtx_force_unlock(m, dead) : 0, 1, "force-unlocked again");
    rx_digest_cache_put(t->k[1], &t->v[1]); /* same value: heal only */
    ok(get_is(t->k[1], &t->v[1]) && get_is(t->k[2], &t->vb2),
       "healed by a put of a present key");
    ok(!get_is(t->k[5], &t->v[5]), "the empty way stays empty");
    rx_digest_cache_stats(&st);
    is_int(st.entries, 4, "entries exact after the second heal");
    ok(m && rx_shmtx_trylock(m) == RX_OK, "stripe free again");
    if (m) {
        rx_shmtx_unlock(m);
    }
}

static void
test_dead_writer(void)
{
    rx_shm_zone_t z;
    dead_set_t    t;
    rx_uint_t     i;

    if (zone_open(&z, 1024, NULL, 1) != RX_OK) {
        ok(0, "dead writer zone");
        return;
    }
    for (i = 1; i < 6; i++) {
        bucket_key(0x1234, i, t.k[i]);
        make_value(t.k[i], 0, &t.v[i]);
    }
    make_value(t.k[2], 1, &t.vb2);
    for (i = 1; i < 4; i++) {
        rx_digest_cache_put(t.k[i], &t.v[i]);
    }
    test_dead_overwrite(&t, 0x7ffffff0);
    test_dead_insert(&t, 0x7ffffff0);
    rx_shm_free(&z);
}

static void
test_persistence(void)
{
    rx_shm_zone_t  z;
    rx_dc_digest_t v;
    rx_dc_stats_t  st;
    u_char         key[RX_SHA256_LEN];
    char           dir[] = "/tmp/rx_dc_XXXXXX", path[64];
    rx_uint_t      i, hits;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/digest_cache.bin", dir);
    is_int(zone_open(&z, 2048, path, 0), RX_OK, "file-backed zone");
    ok(!z.existing, "new file");
    for (i = 0; i < 100; i++) {
        make_key(i, key);
        make_value(key, 0, &v);
        rx_digest_cache_put(key, &v);
    }
    rx_shm_free(&z);

    is_int(zone_open(&z, 2048, path, 0), RX_OK, "mapped again, same size");
    ok(z.existing, "found on disk");
    for (hits = 0, i = 0; i < 100; i++) {
        make_key(i, key);
        make_value(key, 0, &v);
        hits += get_is(key, &v);
    }
    is_int(hits, 100, "every entry survived the unmap");
    rx_digest_cache_stats(&st);
    ok(st.persistent && st.entries == 100 && st.inserts == 0,
       "persistent: entries kept, traffic counters restart");
    rx_shm_free(&z);

    is_int(zone_open(&z, 8192, path, 0), RX_OK, "mapped with another size");
    make_key(0, key);
    ok(rx_digest_cache_get(key, &v) == RX_DECLINED, "another size is cold");
    rx_digest_cache_stats(&st);
    is_int(st.entries, 0, "no entries after a resize");
    rx_shm_free(&z);
    (void) unlink(path);
    (void) rmdir(dir);
}

static rx_int_t
module_cycle(rx_cycle_t *cycle, rx_conf_t *conf)
{
    rx_memzero(cycle, sizeof(rx_cycle_t));
    rx_memzero(conf, sizeof(rx_conf_t));
    cycle->pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    cycle->log = rx_log_stderr;
    cycle->log.log_level = RX_LOG_WARN; /* quiet the "starts cold" notice */
    cycle->conf = conf;
    if (cycle->pool == NULL) {
        return RX_ERROR;
    }
    return rx_array_init(&cycle->zones, cycle->pool, 2, sizeof(rx_shm_zone_t));
}

static int
has(rx_buf_t *b, const char *s)
{
    return strstr((char *) b->pos, s) != NULL;
}

/* the hooks as the cycle runs them */
static void
test_module(void)
{
    rx_cycle_t     cycle;
    rx_conf_t      conf;
    rx_shm_zone_t *z;
    rx_dc_digest_t v;
    rx_buf_t       b;
    u_char         key[RX_SHA256_LEN];

    if (module_cycle(&cycle, &conf) != RX_OK) {
        ok(0, "module cycle");
        return;
    }
    conf.digest_cache.entries = 5000;
    is_int(rx_digest_cache_module.init_cycle(&cycle, NULL), RX_OK,
           "init_cycle");
    z = cycle.zones.elts;
    ok(cycle.zones.nelts == 1 && cycle.modules[4] == z
           && z->size == rx_digest_cache_size(5000)
           && z->nlocks == RX_DC_STRIPES && z->init != NULL,
       "zone \"digest_cache\" added in modules[4]");
    ok(rx_shm_alloc(z, &rx_log_stderr) == RX_OK && z->init(z, NULL) == RX_OK,
       "zone mapped and formatted");
    is_int(rx_digest_cache_module.init_worker(&cycle), RX_OK, "init_worker");
    make_key(42, key);
    make_value(key, 0, &v);
    rx_digest_cache_put(key, &v);
    ok(get_is(key, &v), "worker view works");
    ok(rx_http_status_sections[1] != NULL
           && rx_buf_init(&b, cycle.pool, 64) == RX_OK,
       "status section registered in slot 1");
    if (rx_http_status_sections[1]) {
        rx_http_status_sections[1](&b);
    }
    ok(b.last > b.pos && has(&b, "<h2>Digest cache</h2>")
           && has(&b, "<th>capacity</th><td>8192</td>")
           && has(&b, "<th>hit ratio</th><td>100.0%</td>")
           && has(&b, "<th>persistent</th><td>no</td>"),
       "status section shows the table");
    rx_shm_free(z);
    rx_destroy_pool(cycle.pool);
}

/* reload: the old cycle maps @path; a new size must not truncate it */
static void
test_module_reload(void)
{
    rx_cycle_t    old, cycle;
    rx_conf_t     conf;
    rx_shm_zone_t oz;
    char          path[] = "/tmp/rx_dc_module_XXXXXX";
    int           fd;

    fd = mkstemp(path);
    if (fd == -1 || module_cycle(&cycle, &conf) != RX_OK) {
        ok(0, "reload cycle");
        return;
    }
    close(fd);
    rx_memzero(&oz, sizeof(oz));
    oz.tag = &rx_digest_cache_module;
    oz.size = rx_digest_cache_size(1024);
    oz.addr = (u_char *) &oz; /* "mapped"; never dereferenced */
    oz.path.data = (u_char *) path;
    oz.path.len = strlen(path);
    old = cycle;
    old.zones.elts = &oz;
    old.zones.nelts = 1;
    conf.digest_cache.path = oz.path;
    conf.digest_cache.entries = 1024;
    (void) rx_digest_cache_module.init_cycle(&cycle, &old);
    ok(access(path, F_OK) == 0, "same size: the file is kept");
    conf.digest_cache.entries = 4096;
    (void) rx_digest_cache_module.init_cycle(&cycle, &old);
    ok(access(path, F_OK) == -1, "new size: the old file is unlinked");
    (void) unlink(path);
    rx_destroy_pool(cycle.pool);
}

/* average ns per get over @loops lookups of keys[0 .. @n) */
static double
time_gets(u_char (*keys)[RX_SHA256_LEN], rx_uint_t n, rx_uint_t loops,
          rx_uint_t *hits)
{
    rx_dc_digest_t v;
    uint64_t       t0;
    rx_uint_t      i;

    t0 = rx_time_usec();
    for (i = 0; i < loops; i++) {
        *hits += rx_digest_cache_get(keys[(i * 7919) % n], &v) == RX_OK;
    }
    return (double) (rx_time_usec() - t0) * 1000.0 / (double) loops;
}

static void
test_speed(void)
{
    rx_shm_zone_t  z;
    rx_dc_digest_t v;
    u_char(*keys)[RX_SHA256_LEN];
    double    hot, cold, miss;
    rx_uint_t i, n = 20000, loops = 1000000, hits = 0, none = 0;

    keys = malloc(2 * n * RX_SHA256_LEN);
    if (keys == NULL || zone_open(&z, 1 << 18, NULL, 0) != RX_OK) {
        ok(0, "speed zone");
        free(keys);
        return;
    }
    for (i = 0; i < 2 * n; i++) {
        make_key(i + 77777, keys[i]);
        make_value(keys[i], 0, &v);
        if (i < n) {
            rx_digest_cache_put(keys[i], &v);
        }
    }
    hot = time_gets(keys, 64, loops, &hits);
    cold = time_gets(keys, n, loops, &hits);
    miss = time_gets(keys + n, n, loops, &none);
    printf("# ns per get: %.1f (hit, 64 keys), %.1f (hit, %lu keys), "
           "%.1f (miss)\n",
           hot, cold, (unsigned long) n, miss);
    ok(hits == 2 * loops && none == 0, "speed run: hits hit, misses missed");
    rx_shm_free(&z);
    free(keys);
}

int
main(void)
{
    rx_pid = getpid();
    rx_current_sec = time(NULL);
    test_basic();
    test_lru();
    test_stress();
    test_dead_writer();
    test_persistence();
    test_module();
    test_module_reload();
    test_speed();
    return done_testing();
}
