/*
 * The master process: spawns and supervises workers, handles signals,
 * reloads by building a new cycle next to the running one.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_process.h>

#define RX_READY_TIMEOUT 15000 /* new workers must come up within */
#define RX_KILL_GRACE    5000  /* after TERM, before KILL */

static void     rx_signal_handler(int signo);
static rx_int_t rx_init_signals(void);
static rx_int_t rx_spawn_worker(rx_cycle_t *cycle, rx_int_t slot,
                                rx_uint_t type);
static void     rx_start_workers(rx_cycle_t *cycle);
static void     rx_reap_children(void);
static void     rx_master_read_channels(struct pollfd *pfd, rx_uint_t n);
static void     rx_master_reload(rx_cycle_args_t *args);
static void     rx_master_check_pending(void);
static void rx_signal_generation(rx_uint_t generation, int signo, int older);
static rx_uint_t rx_live_children(void);
static void      rx_master_exit(void);
static int       rx_master_timeout(void);
static void      rx_master_tick(rx_cycle_args_t *args);
static void      rx_stats_retire(rx_stats_t *st, rx_stats_proc_t *p);

rx_process_t rx_processes[RX_MAX_PROCESSES];
rx_int_t     rx_process_slot = -1;
rx_uint_t    rx_worker;
sigset_t     rx_wait_sigmask;

volatile sig_atomic_t rx_quit;
volatile sig_atomic_t rx_terminate;
volatile sig_atomic_t rx_reconfigure;
volatile sig_atomic_t rx_reopen;
volatile sig_atomic_t rx_reap;

static rx_cycle_t *rx_pending;         /* cycle of a reload in progress */
static rx_uint_t   rx_pending_died;    /* a child of rx_pending exited */
static rx_uint_t   rx_reload_deferred; /* SIGHUP during a reload */
static rx_msec_t   rx_pending_deadline;
static rx_msec_t   rx_kill_deadline;
static rx_uint_t   rx_stopping; /* 1 quit, 2 terminate */
static rx_uint_t   rx_announced_ready;

static const int rx_signals[] = {SIGHUP, SIGQUIT, SIGTERM,
                                 SIGINT, SIGUSR1, SIGCHLD};

static void
rx_signal_handler(int signo)
{
    int err = errno;

    switch (signo) {
    case SIGHUP:
        rx_reconfigure = 1;
        break;
    case SIGQUIT:
        rx_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        rx_terminate = 1;
        break;
    case SIGUSR1:
        rx_reopen = 1;
        break;
    case SIGCHLD:
        rx_reap = 1;
        break;
    }
    errno = err;
}

/* a child is gone: its counters join the retired totals (it writes no
   more), its slot is free for the next process */
static void
rx_stats_retire(rx_stats_t *st, rx_stats_proc_t *p)
{
    rx_stats_proc_t *r = &st->retired;
    rx_uint_t        i;

    if (p->pid == 0) {
        return;
    }
    r->requests += p->requests;
    r->conns_total += p->conns_total;
    r->bytes_in += p->bytes_in;
    r->bytes_out += p->bytes_out;
    for (i = 0; i < rx_nelems(p->status); i++) {
        r->status[i] += p->status[i];
    }
    /* the slot starts clean for its next process, which the master
       publishes at fork time (rx_spawn_worker) */
    rx_memzero(p, sizeof(rx_stats_proc_t));
}

