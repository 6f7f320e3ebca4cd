/*
 * HTTP/1.1 connections: accept, TLS handshake, reading a request head and
 * body under limits and timeouts, dispatch, response writing, keep-alive
 * and pipelining, lingering close.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>
#include <rx_process.h>
#include <netinet/tcp.h>

#define RX_HTTP_ACCEPT_BATCH   64
#define RX_HTTP_LINGER_MSEC    2000
#define RX_HTTP_QUIT_IDLE_MSEC 1000         /* see rx_http_quit_idle() */
#define RX_HTTP_DISCARD_MAX    (256 * 1024) /* body read for nothing */

typedef enum {
    RX_HTTP_ST_IDLE = 0, /* keep-alive, waiting for a request */
    RX_HTTP_ST_HEAD,     /* reading the request head */
    RX_HTTP_ST_BODY,     /* reading the body */
    RX_HTTP_ST_RUN,      /* handler running (async) */
    RX_HTTP_ST_SEND,     /* writing the response */
    RX_HTTP_ST_LINGER    /* draining before close */
} rx_http_state_e;

struct rx_http_conn_s {
    rx_conn_t        *c;
    rx_listening_t   *ls;
    rx_buf_t          in;      /* head bytes and pipelined requests */
    size_t            scanned; /* head search resumes here */
    rx_http_req_t    *r;
    rx_http_state_e   state;
    rx_uint_t         requests;
    rx_buf_t          body; /* body being read (request pool) */
    size_t            body_need;
    rx_http_chunked_t chunked;
    struct iovec      iov[2];
    rx_uint_t         niov;
    u_char           *hdr; /* response head (request pool) */
    rx_msec_t         idle_since;
    unsigned          continue_sent : 1;
};

static void     rx_http_init_conn(rx_conn_t *c, rx_listening_t *ls);
static void     rx_http_handshake_handler(rx_event_t *ev);
static void     rx_http_read_handler(rx_event_t *ev);
static void     rx_http_write_handler(rx_event_t *ev);
static void     rx_http_read_head(rx_http_conn_t *hc);
static void     rx_http_answer(rx_http_req_t *r, rx_int_t rc);
static rx_int_t rx_http_start_request(rx_http_conn_t *hc, u_char *end);
static rx_int_t rx_http_idle_read(rx_http_conn_t *hc);
static void     rx_http_read_body(rx_http_conn_t *hc);
static rx_int_t rx_http_body_bytes(rx_http_conn_t *hc, u_char *p, u_char *last);
static void     rx_http_run(rx_http_req_t *r);
static void     rx_http_error(rx_http_conn_t *hc, rx_uint_t status);
static void     rx_http_send(rx_http_req_t *r);
static void     rx_http_write(rx_http_conn_t *hc);
static void     rx_http_done(rx_http_conn_t *hc);
static void     rx_http_close(rx_http_conn_t *hc);
static void     rx_http_linger(rx_http_conn_t *hc);
static void     rx_http_linger_handler(rx_event_t *ev);
static void     rx_http_access_log(rx_http_req_t *r);


rx_uint_t         rx_http_busy_conns;
static rx_queue_t rx_http_idle_conns = {&rx_http_idle_conns,
                                        &rx_http_idle_conns};

static rx_conf_limits_t *
rx_http_limits(void)
{
    return &rx_cycle->conf->limits;
}

static rx_stats_proc_t *
rx_http_stats(void)
{
    return &rx_cycle->stats->procs[rx_process_slot];
}

void
rx_http_accept(rx_event_t *ev)
{
    rx_conn_t      *lc = ev->data, *c;
    rx_listening_t *ls = lc->listening;
    rx_uint_t       i;
    int             fd;

    for (i = 0; i < RX_HTTP_ACCEPT_BATCH && !rx_http_quitting; i++) {
        fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED) {
                rx_log_error(errno == EMFILE || errno == ENFILE ? RX_LOG_CRIT
                                                                : RX_LOG_ERR,
                             &rx_cycle->log, errno, "accept4() on %s failed",
                             ls->text.data);
            }
            return;
        }
        c = rx_get_connection(fd, &rx_cycle->log);
        if (c == NULL) {
            close(fd);
            return;
        }
        rx_http_init_conn(c, ls);
    }
}

