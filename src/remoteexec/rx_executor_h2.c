/*
 * The executor's gRPC server: HTTP/2 with prior knowledge (h2c) on a unix
 * socket and an optional loopback TCP port, one nghttp2 server session per
 * connection driven through the memory API. Requests are 5-byte framed
 * messages; a method handler answers with rx_ex_send() and ends the call
 * with rx_ex_finish(): trailers after the messages, or a Trailers-Only
 * HEADERS frame when nothing was sent. Sessions with pending output are
 * flushed once per loop turn.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_process.h>
#include <nghttp2/nghttp2.h>

#define RX_EX_ACCEPT_BUDGET 64
#define RX_EX_STREAM_WINDOW (1 << 20)
#define RX_EX_CONN_WINDOW   (16 << 20)
#define RX_EX_MAX_STREAMS   1024

struct rx_ex_conn_s {
    rx_conn_t       *c;
    nghttp2_session *session;
    rx_pool_t       *pool;
    rx_buf_t         out; /* bytes nghttp2 produced, not yet sent */
    rx_queue_t       streams;
    rx_queue_t       link; /* all connections */
    rx_queue_t       dirty;
    rx_uint_t        nstreams;
    unsigned         is_dirty : 1;
    unsigned         goaway : 1;
};

static void     rx_ex_accept(rx_event_t *ev);
static void     rx_ex_conn_read(rx_event_t *ev);
static void     rx_ex_conn_write(rx_event_t *ev);
static rx_int_t rx_ex_conn_flush(rx_ex_conn_t *xc);
static void     rx_ex_conn_close(rx_ex_conn_t *xc);
static void     rx_ex_mark_dirty(rx_ex_conn_t *xc);
static void     rx_ex_stream_free(rx_ex_stream_t *st);
static void     rx_ex_stream_dispatch(rx_ex_stream_t *st);
static void     rx_ex_stream_end(rx_ex_stream_t *st);
static rx_int_t rx_ex_stream_parse(rx_ex_stream_t *st);
static rx_int_t rx_ex_submit_headers(rx_ex_stream_t *st);

static void rx_ex_count(size_t field, int64_t n);

static nghttp2_session_callbacks *rx_ex_callbacks;
static rx_queue_t                 rx_ex_conns = {&rx_ex_conns, &rx_ex_conns};
static rx_queue_t                 rx_ex_dirty = {&rx_ex_dirty, &rx_ex_dirty};

#define RX_EX_NV(n, v)                                                         \
    {                                                                          \
        (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, strlen(v),            \
            NGHTTP2_NV_FLAG_NONE                                               \
    }

/* ---- accepting ---- */

rx_int_t
rx_ex_h2_listen(rx_conn_t *ls)
{
    ls->read->handler = rx_ex_accept;
    return rx_event_add_listen(ls);
}

static rx_ex_conn_t *
rx_ex_conn_create(int fd)
{
    rx_ex_conn_t *xc;
    rx_pool_t    *pool;
    rx_conn_t    *c;

    c = rx_get_connection(fd, rx_ex.log);
    if (c == NULL) {
        return NULL;
    }
    pool = rx_create_pool(4096, rx_ex.log);
    xc = pool ? rx_pcalloc(pool, sizeof(rx_ex_conn_t)) : NULL;
    if (xc == NULL || rx_buf_init(&xc->out, pool, 16384) != RX_OK) {
        if (pool) {
            rx_destroy_pool(pool);
        }
        rx_close_connection(c);
        return NULL;
    }
    xc->pool = pool;
    xc->c = c;
    c->data = xc;
    c->read->handler = rx_ex_conn_read;
    c->write->handler = rx_ex_conn_write;
    rx_queue_init(&xc->streams);
    rx_queue_init(&xc->dirty);
    rx_queue_insert_tail(&rx_ex_conns, &xc->link);
    rx_ex_count(offsetof(rx_stats_proc_t, conns_active), 1);
    rx_ex_count(offsetof(rx_stats_proc_t, conns_total), 1);
    return xc;
}

/* the status page's per-process counters */
static void
rx_ex_count(size_t field, int64_t n)
{
    rx_cycle_t *cycle = rx_ex.cycle;

    if (cycle && cycle->stats && rx_process_slot >= 0) {
        __atomic_fetch_add(
            (uint64_t *) ((u_char *) &cycle->stats->procs[rx_process_slot]
                          + field),
            (uint64_t) n, __ATOMIC_RELAXED);
    }
}

static rx_int_t
rx_ex_session_start(rx_ex_conn_t *xc)
{
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, RX_EX_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RX_EX_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 65536},
    };

    if (nghttp2_session_server_new(&xc->session, rx_ex_callbacks, xc) != 0) {
        return RX_ERROR;
    }
    if (nghttp2_submit_settings(xc->session, NGHTTP2_FLAG_NONE, iv,
                                rx_nelems(iv))
            != 0
        || nghttp2_session_set_local_window_size(xc->session, NGHTTP2_FLAG_NONE,
                                                 0, RX_EX_CONN_WINDOW)
               != 0) {
        return RX_ERROR;
    }
    if (rx_ex.quitting) {
        xc->goaway = 1;
        (void) nghttp2_submit_goaway(xc->session, NGHTTP2_FLAG_NONE, 0,
                                     NGHTTP2_NO_ERROR, NULL, 0);
    }
    rx_ex_mark_dirty(xc);
    return RX_OK;
}