static rx_int_t
rx_init_signals(void)
{
    struct sigaction sa;
    sigset_t         set;
    rx_uint_t        i;

    rx_memzero(&sa, sizeof(sa));
    sa.sa_handler = rx_signal_handler;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&set);
    for (i = 0; i < rx_nelems(rx_signals); i++) {
        if (sigaction(rx_signals[i], &sa, NULL) == -1) {
            return RX_ERROR;
        }
        sigaddset(&set, rx_signals[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&rx_wait_sigmask);
    return sigprocmask(SIG_BLOCK, &set, NULL) == -1 ? RX_ERROR : RX_OK;
}

void
rx_sd_notify(const char *state)
{
    struct sockaddr_un sun;
    const char        *path;
    socklen_t          len;
    int                fd;

    path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0'
        || strlen(path) >= sizeof(sun.sun_path)) {
        return;
    }
    rx_memzero(&sun, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));
    if (sun.sun_path[0] == '@') {
        sun.sun_path[0] = '\0'; /* abstract namespace */
    }
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return;
    }
    (void) sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                  (struct sockaddr *) &sun, len);
    close(fd);
}

const char *
rx_process_name(rx_uint_t type)
{
    if (type == RX_PROC_WORKER) {
        return "worker";
    }
    if (type == RX_PROC_MANAGER) {
        return "cache manager";
    }
    return rx_modules[type - RX_PROC_MODULE]->name;
}

static rx_int_t
rx_free_slot(void)
{
    rx_int_t i;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        if (!rx_processes[i].used) {
            return i;
        }
    }
    return RX_ERROR;
}

/* A child of a new generation must not keep the sockets only the old
 * cycle listens on: a port removed by the reload would stay bound.  The
 * cache manager and module processes never accept, so they keep none: a
 * copy there would park new clients in the backlog after the master and
 * the workers closed theirs on a graceful stop. */
static void
rx_close_foreign_listeners(rx_cycle_t *cycle, rx_uint_t type)
{
    rx_listening_t *ols, *ls = cycle->listening.elts;
    rx_uint_t       i, j;

    if (rx_cycle != NULL && rx_cycle != cycle) {
        ols = rx_cycle->listening.elts;
        for (i = 0; i < rx_cycle->listening.nelts; i++) {
            for (j = 0; j < cycle->listening.nelts; j++) {
                if (ls[j].fd == ols[i].fd) {
                    break;
                }
            }
            if (j == cycle->listening.nelts && ols[i].fd != -1) {
                close(ols[i].fd);
                ols[i].fd = -1;
            }
        }
    }
    if (type == RX_PROC_WORKER) {
        return;
    }
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].fd != -1) {
            close(ls[i].fd);
            ls[i].fd = -1;
        }
    }
}

static rx_int_t
rx_spawn_worker(rx_cycle_t *cycle, rx_int_t slot, rx_uint_t type)
{
    rx_process_t    *p;
    rx_stats_proc_t *st;
    int              sv[2], i;
    pid_t            pid;

    if (slot == RX_ERROR && (slot = rx_free_slot()) == RX_ERROR) {
        rx_log_error(RX_LOG_ALERT, &cycle->log, 0, "no free process slot");
        return RX_ERROR;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        rx_log_error(RX_LOG_ALERT, &cycle->log, errno, "socketpair() failed");
        return RX_ERROR;
    }
    pid = fork();
    if (pid == -1) {
        rx_log_error(RX_LOG_ALERT, &cycle->log, errno, "fork() failed");
        close(sv[0]);
        close(sv[1]);
        return RX_ERROR;
    }
    if (pid == 0) {
        rx_pid = getpid();
        rx_process_slot = slot;
        rx_close_foreign_listeners(cycle, type);
        for (i = 0; i < RX_MAX_PROCESSES; i++) {
            if (rx_processes[i].used && rx_processes[i].channel != -1) {
                close(rx_processes[i].channel);
            }
        }
        close(sv[0]);
        if (type == RX_PROC_MANAGER) {
            rx_manager_process_cycle(cycle, sv[1]);
        }
        if (type >= RX_PROC_MODULE) {
            rx_modules[type - RX_PROC_MODULE]->process(cycle, sv[1]);
            exit(0);
        }
        rx_worker_process_cycle(cycle, sv[1]);
        exit(0);
    }
    close(sv[1]);
    p = &rx_processes[slot];
    rx_memzero(p, sizeof(rx_process_t));
    p->pid = pid;
    p->channel = sv[0];
    p->generation = cycle->generation;
    p->started = rx_current_msec;
    p->used = 1;
    p->type = type;
    if (cycle->stats) {
        /* counted as a child from now on, before it runs its init */
        st = &cycle->stats->procs[slot];
        st->type = (uint32_t) type;
        st->generation = (uint32_t) cycle->generation;
        __atomic_store_n(&st->pid, (int32_t) pid, __ATOMIC_RELEASE);
    }
    rx_log_error(RX_LOG_NOTICE, &cycle->log, 0, "start %s process %d",
                 rx_process_name(type), (int) pid);
    return slot;
}

