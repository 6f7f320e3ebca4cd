/*
 * Execute (server-streaming Operations) with WaitExecution reconnects
 * (REMOTEEXEC.md §6.11): one stream per attempt, the operation name kept
 * across attempts, NOT_FOUND on WaitExecution re-issues Execute, a stream
 * that ends without a done operation is resumed with WaitExecution, and a
 * done operation with `error` is reported as the ExecuteResponse status.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_reapi_cas.h>
#include <rx_pb.h>

#define RX_EXEC_STREAM_MSEC 60000

typedef Build__Bazel__Remote__Execution__V2__ExecuteResponse rx_exec_resp_t;

static void rx_reapi_execute_attempt(rx_reapi_req_t *req);

static const char *
rx_any_type(const Rx__Wkt__Any *any)
{
    const char *slash = strrchr(any->type_url, '/');

    return slash ? slash + 1 : any->type_url;
}

static void
rx_reapi_exec_message(rx_reapi_op_t *op, u_char *msg, size_t len)
{
    rx_reapi_req_t                 *req = op->data;
    Google__Longrunning__Operation *o;
    rx_exec_resp_t                 *r;
    ProtobufCAllocator              a;
    rx_pool_t                      *tmp;
    rx_str_t                        name;

    /* progress updates (a backend may send any number of them, with
       large metadata) are read in a pool of their own: only the name
       and the final answer stay in the request's */
    tmp = rx_create_pool(4096, &rx_cycle->log);
    if (tmp == NULL) {
        return;
    }
    rx_pb_allocator_init(&a, tmp);
    o = google__longrunning__operation__unpack(&a, len, msg);
    if (o == NULL) {
        rx_destroy_pool(tmp);
        return;
    }
    if (o->name[0] && req->operation.len == 0) {
        name.data = (u_char *) o->name;
        name.len = strlen(o->name);
        (void) rx_str_dup(req->ctx->pool, &req->operation, &name);
    }
    if (!o->done) {
        rx_destroy_pool(tmp);
        return;
    }
    rx_destroy_pool(tmp);
    rx_pb_allocator_init(&a, req->ctx->pool);
    o = google__longrunning__operation__unpack(&a, len, msg);
    if (o == NULL) {
        return;
    }
    if (o->result_case == GOOGLE__LONGRUNNING__OPERATION__RESULT_ERROR
        && o->error) {
        r = rx_pcalloc(req->ctx->pool, sizeof(*r));
        if (r) { /* [C-DEVIATION] error instead of response */
            build__bazel__remote__execution__v2__execute_response__init(r);
            r->status = o->error;
        }
    } else if (o->result_case == GOOGLE__LONGRUNNING__OPERATION__RESULT_RESPONSE
               && o->response
               && strcmp(rx_any_type(o->response),
                         "build.bazel.remote.execution.v2.ExecuteResponse")
                      == 0) {
        r = build__bazel__remote__execution__v2__execute_response__unpack(
            &a, o->response->value.len, o->response->value.data);
    } else {
        r = NULL;
    }
    req->response = r;
    op->count = 1;       /* done seen */
    rx_reapi_cancel(op); /* stop reading; the answer is in */
    req->status.code = r ? RX_GRPC_OK : RX_GRPC_INTERNAL;
    if (r == NULL) {
        rx_str_set(&req->status.message, "done operation without an "
                                         "ExecuteResponse");
    }
    if (!req->_cancelled) {
        req->done(req);
    }
}

static rx_int_t
rx_reapi_execute_retry(rx_reapi_req_t *req, rx_grpc_status_t *st)
{
    if (req->max_attempts && req->_attempt >= req->max_attempts) {
        return 0;
    }
    if (req->ctx->deadline && rx_current_msec >= req->ctx->deadline) {
        return 0;
    }
    switch (st->code) {
    case RX_GRPC_NOT_FOUND:
        req->operation.len = 0; /* the operation is gone: Execute again */
        return 1;
    case RX_GRPC_OK: /* ended without a done operation */
    case RX_GRPC_DEADLINE_EXCEEDED:
    case RX_GRPC_UNAVAILABLE:
        return 1;
    default:
        return rx_reapi_retriable(st, 0, req->_attempt);
    }
}