static void
rx_http_conn_addr(rx_conn_t *c)
{
    struct sockaddr_in  *sin = (struct sockaddr_in *) &c->sockaddr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &c->sockaddr;
    const char          *p = NULL;

    c->socklen = sizeof(c->sockaddr);
    if (getpeername(c->fd, (struct sockaddr *) &c->sockaddr, &c->socklen)
        == 0) {
        if (c->sockaddr.ss_family == AF_INET) {
            p = inet_ntop(AF_INET, &sin->sin_addr, (char *) c->addr_buf,
                          sizeof(c->addr_buf));
        } else if (c->sockaddr.ss_family == AF_INET6) {
            p = inet_ntop(AF_INET6, &sin6->sin6_addr, (char *) c->addr_buf,
                          sizeof(c->addr_buf));
        }
    }
    if (p == NULL) {
        strcpy((char *) c->addr_buf, "unix:");
    }
    c->addr_text.data = c->addr_buf;
    c->addr_text.len = strlen((char *) c->addr_buf);
}

static void
rx_http_init_conn(rx_conn_t *c, rx_listening_t *ls)
{
    rx_http_conn_t *hc;
    int             one = 1;

    c->listening = ls;
    c->pool = rx_create_pool(1024, &c->log);
    hc = c->pool ? rx_pcalloc(c->pool, sizeof(rx_http_conn_t)) : NULL;
    if (hc == NULL
        || rx_buf_init(&hc->in, c->pool, rx_http_limits()->header_size)
               != RX_OK) {
        rx_destroy_pool(c->pool);
        rx_close_connection(c);
        return;
    }
    hc->in.pool = NULL; /* fixed size: never grows */
    hc->state = RX_HTTP_ST_HEAD;
    hc->c = c;
    hc->ls = ls;
    c->data = hc;
    rx_http_conn_addr(c);
    if (!ls->unix_socket) {
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->read->handler = rx_http_read_handler;
    c->write->handler = rx_http_write_handler;
    rx_http_busy_conns++;
    __atomic_fetch_add(&rx_http_stats()->conns_active, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&rx_http_stats()->conns_total, 1, __ATOMIC_RELAXED);
    if (ls->ssl_ctx) {
        c->ssl = SSL_new(ls->ssl_ctx);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            rx_http_close(hc);
            return;
        }
        SSL_set_accept_state(c->ssl);
        c->read->handler = rx_http_handshake_handler;
        c->write->handler = rx_http_handshake_handler;
    }
    rx_event_add_timer(c->read, rx_http_limits()->header_timeout);
    if (rx_event_add_conn(c) != RX_OK) {
        rx_http_close(hc);
    }
}

static void
rx_http_handshake_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_http_conn_t *hc = c->data;
    rx_int_t        rc;

    if (ev->timedout) {
        rx_http_close(hc);
        return;
    }
    rc = rx_ssl_handshake(c);
    if (rc == RX_AGAIN) {
        return;
    }
    if (rc != RX_OK) {
        rx_http_close(hc);
        return;
    }
    c->read->handler = rx_http_read_handler;
    c->write->handler = rx_http_write_handler;
    c->read->ready = 1; /* TLS may hold decrypted bytes already */
    rx_http_read_head(hc);
}