static void
rx_ex_accept(rx_event_t *ev)
{
    rx_conn_t    *ls = ev->data;
    rx_ex_conn_t *xc;
    rx_uint_t     n;
    int           fd, one = 1;

    for (n = 0; n < RX_EX_ACCEPT_BUDGET; n++) {
        fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                             "executor: accept4() failed");
            }
            return;
        }
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        xc = rx_ex_conn_create(fd);
        if (xc == NULL) {
            close(fd);
            continue;
        }
        if (rx_event_add_conn(xc->c) != RX_OK
            || rx_ex_session_start(xc) != RX_OK) {
            rx_ex_conn_close(xc);
        }
    }
}

/* ---- connection I/O ---- */

static void
rx_ex_conn_read(rx_event_t *ev)
{
    rx_conn_t    *c = ev->data;
    rx_ex_conn_t *xc = c->data;
    u_char        buf[16384];
    ssize_t       n, rv;

    for (;;) {
        n = c->recv(c, buf, sizeof(buf));
        if (n == RX_AGAIN) {
            break;
        }
        if (n <= 0) {
            rx_ex_conn_close(xc);
            return;
        }
        rv = nghttp2_session_mem_recv(xc->session, buf, (size_t) n);
        if (rv < 0) {
            rx_log_error(RX_LOG_INFO, rx_ex.log, 0,
                         "executor: HTTP/2 error: %s",
                         nghttp2_strerror((int) rv));
            rx_ex_conn_close(xc);
            return;
        }
    }
    if (rx_ex_conn_flush(xc) != RX_OK) {
        rx_ex_conn_close(xc);
    }
}

static void
rx_ex_conn_write(rx_event_t *ev)
{
    rx_conn_t    *c = ev->data;
    rx_ex_conn_t *xc = c->data;

    if (rx_ex_conn_flush(xc) != RX_OK) {
        rx_ex_conn_close(xc);
    }
}

static rx_int_t
rx_ex_conn_send_out(rx_ex_conn_t *xc)
{
    ssize_t n;

    while (rx_buf_len(&xc->out)) {
        n = xc->c->send(xc->c, xc->out.pos, rx_buf_len(&xc->out));
        if (n == RX_AGAIN) {
            return RX_AGAIN;
        }
        if (n < 0) {
            return RX_ERROR;
        }
        xc->out.pos += n;
    }
    xc->out.pos = xc->out.last = xc->out.start;
    return RX_OK;
}

static rx_int_t
rx_ex_conn_flush(rx_ex_conn_t *xc)
{
    const uint8_t *data;
    ssize_t        len;
    rx_int_t       rc;

    for (;;) {
        rc = rx_ex_conn_send_out(xc);
        if (rc != RX_OK) {
            return rc == RX_AGAIN ? RX_OK : RX_ERROR;
        }
        len = nghttp2_session_mem_send(xc->session, &data);
        if (len < 0) {
            return RX_ERROR;
        }
        if (len == 0) {
            break;
        }
        if (rx_buf_append(&xc->out, data, (size_t) len) != RX_OK) {
            return RX_ERROR;
        }
    }
    if (!nghttp2_session_want_read(xc->session)
        && !nghttp2_session_want_write(xc->session)) {
        return RX_ERROR; /* done: GOAWAY exchanged, no stream left */
    }
    return RX_OK;
}

static void
rx_ex_mark_dirty(rx_ex_conn_t *xc)
{
    if (!xc->is_dirty) {
        xc->is_dirty = 1;
        rx_queue_insert_tail(&rx_ex_dirty, &xc->dirty);
    }
}

