/*
 * A cycle is one generation of the running configuration: config, logs,
 * listening sockets and shared zones. A reload builds a new cycle next to
 * the old one and switches only when the new one is complete.
 */

#ifndef _RX_CYCLE_H_INCLUDED_
#define _RX_CYCLE_H_INCLUDED_

#include <rx_conf.h>
#include <rx_shmem.h>
#include <openssl/ssl.h>

struct rx_listening_s {
    int                     fd;
    rx_str_t                text;
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
    int                     backlog;
    SSL_CTX                *ssl_ctx;
    rx_conn_t              *conn;          /* worker side */
    unsigned                inherited : 1; /* fd taken over from old cycle */
    unsigned                remain : 1;    /* fd handed to the new cycle */
    unsigned                unix_socket : 1;
};

#define RX_MAX_PROCESSES 256
#define RX_PROC_WORKER   0
#define RX_PROC_MANAGER  1
#define RX_PROC_MODULE   2 /* + module index */

/* Per-process counters in the stats zone (only the owner writes). */
typedef struct {
    int32_t  pid;
    uint32_t generation;
    int64_t  started; /* unix time */
    uint64_t requests;
    uint64_t conns_active;
    uint64_t conns_total;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t status[6]; /* 0: other, 1xx .. 5xx */
    uint32_t type;      /* RX_PROC_WORKER, RX_PROC_MANAGER */
    uint32_t pad1;
    uint64_t pad[1];
} rx_stats_proc_t;

typedef struct {
    int64_t         master_started;
    uint64_t        reloads;
    uint32_t        generation;
    uint32_t        master_pid;
    rx_stats_proc_t retired; /* counters of exited processes, summed by
                                the master, so that totals never go down */
    rx_stats_proc_t procs[RX_MAX_PROCESSES];
} rx_stats_t;

struct rx_cycle_s {
    rx_pool_t     *pool;
    rx_log_t       log;
    rx_log_file_t  error_log;
    rx_log_file_t  access_log; /* fd -1: off */
    rx_conf_t     *conf;
    rx_array_t     listening; /* rx_listening_t */
    rx_array_t     zones;     /* rx_shm_zone_t */
    rx_uint_t      workers;   /* resolved from conf (auto) */
    rx_str_t       prefix;
    rx_str_t       pid_path;
    rx_uint_t      generation;
    unsigned       test_only : 1; /* -t, -s, --check-backend */
    rx_shm_zone_t *stats_zone;
    rx_stats_t    *stats;
    void          *modules[8]; /* per-subsystem cycle data */
};

/* subsystem hooks: registered statically, run in order */
typedef struct {
    const char *name;
    /* master: after the config is read; may add zones; RX_ERROR aborts */
    rx_int_t (*init_cycle)(rx_cycle_t *cycle, rx_cycle_t *old);
    /* master: cycle destroyed */
    void (*done_cycle)(rx_cycle_t *cycle);
    /* worker: after fork, before the loop */
    rx_int_t (*init_worker)(rx_cycle_t *cycle);
    /* worker: graceful stop begins */
    void (*quit_worker)(rx_cycle_t *cycle);
    /* worker: how many things still keep a quitting worker alive */
    rx_uint_t (*busy)(rx_cycle_t *cycle);
    /* cache manager: periodic work; returns ms until the next call */
    rx_msec_t (*manage)(rx_cycle_t *cycle);
    /* a process of its own, spawned and supervised by the master when
       wants_process() says so; the body never returns (it must write "R"
       to @channel once ready and exit on QUIT/TERM or channel EOF) */
    rx_uint_t (*wants_process)(rx_cycle_t *cycle);
    void (*process)(rx_cycle_t *cycle, int channel);
} rx_module_t;

extern rx_cycle_t        *rx_cycle;
extern const rx_module_t *rx_modules[];

typedef struct {
    const char               *conf_file; /* NULL: built-in defaults */
    const rx_conf_override_t *overrides;
    rx_uint_t                 noverrides;
    rx_str_t                  prefix;
    unsigned                  test_only : 1; /* -t: no sockets, no zones */
} rx_cycle_args_t;

/** Builds a new cycle; on failure logs why and returns NULL, leaving
 *  @old untouched. */
rx_cycle_t *rx_init_cycle(rx_cycle_t *old, const rx_cycle_args_t *args,
                          rx_log_t *log);
/** Moves inherited sockets and reused zones from @old to @cycle once the
 *  reload is certain. */
void rx_cycle_commit(rx_cycle_t *cycle, rx_cycle_t *old);
/** Throws away a cycle that never went live (failed reload). */
void rx_abandon_cycle(rx_cycle_t *cycle);
/** Releases what the new cycle did not take over, then the pool. */
void rx_destroy_cycle(rx_cycle_t *cycle);
/** Adds a zone to the cycle being built (call from init_cycle hooks). */
rx_shm_zone_t *rx_shm_zone_add(rx_cycle_t *cycle, const char *name, size_t size,
                               rx_uint_t nlocks, const void *tag);
/** Makes @path absolute against the cycle prefix, in the cycle pool. */
rx_int_t rx_cycle_full_path(rx_cycle_t *cycle, rx_str_t *path);
/** Force-unlocks every zone lock held by @pid; returns the count. */
rx_uint_t rx_cycle_unlock_zones(rx_cycle_t *cycle, pid_t pid);
rx_int_t  rx_cycle_write_pid(rx_cycle_t *cycle);
rx_int_t  rx_cycle_reopen_logs(rx_cycle_t *cycle);

#endif /* _RX_CYCLE_H_INCLUDED_ */
