/*
 * gRPC calls: stream slot selection, request headers and metadata, 5-byte
 * message framing, statuses from trailers / Trailers-Only / HTTP / RST,
 * deadlines and cancellation.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_grpc_int.h>
#include <openssl/evp.h>

static void rx_grpc_call_timer(rx_event_t *ev);
static void rx_grpc_call_place(rx_grpc_call_t *call);

static const char *rx_grpc_codes[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};

const char *
rx_grpc_code_name(rx_grpc_code_e code)
{
    return (unsigned) code < rx_nelems(rx_grpc_codes) ? rx_grpc_codes[code]
                                                      : "UNKNOWN";
}

void
rx_grpc_frame(rx_str_t *msg)
{
    uint32_t n = (uint32_t) (msg->len - 5);

    msg->data[0] = 0;
    msg->data[1] = (u_char) (n >> 24);
    msg->data[2] = (u_char) (n >> 16);
    msg->data[3] = (u_char) (n >> 8);
    msg->data[4] = (u_char) n;
}

void
rx_grpc_call_start(rx_grpc_call_t *call)
{
    rx_grpc_backend_t *b = call->backend;

    call->_done = 0;
    call->_active = 0;
    call->_queued = 0;
    call->_sent = 0;
    call->_has_status = 0;
    call->_got_headers = 0;
    call->_grpc_ctype = 0;
    call->_http_status = 0;
    rx_memzero(&call->_status, sizeof(call->_status));
    rx_memzero(&call->_rbuf, sizeof(call->_rbuf));
    call->_rbuf.pool = call->pool;
    rx_memzero(&call->_timer, sizeof(call->_timer));
    call->_timer.handler = rx_grpc_call_timer;
    call->_timer.data = call;
    call->_timer.log = &rx_cycle->log;
    rx_queue_init(&call->_queue);
    if (b == NULL) {
        call->_status.code = RX_GRPC_FAILED_PRECONDITION; /* not retried */
        rx_str_set(&call->_status.message, "no backend configured");
        rx_event_post(&call->_timer);
        return;
    }
    b->stats.calls++;
    if (call->timeout) {
        rx_event_add_timer(&call->_timer, call->timeout);
    }
    call->_starting = 1;
    rx_grpc_call_place(call);
    call->_starting = 0;
}

static rx_grpc_conn_t *
rx_grpc_pick(rx_grpc_backend_t *b, rx_uint_t *connecting)
{
    rx_grpc_conn_t *best = NULL, *gc;
    rx_uint_t       i;

    *connecting = 0;
    for (i = 0; i < b->nconns; i++) {
        gc = &b->conns[i];
        if (rx_grpc_conn_ready(gc)) {
            if (best == NULL || gc->streams < best->streams) {
                best = gc;
            }
        } else if (gc->state == RX_GC_CONNECTING
                   || gc->state == RX_GC_HANDSHAKE) {
            (*connecting)++;
        }
    }
    return best;
}

/* Puts the call on the least loaded ready connection, or queues it and
 * opens a connection, or fails it when every connection is backing off. */
static void
rx_grpc_call_place(rx_grpc_call_t *call)
{
    rx_grpc_backend_t *b = call->backend;
    rx_grpc_conn_t    *gc;
    rx_uint_t          i, connecting, backoff = 0;

    gc = rx_grpc_pick(b, &connecting);
    if (gc) {
        if (rx_grpc_conn_submit(gc, call) != RX_OK) {
            rx_grpc_call_finish(call, RX_GRPC_INTERNAL, "submit failed");
        }
        return;
    }
    for (i = 0; i < b->nconns && connecting == 0; i++) {
        if (b->conns[i].state == RX_GC_IDLE) {
            if (rx_grpc_conn_connect(&b->conns[i]) == RX_OK) {
                connecting++;
            } else {
                rx_grpc_conn_close(&b->conns[i], "connect failed");
            }
        }
    }
    for (i = 0; i < b->nconns; i++) {
        backoff += b->conns[i].state == RX_GC_BACKOFF;
    }
    if (backoff == b->nconns) {
        rx_grpc_call_finish(call, RX_GRPC_UNAVAILABLE,
                            "backend unavailable (reconnecting)");
        return;
    }
    if (b->nwaiting >= RX_GRPC_MAX_WAITING) {
        rx_grpc_call_finish(call, RX_GRPC_UNAVAILABLE,
                            "too many calls waiting for the backend");
        return;
    }
    call->_queued = 1;
    b->nwaiting++;
    rx_queue_insert_tail(&b->waiting, &call->_queue);
}

