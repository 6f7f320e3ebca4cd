/*
 * Execution.Execute and WaitExecution: one operation per action digest in
 * flight (requests for the same cacheable action share it), a FIFO of
 * queued operations and executor.jobs slots. Each watching stream gets an
 * Operation (not done, stage QUEUED/EXECUTING) on every stage change and
 * the done one carrying the ExecuteResponse. A finished operation stays
 * findable by name for a while so that WaitExecution can pick it up after
 * a broken stream.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_pb.h>
#include <openssl/rand.h>

#define RX_EX_MAX_DONE 1000
#define RX_EX_TYPE     "type.googleapis.com/"
#define RX_EX_STAGE(s)                                                         \
    BUILD__BAZEL__REMOTE__EXECUTION__V2__EXECUTION_STAGE__VALUE__##s

typedef struct {
    rx_queue_t      link; /* op->watchers */
    rx_ex_op_t     *op;
    rx_ex_stream_t *st;
} rx_ex_watch_t;

static rx_ex_op_t *rx_ex_op_create(const rx_ex_digest_t *d);
static void        rx_ex_op_free(rx_ex_op_t *op);
static rx_int_t    rx_ex_op_watch(rx_ex_op_t *op, rx_ex_stream_t *st);
static void        rx_ex_op_notify(rx_ex_op_t *op);
static void        rx_ex_op_complete(rx_ex_op_t *op);
static rx_int_t    rx_ex_op_load(rx_ex_op_t *op);
static int         rx_ex_op_cached(rx_ex_op_t *op);
static void        rx_ex_op_timer(rx_event_t *ev);
static void        rx_ex_schedule(void);

static rx_queue_t rx_ex_ops = {&rx_ex_ops, &rx_ex_ops};
static rx_queue_t rx_ex_pending = {&rx_ex_pending, &rx_ex_pending};
static rx_uint_t  rx_ex_running;
static rx_uint_t  rx_ex_queued;
static rx_uint_t  rx_ex_ndone;

/* ---- entry points ---- */

void
rx_ex_execute(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(ExecuteRequest) * req;
    rx_ex_digest_t d;
    rx_ex_op_t    *op, *same;
    rx_queue_t    *q;

    req =
        (void *) rx_pb_unpack(st->pool, &rx_re_desc(execute_request), msg, len);
    if (req == NULL || rx_ex_digest_from_pb(&d, req->action_digest) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "invalid action digest");
        return;
    }
    op = rx_ex_op_create(&d);
    if (op == NULL || rx_ex_op_watch(op, st) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if ((!req->skip_cache_lookup && rx_ex_op_cached(op))
        || rx_ex_op_load(op) != RX_OK) {
        rx_ex_op_complete(op);
        return;
    }
    for (q = rx_queue_head(&rx_ex_ops);
         !op->action->do_not_cache && q != &rx_ex_ops; q = rx_queue_next(q)) {
        same = rx_queue_data(q, rx_ex_op_t, link);
        if (same != op && !same->done && !same->action->do_not_cache
            && strcmp((char *) same->digest.hex, (char *) d.hex) == 0) {
            rx_ex_op_free(op); /* also drops the watch */
            (void) rx_ex_op_watch(same, st);
            rx_ex_op_notify(same);
            return;
        }
    }
    op->stage = RX_EX_STAGE(QUEUED);
    rx_queue_insert_tail(&rx_ex_pending, &op->queue);
    rx_ex_queued++;
    rx_ex_op_notify(op);
    rx_ex_schedule();
}

void
rx_ex_wait_execution(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(WaitExecutionRequest) * req;
    rx_ex_op_t *op;
    rx_queue_t *q;
    const char *name;

    req = (void *) rx_pb_unpack(st->pool, &rx_re_desc(wait_execution_request),
                                msg, len);
    name = req ? strstr(req->name, "operations/") : NULL;
    for (q = rx_queue_head(&rx_ex_ops); name && q != &rx_ex_ops;
         q = rx_queue_next(q)) {
        op = rx_queue_data(q, rx_ex_op_t, link);
        if (strcmp(op->name, name) == 0) {
            if (rx_ex_op_watch(op, st) != RX_OK) {
                rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
                return;
            }
            rx_ex_op_notify(op);
            return;
        }
    }
    rx_ex_finish(st, RX_GRPC_NOT_FOUND, "no such operation");
}

