/*
 * gRPC client over HTTP/2 (nghttp2 1.52 memory API) on the worker's event
 * loop: a pool of connections per backend (TCP+TLS with ALPN h2, h2c with
 * prior knowledge, or a unix socket), unary / server-streaming /
 * client-streaming calls with 5-byte message framing, deadlines sent as
 * grpc-timeout and enforced locally, trailers and Trailers-Only statuses,
 * GOAWAY draining and cancellation after which no callback runs.
 */

#ifndef _RX_GRPC_H_INCLUDED_
#define _RX_GRPC_H_INCLUDED_

#include <rx_event.h>
#include <rx_cycle.h>

typedef enum {
    RX_GRPC_OK = 0,
    RX_GRPC_CANCELLED = 1,
    RX_GRPC_UNKNOWN = 2,
    RX_GRPC_INVALID_ARGUMENT = 3,
    RX_GRPC_DEADLINE_EXCEEDED = 4,
    RX_GRPC_NOT_FOUND = 5,
    RX_GRPC_ALREADY_EXISTS = 6,
    RX_GRPC_PERMISSION_DENIED = 7,
    RX_GRPC_RESOURCE_EXHAUSTED = 8,
    RX_GRPC_FAILED_PRECONDITION = 9,
    RX_GRPC_ABORTED = 10,
    RX_GRPC_OUT_OF_RANGE = 11,
    RX_GRPC_UNIMPLEMENTED = 12,
    RX_GRPC_INTERNAL = 13,
    RX_GRPC_UNAVAILABLE = 14,
    RX_GRPC_DATA_LOSS = 15,
    RX_GRPC_UNAUTHENTICATED = 16
} rx_grpc_code_e;

typedef struct {
    rx_grpc_code_e code;
    rx_str_t       message; /* percent-decoded, in the call's pool */
    rx_str_t       details; /* grpc-status-details-bin, decoded */
} rx_grpc_status_t;

typedef struct rx_grpc_call_s    rx_grpc_call_t;
typedef struct rx_grpc_backend_s rx_grpc_backend_t;
typedef struct rx_grpc_conn_s    rx_grpc_conn_t;

typedef struct {
    /** One complete response message (borrowed; valid during the call). */
    void (*on_message)(rx_grpc_call_t *call, u_char *msg, size_t len);
    /** Exactly once, unless the call was cancelled first. */
    void (*on_done)(rx_grpc_call_t *call, rx_grpc_status_t *st);
} rx_grpc_handler_t;

struct rx_grpc_call_s {
    rx_pool_t         *pool; /* owner's; must outlive the call */
    rx_grpc_backend_t *backend;
    const char        *path;           /* "/pkg.Service/Method" */
    rx_str_t           request;        /* framed messages, see
                                          rx_grpc_frame() */
    rx_msec_t                timeout;  /* 0: none */
    rx_str_t                 metadata; /* requestmetadata-bin raw bytes */
    const rx_grpc_handler_t *handler;
    void                    *data;

    /* private */
    rx_grpc_conn_t  *_conn;
    int32_t          _stream_id;
    size_t           _sent;
    rx_buf_t         _rbuf;
    rx_grpc_status_t _status;
    rx_event_t       _timer;
    rx_queue_t       _queue; /* waiting for a stream slot */
    rx_uint_t        _http_status;
    rx_uint_t        _restarts;
    unsigned         _has_status : 1;
    unsigned         _got_headers : 1;
    unsigned         _grpc_ctype : 1;
    unsigned         _queued : 1;
    unsigned         _active : 1;
    unsigned         _done : 1;
    unsigned         _starting : 1;
};

/** Frames @msg (already packed after a 5-byte hole at msg->data, as
 *  rx_pb_pack(pool, m, 5, &out) produces) by writing the prefix. */
void rx_grpc_frame(rx_str_t *msg);
/** Starts the call; the outcome always arrives through on_done (also for
 *  immediate failures, on the next loop turn). */
void rx_grpc_call_start(rx_grpc_call_t *call);
/** Cancels: RST_STREAM(CANCEL) if on the wire; no callback after this. */
void        rx_grpc_call_cancel(rx_grpc_call_t *call);
const char *rx_grpc_code_name(rx_grpc_code_e code);

/** Closes every connection of @b (exit paths). */
void rx_grpc_backend_close(rx_grpc_backend_t *b);
/** The worker's backend (NULL when none is configured). */
rx_grpc_backend_t *rx_grpc_backend(void);
/** Counters for the status page. */
typedef struct {
    uint64_t  calls;
    uint64_t  failed;
    uint64_t  connects;
    uint64_t  connect_errors;
    uint64_t  goaways;
    rx_uint_t conns_ready;
    rx_uint_t streams_active;
    rx_uint_t queued;
} rx_grpc_stats_t;
void rx_grpc_get_stats(rx_grpc_stats_t *st);

extern const rx_module_t rx_grpc_module;

/* internal to rx_grpc*.c */
rx_int_t rx_grpc_conn_submit(rx_grpc_conn_t *gc, rx_grpc_call_t *call);
void     rx_grpc_call_finish(rx_grpc_call_t *call, rx_grpc_code_e code,
                             const char *msg);

#endif /* _RX_GRPC_H_INCLUDED_ */