void
rx_grpc_dispatch_waiting(rx_grpc_backend_t *b)
{
    rx_grpc_call_t *call;
    rx_grpc_conn_t *gc;
    rx_queue_t     *q;
    rx_uint_t       connecting;

    while (!rx_queue_empty(&b->waiting)) {
        gc = rx_grpc_pick(b, &connecting);
        if (gc == NULL) {
            q = rx_queue_head(&b->waiting);
            call = rx_queue_data(q, rx_grpc_call_t, _queue);
            if (connecting == 0) { /* open one more if none is coming */
                rx_queue_remove(q);
                call->_queued = 0;
                b->nwaiting--;
                rx_grpc_call_place(call);
            }
            return;
        }
        q = rx_queue_head(&b->waiting);
        rx_queue_remove(q);
        call = rx_queue_data(q, rx_grpc_call_t, _queue);
        call->_queued = 0;
        b->nwaiting--;
        if (rx_grpc_conn_submit(gc, call) != RX_OK) {
            rx_grpc_call_finish(call, RX_GRPC_INTERNAL, "submit failed");
        }
    }
}

void
rx_grpc_fail_waiting(rx_grpc_backend_t *b, rx_grpc_code_e code, const char *msg)
{
    rx_grpc_call_t *call;
    rx_queue_t     *q;

    while (!rx_queue_empty(&b->waiting)) {
        q = rx_queue_head(&b->waiting);
        rx_queue_remove(q);
        call = rx_queue_data(q, rx_grpc_call_t, _queue);
        call->_queued = 0;
        b->nwaiting--;
        rx_grpc_call_finish(call, code, msg);
    }
}

/* Takes the call off the wire or the queue; no callback afterwards. */
static void
rx_grpc_call_detach(rx_grpc_call_t *call, int rst)
{
    rx_grpc_conn_t *gc = call->_conn;

    rx_event_del_timer(&call->_timer);
    rx_event_delete_posted(&call->_timer);
    if (call->_queued) {
        rx_queue_remove(&call->_queue);
        call->_queued = 0;
        call->backend->nwaiting--;
    }
    if (call->_active && gc) {
        rx_queue_remove(&call->_queue);
        call->_active = 0;
        if (gc->session) {
            nghttp2_session_set_stream_user_data(gc->session, call->_stream_id,
                                                 NULL);
            if (rst) {
                (void) nghttp2_submit_rst_stream(gc->session, NGHTTP2_FLAG_NONE,
                                                 call->_stream_id,
                                                 NGHTTP2_CANCEL);
                rx_grpc_conn_mark_dirty(gc);
            }
        }
    }
    call->_conn = NULL;
}

void
rx_grpc_call_cancel(rx_grpc_call_t *call)
{
    rx_grpc_call_detach(call, 1); /* also drops a pending deferred done */
    call->_done = 1;
}

void
rx_grpc_call_finish(rx_grpc_call_t *call, rx_grpc_code_e code, const char *msg)
{
    if (call->_done) {
        return;
    }
    call->_done = 1;
    rx_grpc_call_detach(call, code != RX_GRPC_OK);
    call->_status.code = code;
    if (msg) {
        call->_status.message.data = (u_char *) msg;
        call->_status.message.len = strlen(msg);
    }
    if (code != RX_GRPC_OK && call->backend) {
        call->backend->stats.failed++;
    }
    if (call->_starting) { /* never call back from inside start() */
        call->_done = 0;
        rx_event_post(&call->_timer);
        return;
    }
    call->handler->on_done(call, &call->_status);
}

