/*
 * Internals shared by the gRPC client files.
 */

#ifndef _RX_GRPC_INT_H_INCLUDED_
#define _RX_GRPC_INT_H_INCLUDED_

#include <rx_grpc.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#define RX_GRPC_MAX_ADDRS     8
#define RX_GRPC_CONNECT_MSEC  10000
#define RX_GRPC_PING_ACK_MSEC 20000
#define RX_GRPC_BACKOFF_MIN   1000
#define RX_GRPC_BACKOFF_MAX   120000
#define RX_GRPC_MAX_WAITING   4096
#define RX_GRPC_WINDOW        (8 * 1024 * 1024)
#define RX_GRPC_CONN_WINDOW   (64 * 1024 * 1024)

typedef enum {
    RX_GC_IDLE = 0, /* not connected; connect on demand */
    RX_GC_CONNECTING,
    RX_GC_HANDSHAKE,
    RX_GC_READY,
    RX_GC_DRAINING, /* GOAWAY received: no new streams */
    RX_GC_BACKOFF   /* failed; wait before reconnecting */
} rx_gc_state_e;

struct rx_grpc_conn_s {
    rx_grpc_backend_t *backend;
    rx_conn_t         *c;
    nghttp2_session   *session;
    rx_gc_state_e      state;
    rx_uint_t          index;
    rx_uint_t          streams;     /* open streams incl. cancelled */
    rx_uint_t          max_streams; /* peer's SETTINGS */
    rx_queue_t         calls;       /* active calls */
    rx_buf_t           out;         /* bytes nghttp2 produced, unsent */
    rx_pool_t         *pool;        /* connection lifetime */
    rx_msec_t          backoff;
    rx_event_t         timer; /* connect timeout, backoff */
    rx_event_t         ping;
    rx_queue_t         dirty; /* link in backend->dirty */
    unsigned           ping_sent : 1;
    unsigned           is_dirty : 1;
};

struct rx_grpc_backend_s {
    rx_conf_backend_t      *conf;
    struct sockaddr_storage addrs[RX_GRPC_MAX_ADDRS];
    socklen_t               addrlens[RX_GRPC_MAX_ADDRS];
    rx_uint_t               naddrs;
    rx_uint_t               next_addr;
    SSL_CTX                *ssl_ctx; /* NULL: plaintext h2c */
    char                    host[256];
    char                    authority[300];
    rx_grpc_conn_t         *conns;
    rx_uint_t               nconns;
    rx_queue_t              waiting;
    rx_uint_t               nwaiting;
    rx_queue_t              dirty;
    rx_msec_t               keepalive;
    rx_str_t                bearer; /* "Bearer <token>" or empty */
    time_t                  bearer_mtime;
    time_t                  bearer_checked;
    u_char                  bearer_buf[4096];
    rx_grpc_stats_t         stats;
};

/* rx_grpc.c */
rx_int_t rx_grpc_resolve(rx_cycle_t *cycle, rx_grpc_backend_t *b);

/* rx_grpc_conn.c */
rx_int_t rx_grpc_conn_connect(rx_grpc_conn_t *gc);
void     rx_grpc_conn_close(rx_grpc_conn_t *gc, const char *why);
void     rx_grpc_conn_mark_dirty(rx_grpc_conn_t *gc);
void     rx_grpc_flush_dirty(void *data);
rx_int_t rx_grpc_conn_ready(rx_grpc_conn_t *gc);
void rx_grpc_conn_init(rx_grpc_backend_t *b, rx_grpc_conn_t *gc, rx_uint_t i);

/* rx_grpc_call.c */
void           rx_grpc_dispatch_waiting(rx_grpc_backend_t *b);
void           rx_grpc_fail_waiting(rx_grpc_backend_t *b, rx_grpc_code_e code,
                                    const char *msg);
rx_grpc_code_e rx_grpc_http_code(rx_uint_t status);
rx_grpc_code_e rx_grpc_rst_code(uint32_t error_code);
void           rx_grpc_call_on_header(rx_grpc_call_t *call, const u_char *name,
                                      size_t nlen, const u_char *value, size_t vlen);
rx_int_t       rx_grpc_call_on_data(rx_grpc_call_t *call, const u_char *data,
                                    size_t len);
void           rx_grpc_call_on_close(rx_grpc_call_t *call, uint32_t error_code);
rx_int_t       rx_grpc_call_headers(rx_grpc_call_t *call, nghttp2_nv *nva,
                                    rx_uint_t max);

#endif /* _RX_GRPC_INT_H_INCLUDED_ */