static void
rx_start_workers(rx_cycle_t *cycle)
{
    rx_uint_t i;

    for (i = 0; i < cycle->workers; i++) {
        (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_WORKER);
    }
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->manage) {
            (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_MANAGER);
            break;
        }
    }
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->process && rx_modules[i]->wants_process
            && rx_modules[i]->wants_process(cycle)) {
            (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_MODULE + i);
        }
    }
}

void
rx_master_process_cycle(rx_cycle_t *cycle, rx_cycle_args_t *args)
{
    struct pollfd   pfd[RX_MAX_PROCESSES];
    struct timespec ts, *tp;
    rx_uint_t       n, i;
    int             timeout;

    rx_cycle = cycle;
    if (rx_init_signals() != RX_OK) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno, "signal setup failed");
        exit(1);
    }
    rx_cycle->stats->master_started = (int64_t) time(NULL);
    rx_cycle->stats->master_pid = (uint32_t) getpid();
    rx_cycle->stats->generation = (uint32_t) cycle->generation;
    rx_start_workers(cycle);
    for (;;) {
        for (n = 0, i = 0; i < RX_MAX_PROCESSES; i++) {
            if (rx_processes[i].used && rx_processes[i].channel != -1) {
                pfd[n].fd = rx_processes[i].channel;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                n++;
            }
        }
        timeout = rx_master_timeout();
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (timeout % 1000) * 1000000L;
        tp = timeout < 0 ? NULL : &ts;
        (void) ppoll(pfd, n, tp, &rx_wait_sigmask);
        rx_time_update();
        rx_master_read_channels(pfd, n);
        if (rx_reap) {
            rx_reap = 0;
            rx_reap_children();
        }
        rx_master_tick(args);
    }
}

static int
rx_master_timeout(void)
{
    rx_msec_t next = 0;
    rx_uint_t i;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        if (rx_processes[i].used && rx_processes[i].respawn_at
            && (next == 0 || rx_processes[i].respawn_at < next)) {
            next = rx_processes[i].respawn_at;
        }
    }
    if (rx_pending && (next == 0 || rx_pending_deadline < next)) {
        next = rx_pending_deadline;
    }
    if (rx_kill_deadline && (next == 0 || rx_kill_deadline < next)) {
        next = rx_kill_deadline;
    }
    if (next == 0) {
        return -1;
    }
    return next <= rx_current_msec
               ? 0
               : (int) rx_min(next - rx_current_msec, (rx_msec_t) 60000);
}

static void
rx_master_read_channels(struct pollfd *pfd, rx_uint_t n)
{
    rx_process_t *p;
    rx_uint_t     i, j;
    char          buf[64];
    ssize_t       r;

    for (i = 0; i < n; i++) {
        if (pfd[i].revents == 0) {
            continue;
        }
        for (j = 0; j < RX_MAX_PROCESSES; j++) {
            p = &rx_processes[j];
            if (!p->used || p->channel != pfd[i].fd) {
                continue;
            }
            r = read(p->channel, buf, sizeof(buf));
            if (r > 0 && memchr(buf, 'R', (size_t) r)) {
                p->ready = 1;
            } else if (r == 0
                       || (r == -1 && errno != EAGAIN && errno != EINTR)) {
                close(p->channel);
                p->channel = -1;
            }
        }
    }
}

