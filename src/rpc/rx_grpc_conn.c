/*
 * gRPC backend connections: non-blocking connect (TCP, TLS with ALPN h2,
 * unix), one nghttp2 client session each driven through the memory API,
 * flushed once per loop turn, GOAWAY, keepalive PINGs and back-off.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_grpc_int.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static void     rx_gc_write_handler(rx_event_t *ev);
static void     rx_gc_read_handler(rx_event_t *ev);
static void     rx_gc_timer_handler(rx_event_t *ev);
static void     rx_gc_ping_handler(rx_event_t *ev);
static rx_int_t rx_gc_start_session(rx_grpc_conn_t *gc);
static rx_int_t rx_gc_flush(rx_grpc_conn_t *gc);

static rx_uint_t
rx_gc_jitter(rx_msec_t ms)
{
    return (rx_uint_t) (ms * (80 + (rx_uint_t) (random() % 41)) / 100);
}

rx_int_t
rx_grpc_conn_connect(rx_grpc_conn_t *gc)
{
    rx_grpc_backend_t *b = gc->backend;
    rx_conn_t         *c;
    rx_uint_t          i;
    int                fd, one = 1;

    if (b->naddrs == 0
        && (rx_grpc_resolve(rx_cycle, b) != RX_OK || b->naddrs == 0)) {
        return RX_ERROR; /* unresolved at load time, and still */
    }
    i = b->next_addr++ % b->naddrs;
    fd = socket(b->addrs[i].ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return RX_ERROR;
    }
    if (b->addrs[i].ss_family != AF_UNIX) {
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (struct sockaddr *) &b->addrs[i], b->addrlens[i]) == -1
        && errno != EINPROGRESS) {
        rx_log_error(RX_LOG_WARN, &rx_cycle->log, errno,
                     "connect() to backend \"%s\" failed", b->authority);
        close(fd);
        return RX_ERROR;
    }
    c = rx_get_connection(fd, &rx_cycle->log);
    if (c == NULL) {
        close(fd);
        return RX_ERROR;
    }
    gc->pool = rx_create_pool(4096, &rx_cycle->log);
    if (gc->pool == NULL || rx_buf_init(&gc->out, gc->pool, 16384) != RX_OK) {
        rx_close_connection(c);
        return RX_ERROR;
    }
    c->data = gc;
    c->read->handler = rx_gc_read_handler;
    c->write->handler = rx_gc_write_handler;
    gc->c = c;
    gc->state = RX_GC_CONNECTING;
    b->stats.connects++;
    rx_event_add_timer(&gc->timer, RX_GRPC_CONNECT_MSEC);
    return rx_event_add_conn(c);
}

static rx_int_t
rx_gc_tls_start(rx_grpc_conn_t *gc)
{
    static const u_char alpn[] = "\x02h2";
    rx_grpc_backend_t  *b = gc->backend;
    SSL                *ssl;

    ssl = SSL_new(b->ssl_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, gc->c->fd) != 1
        || SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0
        || (b->host[0] && SSL_set_tlsext_host_name(ssl, b->host) != 1)) {
        SSL_free(ssl);
        return RX_ERROR;
    }
    if (!b->conf->skip_verify && b->host[0]) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, b->host) != 1) {
            SSL_free(ssl);
            return RX_ERROR;
        }
    }
    SSL_set_connect_state(ssl);
    gc->c->ssl = ssl;
    gc->state = RX_GC_HANDSHAKE;
    return RX_OK;
}

static rx_int_t
rx_gc_tls_handshake(rx_grpc_conn_t *gc)
{
    const u_char *proto = NULL;
    unsigned int  len = 0;
    rx_int_t      rc;
    long          vr;

    rc = rx_ssl_handshake(gc->c);
    if (rc != RX_OK) {
        if (rc == RX_ERROR) {
            vr = SSL_get_verify_result(gc->c->ssl);
            rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0,
                         "TLS handshake with "
                         "backend \"%s\" failed%s%s",
                         gc->backend->authority, vr != X509_V_OK ? ": " : "",
                         vr != X509_V_OK ? X509_verify_cert_error_string(vr)
                                         : "");
        }
        return rc;
    }
    SSL_get0_alpn_selected(gc->c->ssl, &proto, &len);
    if (len != 2 || memcmp(proto, "h2", 2) != 0) {
        rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0,
                     "backend \"%s\" did not "
                     "negotiate ALPN h2",
                     gc->backend->authority);
        return RX_ERROR;
    }
    return RX_OK;
}