rx_uint_t
rx_ex_ops_busy(void)
{
    return rx_ex_running + rx_ex_queued;
}

void
rx_ex_ops_kill_all(void)
{
    rx_ex_op_t *op;
    rx_queue_t *q;

    for (q = rx_queue_head(&rx_ex_ops); q != &rx_ex_ops; q = rx_queue_next(q)) {
        op = rx_queue_data(q, rx_ex_op_t, link);
        if (op->pid > 0) {
            (void) kill(op->pid, SIGTERM); /* the supervisor kills the group */
        }
    }
}

void
rx_ex_ops_reaped(pid_t pid, int status)
{
    rx_ex_op_t *op;
    rx_queue_t *q;

    for (q = rx_queue_head(&rx_ex_ops); q != &rx_ex_ops; q = rx_queue_next(q)) {
        op = rx_queue_data(q, rx_ex_op_t, link);
        if (op->pid != pid) {
            continue;
        }
        op->pid = 0;
        op->wstatus = status;
        rx_ex_running--;
        rx_event_del_timer(&op->timer);
        (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_EXECUTED]);
        if (op->timed_out) {
            (void) rx_ex_op_fail(op, RX_GRPC_DEADLINE_EXCEEDED,
                                 "action timed out after %lu ms",
                                 (unsigned long) op->timeout);
        }
        (void) rx_ex_out_collect(op);
        rx_ex_op_complete(op);
        rx_ex_schedule();
        return;
    }
    /* a directory cleaner */
}

rx_int_t
rx_ex_op_fail(rx_ex_op_t *op, rx_grpc_code_e code, const char *fmt, ...)
{
    char    text[1024];
    va_list args;

    if (op->code != RX_GRPC_OK) {
        return RX_ERROR; /* keep the first reason */
    }
    va_start(args, fmt);
    (void) vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    op->code = code;
    op->message = rx_pnalloc(op->pool, strlen(text) + 1);
    if (op->message) {
        memcpy(op->message, text, strlen(text) + 1);
    }
    return RX_ERROR;
}

rx_int_t
rx_ex_op_missing(rx_ex_op_t *op, const rx_ex_digest_t *d)
{
    rx_ex_digest_t *m;

    if (op->missing.elts == NULL
        && rx_array_init(&op->missing, op->pool, 4, sizeof(rx_ex_digest_t))
               != RX_OK) {
        return RX_ERROR;
    }
    m = rx_array_push(&op->missing);
    if (m) {
        *m = *d;
    }
    return rx_ex_op_fail(op, RX_GRPC_FAILED_PRECONDITION, "missing inputs");
}

/* ---- operation lifetime ---- */

static rx_ex_op_t *
rx_ex_op_create(const rx_ex_digest_t *d)
{
    u_char      rnd[16];
    rx_ex_op_t *op;
    rx_pool_t  *pool;

    pool = rx_create_pool(16384, rx_ex.log);
    if (pool == NULL) {
        return NULL;
    }
    op = rx_pcalloc(pool, sizeof(rx_ex_op_t));
    if (op == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        rx_destroy_pool(pool);
        return NULL;
    }
    op->pool = pool;
    op->digest = *d;
    memcpy(op->name, "operations/", 11);
    *rx_hex_dump((u_char *) op->name + 11, rnd, sizeof(rnd)) = '\0';
    op->stage = RX_EX_STAGE(CACHE_CHECK);
    op->timer.handler = rx_ex_op_timer;
    op->timer.data = op;
    op->timer.log = rx_ex.log;
    rx_queue_init(&op->queue);
    rx_queue_init(&op->watchers);
    rx_queue_insert_tail(&rx_ex_ops, &op->link);
    (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_QUEUED]);
    return op;
}

static void
rx_ex_watch_cleanup(rx_ex_stream_t *st)
{
    rx_ex_watch_t *w = st->data;

    rx_queue_remove(&w->link);
}

