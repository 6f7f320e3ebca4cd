/*
 * The cache-manager process: no listening sockets, only periodic work of
 * the modules that have some (file store index loading and eviction), so
 * that it never runs in a worker's event loop.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_process.h>
#if (RX_HAVE_PDEATHSIG)
#include <sys/prctl.h>
#endif

static rx_msec_t
rx_manager_run(rx_cycle_t *cycle)
{
    rx_msec_t next = 60000, n;
    rx_uint_t i;

    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i]->manage) {
            n = rx_modules[i]->manage(cycle);
            next = rx_min(next, n);
        }
    }
    return next;
}

void
rx_manager_process_cycle(rx_cycle_t *cycle, int channel)
{
    struct pollfd    pfd;
    struct timespec  ts;
    rx_stats_proc_t *st;
    rx_msec_t        next;
    char             buf[16];

    rx_worker = 2;
    rx_cycle = cycle;
    signal(SIGHUP, SIG_IGN);
#if (RX_HAVE_PDEATHSIG)
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    rx_time_update();
    st = &cycle->stats->procs[rx_process_slot];
    /* zeroed by the master when the slot's last process exited */
    st->pid = (int32_t) rx_pid;
    st->generation = (uint32_t) cycle->generation;
    st->started = (int64_t) time(NULL);
    st->type = RX_PROC_MANAGER;
    if (write(channel, "R", 1) != 1) {
        exit(2);
    }
    for (;;) {
        next = rx_manager_run(cycle);
        pfd.fd = channel;
        pfd.events = POLLIN;
        ts.tv_sec = (time_t) (next / 1000);
        ts.tv_nsec = (long) (next % 1000) * 1000000L;
        if (ppoll(&pfd, 1, &ts, &rx_wait_sigmask) == 1
            && read(channel, buf, sizeof(buf)) <= 0) {
            rx_quit = 1; /* master gone */
        }
        rx_time_update();
        if (rx_quit || rx_terminate) {
            rx_log_error(RX_LOG_NOTICE, &cycle->log, 0, "exit");
            exit(0);
        }
        if (rx_reopen) {
            rx_reopen = 0;
            (void) rx_cycle_reopen_logs(cycle);
        }
    }
}