static void
rx_http_read_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_http_conn_t *hc = c->data;

    if (ev->timedout) {
        ev->timedout = 0;
        if (hc->state == RX_HTTP_ST_LINGER || hc->state == RX_HTTP_ST_IDLE
            || (hc->state == RX_HTTP_ST_HEAD && rx_buf_len(&hc->in) == 0)) {
            rx_http_close(hc);
        } else if (hc->state == RX_HTTP_ST_HEAD
                   || hc->state == RX_HTTP_ST_BODY) {
            rx_log_error(RX_LOG_INFO, &c->log, 0,
                         "client %s timed out "
                         "while reading the request",
                         c->addr_text.data);
            rx_http_error(hc, 408);
        }
        return;
    }
    switch (hc->state) {
    case RX_HTTP_ST_IDLE:
        if (rx_http_idle_read(hc) != RX_OK) {
            return; /* still idle (spurious wake-up) or closed */
        }
        /* fall through */
    case RX_HTTP_ST_HEAD:
        rx_http_read_head(hc);
        break;
    case RX_HTTP_ST_BODY:
        rx_http_read_body(hc);
        break;
    case RX_HTTP_ST_RUN:
        if (ev->eof && hc->r && hc->r->abort && !hc->r->aborted) {
            /* the client went away: cancel the work, free the connection */
            hc->r->aborted = 1;
            hc->r->abort(hc->r);
            rx_http_close(hc);
            return;
        }
        break;
    case RX_HTTP_ST_LINGER:
        rx_http_linger_handler(ev);
        break;
    default:
        break;
    }
}

/* A keep-alive connection woke up: it becomes busy only once a byte of
 * the next request is here, so the keepalive timer keeps running. */
static rx_int_t
rx_http_idle_read(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;
    ssize_t    n;

    n = c->recv(c, hc->in.last, rx_buf_free(&hc->in));
    if (n == RX_AGAIN) {
        return RX_AGAIN;
    }
    if (n <= 0) {
        rx_http_busy_conns++; /* rx_http_close counts it down */
        hc->state = RX_HTTP_ST_HEAD;
        rx_http_close(hc);
        return RX_ERROR;
    }
    hc->in.last += n;
    if (!rx_queue_empty(&c->queue)) {
        rx_queue_remove(&c->queue);
    }
    rx_http_busy_conns++;
    hc->state = RX_HTTP_ST_HEAD;
    rx_event_add_timer(c->read, rx_http_limits()->header_timeout);
    return RX_OK;
}

static void
rx_http_write_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_http_conn_t *hc = c->data;

    if (ev->timedout) {
        rx_log_error(RX_LOG_INFO, &c->log, 0,
                     "client %s timed out while "
                     "receiving the response",
                     c->addr_text.data);
        rx_http_close(hc);
        return;
    }
    if (hc->state == RX_HTTP_ST_SEND) {
        rx_http_write(hc);
    }
}

static u_char *
rx_http_find_head_end(rx_http_conn_t *hc)
{
    u_char *p, *lf;

    p = hc->in.pos + (hc->scanned > 2 ? hc->scanned - 2 : 0);
    while (p < hc->in.last) {
        lf = memchr(p, '\n', (size_t) (hc->in.last - p));
        if (lf == NULL) {
            break;
        }
        if (lf + 1 < hc->in.last && lf[1] == '\n') {
            return lf + 2;
        }
        if (lf + 2 < hc->in.last && lf[1] == '\r' && lf[2] == '\n') {
            return lf + 3;
        }
        p = lf + 1;
    }
    hc->scanned = rx_buf_len(&hc->in);
    return NULL;
}

static void
rx_http_read_head(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;
    u_char    *end;
    ssize_t    n;

    for (;;) {
        end = rx_http_find_head_end(hc);
        if (end) {
            if (rx_http_start_request(hc, end) == RX_OK) {
                rx_http_read_body(hc);
            }
            return;
        }
        if (rx_buf_free(&hc->in) == 0) {
            if (hc->in.pos != hc->in.start) {
                memmove(hc->in.start, hc->in.pos, rx_buf_len(&hc->in));
                hc->in.last -= hc->in.pos - hc->in.start;
                hc->in.pos = hc->in.start;
                continue;
            }
            rx_http_error(
                hc, memchr(hc->in.pos, '\n', rx_buf_len(&hc->in)) ? 431 : 414);
            return;
        }
        n = c->recv(c, hc->in.last, rx_buf_free(&hc->in));
        if (n == RX_AGAIN) {
            return;
        }
        if (n <= 0) {
            rx_http_close(hc);
            return;
        }
        hc->in.last += n;
    }
}