static rx_int_t
rx_ex_op_watch(rx_ex_op_t *op, rx_ex_stream_t *st)
{
    rx_ex_watch_t *w;

    w = rx_palloc(st->pool, sizeof(rx_ex_watch_t));
    if (w == NULL) {
        return RX_ERROR;
    }
    w->op = op;
    w->st = st;
    st->data = w;
    st->cleanup = rx_ex_watch_cleanup;
    rx_queue_insert_tail(&op->watchers, &w->link);
    return RX_OK;
}

static void
rx_ex_op_free(rx_ex_op_t *op)
{
    rx_ex_watch_t *w;
    rx_queue_t    *q;

    while (!rx_queue_empty(&op->watchers)) {
        q = rx_queue_head(&op->watchers);
        w = rx_queue_data(q, rx_ex_watch_t, link);
        rx_queue_remove(q);
        w->st->cleanup = NULL;
    }
    if (op->done) {
        rx_ex_ndone--;
    }
    rx_event_del_timer(&op->timer);
    rx_queue_remove(&op->link);
    rx_destroy_pool(op->pool);
}

/* finished operations are kept RX_EX_KEEP_DONE ms, at most RX_EX_MAX_DONE */
static void
rx_ex_op_expire_oldest(void)
{
    rx_ex_op_t *op;
    rx_queue_t *q;

    for (q = rx_queue_head(&rx_ex_ops); q != &rx_ex_ops; q = rx_queue_next(q)) {
        op = rx_queue_data(q, rx_ex_op_t, link);
        if (op->done && rx_queue_empty(&op->watchers)) {
            rx_ex_op_free(op);
            return;
        }
    }
}

static void
rx_ex_op_timer(rx_event_t *ev)
{
    rx_ex_op_t *op = ev->data;

    if (op->done) {
        rx_ex_op_free(op);
        return;
    }
    if (op->pid > 0 && !op->timed_out) {
        op->timed_out = 1;
        rx_log_error(RX_LOG_WARN, rx_ex.log, 0,
                     "executor: action %.12s timed out after %lu ms, killing",
                     (char *) op->digest.hex, (unsigned long) op->timeout);
        (void) kill(op->pid, SIGTERM);
        rx_event_add_timer(ev, 5000);
        return;
    }
    if (op->pid > 0) {
        (void) kill(op->pid, SIGKILL); /* the supervisor did not react */
    }
}

static void
rx_ex_schedule(void)
{
    rx_ex_op_t *op;
    rx_queue_t *q;
    rx_msec_t   t;

    while (rx_ex_running < rx_ex.jobs && !rx_queue_empty(&rx_ex_pending)) {
        q = rx_queue_head(&rx_ex_pending);
        op = rx_queue_data(q, rx_ex_op_t, queue);
        rx_queue_remove(q);
        rx_ex_queued--;
        op->stage = RX_EX_STAGE(EXECUTING);
        (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_START]);
        rx_ex_op_notify(op);
        t = rx_ex.action_timeout;
        if (op->action->timeout && op->action->timeout->seconds > 0) {
            t = rx_min(t,
                       (rx_msec_t) op->action->timeout->seconds * 1000
                           + (rx_msec_t) op->action->timeout->nanos / 1000000);
        }
        op->timeout = t;
        if (rx_ex_run_start(op) != RX_OK) {
            rx_ex_op_complete(op);
            continue;
        }
        op->started = rx_current_msec;
        rx_ex_running++;
        rx_event_add_timer(&op->timer, t);
    }
}

/* ---- loading the action ---- */

static void *
rx_ex_op_blob(rx_ex_op_t                       *op, rx_re_t(Digest) * pb,
              const ProtobufCMessageDescriptor *desc, const char *what)
{
    rx_ex_digest_t d;
    rx_str_t       data;
    rx_int_t       rc;
    void          *m;

    if (rx_ex_digest_from_pb(&d, pb) != RX_OK) {
        (void) rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT, "invalid %s digest",
                             what);
        return NULL;
    }
    rc = rx_ex_cas_get(op->pool, &d, RX_EX_MAX_PROTO, &data);
    if (rc == RX_DECLINED) {
        (void) rx_ex_op_missing(op, &d);
        return NULL;
    }
    m = rc == RX_OK ? rx_pb_unpack(op->pool, desc, data.data, data.len) : NULL;
    if (m == NULL) {
        (void) rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot read the "
                             "%s",
                             what);
    }
    return m;
}