static void
rx_gc_write_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_grpc_conn_t *gc = c->data;
    socklen_t       len = sizeof(int);
    int             err = 0;
    rx_int_t        rc;

    if (gc->state == RX_GC_CONNECTING) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
            rx_log_error(RX_LOG_WARN, &rx_cycle->log, err,
                         "connect() to backend \"%s\" failed",
                         gc->backend->authority);
            rx_grpc_conn_close(gc, "connect failed");
            return;
        }
        if (gc->backend->ssl_ctx == NULL) {
            (void) rx_gc_start_session(gc);
            return;
        }
        if (rx_gc_tls_start(gc) != RX_OK) {
            rx_grpc_conn_close(gc, "TLS setup failed");
            return;
        }
    }
    if (gc->state == RX_GC_HANDSHAKE) {
        rc = rx_gc_tls_handshake(gc);
        if (rc == RX_OK) {
            (void) rx_gc_start_session(gc);
        } else if (rc == RX_ERROR) {
            rx_grpc_conn_close(gc, "TLS handshake failed");
        }
        return;
    }
    if (rx_gc_flush(gc) != RX_OK) {
        rx_grpc_conn_close(gc, "write failed");
    }
}

static int
rx_gc_on_header(nghttp2_session *s, const nghttp2_frame *frame,
                const uint8_t *name, size_t nlen, const uint8_t *value,
                size_t vlen, uint8_t flags, void *data)
{
    rx_grpc_call_t *call;

    call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (call) {
        rx_grpc_call_on_header(call, name, nlen, value, vlen);
    }
    return 0;
}

static int
rx_gc_on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id,
              const uint8_t *data, size_t len, void *user)
{
    rx_grpc_call_t *call;

    call = nghttp2_session_get_stream_user_data(s, stream_id);
    if (call && rx_grpc_call_on_data(call, data, len) != RX_OK) {
        (void) nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id,
                                         NGHTTP2_CANCEL);
    }
    return 0;
}

static int
rx_gc_on_stream_close(nghttp2_session *s, int32_t stream_id,
                      uint32_t error_code, void *data)
{
    rx_grpc_conn_t *gc = data;
    rx_grpc_call_t *call;

    if (gc->streams) {
        gc->streams--;
    }
    gc->backend->stats.streams_active--;
    call = nghttp2_session_get_stream_user_data(s, stream_id);
    if (call) {
        nghttp2_session_set_stream_user_data(s, stream_id, NULL);
        rx_grpc_call_on_close(call, error_code);
    }
    return 0;
}

static int
rx_gc_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *data)
{
    rx_grpc_conn_t *gc = data;
    uint32_t        max;

    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        max = nghttp2_session_get_remote_settings(
            s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        gc->max_streams = rx_min((rx_uint_t) max, (rx_uint_t) 1000000);
        break;
    case NGHTTP2_GOAWAY:
        gc->backend->stats.goaways++;
        if (gc->state == RX_GC_READY) {
            gc->state = RX_GC_DRAINING;
        }
        if (frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM
            && frame->goaway.opaque_data_len >= 14
            && memcmp(frame->goaway.opaque_data, "too_many_pings", 14) == 0) {
            /* back off, up to an hour: a few such frames in a row must
               not overflow it to 0 (no keepalive at all) */
            gc->backend->keepalive =
                rx_min(gc->backend->keepalive * 2, (rx_msec_t) 3600000);
        }
        rx_log_error(RX_LOG_INFO, &rx_cycle->log, 0,
                     "backend \"%s\" sent "
                     "GOAWAY (code %u, last stream %d)",
                     gc->backend->authority, frame->goaway.error_code,
                     frame->goaway.last_stream_id);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
            gc->ping_sent = 0;
            rx_event_del_timer(&gc->ping);
            if (gc->backend->keepalive) {
                rx_event_add_timer(&gc->ping, gc->backend->keepalive);
            }
        }
        break;
    }
    return 0;
}