static rx_int_t
rx_http_start_request(rx_http_conn_t *hc, u_char *end)
{
    rx_http_req_t *r;
    rx_pool_t     *pool;
    u_char        *head;
    rx_int_t       rc;

    pool = rx_create_pool(4096, &hc->c->log);
    r = pool ? rx_pcalloc(pool, sizeof(rx_http_req_t)) : NULL;
    if (r == NULL
        || rx_array_init(&r->headers, pool, 16, sizeof(rx_http_header_t))
               != RX_OK
        || rx_array_init(&r->headers_out, pool, 4, sizeof(rx_http_header_t))
               != RX_OK) {
        rx_destroy_pool(pool);
        rx_http_close(hc);
        return RX_ERROR;
    }
    r->pool = pool;
    r->c = hc->c;
    r->hc = hc;
    r->content_length = -1;
    r->start_usec = rx_time_usec();
    r->header_bytes = (size_t) (end - hc->in.pos);
    hc->r = r;
    hc->requests++;
    hc->scanned = 0;
    hc->continue_sent = 0; /* per request: each may wait for its 100 */
    /* the request keeps its own copy of the head: the connection buffer
       is reused for the body (chunked) and the next requests */
    head = rx_pnalloc(pool, (size_t) (end - hc->in.pos));
    if (head == NULL) {
        rx_http_close(hc);
        return RX_ERROR;
    }
    memcpy(head, hc->in.pos, (size_t) (end - hc->in.pos));
    rc = rx_http_parse_request(r, head, head + (end - hc->in.pos),
                               rx_http_limits()->max_headers);
    hc->in.pos = end;
    if (rc == RX_OK && r->chunked && r->content_length >= 0) {
        rc = 400; /* both framings: refuse (request smuggling) */
    }
    if (rc == RX_OK && (r->method & (RX_HTTP_POST | RX_HTTP_PUT)) && !r->chunked
        && r->content_length < 0) {
        rc = 411;
    }
    if (rc == RX_OK
        && r->content_length > (int64_t) rx_http_limits()->body_size) {
        rc = 413;
    }
    if (rc != RX_OK) {
        rx_http_error(hc, (rx_uint_t) rc);
        return RX_ERROR;
    }
    if (rx_http_quitting) {
        r->keepalive = 0;
    }
    r->route_rc = rx_http_route(r);
    if (r->route_rc != RX_OK
        && (r->chunked || r->content_length > RX_HTTP_DISCARD_MAX)) {
        /* refused from the head (404, 405, 401): a large body is not
           read at all, and the connection closes after the answer; a
           small one is read (and dropped) so the connection stays */
        r->keepalive = 0;
        hc->state = RX_HTTP_ST_RUN;
        rx_event_del_timer(hc->c->read);
        rx_http_answer(r, r->route_rc);
        return RX_DECLINED;
    }
    hc->state = RX_HTTP_ST_BODY;
    hc->body_need = r->content_length > 0 ? (size_t) r->content_length : 0;
    rx_memzero(&hc->chunked, sizeof(hc->chunked));
    rx_memzero(&hc->body, sizeof(hc->body));
    hc->body.pool = r->pool;
    rx_event_del_timer(hc->c->read);
    rx_event_add_timer(hc->c->read, rx_http_limits()->body_timeout);
    return RX_OK;
}

static void
rx_http_send_continue(rx_http_conn_t *hc)
{
    static const u_char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    hc->continue_sent = 1;
    (void) hc->c->send(hc->c, cont, sizeof(cont) - 1);
}

