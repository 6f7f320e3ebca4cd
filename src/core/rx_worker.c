/*
 * A worker process: one event loop serving the shared listening sockets
 * until the master tells it to stop or goes away.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_process.h>
#include <malloc.h>
#if (RX_HAVE_PDEATHSIG)
#include <sys/prctl.h>
#endif

static void      rx_worker_init(rx_cycle_t *cycle, int channel);
static void      rx_worker_channel_handler(rx_event_t *ev);
static void      rx_worker_shutdown_handler(rx_event_t *ev);
static void      rx_worker_begin_quit(rx_cycle_t *cycle);
static rx_uint_t rx_worker_busy(rx_cycle_t *cycle);
static void      rx_worker_exit(rx_cycle_t *cycle, int code);

static rx_conn_t *rx_channel;
static rx_event_t rx_shutdown_event;
static rx_uint_t  rx_exiting;

void
rx_worker_process_cycle(rx_cycle_t *cycle, int channel)
{
    rx_worker = 1;
    rx_cycle = cycle;
    rx_worker_init(cycle, channel);
    for (;;) {
        rx_event_process();
        if (rx_terminate) {
            rx_worker_exit(cycle, 0);
        }
        if (rx_quit && !rx_exiting) {
            rx_worker_begin_quit(cycle);
        }
        if (rx_exiting && rx_worker_busy(cycle) == 0) {
            rx_worker_exit(cycle, 0);
        }
        if (rx_reopen) {
            rx_reopen = 0;
            (void) rx_cycle_reopen_logs(cycle);
        }
    }
}

static void
rx_worker_init(rx_cycle_t *cycle, int channel)
{
    rx_stats_proc_t *st;
    struct sigaction sa;
    rx_uint_t        i;

    rx_memzero(&sa, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGHUP, &sa, NULL);
    rx_reconfigure = rx_reap = 0;
#if (RX_HAVE_PDEATHSIG)
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    rx_time_update();
    rx_event_sigmask = &rx_wait_sigmask;
    /* request bodies, inflate output and blobs are megabytes each: keep
       such buffers in the worker instead of mmap/munmap and page faults
       on every request (memory stays at the worker's high-water mark) */
    (void) mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    (void) mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    if (rx_event_init(cycle->conf->limits.max_connections + 16, &cycle->log)
        != RX_OK) {
        exit(2);
    }
    st = &cycle->stats->procs[rx_process_slot];
    /* zeroed by the master when the slot's last process exited */
    st->pid = (int32_t) rx_pid;
    st->generation = (uint32_t) cycle->generation;
    st->started = (int64_t) time(NULL);
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->init_worker
            && rx_modules[i]->init_worker(cycle) != RX_OK) {
            exit(2);
        }
    }
    rx_channel = rx_get_connection(channel, &cycle->log);
    if (rx_channel == NULL || rx_nonblocking(channel) != RX_OK) {
        exit(2);
    }
    rx_channel->read->handler = rx_worker_channel_handler;
    rx_channel->write->handler = rx_worker_channel_handler;
    if (rx_event_add_conn(rx_channel) != RX_OK || write(channel, "R", 1) != 1) {
        exit(2);
    }
}

static void
rx_worker_channel_handler(rx_event_t *ev)
{
    rx_conn_t *c = ev->data;
    u_char     buf[16];
    ssize_t    n;

    if (ev->write) {
        return;
    }
    do {
        n = c->recv(c, buf, sizeof(buf));
    } while (n > 0);
    if (n == 0 || n == RX_ERROR) {
        /* the master is gone: finish what we have and leave */
        rx_log_error(RX_LOG_NOTICE, &rx_cycle->log, 0,
                     "master channel closed, shutting down gracefully");
        rx_close_connection(c);
        rx_channel = NULL;
        rx_quit = 1;
    }
}

static void
rx_worker_begin_quit(rx_cycle_t *cycle)
{
    rx_uint_t i;

    rx_exiting = 1;
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->quit_worker) {
            rx_modules[i]->quit_worker(cycle);
        }
    }
    /* logged once the listeners are closed: what the line announces holds */
    rx_log_error(RX_LOG_NOTICE, &cycle->log, 0, "gracefully shutting down");
    rx_shutdown_event.handler = rx_worker_shutdown_handler;
    rx_shutdown_event.log = &cycle->log;
    rx_shutdown_event.data = cycle;
    rx_event_add_timer(&rx_shutdown_event, cycle->conf->shutdown_timeout);
}

static void
rx_worker_shutdown_handler(rx_event_t *ev)
{
    rx_log_error(RX_LOG_WARN, &rx_cycle->log, 0,
                 "shutdown timeout: "
                 "closing %lu busy connection(s)",
                 (unsigned long) rx_worker_busy(rx_cycle));
    rx_worker_exit(rx_cycle, 0);
}

static rx_uint_t
rx_worker_busy(rx_cycle_t *cycle)
{
    rx_uint_t i, n = 0;

    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->busy) {
            n += rx_modules[i]->busy(cycle);
        }
    }
    return n;
}

static void
rx_worker_exit(rx_cycle_t *cycle, int code)
{
    rx_stats_proc_t *st = &cycle->stats->procs[rx_process_slot];

    __atomic_store_n(&st->conns_active, 0, __ATOMIC_RELAXED);
    rx_log_error(RX_LOG_NOTICE, &cycle->log, 0, "exit");
    exit(code);
}
