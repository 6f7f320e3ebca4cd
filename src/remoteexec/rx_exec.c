/*
 * The Exec request: decoding, the phase machine, errors and the answer.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>

typedef struct {
    const char *name;
    rx_int_t (*handler)(rx_exec_t *x);
} rx_exec_phase_t;

static void rx_exec_run(rx_exec_t *x);
static void rx_exec_resume_handler(rx_event_t *ev);
static void rx_exec_timer_handler(rx_event_t *ev);
static void rx_exec_stage_handler(rx_event_t *ev);
static void rx_exec_arm_stage(rx_exec_t *x);
static void rx_exec_abort(rx_http_req_t *r);
static void rx_exec_answer(rx_exec_t *x);
static void rx_exec_log(rx_exec_t *x);

static const rx_exec_phase_t rx_exec_phases[RX_EXEC_NPHASES] = {
    {"inventory", rx_exec_inventory},
    {"input tree", rx_exec_input_tree},
    {"setup", rx_exec_setup},
    {"check cache", rx_exec_check_cache},
    {"check missing", rx_exec_check_missing},
    {"upload blobs", rx_exec_upload_blobs},
    {"execute", rx_exec_execute},
    {"response", rx_exec_response},
};

char *
rx_exec_strdup(rx_pool_t *pool, const u_char *p, size_t len)
{
    char *s = rx_pnalloc(pool, len + 1);

    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static void rx_exec_push_msg(rx_exec_t *x, rx_array_t *a, const char *fmt,
                             va_list args)
    __attribute__((format(printf, 3, 0)));

static void
rx_exec_push_msg(rx_exec_t *x, rx_array_t *a, const char *fmt, va_list args)
{
    u_char buf[1024], *p;
    char **slot;

    p = rx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    slot = rx_array_push(a);
    if (slot) {
        *slot = rx_exec_strdup(x->pool, buf, (size_t) (p - buf));
    }
}

void
rx_exec_error(rx_exec_t *x, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    rx_exec_push_msg(x, &x->errors, fmt, args);
    va_end(args);
}

void
rx_exec_bad_request(rx_exec_t *x, const char *fmt, ...)
{
    va_list args;

    x->bad_request = 1;
    va_start(args, fmt);
    rx_exec_push_msg(x, &x->errors, fmt, args);
    va_end(args);
}

rx_int_t
rx_exec_fail(rx_exec_t *x, rx_uint_t status, const char *why)
{
    x->status = status;
    rx_log_error(RX_LOG_ERR, &x->r->c->log, 0, "exec %s failed in %s: %s",
                 x->id.data, rx_exec_phases[x->phase].name, why);
    return RX_DONE;
}

static rx_int_t
rx_exec_init(rx_exec_t *x, rx_http_req_t *r, rx_str_t *in)
{
    DevtoolsGoma__RequesterInfo *ri;
    size_t                       n;

    x->r = r;
    x->pool = r->pool;
    x->start = x->phase_start = rx_time_usec();
    x->req = rx_pb_exec_req_unpack(r->pool, in->data, in->len);
    x->resp = rx_pcalloc(r->pool, sizeof(DevtoolsGoma__ExecResp));
    x->result = rx_pcalloc(r->pool, sizeof(DevtoolsGoma__ExecResult));
    if (x->req == NULL || x->resp == NULL || x->result == NULL) {
        return x->req == NULL ? 400 : 500;
    }
    devtools_goma__exec_resp__init(x->resp);
    devtools_goma__exec_result__init(x->result);
    x->result->exit_status = -1;
    x->resp->result = x->result;
    if (rx_array_init(&x->env, x->pool, 16, sizeof(char *)) != RX_OK
        || rx_array_init(&x->out_files, x->pool, 4, sizeof(rx_str_t)) != RX_OK
        || rx_array_init(&x->out_dirs, x->pool, 2, sizeof(rx_str_t)) != RX_OK
        || rx_array_init(&x->blobs, x->pool, 64, sizeof(rx_exec_blob_t))
               != RX_OK
        || rx_array_init(&x->errors, x->pool, 2, sizeof(char *)) != RX_OK
        || rx_array_init(&x->missing, x->pool, 4, sizeof(char *)) != RX_OK
        || rx_array_init(&x->reasons, x->pool, 4, sizeof(char *)) != RX_OK) {
        return 500;
    }
    ri = x->req->requester_info;
    n = 64 + (ri && ri->compiler_proxy_id ? strlen(ri->compiler_proxy_id) : 0);
    x->id.data = rx_pnalloc(x->pool, n);
    if (x->id.data == NULL) {
        return 500;
    }
    x->id.len = (size_t) (rx_slprintf(x->id.data, x->id.data + n, "%s#%d",
                                      ri && ri->compiler_proxy_id
                                              && ri->compiler_proxy_id[0]
                                          ? ri->compiler_proxy_id
                                          : "-",
                                      ri && ri->has_retry ? ri->retry : 0)
                          - x->id.data);
    x->id.data[x->id.len] = '\0';
    x->resume.handler = rx_exec_resume_handler;
    x->resume.data = x;
    x->resume.log = &r->c->log;
    x->timer.handler = rx_exec_timer_handler;
    x->timer.data = x;
    x->timer.log = &r->c->log;
    x->stage.handler = rx_exec_stage_handler;
    x->stage.data = x;
    x->stage.log = &r->c->log;
    return RX_OK;
}

rx_int_t
rx_goma_exec(rx_http_req_t *r)
{
    rx_exec_t *x;
    rx_str_t   in;
    rx_int_t   rc;

    rc = rx_goma_decode(r, &in);
    if (rc != RX_OK) {
        return rc == RX_DONE ? RX_OK : rc;
    }
    x = rx_pcalloc(r->pool, sizeof(rx_exec_t));
    if (x == NULL) {
        return 500;
    }
    rc = rx_exec_init(x, r, &in);
    if (rc != RX_OK) {
        return rc == 400 ? rx_http_set_text(r, 400, "bad request") : rc;
    }
    r->ctx = x;
    r->abort = rx_exec_abort;
    rx_exec_metrics_start(x);
    if (rx_cycle->conf->exec.request_timeout) {
        rx_event_add_timer(&x->timer, rx_cycle->conf->exec.request_timeout);
    }
    rx_exec_run(x);
    if (x->done) {
        return RX_OK;
    }
    x->r->async = 1;
    return RX_AGAIN;
}

/* Runs phases until one waits (RX_AGAIN) or the answer is ready. */
static void
rx_exec_run(rx_exec_t *x)
{
    rx_int_t rc;
    uint64_t now;

    for (;;) {
        rx_exec_arm_stage(x);
        rc = rx_exec_phases[x->phase].handler(x);
        if (rc == RX_AGAIN) {
            return;
        }
        rx_event_del_timer(&x->stage);
        now = rx_time_usec();
        x->usec[x->phase] += now - x->phase_start;
        x->phase_start = now;
        if (rc == RX_OK && x->jump) {
            x->phase = x->jump;
            x->jump = 0;
            continue;
        }
        if (rc == RX_OK && x->phase + 1 < RX_EXEC_NPHASES) {
            x->phase++;
            continue;
        }
        rx_exec_answer(x);
        return;
    }
}