static int
rx_crash_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGFPE
           || sig == SIGILL || sig == SIGSYS;
}

static void
rx_child_exited(rx_process_t *p, int status)
{
    rx_uint_t level = RX_LOG_NOTICE, n;
    rx_msec_t delay;

    p->exited = 1;
    if (p->channel != -1) {
        close(p->channel);
        p->channel = -1;
    }
    if (WIFSIGNALED(status)) {
        level = rx_crash_signal(WTERMSIG(status)) ? RX_LOG_ALERT : RX_LOG_WARN;
        rx_log_error(level, &rx_cycle->log, 0,
                     "%s process %d exited on signal %d",
                     rx_process_name(p->type), (int) p->pid, WTERMSIG(status));
    } else {
        level = WEXITSTATUS(status) ? RX_LOG_ALERT : RX_LOG_NOTICE;
        rx_log_error(
            level, &rx_cycle->log, 0, "%s process %d exited with code %d",
            rx_process_name(p->type), (int) p->pid, WEXITSTATUS(status));
    }
    n = rx_cycle_unlock_zones(rx_cycle, p->pid);
    if (rx_pending) {
        n += rx_cycle_unlock_zones(rx_pending, p->pid);
    }
    if (n) {
        rx_log_error(RX_LOG_WARN, &rx_cycle->log, 0,
                     "released %lu shared lock(s) held by %d",
                     (unsigned long) n, (int) p->pid);
    }
    if (rx_cycle->stats && (size_t) (p - rx_processes) < RX_MAX_PROCESSES) {
        rx_stats_retire(rx_cycle->stats,
                        &rx_cycle->stats->procs[p - rx_processes]);
    }
    if (rx_pending && p->generation == rx_pending->generation && !p->exiting) {
        rx_pending_died = 1; /* the reload is abandoned (check_pending) */
    }
    if (p->exiting || rx_stopping || p->generation != rx_cycle->generation
        || level == RX_LOG_NOTICE) {
        p->used = 0;
        return;
    }
    p->crashes = (rx_current_msec - p->started < 2000) ? p->crashes + 1 : 0;
    delay = p->crashes ? rx_min((rx_msec_t) 100 << rx_min(p->crashes, 10),
                                (rx_msec_t) 30000)
                       : 1;
    p->respawn_at = rx_current_msec + delay;
}

static void
rx_reap_children(void)
{
    rx_uint_t i;
    pid_t     pid;
    int       status;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        for (i = 0; i < RX_MAX_PROCESSES; i++) {
            if (rx_processes[i].used && rx_processes[i].pid == pid
                && !rx_processes[i].exited) {
                rx_child_exited(&rx_processes[i], status);
                break;
            }
        }
    }
}

static void
rx_master_respawn(void)
{
    rx_process_t *p;
    rx_uint_t     i, crashes, type;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        p = &rx_processes[i];
        if (!p->used || !p->respawn_at || p->respawn_at > rx_current_msec) {
            continue;
        }
        crashes = p->crashes;
        type = p->type;
        p->used = 0;
        if (rx_stopping) {
            continue;
        }
        if (rx_spawn_worker(rx_cycle, (rx_int_t) i, type) == RX_ERROR) {
            /* fork() or socketpair() failed (EAGAIN, EMFILE): the slot
               stays reserved and the respawn is tried again */
            p->used = 1;
            p->respawn_at = rx_current_msec + 1000;
            continue;
        }
        rx_processes[i].crashes = crashes;
    }
}