static rx_int_t
rx_gc_start_session(rx_grpc_conn_t *gc)
{
    nghttp2_session_callbacks *cb;
    nghttp2_settings_entry     iv[] = {
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RX_GRPC_WINDOW},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 65536},
    };
    int rc;

    if (nghttp2_session_callbacks_new(&cb) != 0) {
        rx_grpc_conn_close(gc, "out of memory");
        return RX_ERROR;
    }
    nghttp2_session_callbacks_set_on_header_callback(cb, rx_gc_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                              rx_gc_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, rx_gc_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, rx_gc_on_frame);
    rc = nghttp2_session_client_new(&gc->session, cb, gc);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0
        || nghttp2_submit_settings(gc->session, NGHTTP2_FLAG_NONE, iv,
                                   rx_nelems(iv))
               != 0
        || nghttp2_session_set_local_window_size(gc->session, NGHTTP2_FLAG_NONE,
                                                 0, RX_GRPC_CONN_WINDOW)
               != 0) {
        rx_grpc_conn_close(gc, "nghttp2 session setup failed");
        return RX_ERROR;
    }
    rx_event_del_timer(&gc->timer);
    gc->state = RX_GC_READY;
    gc->backoff = 0;
    gc->max_streams = 100; /* until the peer's SETTINGS arrive */
    rx_grpc_conn_mark_dirty(gc);
    rx_grpc_dispatch_waiting(gc->backend);
    return RX_OK;
}

static void
rx_gc_read_handler(rx_event_t *ev)
{
    rx_conn_t      *c = ev->data;
    rx_grpc_conn_t *gc = c->data;
    u_char          buf[65536];
    ssize_t         n, rc;

    if (gc->state == RX_GC_HANDSHAKE || gc->state == RX_GC_CONNECTING) {
        rx_gc_write_handler(c->write);
        return;
    }
    for (;;) {
        n = c->recv(c, buf, sizeof(buf));
        if (n == RX_AGAIN) {
            break;
        }
        if (n <= 0) {
            rx_grpc_conn_close(gc, n == 0 ? "connection closed by backend"
                                          : "read error");
            return;
        }
        rc = nghttp2_session_mem_recv(gc->session, buf, (size_t) n);
        if (rc < 0) {
            rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0,
                         "HTTP/2 error from "
                         "backend \"%s\": %s",
                         gc->backend->authority, nghttp2_strerror((int) rc));
            rx_grpc_conn_close(gc, "protocol error");
            return;
        }
        if (gc->c == NULL) {
            return; /* closed from a callback */
        }
    }
    rx_grpc_dispatch_waiting(gc->backend); /* slots freed, SETTINGS raised */
    rx_grpc_conn_mark_dirty(gc);
}

static rx_int_t
rx_gc_write_pending(rx_grpc_conn_t *gc)
{
    ssize_t n;

    while (rx_buf_len(&gc->out)) {
        n = gc->c->send(gc->c, gc->out.pos, rx_buf_len(&gc->out));
        if (n == RX_AGAIN) {
            return RX_AGAIN;
        }
        if (n < 0) {
            return RX_ERROR;
        }
        gc->out.pos += n;
    }
    gc->out.pos = gc->out.last = gc->out.start;
    return RX_OK;
}

/* Sends what nghttp2 has, straight from its buffer when the socket takes
 * it, keeping the rest for the next write event. */