static rx_int_t
rx_ex_op_load(rx_ex_op_t *op)
{
    rx_re_t(Digest) d;

    rx_ex_digest_to_pb(&d, &op->digest);
    op->action = rx_ex_op_blob(op, &d, &rx_re_desc(action), "action");
    if (op->action == NULL) {
        return RX_ERROR;
    }
    op->command = rx_ex_op_blob(op, op->action->command_digest,
                                &rx_re_desc(command), "command");
    if (op->command == NULL) {
        return RX_ERROR;
    }
    if (op->command->n_arguments == 0) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "the command has no arguments");
    }
    if (op->action->input_root_digest == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT, "no input root");
    }
    return RX_OK;
}

static int
rx_ex_op_cached(rx_ex_op_t *op)
{
    rx_re_t(ActionResult) * r;
    rx_str_t data;

    if (rx_ex_ac_get(op->pool, &op->digest, &data) != RX_OK) {
        return 0;
    }
    r = (void *) rx_pb_unpack(op->pool, &rx_re_desc(action_result), data.data,
                              data.len);
    if (r == NULL || !rx_ex_result_complete(r)) {
        rx_ex_ac_del(&op->digest);
        return 0;
    }
    op->result = r;
    op->cached = 1;
    return 1;
}

/* ---- messages ---- */

static rx_int_t
rx_ex_any(rx_pool_t *pool, Rx__Wkt__Any *any, const char *type,
          const ProtobufCMessage *m)
{
    Rx__Wkt__Any init = RX__WKT__ANY__INIT;
    rx_str_t     bytes;

    if (rx_pb_pack(pool, m, 0, &bytes) != RX_OK) {
        return RX_ERROR;
    }
    *any = init;
    any->type_url = (char *) type;
    any->value.data = bytes.data;
    any->value.len = bytes.len;
    return RX_OK;
}

static rx_int_t
rx_ex_op_send(rx_ex_op_t *op, rx_ex_stream_t *st)
{
    Google__Longrunning__Operation o = GOOGLE__LONGRUNNING__OPERATION__INIT;
    rx_re_t(ExecuteOperationMetadata) md =
        RX_RE_INIT(EXECUTE_OPERATION_METADATA);
    rx_re_t(Digest) d;
    Rx__Wkt__Any meta, resp = RX__WKT__ANY__INIT;

    rx_ex_digest_to_pb(&d, &op->digest);
    md.stage = op->stage;
    md.action_digest = &d;
    if (rx_ex_any(st->pool, &meta,
                  RX_EX_TYPE "build.bazel.remote.execution.v2."
                             "ExecuteOperationMetadata",
                  &md.base)
        != RX_OK) {
        return RX_ERROR;
    }
    o.name = op->name;
    o.metadata = &meta;
    o.done = op->done;
    if (op->done) {
        resp.type_url = RX_EX_TYPE "build.bazel.remote.execution.v2."
                                   "ExecuteResponse";
        resp.value.data = op->response.data;
        resp.value.len = op->response.len;
        o.result_case = GOOGLE__LONGRUNNING__OPERATION__RESULT_RESPONSE;
        o.response = &resp;
    }
    return rx_ex_send(st, &o.base);
}

static void
rx_ex_op_notify(rx_ex_op_t *op)
{
    rx_ex_watch_t *w;
    rx_queue_t    *q, *next;

    for (q = rx_queue_head(&op->watchers); q != &op->watchers; q = next) {
        next = rx_queue_next(q);
        w = rx_queue_data(q, rx_ex_watch_t, link);
        if (rx_ex_op_send(op, w->st) != RX_OK) {
            rx_ex_finish(w->st, RX_GRPC_INTERNAL, "cannot send the operation");
        } else if (op->done) {
            rx_ex_finish(w->st, RX_GRPC_OK, NULL);
        } else {
            continue;
        }
        rx_queue_remove(q);
        w->st->cleanup = NULL;
    }
}

