/*
 * Building, switching and destroying cycles.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>

static rx_int_t rx_cycle_paths(rx_cycle_t *cycle);
static rx_int_t rx_cycle_open_logs(rx_cycle_t *cycle);
static rx_int_t rx_cycle_listen(rx_cycle_t *cycle, rx_cycle_t *old);
static rx_int_t rx_cycle_open_socket(rx_cycle_t *cycle, rx_listening_t *ls);
static rx_int_t rx_cycle_zones(rx_cycle_t *cycle, rx_cycle_t *old);

rx_cycle_t *rx_cycle;

rx_cycle_t *
rx_init_cycle(rx_cycle_t *old, const rx_cycle_args_t *args, rx_log_t *log)
{
    rx_pool_t  *pool;
    rx_cycle_t *cycle;
    rx_uint_t   i;
    long        ncpu;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, log);
    if (pool == NULL) {
        return NULL;
    }
    cycle = rx_pcalloc(pool, sizeof(rx_cycle_t));
    if (cycle == NULL) {
        rx_destroy_pool(pool);
        return NULL;
    }
    cycle->pool = pool;
    cycle->log = *log;
    cycle->error_log.fd = -1;
    cycle->access_log.fd = -1;
    cycle->prefix = args->prefix;
    cycle->generation = old ? old->generation + 1 : 1;
    cycle->test_only = args->test_only;
    cycle->conf = rx_conf_load(pool, args->conf_file, args->overrides,
                               args->noverrides, log);
    if (cycle->conf == NULL || rx_cycle_paths(cycle) != RX_OK) {
        rx_destroy_pool(pool);
        return NULL;
    }
    if (old /* compared with full paths on both sides */
        && rx_conf_keep_restart_only(cycle->conf, old->conf, log) != RX_OK) {
        rx_destroy_pool(pool);
        return NULL;
    }
    cycle->pid_path = cycle->conf->pid;
    if (rx_array_init(&cycle->listening, pool, 4, sizeof(rx_listening_t))
            != RX_OK
        || rx_array_init(&cycle->zones, pool, 4, sizeof(rx_shm_zone_t))
               != RX_OK) {
        rx_destroy_pool(pool);
        return NULL;
    }
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cycle->workers =
        cycle->conf->workers
            ? (rx_uint_t) cycle->conf->workers
            : (rx_uint_t) rx_min(rx_max(ncpu, 1), (long) RX_MAX_WORKERS);
    cycle->stats_zone =
        rx_shm_zone_add(cycle, "stats", sizeof(rx_stats_t), 0, &rx_cycle);
    if (cycle->stats_zone == NULL) {
        rx_destroy_pool(pool);
        return NULL;
    }
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->init_cycle
            && rx_modules[i]->init_cycle(cycle, old) != RX_OK) {
            rx_abandon_cycle(cycle);
            return NULL;
        }
    }
    if (args->test_only) {
        return cycle;
    }
    if (rx_cycle_open_logs(cycle) != RX_OK
        || rx_cycle_listen(cycle, old) != RX_OK
        || rx_cycle_zones(cycle, old) != RX_OK) {
        rx_abandon_cycle(cycle);
        return NULL;
    }
    cycle->stats = (rx_stats_t *) cycle->stats_zone->user;
    cycle->log.file = &cycle->error_log;
    cycle->log.log_level = cycle->conf->log_level;
    return cycle;
}

rx_int_t
rx_cycle_full_path(rx_cycle_t *cycle, rx_str_t *path)
{
    u_char *p;

    if (path->len == 0 || path->data[0] == '/' || cycle->prefix.len == 0
        || (path->len == 6 && memcmp(path->data, "stderr", 6) == 0)) {
        return RX_OK;
    }
    p = rx_pnalloc(cycle->pool, cycle->prefix.len + path->len + 2);
    if (p == NULL) {
        return RX_ERROR;
    }
    path->len =
        (size_t) (rx_slprintf(p, p + cycle->prefix.len + path->len + 2,
                              "%.*s/%.*s", (int) cycle->prefix.len,
                              cycle->prefix.data, (int) path->len, path->data)
                  - p);
    path->data = p;
    return RX_OK;
}

static rx_int_t
rx_cycle_paths(rx_cycle_t *cycle)
{
    rx_conf_t *conf = cycle->conf;
    rx_str_t   off = rx_string("off");

    if (rx_str_eq(&conf->access_log, &off)) {
        conf->access_log.len = 0;
    }
    if (rx_cycle_full_path(cycle, &conf->pid) != RX_OK
        || rx_cycle_full_path(cycle, &conf->error_log) != RX_OK
        || rx_cycle_full_path(cycle, &conf->access_log) != RX_OK
        || rx_cycle_full_path(cycle, &conf->file_store.path) != RX_OK
        || rx_cycle_full_path(cycle, &conf->digest_cache.path) != RX_OK
        || rx_cycle_full_path(cycle, &conf->executor.socket) != RX_OK
        || rx_cycle_full_path(cycle, &conf->executor.root) != RX_OK) {
        return RX_ERROR;
    }
    return RX_OK;
}

