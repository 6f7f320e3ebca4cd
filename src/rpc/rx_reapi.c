/*
 * REAPI operations: one RPC with retries per REMOTEEXEC.md §9.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_reapi.h>
#include <rx_pb.h>

#define RX_REAPI_BASE_DELAY 10
#define RX_REAPI_MAX_DELAY  120000
#define RX_REAPI_RE_MAX     5 /* RESOURCE_EXHAUSTED attempts */

static void rx_reapi_attempt(rx_reapi_op_t *op);
static void rx_reapi_on_message(rx_grpc_call_t *call, u_char *msg, size_t len);
static void rx_reapi_on_done(rx_grpc_call_t *call, rx_grpc_status_t *st);
static void rx_reapi_backoff_handler(rx_event_t *ev);

static const rx_grpc_handler_t rx_reapi_handler = {rx_reapi_on_message,
                                                   rx_reapi_on_done};

rx_int_t
rx_reapi_pack(rx_reapi_op_t *op, const ProtobufCMessage *m)
{
    if (rx_pb_pack(op->pool, m, 5, &op->request) != RX_OK) {
        return RX_ERROR;
    }
    rx_grpc_frame(&op->request);
    return RX_OK;
}

ProtobufCMessage *
rx_reapi_unpack(rx_reapi_op_t *op, const ProtobufCMessageDescriptor *d)
{
    return rx_pb_unpack(op->pool, d, op->response.data, op->response.len);
}

void
rx_reapi_start(rx_reapi_op_t *op)
{
    op->attempts = 0;
    op->_delay = 0;
    op->_running = 1;
    rx_memzero(&op->_backoff, sizeof(op->_backoff));
    op->_backoff.handler = rx_reapi_backoff_handler;
    op->_backoff.data = op;
    op->_backoff.log = &rx_cycle->log;
    rx_reapi_attempt(op);
}

void
rx_reapi_cancel(rx_reapi_op_t *op)
{
    if (!op->_running) {
        return;
    }
    op->_running = 0;
    rx_event_del_timer(&op->_backoff);
    rx_event_delete_posted(&op->_backoff);
    rx_grpc_call_cancel(&op->_call);
}

static void
rx_reapi_attempt(rx_reapi_op_t *op)
{
    rx_grpc_call_t *call = &op->_call;
    rx_msec_t       left;

    op->attempts++;
    op->nmessages = 0;
    op->response.len = 0;
    rx_memzero(call, sizeof(*call));
    call->pool = op->pool;
    call->backend = rx_grpc_backend();
    call->path = op->path;
    call->request = op->request;
    call->metadata = op->metadata;
    call->handler = &rx_reapi_handler;
    call->data = op;
    call->timeout = op->timeout;
    if (op->deadline) {
        left =
            op->deadline > rx_current_msec ? op->deadline - rx_current_msec : 1;
        call->timeout = call->timeout ? rx_min(call->timeout, left) : left;
    }
    rx_grpc_call_start(call);
}

static void
rx_reapi_on_message(rx_grpc_call_t *call, u_char *msg, size_t len)
{
    rx_reapi_op_t *op = call->data;

    op->nmessages++;
    if (op->on_message) {
        op->on_message(op, msg, len);
        return;
    }
    op->response.len = len; /* copied: the buffer is the call's */
    op->response.data = rx_pnalloc(op->pool, len + 1);
    if (op->response.data) {
        memcpy(op->response.data, msg, len);
    } else {
        op->response.len = 0;
    }
}