static rx_int_t
rx_gc_flush(rx_grpc_conn_t *gc)
{
    const uint8_t *data;
    ssize_t        len, n;
    rx_int_t       rc;

    if (gc->session == NULL) {
        return RX_OK;
    }
    rc = rx_gc_write_pending(gc);
    if (rc != RX_OK) {
        return rc == RX_AGAIN ? RX_OK : RX_ERROR;
    }
    for (;;) {
        len = nghttp2_session_mem_send(gc->session, &data);
        if (len < 0) {
            return RX_ERROR;
        }
        if (len == 0) {
            break;
        }
        if (len >= 16384 && rx_buf_len(&gc->out) == 0) {
            /* a large DATA frame: straight from nghttp2's buffer */
            n = gc->c->send(gc->c, data, (size_t) len);
            if (n == RX_ERROR) {
                return RX_ERROR;
            }
            n = n == RX_AGAIN ? 0 : n;
            if (n == len) {
                continue;
            }
            data += n;
            len -= n;
        }
        /* small frames of many calls are coalesced into one send */
        if (rx_buf_append(&gc->out, data, (size_t) len) != RX_OK) {
            return RX_ERROR;
        }
        if (rx_buf_len(&gc->out) >= 65536) {
            rc = rx_gc_write_pending(gc);
            if (rc != RX_OK) {
                return rc == RX_AGAIN ? RX_OK : RX_ERROR;
            }
        }
    }
    rc = rx_gc_write_pending(gc);
    if (rc == RX_ERROR) {
        return RX_ERROR;
    }
    if (!nghttp2_session_want_read(gc->session)
        && !nghttp2_session_want_write(gc->session)
        && rx_buf_len(&gc->out) == 0) {
        rx_grpc_conn_close(gc, "session finished");
    }
    return RX_OK;
}

void
rx_grpc_conn_mark_dirty(rx_grpc_conn_t *gc)
{
    if (!gc->is_dirty) {
        gc->is_dirty = 1;
        rx_queue_insert_tail(&gc->backend->dirty, &gc->dirty);
    }
}

void
rx_grpc_flush_dirty(void *data)
{
    rx_grpc_backend_t *b = data;
    rx_grpc_conn_t    *gc;
    rx_queue_t        *q;

    while (!rx_queue_empty(&b->dirty)) {
        q = rx_queue_head(&b->dirty);
        rx_queue_remove(q);
        gc = rx_queue_data(q, rx_grpc_conn_t, dirty);
        gc->is_dirty = 0;
        if (gc->c && gc->session && rx_gc_flush(gc) != RX_OK) {
            rx_grpc_conn_close(gc, "write failed");
        }
    }
}

void
rx_grpc_conn_close(rx_grpc_conn_t *gc, const char *why)
{
    rx_grpc_backend_t *b = gc->backend;
    rx_grpc_call_t    *call;
    rx_queue_t        *q;
    rx_uint_t          i, alive = 0;
    int failed = gc->state != RX_GC_READY && gc->state != RX_GC_DRAINING;

    rx_log_error(failed ? RX_LOG_WARN : RX_LOG_INFO, &rx_cycle->log, 0,
                 "backend \"%s\" connection %lu closed: %s", b->authority,
                 (unsigned long) gc->index, why);
    if (failed) {
        b->stats.connect_errors++;
    }
    gc->state = failed ? RX_GC_BACKOFF : RX_GC_IDLE;
    if (gc->session) {
        nghttp2_session_del(gc->session); /* no callbacks from here on */
        gc->session = NULL;
    }
    b->stats.streams_active -= rx_min(b->stats.streams_active, gc->streams);
    gc->streams = 0;
    if (gc->c) {
        rx_close_connection(gc->c);
        gc->c = NULL;
    }
    rx_destroy_pool(gc->pool);
    gc->pool = NULL;
    if (gc->is_dirty) {
        rx_queue_remove(&gc->dirty);
        gc->is_dirty = 0;
    }
    rx_event_del_timer(&gc->ping);
    gc->ping_sent = 0;
    rx_event_del_timer(&gc->timer);
    if (failed) {
        gc->backoff = gc->backoff ? rx_min(gc->backoff * 16 / 10,
                                           (rx_msec_t) RX_GRPC_BACKOFF_MAX)
                                  : RX_GRPC_BACKOFF_MIN;
        rx_event_add_timer(&gc->timer, rx_gc_jitter(gc->backoff));
    }
    while (!rx_queue_empty(&gc->calls)) {
        q = rx_queue_head(&gc->calls);
        rx_queue_remove(q);
        call = rx_queue_data(q, rx_grpc_call_t, _queue);
        call->_conn = NULL;
        call->_active = 0;
        rx_grpc_call_finish(call, RX_GRPC_UNAVAILABLE, why);
    }
    for (i = 0; i < b->nconns; i++) {
        alive += b->conns[i].state != RX_GC_BACKOFF;
    }
    if (alive == 0) {
        rx_grpc_fail_waiting(b, RX_GRPC_UNAVAILABLE, why);
    } else {
        rx_grpc_dispatch_waiting(b);
    }
}