static rx_int_t
rx_cycle_open_logs(rx_cycle_t *cycle)
{
    cycle->error_log.name = cycle->conf->error_log;
    if (rx_log_file_open(&cycle->error_log) != RX_OK) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "open() error log \"%s\" failed",
                     cycle->error_log.name.data);
        return RX_ERROR;
    }
    if (cycle->conf->access_log.len == 0) {
        return RX_OK;
    }
    cycle->access_log.name = cycle->conf->access_log;
    if (rx_log_file_open(&cycle->access_log) != RX_OK) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "open() access log \"%s\" failed",
                     cycle->access_log.name.data);
        return RX_ERROR;
    }
    return RX_OK;
}

static rx_listening_t *
rx_cycle_find_listening(rx_cycle_t *old, rx_listening_t *ls)
{
    rx_listening_t *ols;
    rx_uint_t       i;

    if (old == NULL) {
        return NULL;
    }
    ols = old->listening.elts;
    for (i = 0; i < old->listening.nelts; i++) {
        if ((ols[i].fd != -1 || &ols[i] == ls) && ols[i].socklen == ls->socklen
            && memcmp(&ols[i].sockaddr, &ls->sockaddr, ls->socklen) == 0) {
            return &ols[i];
        }
    }
    return NULL;
}

static rx_int_t
rx_cycle_listen(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_listen_t *cl = cycle->conf->listen.elts;
    rx_listening_t   *ls, *ols;
    rx_uint_t         i;

    for (i = 0; i < cycle->conf->listen.nelts; i++) {
        ls = rx_array_push(&cycle->listening);
        if (ls == NULL) {
            return RX_ERROR;
        }
        ls->fd = -1;
        ls->text = cl[i].text;
        ls->sockaddr = cl[i].sockaddr;
        ls->socklen = cl[i].socklen;
        ls->backlog = (int) cl[i].backlog;
        ls->ssl_ctx = cl[i].ssl_ctx;
        ls->unix_socket = ls->sockaddr.ss_family == AF_UNIX;
        if (rx_cycle_find_listening(cycle, ls) != ls) {
            rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                         "duplicate listen address %s", ls->text.data);
            return RX_ERROR;
        }
        ols = rx_cycle_find_listening(old, ls);
        if (ols) {
            ls->fd = ols->fd;
            ls->inherited = 1;
            if (listen(ls->fd, ls->backlog) == -1) { /* new backlog */
                rx_log_error(RX_LOG_WARN, &cycle->log, errno,
                             "listen() to %s failed", ls->text.data);
            }
            continue;
        }
        if (rx_cycle_open_socket(cycle, ls) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static rx_int_t
rx_cycle_open_socket(rx_cycle_t *cycle, rx_listening_t *ls)
{
    int one = 1, zero = 0, fd;

    fd = socket(ls->sockaddr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno, "socket() for %s failed",
                     ls->text.data);
        return RX_ERROR;
    }
    ls->fd = fd;
    if (ls->unix_socket) {
        (void) unlink(((struct sockaddr_un *) &ls->sockaddr)->sun_path);
    } else {
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ls->sockaddr.ss_family == AF_INET6) {
            (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
                              sizeof(zero));
        }
    }
    if (rx_nonblocking(fd) != RX_OK
        || bind(fd, (struct sockaddr *) &ls->sockaddr, ls->socklen) == -1
        || listen(fd, ls->backlog) == -1) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "bind() or listen() to %s failed", ls->text.data);
        return RX_ERROR;
    }
    if (ls->unix_socket) {
        (void) chmod(((struct sockaddr_un *) &ls->sockaddr)->sun_path, 0666);
    }
    return RX_OK;
}

rx_shm_zone_t *
rx_shm_zone_add(rx_cycle_t *cycle, const char *name, size_t size,
                rx_uint_t nlocks, const void *tag)
{
    rx_shm_zone_t *z;

    z = rx_array_push(&cycle->zones);
    if (z == NULL) {
        return NULL;
    }
    z->name.data = (u_char *) name;
    z->name.len = strlen(name);
    z->size = size;
    z->nlocks = nlocks;
    z->tag = tag;
    return z;
}

static rx_shm_zone_t *
rx_cycle_find_zone(rx_cycle_t *old, rx_shm_zone_t *z)
{
    rx_shm_zone_t *oz;
    rx_uint_t      i;

    if (old == NULL) {
        return NULL;
    }
    oz = old->zones.elts;
    for (i = 0; i < old->zones.nelts; i++) {
        if (oz[i].addr && rx_str_eq(&oz[i].name, &z->name)
            && oz[i].size == z->size && oz[i].nlocks == z->nlocks
            && oz[i].tag == z->tag && rx_str_eq(&oz[i].path, &z->path)) {
            return &oz[i];
        }
    }
    return NULL;
}