/* §9 back-off between attempts: 10 ms x 1.6^n, at most 5 s, +-20% */
static rx_msec_t
rx_reapi_execute_delay(rx_reapi_req_t *req)
{
    rx_msec_t d = 10;
    rx_uint_t i;

    for (i = 1; i < req->_attempt && d < 5000; i++) {
        d = d * 16 / 10;
    }
    d = rx_min(d, (rx_msec_t) 5000);
    return rx_max(d * (80 + (rx_msec_t) (random() % 41)) / 100, (rx_msec_t) 1);
}

static void
rx_reapi_execute_retry_handler(rx_event_t *ev)
{
    rx_reapi_req_t *req = ev->data;

    if (!req->_cancelled) {
        rx_reapi_execute_attempt(req);
    }
}

static void
rx_reapi_exec_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t *req = op->data;

    if (op->count) {
        return; /* already answered from the done operation */
    }
    if (rx_reapi_execute_retry(req, &op->status)) {
        rx_log_error(RX_LOG_INFO, &rx_cycle->log, 0,
                     "execute stream ended "
                     "(%s), %s",
                     rx_grpc_code_name(op->status.code),
                     req->operation.len ? "resuming with WaitExecution"
                                        : "executing again");
        rx_event_add_timer(&req->_retry, rx_reapi_execute_delay(req));
        return;
    }
    req->status = op->status;
    if (req->status.code == RX_GRPC_OK) {
        req->status.code = RX_GRPC_INTERNAL;
        rx_str_set(&req->status.message, "execute stream ended without a "
                                         "result");
    }
    if (!req->_cancelled) {
        req->done(req);
    }
}

static void
rx_reapi_execute_attempt(rx_reapi_req_t *req)
{
    Build__Bazel__Remote__Execution__V2__ExecuteRequest m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__EXECUTE_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__WaitExecutionRequest w =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__WAIT_EXECUTION_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__Digest d =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__DIGEST__INIT;
    rx_reapi_op_t *op = &req->_ops[0];

    req->_attempt++;
    rx_memzero(op, sizeof(*op));
    if (req->operation.len) {
        w.name = (char *) req->operation.data;
        rx_reapi_op_setup(req, op, RX_REAPI_WAIT_EXECUTION, rx_reapi_exec_done,
                          0);
        (void) rx_reapi_pack(op, &w.base);
    } else {
        d.hash = req->action.hash;
        d.size_bytes = req->action.size;
        m.instance_name =
            req->ctx->instance.len ? (char *) req->ctx->instance.data : "";
        m.skip_cache_lookup = req->skip_cache_lookup ? 1 : 0;
        m.action_digest = &d;
        rx_reapi_op_setup(req, op, RX_REAPI_EXECUTE, rx_reapi_exec_done, 0);
        (void) rx_reapi_pack(op, &m.base);
    }
    op->on_message = rx_reapi_exec_message;
    op->max_attempts = 1; /* attempts are counted here */
    op->timeout =
        req->stream_timeout ? req->stream_timeout : RX_EXEC_STREAM_MSEC;
    rx_reapi_start(op);
}

void
rx_reapi_execute(rx_reapi_req_t *req)
{
    if (rx_reapi_ops(req, 1) == NULL) {
        return;
    }
    req->response = NULL;
    req->operation.len = 0;
    req->_attempt = 0;
    rx_memzero(&req->_retry, sizeof(req->_retry));
    req->_retry.handler = rx_reapi_execute_retry_handler;
    req->_retry.data = req;
    req->_retry.log = &rx_cycle->log;
    rx_reapi_execute_attempt(req);
}