void
rx_ex_h2_flush_dirty(void *data)
{
    rx_ex_conn_t *xc;
    rx_queue_t   *q;

    while (!rx_queue_empty(&rx_ex_dirty)) {
        q = rx_queue_head(&rx_ex_dirty);
        xc = rx_queue_data(q, rx_ex_conn_t, dirty);
        rx_queue_remove(q);
        xc->is_dirty = 0;
        if (rx_ex_conn_flush(xc) != RX_OK) {
            rx_ex_conn_close(xc);
        }
    }
}

static void
rx_ex_conn_close(rx_ex_conn_t *xc)
{
    rx_ex_stream_t *st;
    rx_queue_t     *q;

    while (!rx_queue_empty(&xc->streams)) {
        q = rx_queue_head(&xc->streams);
        st = rx_queue_data(q, rx_ex_stream_t, link);
        rx_ex_stream_free(st);
    }
    if (xc->is_dirty) {
        rx_queue_remove(&xc->dirty);
    }
    rx_queue_remove(&xc->link);
    rx_ex_count(offsetof(rx_stats_proc_t, conns_active), -1);
    nghttp2_session_del(xc->session);
    rx_close_connection(xc->c);
    rx_destroy_pool(xc->pool);
}

rx_uint_t
rx_ex_h2_busy(void)
{
    rx_ex_conn_t *xc;
    rx_queue_t   *q;
    rx_uint_t     n = 0;

    for (q = rx_queue_head(&rx_ex_conns); q != &rx_ex_conns;
         q = rx_queue_next(q)) {
        xc = rx_queue_data(q, rx_ex_conn_t, link);
        n += xc->nstreams;
    }
    return n;
}

void
rx_ex_h2_quit(void)
{
    rx_ex_conn_t *xc;
    rx_queue_t   *q;
    int32_t       last;

    for (q = rx_queue_head(&rx_ex_conns); q != &rx_ex_conns;
         q = rx_queue_next(q)) {
        xc = rx_queue_data(q, rx_ex_conn_t, link);
        if (xc->goaway) {
            continue;
        }
        xc->goaway = 1;
        last = nghttp2_session_get_last_proc_stream_id(xc->session);
        (void) nghttp2_submit_goaway(xc->session, NGHTTP2_FLAG_NONE, last,
                                     NGHTTP2_NO_ERROR, NULL, 0);
        rx_ex_mark_dirty(xc);
    }
}

/* ---- streams ---- */

static rx_ex_stream_t *
rx_ex_stream_create(rx_ex_conn_t *xc, int32_t id)
{
    rx_ex_stream_t *st;
    rx_pool_t      *pool;

    pool = rx_create_pool(4096, rx_ex.log);
    if (pool == NULL) {
        return NULL;
    }
    st = rx_pcalloc(pool, sizeof(rx_ex_stream_t));
    if (st == NULL || rx_buf_init(&st->in, pool, 1024) != RX_OK
        || rx_buf_init(&st->out, pool, 1024) != RX_OK) {
        rx_destroy_pool(pool);
        return NULL;
    }
    st->pool = pool;
    st->conn = xc;
    st->id = id;
    rx_queue_insert_tail(&xc->streams, &st->link);
    xc->nstreams++;
    return st;
}

static void
rx_ex_stream_free(rx_ex_stream_t *st)
{
    if (st->cleanup) {
        st->cleanup(st);
        st->cleanup = NULL;
    }
    rx_queue_remove(&st->link);
    st->conn->nstreams--;
    (void) nghttp2_session_set_stream_user_data(st->conn->session, st->id,
                                                NULL);
    rx_destroy_pool(st->pool);
}

static void
rx_ex_stream_dispatch(rx_ex_stream_t *st)
{
    const rx_ex_method_t *m;

    st->dispatched = 1;
    rx_ex_count(offsetof(rx_stats_proc_t, requests), 1);
    for (m = rx_ex_methods; m->path; m++) {
        if (strcmp(m->path, st->path) == 0) {
            st->method = m;
            return;
        }
    }
    rx_ex_finish(st, RX_GRPC_UNIMPLEMENTED, "unknown method %s", st->path);
}

/* splits complete messages off st->in; client-streaming handlers get each
   one as it arrives */
static rx_int_t
rx_ex_stream_parse(rx_ex_stream_t *st)
{
    uint32_t len;
    u_char  *p;

    while (!st->finished && rx_buf_len(&st->in) >= 5) {
        p = st->in.pos;
        len = (uint32_t) p[1] << 24 | (uint32_t) p[2] << 16
              | (uint32_t) p[3] << 8 | p[4];
        if (p[0] != 0) {
            rx_ex_finish(st, RX_GRPC_UNIMPLEMENTED,
                         "compressed messages are not supported");
            return RX_ERROR;
        }
        if (len > RX_EX_MAX_MSG) {
            rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED,
                         "message larger than %d bytes", RX_EX_MAX_MSG);
            return RX_ERROR;
        }
        if (rx_buf_len(&st->in) < 5 + (size_t) len
            || !st->method->client_stream) {
            return RX_OK;
        }
        st->in.pos += 5 + len;
        st->nin++;
        st->method->handler(st, p + 5, len);
    }
    return RX_OK;
}