static rx_msec_t
rx_reapi_retry_delay(const rx_grpc_status_t *st)
{
    Google__Rpc__Status    *s;
    Rx__Wkt__Any           *any;
    Google__Rpc__RetryInfo *ri;
    rx_pool_t              *pool;
    ProtobufCAllocator      a;
    rx_msec_t               ms = 0;
    size_t                  i;
    const char             *slash;

    if (st->details.len == 0
        || (pool = rx_create_pool(4096, &rx_cycle->log)) == NULL) {
        return 0;
    }
    rx_pb_allocator_init(&a, pool);
    s = google__rpc__status__unpack(&a, st->details.len, st->details.data);
    for (i = 0; s && i < s->n_details; i++) {
        any = s->details[i];
        slash = strrchr(any->type_url, '/');
        if (strcmp(slash ? slash + 1 : any->type_url, "google.rpc.RetryInfo")
            != 0) {
            continue;
        }
        ri = google__rpc__retry_info__unpack(&a, any->value.len,
                                             any->value.data);
        if (ri && ri->retry_delay) {
            ms = (rx_msec_t) ri->retry_delay->seconds * 1000
                 + (rx_msec_t) ri->retry_delay->nanos / 1000000;
        }
    }
    rx_destroy_pool(pool);
    return ms;
}

rx_int_t
rx_reapi_retriable(const rx_grpc_status_t *st, rx_uint_t flags,
                   rx_uint_t attempt)
{
    static const char *transient[] = {
        "unexpected content-type", "unexpected EOF",
        "RST_STREAM with error code: INTERNAL_ERROR"};
    rx_uint_t i;

    switch (st->code) {
    case RX_GRPC_UNAVAILABLE:
    case RX_GRPC_DEADLINE_EXCEEDED:
        return 1;
    case RX_GRPC_RESOURCE_EXHAUSTED:
        return attempt < RX_REAPI_RE_MAX;
    case RX_GRPC_INTERNAL:
        if (flags & RX_REAPI_RETRY_CAS) {
            return 1;
        }
        for (i = 0; i < rx_nelems(transient); i++) {
            if (st->message.len
                && memmem(st->message.data, st->message.len, transient[i],
                          strlen(transient[i]))) {
                return 1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static void
rx_reapi_finish(rx_reapi_op_t *op, rx_grpc_status_t *st)
{
    op->_running = 0;
    op->status = *st;
    op->done(op);
}

static void
rx_reapi_on_done(rx_grpc_call_t *call, rx_grpc_status_t *st)
{
    rx_reapi_op_t *op = call->data;
    rx_msec_t      base, delay, hint;
    rx_uint_t      i;

    if (st->code == RX_GRPC_OK && op->on_message == NULL
        && op->nmessages != 1) {
        /* a unary answer is one message: none (a Trailers-Only OK) is
           not an empty result */
        st->code = RX_GRPC_INTERNAL;
        rx_str_set(&st->message, "unary call answered without exactly "
                                 "one message");
    }
    if (st->code == RX_GRPC_OK
        || !rx_reapi_retriable(st, op->flags, op->attempts)
        || (op->max_attempts && op->attempts >= op->max_attempts)) {
        rx_reapi_finish(op, st);
        return;
    }
    base = st->code == RX_GRPC_RESOURCE_EXHAUSTED ? 1000 : RX_REAPI_BASE_DELAY;
    hint = rx_reapi_retry_delay(st);
    base = rx_max(base, hint);
    delay = base; /* attempt i waits base * factor^i, capped */
    for (i = 1; i < op->attempts && delay < RX_REAPI_MAX_DELAY; i++) {
        delay = st->code == RX_GRPC_RESOURCE_EXHAUSTED ? delay * 2
                                                       : delay * 16 / 10;
    }
    delay = rx_min(delay, (rx_msec_t) RX_REAPI_MAX_DELAY);
    op->_delay = delay;
    delay = delay * (80 + (rx_msec_t) (random() % 41)) / 100;
    if (op->deadline && rx_current_msec + delay >= op->deadline) {
        st->code = RX_GRPC_DEADLINE_EXCEEDED;
        rx_reapi_finish(op, st);
        return;
    }
    op->status = *st;
    rx_event_add_timer(&op->_backoff, rx_max(delay, (rx_msec_t) 1));
}

static void
rx_reapi_backoff_handler(rx_event_t *ev)
{
    rx_reapi_attempt(ev->data);
}