static void
rx_http_read_body(rx_http_conn_t *hc)
{
    rx_http_req_t *r = hc->r;
    rx_conn_t     *c = hc->c;
    rx_int_t       rc;
    ssize_t        n;

    rc = rx_http_body_bytes(hc, hc->in.pos, hc->in.last);
    while (rc == RX_AGAIN) {
        if (r->expect_continue && !hc->continue_sent) {
            rx_http_send_continue(hc);
        }
        if (r->chunked) {
            hc->in.pos = hc->in.last = hc->in.start;
            n = c->recv(c, hc->in.last, rx_buf_free(&hc->in));
        } else {
            n = c->recv(c, hc->body.last, hc->body_need);
        }
        if (n == RX_AGAIN) {
            return;
        }
        if (n <= 0) {
            rx_http_close(hc);
            return;
        }
        if (r->chunked) {
            hc->in.last += n;
            rc = rx_http_body_bytes(hc, hc->in.pos, hc->in.last);
        } else {
            hc->body.last += n;
            hc->body_need -= (size_t) n;
            rc = hc->body_need ? RX_AGAIN : RX_OK;
        }
        rx_event_add_timer(c->read, rx_http_limits()->body_timeout);
    }
    if (rc != RX_OK) {
        rx_http_error(hc, (rx_uint_t) rc);
        return;
    }
    if (hc->body.start) {
        r->body.data = hc->body.pos;
        r->body.len = rx_buf_len(&hc->body);
    }
    rx_event_del_timer(c->read);
    rx_http_run(r);
}

/* Consumes body bytes already read into hc->in. */
static rx_int_t
rx_http_body_bytes(rx_http_conn_t *hc, u_char *p, u_char *last)
{
    rx_http_req_t *r = hc->r;
    size_t         have = (size_t) (last - p);
    rx_int_t       rc;

    if (r->chunked) {
        if (hc->body.start == NULL
            && rx_buf_init(&hc->body, r->pool, 4096) != RX_OK) {
            return 500;
        }
        rc = rx_http_parse_chunked(&hc->chunked, &hc->in.pos, hc->in.last,
                                   &hc->body, rx_http_limits()->body_size);
        return rc;
    }
    if (hc->body.start != NULL) {
        return hc->body_need ? RX_AGAIN : RX_OK;
    }
    if (hc->body_need <= have) { /* whole body already here: no copy */
        r->body.data = p;
        r->body.len = hc->body_need;
        hc->in.pos += hc->body_need;
        hc->body_need = 0;
        return RX_OK;
    }
    if (rx_buf_init(&hc->body, r->pool, hc->body_need) != RX_OK) {
        return 500;
    }
    hc->body.last = rx_cpymem(hc->body.last, p, have);
    hc->body_need -= have;
    hc->in.pos = hc->in.last = hc->in.start;
    return RX_AGAIN;
}

static void
rx_http_run(rx_http_req_t *r)
{
    r->hc->state = RX_HTTP_ST_RUN;
    rx_http_answer(r, r->route_rc == RX_OK ? rx_http_dispatch(r) : r->route_rc);
}

/* What a handler or rx_http_route() returned: RX_OK or RX_DONE (the
 * answer is set), RX_AGAIN (it comes later), else a status to answer. */
static void
rx_http_answer(rx_http_req_t *r, rx_int_t rc)
{
    if (rc == RX_AGAIN) {
        r->async = 1;
        return;
    }
    if (rc != RX_OK && rc != RX_DONE) {
        (void) rx_http_set_text(
            r, rc > 0 ? (rx_uint_t) rc : 500,
            rx_http_status_text(rc > 0 ? (rx_uint_t) rc : 500));
    }
    rx_http_send(r);
}

void
rx_http_finalize(rx_http_req_t *r)
{
    if (r->hc->state != RX_HTTP_ST_RUN) {
        return;
    }
    r->async = 0;
    rx_http_send(r);
}