static void
rx_ex_stream_end(rx_ex_stream_t *st)
{
    size_t len;

    st->req_done = 1;
    if (st->finished || st->method == NULL) {
        return;
    }
    if (st->method->client_stream) {
        if (rx_buf_len(&st->in)) {
            rx_ex_finish(st, RX_GRPC_INTERNAL, "truncated message");
            return;
        }
        st->method->handler(st, NULL, 0);
        return;
    }
    len = rx_buf_len(&st->in);
    if (len < 5
        || len
               != 5
                      + ((size_t) st->in.pos[1] << 24
                         | (size_t) st->in.pos[2] << 16
                         | (size_t) st->in.pos[3] << 8 | st->in.pos[4])) {
        rx_ex_finish(st, RX_GRPC_INTERNAL,
                     "expected exactly one request "
                     "message");
        return;
    }
    st->nin = 1;
    st->method->handler(st, st->in.pos + 5, len - 5);
}

/* ---- responses ---- */

static ssize_t
rx_ex_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                uint32_t *flags, nghttp2_data_source *src, void *user)
{
    rx_ex_stream_t *st = src->ptr;
    nghttp2_nv      nv[2];
    char            code[16], msg[1024];
    size_t          n;

    if (rx_buf_len(&st->out) == 0 && st->pull && !st->finished) {
        (void) st->pull(st);
    }
    n = rx_min(length, rx_buf_len(&st->out));
    memcpy(buf, st->out.pos, n);
    st->out.pos += n;
    if (rx_buf_len(&st->out) == 0) {
        st->out.pos = st->out.last = st->out.start;
    }
    if (n == 0 && !st->finished) {
        return NGHTTP2_ERR_DEFERRED;
    }
    if (rx_buf_len(&st->out) == 0 && st->finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        snprintf(code, sizeof(code), "%d", (int) st->code);
        nv[0] = (nghttp2_nv) RX_EX_NV("grpc-status", code);
        snprintf(msg, sizeof(msg), "%s", st->message ? st->message : "");
        nv[1] = (nghttp2_nv) RX_EX_NV("grpc-message", msg);
        if (nghttp2_submit_trailer(s, id, nv, msg[0] ? 2 : 1) != 0) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
    }
    return (ssize_t) n;
}

static rx_int_t
rx_ex_submit_headers(rx_ex_stream_t *st)
{
    nghttp2_data_provider dp;
    nghttp2_nv            nv[2];

    nv[0] = (nghttp2_nv) RX_EX_NV(":status", "200");
    nv[1] = (nghttp2_nv) RX_EX_NV("content-type", "application/grpc");

    st->headers_sent = 1;
    dp.source.ptr = st;
    dp.read_callback = rx_ex_data_read;
    if (nghttp2_submit_response(st->conn->session, st->id, nv, 2, &dp) != 0) {
        return RX_ERROR;
    }
    rx_ex_mark_dirty(st->conn);
    return RX_OK;
}

rx_int_t
rx_ex_send(rx_ex_stream_t *st, const ProtobufCMessage *m)
{
    size_t  size;
    u_char *p;

    if (st->finished) {
        return RX_ERROR;
    }
    size = protobuf_c_message_get_packed_size(m);
    if (rx_buf_reserve(&st->out, size + 5) != RX_OK) {
        return RX_ERROR;
    }
    p = st->out.last;
    p[0] = 0;
    p[1] = (u_char) (size >> 24);
    p[2] = (u_char) (size >> 16);
    p[3] = (u_char) (size >> 8);
    p[4] = (u_char) size;
    if (protobuf_c_message_pack(m, p + 5) != size) {
        return RX_ERROR;
    }
    st->out.last += size + 5;
    if (!st->headers_sent) {
        return rx_ex_submit_headers(st);
    }
    rx_ex_resume(st);
    return RX_OK;
}

void
rx_ex_resume(rx_ex_stream_t *st)
{
    (void) nghttp2_session_resume_data(st->conn->session, st->id);
    rx_ex_mark_dirty(st->conn);
}