static void
rx_grpc_call_timer(rx_event_t *ev)
{
    rx_grpc_call_t *call = ev->data;

    if (!ev->timedout) { /* posted: an immediate failure */
        call->_done = 1;
        call->handler->on_done(call, &call->_status);
        return;
    }
    rx_grpc_call_finish(call, RX_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static size_t
rx_grpc_timeout_value(rx_msec_t ms, u_char *buf)
{
    if (ms < 100000000) {
        return (size_t) (rx_slprintf(buf, buf + 16, "%lum", (unsigned long) ms)
                         - buf);
    }
    return (size_t) (rx_slprintf(buf, buf + 16, "%luS",
                                 (unsigned long) ((ms + 999) / 1000))
                     - buf);
}

static void
rx_grpc_nv(nghttp2_nv *nv, const char *name, const u_char *value, size_t vlen)
{
    nv->name = (uint8_t *) name;
    nv->namelen = strlen(name);
    nv->value = (uint8_t *) value;
    nv->valuelen = vlen;
    nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME;
}

static void
rx_grpc_refresh_bearer(rx_grpc_backend_t *b)
{
    struct stat st;
    ssize_t     n;
    int         fd;

    if (b->conf->bearer_token_file.len == 0
        || b->bearer_checked == rx_current_sec) {
        return;
    }
    b->bearer_checked = rx_current_sec;
    fd = open((char *) b->conf->bearer_token_file.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_mtime == b->bearer_mtime) {
        if (fd != -1) {
            close(fd);
        }
        return;
    }
    memcpy(b->bearer_buf, "Bearer ", 7);
    n = read(fd, b->bearer_buf + 7, sizeof(b->bearer_buf) - 8);
    close(fd);
    if (n <= 0) {
        return;
    }
    while (n > 0
           && (b->bearer_buf[7 + n - 1] == '\n'
               || b->bearer_buf[7 + n - 1] == '\r'
               || b->bearer_buf[7 + n - 1] == ' ')) {
        n--;
    }
    b->bearer.data = b->bearer_buf;
    b->bearer.len = 7 + (size_t) n;
    b->bearer_mtime = st.st_mtime;
}

rx_int_t
rx_grpc_call_headers(rx_grpc_call_t *call, nghttp2_nv *nva, rx_uint_t max)
{
    rx_grpc_backend_t *b = call->backend;
    rx_conf_kv_t      *kv = b->conf->headers.elts;
    rx_uint_t          n = 0, i;
    u_char            *p;
    int                len;

    rx_grpc_nv(&nva[n++], ":method", (u_char *) "POST", 4);
    rx_grpc_nv(&nva[n++], ":scheme", (u_char *) (b->ssl_ctx ? "https" : "http"),
               b->ssl_ctx ? 5 : 4);
    rx_grpc_nv(&nva[n++], ":path", (u_char *) call->path, strlen(call->path));
    rx_grpc_nv(&nva[n++], ":authority", (u_char *) b->authority,
               strlen(b->authority));
    rx_grpc_nv(&nva[n++], "te", (u_char *) "trailers", 8);
    rx_grpc_nv(&nva[n++], "content-type", (u_char *) "application/grpc", 16);
    rx_grpc_nv(&nva[n++], "user-agent",
               (u_char *) "grpc-c-remoteexec-proxy/" RX_VERSION,
               sizeof("grpc-c-remoteexec-proxy/" RX_VERSION) - 1);
    if (call->timeout) {
        p = rx_pnalloc(call->pool, 16);
        if (p == NULL) {
            return RX_ERROR;
        }
        rx_grpc_nv(&nva[n++], "grpc-timeout", p,
                   rx_grpc_timeout_value(call->timeout, p));
    }
    if (call->metadata.len) {
        p = rx_pnalloc(call->pool, call->metadata.len * 4 / 3 + 8);
        if (p == NULL) {
            return RX_ERROR;
        }
        len = EVP_EncodeBlock(p, call->metadata.data, (int) call->metadata.len);
        while (len > 0 && p[len - 1] == '=') {
            len--; /* unpadded, as gRPC sends binary headers */
        }
        rx_grpc_nv(&nva[n++],
                   "build.bazel.remote.execution.v2."
                   "requestmetadata-bin",
                   p, (size_t) len);
    }
    rx_grpc_refresh_bearer(b);
    if (b->bearer.len && !b->conf->insecure) { /* never in clear text */
        rx_grpc_nv(&nva[n++], "authorization", b->bearer.data, b->bearer.len);
    }
    for (i = 0; i < b->conf->headers.nelts && n < max; i++) {
        rx_grpc_nv(&nva[n++], (char *) kv[i].name.data, kv[i].value.data,
                   kv[i].value.len);
    }
    return (rx_int_t) n;
}

static int
rx_grpc_hexval(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = rx_tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded; invalid escapes stay as they are */
static void
rx_grpc_percent_decode(rx_pool_t *pool, const u_char *v, size_t len,
                       rx_str_t *out)
{
    u_char *p;
    size_t  i;
    int     hi, lo;

    p = out->data = rx_pnalloc(pool, len + 1);
    if (p == NULL) {
        out->len = 0;
        return;
    }
    for (i = 0; i < len; i++) {
        if (v[i] == '%' && i + 2 < len && (hi = rx_grpc_hexval(v[i + 1])) >= 0
            && (lo = rx_grpc_hexval(v[i + 2])) >= 0) {
            *p++ = (u_char) (hi << 4 | lo);
            i += 2;
        } else {
            *p++ = v[i];
        }
    }
    out->len = (size_t) (p - out->data);
}

static void
rx_grpc_base64_decode(rx_pool_t *pool, const u_char *v, size_t len,
                      rx_str_t *out)
{
    u_char *in, *p;
    size_t  padded = (len + 3) & ~(size_t) 3, i;
    int     n;

    out->len = 0;
    in = rx_pnalloc(pool, padded + 1);
    p = rx_pnalloc(pool, padded);
    if (in == NULL || p == NULL || len == 0) {
        return;
    }
    memcpy(in, v, len);
    for (i = len; i < padded; i++) {
        in[i] = '=';
    }
    n = EVP_DecodeBlock(p, in, (int) padded);
    if (n < 0) {
        return;
    }
    for (i = padded; i > 0 && in[i - 1] == '='; i--) {
        n--; /* EVP_DecodeBlock counts padding as zero bytes */
    }
    out->data = p;
    out->len = (size_t) rx_max(n, 0);
}

void
rx_grpc_call_on_header(rx_grpc_call_t *call, const u_char *name, size_t nlen,
                       const u_char *value, size_t vlen)
{
    rx_str_t n = {nlen, (u_char *) name};
    int64_t  v;

    if (rx_str_eq_ci(&n, ":status")) {
        call->_got_headers = 1;
        v = rx_atoi64(value, vlen);
        call->_http_status = v > 0 ? (rx_uint_t) v : 0;
    } else if (rx_str_eq_ci(&n, "content-type")) {
        call->_grpc_ctype =
            vlen >= 16
            && strncasecmp((char *) value, "application/grpc", 16) == 0;
    } else if (rx_str_eq_ci(&n, "grpc-status")) {
        v = rx_atoi64(value, vlen);
        call->_has_status = 1;
        call->_status.code =
            (v >= 0 && v <= 16) ? (rx_grpc_code_e) v : RX_GRPC_UNKNOWN;
    } else if (rx_str_eq_ci(&n, "grpc-message")) {
        rx_grpc_percent_decode(call->pool, value, vlen, &call->_status.message);
    } else if (rx_str_eq_ci(&n, "grpc-status-details-bin")) {
        rx_grpc_base64_decode(call->pool, value, vlen, &call->_status.details);
    }
}

rx_int_t
rx_grpc_call_on_data(rx_grpc_call_t *call, const u_char *data, size_t len)
{
    size_t   max = call->backend->conf->max_message_size;
    uint32_t mlen;
    u_char  *p;

    if (call->_http_status != 200 || !call->_grpc_ctype) {
        return RX_OK; /* an error page: the status comes from :status */
    }
    if (rx_buf_append(&call->_rbuf, data, len) != RX_OK) {
        rx_grpc_call_finish(call, RX_GRPC_RESOURCE_EXHAUSTED,
                            "out of memory for a response message");
        return RX_ERROR;
    }
    while (rx_buf_len(&call->_rbuf) >= 5 && !call->_done) {
        p = call->_rbuf.pos;
        mlen = (uint32_t) p[1] << 24 | (uint32_t) p[2] << 16
               | (uint32_t) p[3] << 8 | p[4];
        if (p[0] != 0) {
            rx_grpc_call_finish(call, RX_GRPC_INTERNAL,
                                "compressed message without grpc-encoding");
            return RX_ERROR;
        }
        if (mlen > max) {
            rx_grpc_call_finish(call, RX_GRPC_RESOURCE_EXHAUSTED,
                                "response message larger than "
                                "backend.max_message_size");
            return RX_ERROR;
        }
        if (rx_buf_len(&call->_rbuf) < 5 + (size_t) mlen) {
            break;
        }
        call->_rbuf.pos += 5 + mlen;
        call->handler->on_message(call, p + 5, mlen);
    }
    if (!call->_done && rx_buf_len(&call->_rbuf) == 0) {
        call->_rbuf.pos = call->_rbuf.last = call->_rbuf.start;
    }
    return RX_OK;
}

rx_grpc_code_e
rx_grpc_http_code(rx_uint_t status)
{
    switch (status) {
    case 400:
        return RX_GRPC_INTERNAL;
    case 401:
        return RX_GRPC_UNAUTHENTICATED;
    case 403:
        return RX_GRPC_PERMISSION_DENIED;
    case 404:
        return RX_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return RX_GRPC_UNAVAILABLE;
    default:
        return RX_GRPC_UNKNOWN;
    }
}

rx_grpc_code_e
rx_grpc_rst_code(uint32_t error_code)
{
    switch (error_code) {
    case NGHTTP2_REFUSED_STREAM:
        return RX_GRPC_UNAVAILABLE;
    case NGHTTP2_CANCEL:
        return RX_GRPC_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM:
        return RX_GRPC_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY:
        return RX_GRPC_PERMISSION_DENIED;
    default:
        return RX_GRPC_INTERNAL;
    }
}

void
rx_grpc_call_on_close(rx_grpc_call_t *call, uint32_t error_code)
{
    rx_grpc_conn_t *gc = call->_conn;
    rx_grpc_code_e  code;
    u_char          buf[96];

    if (call->_active && gc) {
        rx_queue_remove(&call->_queue);
        call->_active = 0;
    }
    call->_conn = NULL;
    if (call->_has_status && call->_grpc_ctype) {
        rx_grpc_call_finish(call, call->_status.code, NULL);
        return;
    }
    if (error_code == NGHTTP2_REFUSED_STREAM && !call->_got_headers
        && call->_restarts++ < 3) {
        /* not processed by the server (GOAWAY or refusal): try again,
           from the first byte of the request */
        call->_sent = 0;
        rx_grpc_call_place(call);
        return;
    }
    if (error_code != NGHTTP2_NO_ERROR) {
        code = rx_grpc_rst_code(error_code);
        rx_slprintf(buf, buf + sizeof(buf),
                    "stream terminated by RST_STREAM "
                    "with error code: %s",
                    nghttp2_http2_strerror(error_code));
        buf[sizeof(buf) - 1] = '\0';
        rx_str_dup(call->pool, &call->_status.message,
                   &(rx_str_t){strlen((char *) buf), buf});
        rx_grpc_call_finish(call, code, NULL);
        return;
    }
    if (call->_http_status != 200) {
        rx_grpc_call_finish(call, rx_grpc_http_code(call->_http_status),
                            "unexpected HTTP status from the backend");
        return;
    }
    if (!call->_grpc_ctype) {
        rx_grpc_call_finish(call, RX_GRPC_UNAVAILABLE,
                            "backend answered with a non-gRPC content-type");
        return;
    }
    rx_grpc_call_finish(call, RX_GRPC_INTERNAL,
                        "stream ended without grpc-status");
}
