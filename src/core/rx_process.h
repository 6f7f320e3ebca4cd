/*
 * The master process and its workers.
 */

#ifndef _RX_PROCESS_H_INCLUDED_
#define _RX_PROCESS_H_INCLUDED_

#include <rx_cycle.h>

typedef struct {
    pid_t     pid;
    rx_uint_t type;    /* RX_PROC_WORKER, RX_PROC_MANAGER */
    int       channel; /* master end; -1 when closed */
    rx_uint_t generation;
    rx_msec_t started;
    rx_msec_t respawn_at; /* 0: none pending */
    rx_uint_t crashes;    /* consecutive quick deaths */
    unsigned  ready : 1;
    unsigned  exiting : 1; /* told to quit; do not respawn */
    unsigned  exited : 1;
    unsigned  used : 1;
} rx_process_t;

extern rx_process_t rx_processes[RX_MAX_PROCESSES];
extern rx_int_t     rx_process_slot; /* in a worker: its slot */
extern rx_uint_t    rx_worker;       /* 1 in workers */

extern volatile sig_atomic_t rx_quit;
extern volatile sig_atomic_t rx_terminate;
extern volatile sig_atomic_t rx_reconfigure;
extern volatile sig_atomic_t rx_reopen;
extern volatile sig_atomic_t rx_reap;

/** Runs the master until it exits; @args are reused on reload. */
void rx_master_process_cycle(rx_cycle_t *cycle, rx_cycle_args_t *args);
/** Worker body after fork: never returns. */
void rx_worker_process_cycle(rx_cycle_t *cycle, int channel);
/** Cache-manager body after fork: never returns. */
void rx_manager_process_cycle(rx_cycle_t *cycle, int channel);
/** "worker", "cache manager" or the module's name. */
const char *rx_process_name(rx_uint_t type);
/** Sends a notification to systemd when NOTIFY_SOCKET is set. */
void rx_sd_notify(const char *state);
/** The signal mask workers unblock while waiting in epoll. */
extern sigset_t rx_wait_sigmask;

#endif /* _RX_PROCESS_H_INCLUDED_ */