/* grpc-message: bytes outside 0x20-0x7e and '%' as %XX */
static void
rx_ex_percent_encode(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    u_char            ch;

    while (*src && size > 4) {
        ch = (u_char) *src++;
        if (ch < 0x20 || ch > 0x7e || ch == '%') {
            *dst++ = '%';
            *dst++ = hex[ch >> 4];
            *dst++ = hex[ch & 0xf];
            size -= 3;
        } else {
            *dst++ = (char) ch;
            size--;
        }
    }
    *dst = '\0';
}

static void
rx_ex_trailers_only(rx_ex_stream_t *st)
{
    nghttp2_nv nv[4];
    char       code[16];

    snprintf(code, sizeof(code), "%d", (int) st->code);
    nv[0] = (nghttp2_nv) RX_EX_NV(":status", "200");
    nv[1] = (nghttp2_nv) RX_EX_NV("content-type", "application/grpc");
    nv[2] = (nghttp2_nv) RX_EX_NV("grpc-status", code);
    nv[3] = (nghttp2_nv) RX_EX_NV("grpc-message", st->message);
    st->headers_sent = 1;
    (void) nghttp2_submit_response(st->conn->session, st->id, nv,
                                   st->message[0] ? 4 : 3, NULL);
    rx_ex_mark_dirty(st->conn);
}

void
rx_ex_finish(rx_ex_stream_t *st, rx_grpc_code_e code, const char *fmt, ...)
{
    char    text[1024];
    va_list args;

    if (st->finished) {
        return;
    }
    st->finished = 1;
    st->code = code;
    text[0] = '\0';
    if (fmt) {
        va_start(args, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, args);
        va_end(args);
    }
    st->message = rx_pnalloc(st->pool, 1024);
    if (st->message == NULL) {
        st->message = "";
    } else {
        rx_ex_percent_encode(st->message, 1024, text);
    }
    if (!st->headers_sent && rx_buf_len(&st->out) == 0) {
        rx_ex_trailers_only(st);
        return;
    }
    if (!st->headers_sent) {
        (void) rx_ex_submit_headers(st);
        return;
    }
    rx_ex_resume(st);
}

/* ---- nghttp2 callbacks ---- */

static int
rx_ex_on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame,
                       void *data)
{
    rx_ex_stream_t *st;

    if (frame->hd.type != NGHTTP2_HEADERS
        || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    st = rx_ex_stream_create(data, frame->hd.stream_id);
    if (st == NULL) {
        (void) nghttp2_submit_rst_stream(
            s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    (void) nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    return 0;
}

static int
rx_ex_on_header(nghttp2_session *s, const nghttp2_frame *frame,
                const uint8_t *name, size_t nlen, const uint8_t *value,
                size_t vlen, uint8_t flags, void *data)
{
    rx_ex_stream_t *st;

    st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st == NULL || st->dispatched) {
        return 0;
    }
    if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
        snprintf(st->path, sizeof(st->path), "%.*s", (int) vlen,
                 (const char *) value);
    }
    return 0;
}

static int
rx_ex_on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *data)
{
    rx_ex_stream_t *st;

    st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && !st->dispatched) {
        rx_ex_stream_dispatch(st);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
        && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->req_done) {
        rx_ex_stream_end(st);
    }
    return 0;
}

static int
rx_ex_on_data(nghttp2_session *s, uint8_t flags, int32_t id,
              const uint8_t *data, size_t len, void *user)
{
    rx_ex_stream_t *st;

    st = nghttp2_session_get_stream_user_data(s, id);
    if (st == NULL || st->finished || st->method == NULL) {
        return 0;
    }
    if (rx_buf_len(&st->in) + len > (size_t) RX_EX_MAX_MSG + 5) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED,
                     "message larger than %d bytes", RX_EX_MAX_MSG);
        return 0;
    }
    if (rx_buf_append(&st->in, data, len) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return 0;
    }
    (void) rx_ex_stream_parse(st);
    return 0;
}

/* the response ended before the request did: tell the client to stop */
static int
rx_ex_on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *data)
{
    rx_ex_stream_t *st;

    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st && !st->req_done) {
        (void) nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
                                         frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int
rx_ex_on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code,
                      void *data)
{
    rx_ex_stream_t *st;

    st = nghttp2_session_get_stream_user_data(s, id);
    if (st) {
        rx_ex_stream_free(st);
    }
    return 0;
}

rx_int_t
rx_ex_h2_init(void)
{
    nghttp2_session_callbacks *cb;

    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return RX_ERROR;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        cb, rx_ex_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, rx_ex_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
                                                         rx_ex_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
                                                              rx_ex_on_data);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb,
                                                         rx_ex_on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, rx_ex_on_stream_close);
    rx_ex_callbacks = cb;
    return rx_event_add_before_sleep(rx_ex_h2_flush_dirty, NULL);
}