void
rx_exec_next(rx_exec_t *x, rx_int_t rc)
{
    (void) rc;
    rx_event_post(&x->resume); /* never re-enter from a gRPC callback */
}

/* the --exec-STAGE-timeout span timeouts; execute's bounds each stream */
static void
rx_exec_arm_stage(rx_exec_t *x)
{
    rx_msec_t t = rx_cycle->conf->exec.timeouts[x->phase];

    if (x->armed == (rx_uint_t) x->phase + 1) {
        return;
    }
    x->armed = (rx_uint_t) x->phase + 1;
    rx_event_del_timer(&x->stage);
    if (t && x->phase != RX_EXEC_EXECUTE) {
        rx_event_add_timer(&x->stage, t);
    }
}

/* a stage that ran out of time while the backend was unavailable is
 * reported as such (503, retried by the client), not as a timeout */
static rx_uint_t
rx_exec_timeout_status(rx_exec_t *x)
{
    rx_uint_t i;

    for (i = 0; i < x->rr._nops; i++) {
        if (x->rr._ops[i].status.code == RX_GRPC_UNAVAILABLE) {
            return 503;
        }
    }
    return 504;
}

static void
rx_exec_stage_handler(rx_event_t *ev)
{
    rx_exec_t *x = ev->data;
    rx_uint_t  status = rx_exec_timeout_status(x);

    rx_reapi_req_cancel(&x->rr);
    x->rr.done = NULL;
    if (x->phase == RX_EXEC_CHECK_CACHE) {
        /* like any GetActionResult error: a miss (§6.8) */
        rx_log_error(RX_LOG_WARN, &x->r->c->log, 0,
                     "exec %s: check cache "
                     "timed out, treated as a miss",
                     x->id.data);
        x->usec[x->phase] += rx_time_usec() - x->phase_start;
        x->phase_start = rx_time_usec();
        x->phase++;
        rx_exec_next(x, RX_OK);
        return;
    }
    rx_event_delete_posted(&x->resume);
    x->usec[x->phase] += rx_time_usec() - x->phase_start;
    x->phase_start = rx_time_usec();
    (void) rx_exec_fail(x, status, "stage timeout");
    rx_exec_answer(x);
}

static void
rx_exec_resume_handler(rx_event_t *ev)
{
    rx_exec_t *x = ev->data;

    if (!x->aborted && !x->done) {
        rx_exec_run(x);
    }
}