/* A request that cannot be served: answer and close the connection. */
static void
rx_http_error(rx_http_conn_t *hc, rx_uint_t status)
{
    rx_http_req_t *r = hc->r;
    rx_pool_t     *pool;

    if (r == NULL || hc->state == RX_HTTP_ST_RUN
        || hc->state == RX_HTTP_ST_SEND) {
        pool = rx_create_pool(1024, &hc->c->log);
        r = pool ? rx_pcalloc(pool, sizeof(rx_http_req_t)) : NULL;
        if (r == NULL
            || rx_array_init(&r->headers_out, pool, 2, sizeof(rx_http_header_t))
                   != RX_OK) {
            rx_destroy_pool(pool);
            rx_http_close(hc);
            return;
        }
        r->pool = pool;
        r->c = hc->c;
        r->hc = hc;
        r->start_usec = rx_time_usec();
        hc->r = r;
    }
    r->keepalive = 0;
    rx_event_del_timer(hc->c->read);
    (void) rx_http_set_text(r, status, rx_http_status_text(status));
    rx_http_send(r);
}

static size_t
rx_http_date(u_char *buf)
{
    static u_char cached[40];
    static time_t cached_sec = -1;
    static size_t len;
    struct tm     tm;
    time_t        now = rx_current_sec;

    if (now != cached_sec) {
        gmtime_r(&now, &tm);
        len = strftime((char *) cached, sizeof(cached),
                       "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_sec = now;
    }
    memcpy(buf, cached, len);
    return len;
}

static void
rx_http_send(rx_http_req_t *r)
{
    rx_http_conn_t   *hc = r->hc;
    rx_http_header_t *h = r->headers_out.elts;
    size_t            len;
    rx_uint_t         i;
    u_char           *p, *last;

    /* say "Connection: close" whenever rx_http_done() will close */
    r->keepalive = r->keepalive && !rx_http_quitting
                   && hc->requests != rx_http_limits()->keepalive_requests;
    len = 256 + r->content_type.len;
    for (i = 0; i < r->headers_out.nelts; i++) {
        len += h[i].name.len + h[i].value.len + 4;
    }
    p = hc->hdr = rx_pnalloc(r->pool, len);
    if (p == NULL) {
        rx_http_close(hc);
        return;
    }
    last = p + len;
    p = rx_slprintf(p, last,
                    "HTTP/1.1 %lu %s\r\nDate: ", (unsigned long) r->status,
                    rx_http_status_text(r->status));
    p += rx_http_date(p);
    if (r->content_type.len) {
        p = rx_slprintf(p, last, "\r\nContent-Type: %.*s",
                        (int) r->content_type.len, r->content_type.data);
    }
    p = rx_slprintf(p, last, "\r\nContent-Length: %lu\r\n",
                    (unsigned long) r->out.len);
    for (i = 0; i < r->headers_out.nelts; i++) {
        p = rx_slprintf(p, last, "%.*s: %.*s\r\n", (int) h[i].name.len,
                        h[i].name.data, (int) h[i].value.len, h[i].value.data);
    }
    if (!r->keepalive) {
        p = rx_slprintf(p, last, "Connection: close\r\n");
    } else if (r->http_minor == 0) {
        p = rx_slprintf(p, last, "Connection: keep-alive\r\n");
    }
    p = rx_slprintf(p, last, "\r\n");
    hc->iov[0].iov_base = hc->hdr;
    hc->iov[0].iov_len = (size_t) (p - hc->hdr);
    hc->iov[1].iov_base = r->out.data;
    hc->iov[1].iov_len = r->method == RX_HTTP_HEAD ? 0 : r->out.len;
    hc->niov = 2;
    hc->state = RX_HTTP_ST_SEND;
    rx_http_write(hc);
}

static ssize_t
rx_http_writev(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;
    ssize_t    n, total = 0;
    rx_uint_t  i;

    if (c->ssl == NULL) {
        do {
            n = writev(c->fd, hc->iov, (int) hc->niov);
        } while (n == -1 && errno == EINTR);
        if (n == -1) {
            if (errno == EAGAIN) {
                c->write->ready = 0;
                return RX_AGAIN;
            }
            return RX_ERROR;
        }
        c->sent += (size_t) n;
        return n;
    }
    for (i = 0; i < hc->niov; i++) {
        if (hc->iov[i].iov_len == 0) {
            continue;
        }
        n = c->send(c, hc->iov[i].iov_base, hc->iov[i].iov_len);
        if (n < 0) {
            return total ? total : n;
        }
        total += n;
        if ((size_t) n < hc->iov[i].iov_len) {
            break;
        }
    }
    return total;
}

static void
rx_http_write(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;
    ssize_t    n;
    size_t     k;
    rx_uint_t  i;

    for (;;) {
        if (hc->iov[0].iov_len + hc->iov[1].iov_len == 0) {
            rx_event_del_timer(c->write);
            rx_http_done(hc);
            return;
        }
        n = rx_http_writev(hc);
        if (n == RX_AGAIN) {
            rx_event_add_timer(c->write, rx_http_limits()->send_timeout);
            return;
        }
        if (n < 0) {
            rx_http_close(hc);
            return;
        }
        for (i = 0; i < 2 && n > 0; i++) {
            k = rx_min((size_t) n, hc->iov[i].iov_len);
            hc->iov[i].iov_base = (u_char *) hc->iov[i].iov_base + k;
            hc->iov[i].iov_len -= k;
            n -= (ssize_t) k;
        }
    }
}

static void
rx_http_count(rx_http_req_t *r)
{
    rx_stats_proc_t *st = rx_http_stats();
    rx_uint_t        cls = r->status / 100;

    __atomic_fetch_add(&st->requests, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->status[cls >= 1 && cls <= 5 ? cls : 0], 1,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->bytes_in, r->header_bytes + r->body.len,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->bytes_out, r->out.len, __ATOMIC_RELAXED);
}

static void
rx_http_done(rx_http_conn_t *hc)
{
    rx_http_req_t *r = hc->r;
    rx_conn_t     *c = hc->c;
    int            keepalive;
    size_t         left;

    rx_http_count(r);
    rx_http_access_log(r);
    keepalive = r->keepalive && !rx_http_quitting
                && (rx_http_limits()->keepalive_requests == 0
                    || hc->requests < rx_http_limits()->keepalive_requests);
    rx_destroy_pool(r->pool);
    hc->r = NULL;
    hc->body.start = NULL;
    if (!keepalive) {
        rx_http_linger(hc);
        return;
    }
    left = rx_buf_len(&hc->in);
    if (left && hc->in.pos != hc->in.start) {
        memmove(hc->in.start, hc->in.pos, left);
    }
    hc->in.pos = hc->in.start;
    hc->in.last = hc->in.start + left;
    hc->scanned = 0;
    if (left) { /* a pipelined request is waiting */
        hc->state = RX_HTTP_ST_HEAD;
        rx_event_add_timer(c->read, rx_http_limits()->header_timeout);
        c->read->ready = 1;
        rx_event_post(c->read);
        return;
    }
    hc->state = RX_HTTP_ST_IDLE;
    hc->idle_since = rx_current_msec;
    rx_http_busy_conns--;
    rx_queue_insert_tail(&rx_http_idle_conns, &c->queue);
    rx_event_add_timer(c->read, rx_http_limits()->keepalive_timeout);
    if (c->read->ready) {
        rx_event_post(c->read);
    }
}

static void
rx_http_linger(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;

    if (c->ssl) {
        rx_ssl_shutdown(c);
        rx_http_close(hc);
        return;
    }
    if (shutdown(c->fd, SHUT_WR) == -1) {
        rx_http_close(hc);
        return;
    }
    hc->state = RX_HTTP_ST_LINGER;
    c->read->cancelable = 1;
    rx_event_add_timer(c->read, RX_HTTP_LINGER_MSEC);
    rx_http_linger_handler(c->read);
}

static void
rx_http_linger_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_http_conn_t *hc = c->data;
    u_char          buf[4096];
    ssize_t         n;
    rx_uint_t       i;

    for (i = 0; i < 64; i++) { /* at most 256 KiB discarded per event */
        n = c->recv(c, buf, sizeof(buf));
        if (n == RX_AGAIN) {
            return;
        }
        if (n <= 0) {
            break;
        }
    }
    rx_http_close(hc);
}