static void
rx_signal_generation(rx_uint_t generation, int signo, int older)
{
    rx_process_t *p;
    rx_uint_t     i;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        p = &rx_processes[i];
        if (!p->used) {
            continue;
        }
        if (older ? p->generation >= generation : p->generation != generation) {
            continue;
        }
        if (p->exited) {
            /* waiting for its respawn: a generation told to stop is not
               respawned (it would come back in the new cycle) */
            if (signo == SIGQUIT || signo == SIGTERM || signo == SIGKILL) {
                p->respawn_at = 0;
                p->used = 0;
            }
            continue;
        }
        if (signo == SIGQUIT || signo == SIGTERM || signo == SIGKILL) {
            p->exiting = 1;
            p->respawn_at = 0;
            if (p->pid == 0) {
                p->used = 0;
                continue;
            }
        }
        if (p->pid && kill(p->pid, signo) == -1 && errno != ESRCH) {
            rx_log_error(RX_LOG_ALERT, &rx_cycle->log, errno,
                         "kill(%d, %d) failed", (int) p->pid, signo);
        }
    }
}

static rx_uint_t
rx_live_children(void)
{
    rx_uint_t i, n = 0;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        if (rx_processes[i].used && !rx_processes[i].exited
            && !rx_processes[i].respawn_at) {
            n++;
        }
    }
    return n;
}

static void
rx_master_reload(rx_cycle_args_t *args)
{
    rx_cycle_t *cycle;
    rx_uint_t   i;

    if (rx_pending) {
        /* the file may have changed again since this reload read it */
        if (!rx_reload_deferred) {
            rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0,
                         "reload already in progress, another one follows "
                         "it");
        }
        rx_reload_deferred = 1;
        return;
    }
    rx_sd_notify("RELOADING=1");
    rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0, "reconfiguring");
    cycle = rx_init_cycle(rx_cycle, args, &rx_cycle->log);
    if (cycle == NULL) {
        rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0,
                     "reload failed: keeping "
                     "the running configuration");
        rx_sd_notify("READY=1\nSTATUS=reload failed, old configuration "
                     "serving");
        return;
    }
    rx_pending = cycle;
    rx_pending_died = 0;
    rx_pending_deadline = rx_current_msec + RX_READY_TIMEOUT;
    for (i = 0; i < cycle->workers; i++) {
        (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_WORKER);
    }
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->manage) {
            (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_MANAGER);
            break;
        }
    }
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->process && rx_modules[i]->wants_process
            && rx_modules[i]->wants_process(cycle)) {
            (void) rx_spawn_worker(cycle, RX_ERROR, RX_PROC_MODULE + i);
        }
    }
}

static void
rx_master_abandon_pending(const char *why)
{
    rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0,
                 "reload failed: %s; keeping "
                 "the running configuration",
                 why);
    rx_signal_generation(rx_pending->generation, SIGTERM, 0);
    rx_abandon_cycle(rx_pending);
    rx_pending = NULL;
    rx_sd_notify("READY=1\nSTATUS=reload failed, old configuration serving");
}

static void
rx_master_check_pending(void)
{
    rx_process_t *p;
    rx_cycle_t   *old;
    rx_uint_t     i, ready = 0, total = 0, workers = 0;

    /* a child of the pending generation that exits is freed at once
       (rx_child_exited) and noted in rx_pending_died */
    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        p = &rx_processes[i];
        if (!p->used || p->generation != rx_pending->generation) {
            continue;
        }
        total++;
        workers += p->type == RX_PROC_WORKER;
        ready += p->ready;
    }
    if (rx_pending_died || workers < rx_pending->workers) {
        rx_master_abandon_pending("a new worker process did not start");
        return;
    }
    if (ready < total) {
        if (rx_current_msec >= rx_pending_deadline) {
            rx_master_abandon_pending("new workers did not become ready");
        }
        return;
    }
    old = rx_cycle;
    rx_cycle_commit(rx_pending, old);
    rx_cycle = rx_pending;
    rx_pending = NULL;
    if (rx_cycle_write_pid(rx_cycle) != RX_OK) {
        rx_log_error(RX_LOG_WARN, &rx_cycle->log, 0, "pid file not updated");
    }
    rx_signal_generation(rx_cycle->generation, SIGQUIT, 1);
    rx_cycle->stats->master_started = old->stats->master_started;
    rx_cycle->stats->master_pid = (uint32_t) getpid();
    rx_cycle->stats->reloads++;
    rx_cycle->stats->generation = (uint32_t) rx_cycle->generation;
    rx_destroy_cycle(old);
    rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0,
                 "reconfigured, generation %lu",
                 (unsigned long) rx_cycle->generation);
    rx_sd_notify("READY=1\nSTATUS=configuration reloaded");
}

