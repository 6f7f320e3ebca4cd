/*
 * The worker event loop: epoll (edge-triggered connections, exclusive
 * level-triggered listeners), a min-heap of timers, posted events and
 * before-sleep hooks. One loop per process, no threads.
 */

#ifndef _RX_EVENT_H_INCLUDED_
#define _RX_EVENT_H_INCLUDED_

#include <openssl/ssl.h>

typedef void (*rx_event_handler_pt)(rx_event_t *ev);
typedef void (*rx_before_sleep_pt)(void *data);

struct rx_event_s {
    void               *data; /* usually the rx_conn_t */
    rx_event_handler_pt handler;
    rx_log_t           *log;
    rx_msec_t           timer; /* expiry time when timer_set */
    rx_uint_t           heap_index;
    rx_queue_t          queue; /* posted queue link */

    unsigned write : 1;
    unsigned active : 1;
    unsigned ready : 1;
    unsigned eof : 1;
    unsigned error : 1;
    unsigned timedout : 1;
    unsigned timer_set : 1;
    unsigned posted : 1;
    unsigned cancelable : 1; /* does not keep a quitting worker */
    unsigned accept : 1;
};

typedef ssize_t (*rx_recv_pt)(rx_conn_t *c, u_char *buf, size_t size);
typedef ssize_t (*rx_send_pt)(rx_conn_t *c, const u_char *buf, size_t size);

struct rx_conn_s {
    void                   *data;
    rx_event_t             *read;
    rx_event_t             *write;
    int                     fd;
    rx_recv_pt              recv;
    rx_send_pt              send;
    rx_listening_t         *listening;
    rx_pool_t              *pool;
    rx_log_t                log;
    SSL                    *ssl;
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
    rx_str_t                addr_text;
    u_char                  addr_buf[64];
    rx_queue_t              queue; /* idle/keep-alive list link */
    uint64_t                number;
    size_t                  sent;
    size_t                  received;

    unsigned instance : 1;
    unsigned idle : 1; /* closable on graceful shutdown */
    unsigned close : 1;
    unsigned destroyed : 1;
    unsigned unix_socket : 1;
    unsigned ssl_handshaked : 1;
    unsigned shared : 1; /* listening socket (not in a pool) */
};

/* ---- loop ---- */
extern const sigset_t *rx_event_sigmask; /* unblocked while in epoll */
rx_int_t               rx_event_init(rx_uint_t max_connections, rx_log_t *log);
void                   rx_event_done(void);
/** One loop turn: waits up to the nearest timer, dispatches events, runs
 *  expired timers and posted events. */
void     rx_event_process(void);
rx_int_t rx_event_add_before_sleep(rx_before_sleep_pt h, void *data);

/** Registers a connection edge-triggered for read and write. */
rx_int_t rx_event_add_conn(rx_conn_t *c);
/** Registers a listening socket (level-triggered, EPOLLEXCLUSIVE). */
rx_int_t rx_event_add_listen(rx_conn_t *c);
rx_int_t rx_event_del_conn(rx_conn_t *c);

/* ---- timers ---- */
void rx_event_add_timer(rx_event_t *ev, rx_msec_t timer);
void rx_event_del_timer(rx_event_t *ev);
/** Milliseconds to the next timer, or -1 if none. */
int  rx_event_find_timer(void);
void rx_event_expire_timers(void);
/** True when every pending timer is cancelable (graceful exit point). */
int rx_event_no_timers_left(void);

/* ---- posted events ---- */
void rx_event_post(rx_event_t *ev);
void rx_event_delete_posted(rx_event_t *ev);
void rx_event_process_posted(void);

/* ---- connections ---- */
/** Takes a free connection slot for @fd; NULL when all are in use. */
rx_conn_t *rx_get_connection(int fd, rx_log_t *log);
/** Closes the fd, drops timers and posted events, frees the slot. */
void      rx_close_connection(rx_conn_t *c);
rx_uint_t rx_connections_free(void);
rx_uint_t rx_connections_used(void);

ssize_t rx_unix_recv(rx_conn_t *c, u_char *buf, size_t size);
ssize_t rx_unix_send(rx_conn_t *c, const u_char *buf, size_t size);
ssize_t rx_ssl_recv(rx_conn_t *c, u_char *buf, size_t size);
ssize_t rx_ssl_send(rx_conn_t *c, const u_char *buf, size_t size);
/** Drives a server-side TLS handshake; RX_OK, RX_AGAIN or RX_ERROR. */
rx_int_t rx_ssl_handshake(rx_conn_t *c);
void     rx_ssl_shutdown(rx_conn_t *c);

rx_int_t rx_nonblocking(int fd);

#endif /* _RX_EVENT_H_INCLUDED_ */