static rx_int_t
rx_ex_op_details(rx_ex_op_t *op, Google__Rpc__Status *s)
{
    Google__Rpc__PreconditionFailure pf =
        GOOGLE__RPC__PRECONDITION_FAILURE__INIT;
    Google__Rpc__PreconditionFailure__Violation *v,
        init = GOOGLE__RPC__PRECONDITION_FAILURE__VIOLATION__INIT;
    rx_ex_digest_t *m = op->missing.elts;
    rx_uint_t       i, n = op->missing.nelts;

    v = rx_palloc(op->pool, (n + 1) * sizeof(*v));
    pf.violations = rx_palloc(op->pool, (n + 1) * sizeof(v));
    s->details = rx_palloc(op->pool, sizeof(Rx__Wkt__Any *));
    if (v == NULL || pf.violations == NULL || s->details == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < n; i++) {
        v[i] = init;
        v[i].type = "MISSING";
        v[i].subject = rx_pnalloc(op->pool, 96);
        if (v[i].subject == NULL) {
            return RX_ERROR;
        }
        snprintf(v[i].subject, 96, "blobs/%s/%lld", (char *) m[i].hex,
                 (long long) m[i].size);
        pf.violations[pf.n_violations++] = &v[i];
    }
    s->details[0] = rx_palloc(op->pool, sizeof(Rx__Wkt__Any));
    if (s->details[0] == NULL
        || rx_ex_any(op->pool, s->details[0],
                     RX_EX_TYPE "google.rpc.PreconditionFailure", &pf.base)
               != RX_OK) {
        return RX_ERROR;
    }
    s->n_details = 1;
    return RX_OK;
}

static rx_int_t
rx_ex_op_pack(rx_ex_op_t *op)
{
    rx_re_t(ExecuteResponse) er = RX_RE_INIT(EXECUTE_RESPONSE);
    Google__Rpc__Status s = GOOGLE__RPC__STATUS__INIT;

    er.result = op->result;
    er.cached_result = op->cached;
    s.code = (int32_t) op->code;
    s.message = op->message ? op->message : "";
    if (op->missing.nelts && rx_ex_op_details(op, &s) != RX_OK) {
        return RX_ERROR;
    }
    er.status = &s;
    er.message = s.message;
    return rx_pb_pack(op->pool, &er.base, 0, &op->response);
}

static void
rx_ex_op_log(rx_ex_op_t *op)
{
    struct timespec *a = &op->ts[RX_EX_TS_QUEUED], now;
    double           secs;

    (void) clock_gettime(CLOCK_REALTIME, &now);
    secs = (double) (now.tv_sec - a->tv_sec)
           + (double) (now.tv_nsec - a->tv_nsec) / 1e9;
    rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0,
                 "executor: action %.12s/%lld exit %d in %.3fs, %s%s%s%s",
                 (char *) op->digest.hex, (long long) op->digest.size,
                 op->result ? op->result->exit_code : -1, secs,
                 op->cached ? "cached" : "not cached",
                 op->code ? ", status " : "",
                 op->code ? rx_grpc_code_name(op->code) : "",
                 op->timed_out ? " (timeout)" : "");
}

static void
rx_ex_op_store(rx_ex_op_t *op)
{
    rx_str_t data;

    if (op->cached || op->code != RX_GRPC_OK || op->result == NULL
        || op->result->exit_code != 0 || op->action == NULL
        || op->action->do_not_cache) {
        return;
    }
    if (rx_pb_pack(op->pool, &op->result->base, 0, &data) != RX_OK
        || rx_ex_ac_put(&op->digest, &data) != RX_OK) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, 0,
                     "executor: cannot cache the result of %.12s",
                     (char *) op->digest.hex);
    }
}

static void
rx_ex_op_complete(rx_ex_op_t *op)
{
    op->done = 1;
    op->stage = RX_EX_STAGE(COMPLETED);
    rx_ex_op_store(op);
    if (rx_ex_op_pack(op) != RX_OK) {
        op->response.len = 0;
        op->response.data = (u_char *) "";
    }
    rx_ex_op_log(op);
    rx_ex_op_notify(op);
    if (op->dir) {
        rx_ex_remove_async(op->dir);
        op->dir = NULL;
    }
    op->timer.cancelable = 1;
    rx_event_add_timer(&op->timer, RX_EX_KEEP_DONE);
    if (++rx_ex_ndone > RX_EX_MAX_DONE) {
        rx_ex_op_expire_oldest();
    }
}
