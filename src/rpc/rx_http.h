/*
 * HTTP/1.1 server: connections, request parsing with limits, keep-alive,
 * pipelining, a route table and whole-body responses.
 */

#ifndef _RX_HTTP_H_INCLUDED_
#define _RX_HTTP_H_INCLUDED_

#include <rx_event.h>
#include <rx_cycle.h>

#define RX_HTTP_GET     0x01
#define RX_HTTP_HEAD    0x02
#define RX_HTTP_POST    0x04
#define RX_HTTP_PUT     0x08
#define RX_HTTP_DELETE  0x10
#define RX_HTTP_OPTIONS 0x20
#define RX_HTTP_OTHER   0x80

#define RX_HTTP_PREFIX "/cxx-compiler-service"

typedef struct rx_http_req_s  rx_http_req_t;
typedef struct rx_http_conn_s rx_http_conn_t;

/** Returns RX_OK when the response is set (rx_http_set_*), RX_AGAIN when
 *  it will call rx_http_finalize() later, or an HTTP status >= 400. */
typedef rx_int_t (*rx_http_handler_pt)(rx_http_req_t *r);
typedef void (*rx_http_abort_pt)(rx_http_req_t *r);

typedef struct {
    rx_str_t name;
    rx_str_t value;
} rx_http_header_t;

typedef struct {
    const char        *path;
    rx_uint_t          methods;
    rx_http_handler_pt handler;
    unsigned           auth : 1; /* authenticate before the handler */
} rx_http_route_t;

struct rx_http_req_s {
    rx_pool_t             *pool;
    rx_conn_t             *c;
    rx_http_conn_t        *hc;
    const rx_http_route_t *route;

    rx_uint_t  method;
    rx_str_t   method_name;
    rx_str_t   request_line;
    rx_str_t   uri;
    rx_str_t   path;
    rx_str_t   args;
    rx_uint_t  http_minor;
    rx_array_t headers; /* rx_http_header_t */
    rx_str_t   content_encoding;
    rx_str_t   accept_encoding;
    rx_str_t   authorization;
    rx_str_t   user_agent;
    rx_str_t   forwarded_for;
    int64_t    content_length; /* -1: absent */
    rx_int_t   route_rc;       /* rx_http_route(): RX_OK, RX_DONE, status */
    rx_str_t   body;           /* complete raw request body */

    rx_str_t user; /* authenticated identity */
    rx_str_t group;

    rx_uint_t  status;
    rx_str_t   content_type;
    rx_array_t headers_out; /* rx_http_header_t */
    rx_str_t   out;         /* response body, lives in pool */

    uint64_t         start_usec;
    size_t           header_bytes;
    void            *ctx;   /* handler state */
    rx_http_abort_pt abort; /* client went away while async */

    unsigned chunked : 1;
    unsigned keepalive : 1;
    unsigned expect_continue : 1;
    unsigned async : 1;
    unsigned aborted : 1;
};

/** Registers a route; call from a module's init_cycle. */
rx_int_t rx_http_add_route(const rx_http_route_t *route);
/** Finds a request header (case-insensitive name); NULL if absent. */
rx_str_t *rx_http_header_in(rx_http_req_t *r, const char *name);
rx_int_t  rx_http_add_header(rx_http_req_t *r, const char *name,
                             const char *value);
/** Sets a text/plain error-style response "<text>\n". */
rx_int_t rx_http_set_text(rx_http_req_t *r, rx_uint_t status, const char *text);
/** Sets a response body held in the request pool (no copy). */
void rx_http_set_body(rx_http_req_t *r, rx_uint_t status,
                      const char *content_type, rx_str_t *body);
/** Completes an async request (after RX_AGAIN from the handler). */
void rx_http_finalize(rx_http_req_t *r);
/** Standard reason text of a status ("Not Found"). */
const char *rx_http_status_text(rx_uint_t status);

/* parser, exported for unit tests */
rx_int_t rx_http_parse_request(rx_http_req_t *r, u_char *start, u_char *end,
                               rx_uint_t max_headers);
/** Decodes chunked data in place from [*pos, last) into @out; returns
 *  RX_OK at the terminating chunk, RX_AGAIN for more, or 400. */
typedef struct {
    rx_uint_t state;
    uint64_t  size;
    size_t    trailer;
} rx_http_chunked_t;
rx_int_t rx_http_parse_chunked(rx_http_chunked_t *ctx, u_char **pos,
                               u_char *last, rx_buf_t *out, size_t max);

extern rx_uint_t rx_http_busy_conns;
extern rx_int_t  rx_http_quitting;
/** Authentication hook: NULL accepts everything (auth.mode none). */
extern rx_int_t (*rx_http_authenticate)(rx_http_req_t *r);

/* internal to the HTTP module */
rx_int_t  rx_http_route(rx_http_req_t *r);
rx_int_t  rx_http_dispatch(rx_http_req_t *r);
void      rx_http_accept(rx_event_t *ev);
void      rx_http_quit_idle(void);
rx_uint_t rx_http_idle_count(void);
rx_int_t  rx_http_status_page(rx_http_req_t *r);

/** A section of the status page, appended as HTML to @b. */
typedef void (*rx_http_status_pt)(rx_buf_t *b);
extern rx_http_status_pt rx_http_status_sections[8];

/* rx_http_metrics.c: GET /metrics, Prometheus text format */
extern rx_http_status_pt rx_http_metrics_sections[8];
rx_int_t                 rx_http_metrics_page(rx_http_req_t *r);
/** "# HELP" and "# TYPE" lines of a family (@name without the prefix). */
void rx_http_metric_head(rx_buf_t *b, const char *name, const char *type,
                         const char *help);
/** One sample; @labels is "k=\"v\",..." or NULL. */
void rx_http_metric(rx_buf_t *b, const char *name, const char *labels,
                    uint64_t value);

#endif /* _RX_HTTP_H_INCLUDED_ */