static void
rx_http_close(rx_http_conn_t *hc)
{
    rx_conn_t *c = hc->c;
    rx_pool_t *pool = c->pool;

    if (hc->r) {
        if (hc->r->async && hc->r->abort && !hc->r->aborted) {
            hc->r->aborted = 1;
            hc->r->abort(hc->r);
        }
        rx_destroy_pool(hc->r->pool);
        hc->r = NULL;
    }
    if (hc->state != RX_HTTP_ST_IDLE) {
        rx_http_busy_conns--;
    }
    __atomic_fetch_sub(&rx_http_stats()->conns_active, 1, __ATOMIC_RELAXED);
    rx_close_connection(c);
    rx_destroy_pool(pool);
}

/*
 * Graceful stop: a keep-alive connection idle for RX_HTTP_QUIT_IDLE_MSEC
 * is closed now; a younger one is closed when it reaches that age, and a
 * request that arrives on it meanwhile is answered with Connection: close.
 * Closing a connection the instant its client sends the next request on
 * it fails that request; a client that just had an answer is the one most
 * likely to, so it gets the grace.
 */
void
rx_http_quit_idle(void)
{
    rx_queue_t *q, *next;
    rx_conn_t  *c;
    rx_msec_t   age, ka = rx_http_limits()->keepalive_timeout;

    for (q = rx_queue_head(&rx_http_idle_conns);
         q != rx_queue_sentinel(&rx_http_idle_conns); q = next) {
        next = rx_queue_next(q);
        c = rx_queue_data(q, rx_conn_t, queue);
        age = rx_current_msec - ((rx_http_conn_t *) c->data)->idle_since;
        if (age >= RX_HTTP_QUIT_IDLE_MSEC || age >= ka) {
            rx_queue_remove(q);
            rx_http_close(c->data);
            continue;
        }
        rx_event_del_timer(c->read);
        rx_event_add_timer(c->read, rx_min(RX_HTTP_QUIT_IDLE_MSEC, ka) - age);
    }
}