static rx_int_t
rx_cycle_zones(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_shm_zone_t *z, *oz;
    rx_uint_t      i;
    void          *old_data;

    z = cycle->zones.elts;
    for (i = 0; i < cycle->zones.nelts; i++) {
        oz = rx_cycle_find_zone(old, &z[i]);
        old_data = NULL;
        if (oz) {
            z[i].addr = oz->addr;
            z[i].mapped = oz->mapped;
            z[i].locks = oz->locks;
            z[i].user = oz->user;
            z[i].reused = 1;
            old_data = oz->data;
        } else if (rx_shm_alloc(&z[i], &cycle->log) != RX_OK) {
            return RX_ERROR;
        }
        z[i].data = z[i].user;
        if (z[i].init && z[i].init(&z[i], old_data) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static void
rx_cycle_undo(rx_cycle_t *cycle, rx_cycle_t *old_owner)
{
    rx_listening_t *ls = cycle->listening.elts;
    rx_shm_zone_t  *z = cycle->zones.elts;
    rx_uint_t       i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1 && !ls[i].remain && !ls[i].inherited) {
            close(ls[i].fd);
            if (ls[i].unix_socket && old_owner == NULL) {
                (void) unlink(
                    ((struct sockaddr_un *) &ls[i].sockaddr)->sun_path);
            }
        }
    }
    for (i = 0; i < cycle->zones.nelts; i++) {
        if (!z[i].reused) {
            rx_shm_free(&z[i]);
        }
    }
    if (cycle->error_log.fd > STDERR_FILENO) {
        close(cycle->error_log.fd);
    }
    if (cycle->access_log.fd > STDERR_FILENO) {
        close(cycle->access_log.fd);
    }
}

void
rx_abandon_cycle(rx_cycle_t *cycle)
{
    rx_uint_t i;

    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->done_cycle) {
            rx_modules[i]->done_cycle(cycle);
        }
    }
    /* inherited fds and reused zones still belong to the old cycle */
    rx_cycle_undo(cycle, (rx_cycle_t *) 1);
    rx_destroy_pool(cycle->pool);
}

void
rx_destroy_cycle(rx_cycle_t *cycle)
{
    rx_uint_t i;

    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->done_cycle) {
            rx_modules[i]->done_cycle(cycle);
        }
    }
    rx_cycle_undo(cycle, NULL);
    rx_destroy_pool(cycle->pool);
}

void
rx_cycle_commit(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_listening_t *ls = cycle->listening.elts, *ols;
    rx_shm_zone_t  *z = cycle->zones.elts, *oz;
    rx_uint_t       i, j;

    ols = old->listening.elts;
    oz = old->zones.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        for (j = 0; ls[i].inherited && j < old->listening.nelts; j++) {
            if (ols[j].fd == ls[i].fd) {
                ols[j].remain = 1;
                ls[i].inherited = 0; /* owned by this cycle from now on */
            }
        }
    }
    for (i = 0; i < cycle->zones.nelts; i++) {
        for (j = 0; z[i].reused && j < old->zones.nelts; j++) {
            if (oz[j].addr == z[i].addr) {
                oz[j].addr = NULL;
                z[i].reused = 0;
            }
        }
    }
}

rx_uint_t
rx_cycle_unlock_zones(rx_cycle_t *cycle, pid_t pid)
{
    rx_shm_zone_t *z = cycle->zones.elts;
    rx_uint_t      i, j, n = 0;

    for (i = 0; i < cycle->zones.nelts; i++) {
        for (j = 0; z[i].addr && j < z[i].nlocks; j++) {
            n += rx_shmtx_force_unlock(&z[i].locks[j], pid);
        }
    }
    return n;
}

rx_int_t
rx_cycle_write_pid(rx_cycle_t *cycle)
{
    char buf[32];
    int  fd, n;

    fd = open((char *) cycle->pid_path.data,
              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "open() pid file \"%s\" failed", cycle->pid_path.data);
        return RX_ERROR;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (write(fd, buf, (size_t) n) != n) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "write() pid file \"%s\" failed", cycle->pid_path.data);
        close(fd);
        return RX_ERROR;
    }
    close(fd);
    return RX_OK;
}

rx_int_t
rx_cycle_reopen_logs(rx_cycle_t *cycle)
{
    rx_int_t rc = RX_OK;

    if (rx_log_file_reopen(&cycle->error_log, &cycle->log) != RX_OK) {
        rc = RX_ERROR;
    }
    if (cycle->access_log.fd != -1
        && rx_log_file_reopen(&cycle->access_log, &cycle->log) != RX_OK) {
        rc = RX_ERROR;
    }
    return rc;
}