static void
rx_exec_timer_handler(rx_event_t *ev)
{
    rx_exec_t *x = ev->data;

    rx_reapi_req_cancel(&x->rr);
    rx_event_delete_posted(&x->resume);
    (void) rx_exec_fail(x, 504, "request deadline exceeded");
    rx_exec_answer(x);
}

static void
rx_exec_abort(rx_http_req_t *r)
{
    rx_exec_t *x = r->ctx;

    x->aborted = 1;
    rx_exec_metrics_end(x, 0, 0);
    rx_reapi_req_cancel(&x->rr);
    rx_event_del_timer(&x->timer);
    rx_event_del_timer(&x->stage);
    rx_event_delete_posted(&x->resume);
    rx_log_error(RX_LOG_INFO, &r->c->log, 0,
                 "exec %s: client closed the "
                 "connection in %s",
                 x->id.data, rx_exec_phases[x->phase].name);
}

/* at most 100 missing inputs, a random subset in request order, each
 * filename kept with its reason (§6.5.4, [C-DEVIATION] §12 #3) */
static void
rx_exec_thin_missing(rx_exec_t *x)
{
    char    **f = x->missing.elts, **r = x->reasons.elts;
    rx_uint_t n = x->missing.nelts, i, j = 0, need = RX_EXEC_MAX_MISSING;

    if (n <= RX_EXEC_MAX_MISSING) {
        return;
    }
    for (i = 0; i < n && need; i++) { /* selection sampling, order kept */
        if ((rx_uint_t) random() % (n - i) < need) {
            f[j] = f[i];
            r[j] = r[i];
            j++;
            need--;
        }
    }
    x->missing.nelts = x->reasons.nelts = j;
}

static void
rx_exec_fill_lists(rx_exec_t *x)
{
    DevtoolsGoma__ExecResp *resp = x->resp;

    resp->n_error_message = x->errors.nelts;
    resp->error_message = x->errors.elts;
    if (x->bad_request) {
        resp->has_error = 1;
        resp->error = DEVTOOLS_GOMA__EXEC_RESP__EXEC_ERROR__BAD_REQUEST;
    }
    rx_exec_thin_missing(x);
    resp->n_missing_input = x->missing.nelts;
    resp->missing_input = x->missing.elts;
    resp->n_missing_reason = x->reasons.nelts;
    resp->missing_reason = x->reasons.elts;
}

static void
rx_exec_answer(rx_exec_t *x)
{
    rx_http_req_t *r = x->r;
    rx_str_t       out;
    rx_int_t       rc = RX_OK;

    if (x->done) {
        return;
    }
    x->done = 1;
    rx_event_del_timer(&x->timer);
    rx_event_del_timer(&x->stage);
    rx_event_delete_posted(&x->resume);
    rx_exec_log(x);
    if (x->status) {
        rc = rx_http_set_text(r, x->status, rx_http_status_text(x->status));
    } else {
        rx_exec_fill_lists(x);
        if (rx_pb_exec_resp_pack(x->pool, x->resp, &out) != RX_OK) {
            rc = rx_http_set_text(r, 500, "Internal Server Error");
        } else if (out.len > RX_EXEC_MAX_RESP + 1024 * 1024) {
            rc = rx_http_set_text(r, 500, "Internal Server Error");
        } else {
            rc = rx_goma_respond(r, &out);
        }
    }
    if (rc != RX_OK) {
        (void) rx_http_set_text(r, 500, "Internal Server Error");
    }
    if (r->async) {
        rx_http_finalize(r);
    }
}

static void
rx_exec_log(rx_exec_t *x)
{
    static const char *hits[] = {"no", "mem", "storage"};
    uint64_t           total = rx_time_usec() - x->start;

    rx_log_error(RX_LOG_NOTICE, &x->r->c->log, 0,
                 "exec %s: %s, exit %d, cache %s, action %s/%lld, "
                 "inventory: %.1fms, input tree: %.1fms, setup: %.1fms, "
                 "check cache: %.1fms, check missing: %.1fms, "
                 "upload blobs: %.1fms, execute: %.1fms, response: %.1fms, "
                 "total: %.1fms",
                 x->id.data,
                 x->status          ? "failed"
                 : x->missing.nelts ? "missing inputs"
                 : x->bad_request   ? "bad request"
                 : x->errors.nelts  ? "error"
                                    : "ok",
                 (int) x->result->exit_status, hits[rx_min(x->cache_hit, 2)],
                 x->action.hash[0] ? x->action.hash : "-",
                 (long long) x->action.size, x->usec[0] / 1000.0,
                 x->usec[1] / 1000.0, x->usec[2] / 1000.0, x->usec[3] / 1000.0,
                 x->usec[4] / 1000.0, x->usec[5] / 1000.0, x->usec[6] / 1000.0,
                 x->usec[7] / 1000.0, total / 1000.0);
    rx_exec_metrics_end(x, 1, total);
}