rx_uint_t
rx_http_idle_count(void)
{
    rx_queue_t *q;
    rx_uint_t   n = 0;

    for (q = rx_queue_head(&rx_http_idle_conns);
         q != rx_queue_sentinel(&rx_http_idle_conns); q = rx_queue_next(q)) {
        n++;
    }
    return n;
}

static void
rx_http_access_log(rx_http_req_t *r)
{
    rx_log_file_t *f = &rx_cycle->access_log;
    u_char         buf[2048], *p, *last;
    uint64_t       us;

    if (f->fd == -1) {
        return;
    }
    us = rx_time_usec() - r->start_usec;
    last = buf + sizeof(buf) - 1;
    p = rx_slprintf(buf, last,
                    "%s - %.*s [%s] \"%.*s\" %lu %lu %lu %lu.%03lu "
                    "\"%.*s\"",
                    r->c->addr_text.data, (int) (r->user.len ? r->user.len : 1),
                    r->user.len ? (char *) r->user.data : "-",
                    rx_cached_http_log_time.data,
                    (int) rx_min(r->request_line.len, (size_t) 1024),
                    r->request_line.data, (unsigned long) r->status,
                    (unsigned long) (r->header_bytes + r->body.len),
                    (unsigned long) r->out.len, (unsigned long) (us / 1000),
                    (unsigned long) (us % 1000),
                    (int) rx_min(r->user_agent.len, (size_t) 256),
                    r->user_agent.data ? (char *) r->user_agent.data : "");
    *p++ = '\n';
    rx_log_write(f, buf, (size_t) (p - buf));
}