static void
rx_gc_timer_handler(rx_event_t *ev)
{
    rx_grpc_conn_t *gc = ev->data;

    if (gc->state == RX_GC_BACKOFF) {
        gc->state = RX_GC_IDLE; /* reconnect on demand */
        if (gc->backend->nwaiting) {
            rx_grpc_dispatch_waiting(gc->backend);
        }
        return;
    }
    if (gc->state == RX_GC_CONNECTING || gc->state == RX_GC_HANDSHAKE) {
        rx_grpc_conn_close(gc, "connect timed out");
    }
}

static void
rx_gc_ping_handler(rx_event_t *ev)
{
    rx_grpc_conn_t *gc = ev->data;

    if (gc->session == NULL) {
        return;
    }
    if (gc->ping_sent) {
        rx_grpc_conn_close(gc, "keepalive PING not acknowledged");
        return;
    }
    if (gc->streams == 0) { /* only ping while streams are active */
        rx_event_add_timer(&gc->ping, gc->backend->keepalive);
        return;
    }
    if (nghttp2_submit_ping(gc->session, NGHTTP2_FLAG_NONE, NULL) == 0) {
        gc->ping_sent = 1;
        rx_event_add_timer(&gc->ping, RX_GRPC_PING_ACK_MSEC);
        rx_grpc_conn_mark_dirty(gc);
    }
}

void
rx_grpc_conn_init(rx_grpc_backend_t *b, rx_grpc_conn_t *gc, rx_uint_t i)
{
    rx_memzero(gc, sizeof(rx_grpc_conn_t));
    gc->backend = b;
    gc->index = i;
    rx_queue_init(&gc->calls);
    gc->timer.handler = rx_gc_timer_handler;
    gc->timer.data = gc;
    gc->timer.log = &rx_cycle->log;
    gc->timer.cancelable = 1;
    gc->ping.handler = rx_gc_ping_handler;
    gc->ping.data = gc;
    gc->ping.log = &rx_cycle->log;
    gc->ping.cancelable = 1;
}

static ssize_t
rx_gc_read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf,
                size_t length, uint32_t *flags, nghttp2_data_source *src,
                void *user)
{
    rx_grpc_call_t *call;
    size_t          n;

    /* not src->ptr: a cancelled call is gone, its user data is NULL */
    call = nghttp2_session_get_stream_user_data(s, stream_id);
    if (call == NULL) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    n = rx_min(length, call->request.len - call->_sent);
    memcpy(buf, call->request.data + call->_sent, n);
    call->_sent += n;
    if (call->_sent == call->request.len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t) n;
}

rx_int_t
rx_grpc_conn_submit(rx_grpc_conn_t *gc, rx_grpc_call_t *call)
{
    nghttp2_data_provider prd;
    nghttp2_nv            nva[32];
    rx_int_t              n;
    int32_t               id;

    n = rx_grpc_call_headers(call, nva, rx_nelems(nva));
    if (n < 0) {
        return RX_ERROR;
    }
    prd.source.ptr = call;
    prd.read_callback = rx_gc_read_body;
    id = nghttp2_submit_request(gc->session, NULL, nva, (size_t) n, &prd, call);
    if (id < 0) {
        return RX_ERROR;
    }
    call->_stream_id = id;
    call->_conn = gc;
    call->_active = 1;
    rx_queue_insert_tail(&gc->calls, &call->_queue);
    gc->streams++;
    gc->backend->stats.streams_active++;
    if (gc->backend->keepalive && !gc->ping.timer_set) {
        rx_event_add_timer(&gc->ping, gc->backend->keepalive);
    }
    rx_grpc_conn_mark_dirty(gc);
    return RX_OK;
}

rx_int_t
rx_grpc_conn_ready(rx_grpc_conn_t *gc)
{
    return gc->state == RX_GC_READY && gc->session
           && gc->streams < gc->max_streams
           && nghttp2_session_get_next_stream_id(gc->session) < (1U << 30);
}