static void
rx_master_announce(void)
{
    rx_uint_t i, ready = 0;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        if (rx_processes[i].used && rx_processes[i].ready) {
            ready++;
        }
    }
    if (ready >= rx_cycle->workers) {
        rx_announced_ready = 1;
        rx_sd_notify("READY=1\nSTATUS=serving");
        rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0, "ready: %lu worker(s)",
                     (unsigned long) ready);
    }
}

static void
rx_master_close_listeners(void)
{
    rx_listening_t *ls = rx_cycle->listening.elts;
    rx_uint_t       i;

    for (i = 0; i < rx_cycle->listening.nelts; i++) {
        if (ls[i].fd != -1) {
            close(ls[i].fd);
            ls[i].fd = -1;
            if (ls[i].unix_socket) {
                (void) unlink(
                    ((struct sockaddr_un *) &ls[i].sockaddr)->sun_path);
            }
        }
    }
}

static void
rx_master_stop(int signo)
{
    rx_msec_t grace;

    rx_sd_notify("STOPPING=1");
    if (rx_pending) {
        rx_signal_generation(rx_pending->generation, SIGTERM, 0);
        rx_abandon_cycle(rx_pending);
        rx_pending = NULL;
    }
    grace = signo == SIGQUIT ? rx_cycle->conf->shutdown_timeout + RX_KILL_GRACE
                             : RX_KILL_GRACE;
    rx_master_close_listeners(); /* new clients are refused, not parked */
    rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0, "%s",
                 signo == SIGQUIT ? "gracefully shutting down" : "exiting");
    rx_signal_generation(rx_cycle->generation + 1, signo, 1);
    rx_kill_deadline = rx_current_msec + grace;
}

static void
rx_master_tick(rx_cycle_args_t *args)
{
    rx_master_respawn();
    if (rx_pending) {
        rx_master_check_pending();
    }
    if (!rx_announced_ready) {
        rx_master_announce();
    }
    if (rx_terminate && rx_stopping != 2) {
        rx_stopping = 2;
        rx_master_stop(SIGTERM);
    } else if (rx_quit && !rx_stopping) {
        rx_stopping = 1;
        rx_master_stop(SIGQUIT);
    }
    if (rx_stopping) {
        if (rx_live_children() == 0) {
            rx_master_exit();
        }
        if (rx_kill_deadline && rx_current_msec >= rx_kill_deadline) {
            rx_log_error(RX_LOG_WARN, &rx_cycle->log, 0,
                         "workers still running, sending SIGKILL");
            /* every generation: an abandoned reload's children too */
            rx_signal_generation((rx_uint_t) -1, SIGKILL, 1);
            rx_kill_deadline = rx_current_msec + RX_KILL_GRACE;
        }
        return;
    }
    if (rx_reconfigure || (rx_reload_deferred && !rx_pending)) {
        rx_reconfigure = 0;
        if (!rx_pending) {
            rx_reload_deferred = 0;
        }
        rx_master_reload(args);
    }
    if (rx_reopen) {
        rx_reopen = 0;
        rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0, "reopening logs");
        (void) rx_cycle_reopen_logs(rx_cycle);
        if (rx_pending) { /* its files are the ones kept after a commit */
            (void) rx_cycle_reopen_logs(rx_pending);
        }
        rx_signal_generation((rx_uint_t) -1, SIGUSR1, 1);
    }
}

static void
rx_master_exit(void)
{
    rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0, "exit");
    (void) unlink((char *) rx_cycle->pid_path.data);
    rx_destroy_cycle(rx_cycle);
    exit(0);
}
