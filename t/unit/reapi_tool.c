/*
 * reapi_tool: drives the REAPI client (rx_grpc, rx_reapi*) against a test
 * server from a YAML config, on the same event loop as a worker.
 *
 *   reapi_tool test CONF SCENARIO...   run scenarios, TAP on stdout
 *   reapi_tool bench CONF N INFLIGHT   N unary FindMissingBlobs calls of
 *                                      20 digests, INFLIGHT outstanding
 *   reapi_tool dump-findmissing FILE   the framed request bench sends
 *
 * A scenario is NAME[:key=value,key=value...]; values are percent-decoded.
 * Driven by t/61-grpc-client.t, t/62-grpc-buildstream.t and bench/run.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_reapi_cas.h>
#include <rx_grpc_int.h>
#include <rx_pb.h>
#include <openssl/rand.h>
#include <sys/resource.h>
#include "tap.h"

#define TOOL_MAX_KEYS     32
#define TOOL_LIMIT        30000 /* ms, per step of a scenario */
#define TOOL_DEADLINE     25000 /* ms, default deadline of a scenario */
#define TOOL_BENCH_DIGEST 20

typedef Build__Bazel__Remote__Execution__V2__Digest          tool_pb_digest_t;
typedef Build__Bazel__Remote__Execution__V2__Command         tool_command_t;
typedef Build__Bazel__Remote__Execution__V2__Action          tool_action_t;
typedef Build__Bazel__Remote__Execution__V2__Directory       tool_dir_t;
typedef Build__Bazel__Remote__Execution__V2__RequestMetadata tool_meta_t;
typedef Build__Bazel__Remote__Execution__V2__ToolDetails     tool_details_t;
typedef Build__Bazel__Remote__Execution__V2__Command__EnvironmentVariable
    tool_env_var_t;

typedef struct {
    const char *text;
    const char *name;
    char       *keys[TOOL_MAX_KEYS];
    char       *vals[TOOL_MAX_KEYS];
    rx_uint_t   n;
} tool_args_t;

typedef void (*tool_scenario_pt)(tool_args_t *a, rx_pool_t *pool);

typedef struct {
    const char      *name;
    tool_scenario_pt run;
} tool_scenario_t;

typedef void (*tool_req_pt)(rx_reapi_req_t *req);

typedef struct {
    rx_reapi_op_t op;
    rx_pool_t    *pool;
    rx_uint_t     busy;
} tool_slot_t;

static int  tool_usage(void);
static int  tool_test(int argc, char **argv);
static int  tool_bench(const char *conf, long n, long inflight);
static int  tool_dump(const char *file);
static void tool_scn_caps(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_find(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_upload(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_dataloss(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_action_miss(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_execute(tool_args_t *a, rx_pool_t *pool);
static void tool_scn_call(tool_args_t *a, rx_pool_t *pool);
static void tool_wake_handler(rx_event_t *ev);
static void tool_before_sleep(void *data);

static const tool_scenario_t tool_scenarios[] = {
    {"caps", tool_scn_caps},
    {"find", tool_scn_find},
    {"upload", tool_scn_upload},
    {"read-dataloss", tool_scn_dataloss},
    {"action-miss", tool_scn_action_miss},
    {"execute", tool_scn_execute},
    {"call", tool_scn_call},
    {NULL, NULL},
};

static rx_cycle_t *tool_cycle;
static char        tool_prefix[64];
static rx_uint_t   tool_timed_out;
static rx_uint_t  *tool_pending; /* what the loop waits for */
static rx_event_t  tool_wake;

/* ---- setup and teardown ---- */

static rx_int_t
tool_env_init(const char *conf)
{
    rx_cycle_args_t args;

    snprintf(tool_prefix, sizeof(tool_prefix), "/tmp/reapi_tool.XXXXXX");
    if (mkdtemp(tool_prefix) == NULL) {
        perror("mkdtemp");
        return RX_ERROR;
    }
    rx_memzero(&args, sizeof(args));
    args.conf_file = conf;
    args.prefix.data = (u_char *) tool_prefix;
    args.prefix.len = strlen(tool_prefix);
    args.test_only = 1;
    rx_time_update();
    tool_cycle = rx_init_cycle(NULL, &args, &rx_log_stderr);
    (void) rmdir(tool_prefix); /* only its name was needed (-t mode) */
    if (tool_cycle == NULL) {
        return RX_ERROR;
    }
    tool_cycle->log.log_level = tool_cycle->conf->log_level;
    rx_cycle = tool_cycle;
    tool_wake.handler = tool_wake_handler;
    tool_wake.log = &tool_cycle->log;
    if (rx_event_init(256, &tool_cycle->log) != RX_OK
        || rx_grpc_module.init_worker(tool_cycle) != RX_OK
        || rx_event_add_before_sleep(tool_before_sleep, NULL) != RX_OK
        || rx_grpc_backend() == NULL) {
        fprintf(stderr, "reapi_tool: no usable backend in %s\n", conf);
        return RX_ERROR;
    }
    return RX_OK;
}

/* closes what the worker would keep until exit, for leak checkers */
static void
tool_env_done(void)
{
    if (rx_grpc_backend()) {
        rx_grpc_backend_close(rx_grpc_backend());
    }
    rx_event_done();
    if (tool_cycle) {
        rx_destroy_cycle(tool_cycle);
    }
}

/* ---- the loop ---- */

static void
tool_guard_handler(rx_event_t *ev)
{
    tool_timed_out = 1;
}

static void
tool_wake_handler(rx_event_t *ev)
{
}

/* Runs after the gRPC flush hook, which may end calls: then the loop must
 * not sleep until the next timer. */
static void
tool_before_sleep(void *data)
{
    if (tool_pending && *tool_pending == 0) {
        rx_event_post(&tool_wake);
    }
}

/* Runs the loop until *pending is 0 or @limit ms have passed. */
static rx_int_t
tool_wait(rx_uint_t *pending, rx_msec_t limit)
{
    rx_event_t guard;

    rx_memzero(&guard, sizeof(guard));
    guard.handler = tool_guard_handler;
    guard.log = &rx_cycle->log;
    tool_timed_out = 0;
    tool_pending = pending;
    rx_event_add_timer(&guard, limit);
    while (*pending && !tool_timed_out) {
        rx_event_process();
    }
    rx_event_del_timer(&guard);
    tool_pending = NULL;
    rx_grpc_flush_dirty(rx_grpc_backend()); /* RST_STREAMs of the last turn */
    return *pending ? RX_ERROR : RX_OK;
}

static void
tool_req_done(rx_reapi_req_t *req)
{
    (*(rx_uint_t *) req->data)--;
}

static void
tool_op_done(rx_reapi_op_t *op)
{
    (*(rx_uint_t *) op->data)--;
}

/* Runs one typed request to its end; RX_ERROR (cancelled) on timeout. */
static rx_int_t
tool_run(rx_reapi_req_t *req, tool_req_pt start)
{
    rx_uint_t pending = 1;

    req->done = tool_req_done;
    req->data = &pending;
    rx_time_update();
    start(req);
    if (tool_wait(&pending, TOOL_LIMIT) != RX_OK) {
        rx_reapi_req_cancel(req);
        req->status.code = RX_GRPC_DEADLINE_EXCEEDED;
        rx_str_set(&req->status.message, "reapi_tool: step timed out");
        return RX_ERROR;
    }
    return RX_OK;
}

/* ---- scenario arguments ---- */

static int
tool_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = rx_tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static void
tool_unescape(char *s)
{
    char *w = s;

    for (; *s; s++) {
        if (s[0] == '%' && tool_hex(s[1]) >= 0 && tool_hex(s[2]) >= 0) {
            *w++ = (char) (tool_hex(s[1]) << 4 | tool_hex(s[2]));
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

static rx_int_t
tool_parse_args(tool_args_t *a, char *text)
{
    char *kv, *save = NULL, *eq, *colon;

    rx_memzero(a, sizeof(*a));
    a->text = strdup(text);
    colon = strchr(text, ':');
    if (colon) {
        *colon = '\0';
    }
    a->name = text;
    for (kv = colon ? strtok_r(colon + 1, ",", &save) : NULL; kv;
         kv = strtok_r(NULL, ",", &save)) {
        eq = strchr(kv, '=');
        if (eq == NULL || a->n == TOOL_MAX_KEYS) {
            return RX_ERROR;
        }
        *eq = '\0';
        tool_unescape(eq + 1);
        a->keys[a->n] = kv;
        a->vals[a->n++] = eq + 1;
    }
    return RX_OK;
}

static const char *
tool_arg(tool_args_t *a, const char *key, const char *def)
{
    rx_uint_t i;

    for (i = 0; i < a->n; i++) {
        if (strcmp(a->keys[i], key) == 0) {
            return a->vals[i];
        }
    }
    return def;
}

static long
tool_num(tool_args_t *a, const char *key, long def)
{
    const char *v = tool_arg(a, key, NULL);

    return v ? strtol(v, NULL, 10) : def;
}

static const char *
tool_label(tool_args_t *a)
{
    return tool_arg(a, "label", a->text);
}

static rx_grpc_code_e
tool_code(const char *name)
{
    rx_uint_t i;

    for (i = 0; i <= RX_GRPC_UNAUTHENTICATED; i++) {
        if (strcmp(rx_grpc_code_name(i), name) == 0) {
            return (rx_grpc_code_e) i;
        }
    }
    return (rx_grpc_code_e) atoi(name);
}

/* ---- data ---- */

static void
tool_random_digest(rx_reapi_digest_t *d)
{
    u_char r[32];

    (void) RAND_bytes(r, sizeof(r));
    rx_reapi_digest_of(d, r, sizeof(r));
}

static char *
tool_instance(void)
{
    rx_str_t *inst = &tool_cycle->conf->backend.instance_name;

    return inst->len ? (char *) inst->data : "";
}

static rx_reapi_ctx_t *
tool_ctx(rx_pool_t *pool, tool_args_t *a)
{
    rx_reapi_ctx_t *ctx = rx_pcalloc(pool, sizeof(rx_reapi_ctx_t));
    tool_meta_t m = BUILD__BAZEL__REMOTE__EXECUTION__V2__REQUEST_METADATA__INIT;
    tool_details_t td = BUILD__BAZEL__REMOTE__EXECUTION__V2__TOOL_DETAILS__INIT;
    const char    *id = tool_arg(a, "meta", NULL);
    char           inv[128];

    ctx->pool = pool;
    ctx->instance = tool_cycle->conf->backend.instance_name;
    if (tool_num(a, "deadline", TOOL_DEADLINE) > 0) { /* ends retries */
        ctx->deadline = rx_current_msec
                        + (rx_msec_t) tool_num(a, "deadline", TOOL_DEADLINE);
    }
    if (id) {
        snprintf(inv, sizeof(inv), "inv-%s", id);
        td.tool_name = "reapi_tool";
        td.tool_version = RX_VERSION;
        m.tool_details = &td;
        m.action_id = (char *) id;
        m.tool_invocation_id = inv;
        m.correlated_invocations_id = "reapi-tool-tests";
        (void) rx_pb_pack(pool, &m.base, 0, &ctx->metadata);
    }
    return ctx;
}

/* "30x4000+3x150000": random blobs */
static rx_reapi_blob_t *
tool_blobs(rx_pool_t *pool, const char *spec, rx_uint_t *n)
{
    rx_reapi_blob_t *blobs;
    const char      *p;
    long             count, size, i;
    char            *end;

    blobs = rx_pcalloc(pool, 1024 * sizeof(rx_reapi_blob_t));
    *n = 0;
    for (p = spec; blobs && *p; p = *end ? end + 1 : end) {
        count = strtol(p, &end, 10);
        size = *end == 'x' ? strtol(end + 1, &end, 10) : -1;
        if (size < 0 || count < 0 || *n + (rx_uint_t) count > 1024) {
            return NULL;
        }
        for (i = 0; i < count; i++) {
            blobs[*n].data.len = (size_t) size;
            blobs[*n].data.data = rx_pnalloc(pool, (size_t) size + 1);
            if (blobs[*n].data.data == NULL) {
                return NULL;
            }
            (void) RAND_bytes(blobs[*n].data.data, (int) size);
            rx_reapi_digest_of(&blobs[*n].d, blobs[*n].data.data,
                               (size_t) size);
            (*n)++;
        }
    }
    return blobs;
}

static void
tool_diag_status(const char *what, rx_grpc_status_t *st)
{
    if (st->code != RX_GRPC_OK) {
        printf("# %s: %s: %.*s\n", what, rx_grpc_code_name(st->code),
               (int) st->message.len, st->message.data);
    }
}

/* ---- typed steps ---- */

static void
tool_caps_start(rx_reapi_req_t *req)
{
    rx_reapi_capabilities(req, NULL);
}

static rx_int_t
tool_caps(rx_reapi_ctx_t *ctx)
{
    rx_reapi_req_t req;

    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    (void) tool_run(&req, tool_caps_start);
    tool_diag_status("GetCapabilities", &req.status);
    return req.status.code == RX_GRPC_OK && rx_reapi_caps()->known ? RX_OK
                                                                   : RX_ERROR;
}

static rx_int_t
tool_find(rx_reapi_ctx_t *ctx, rx_reapi_digest_t *d, rx_uint_t n,
          rx_uint_t *nmissing)
{
    rx_reapi_req_t req;

    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    req.digests = d;
    req.n = n;
    (void) tool_run(&req, rx_reapi_find_missing);
    tool_diag_status("FindMissingBlobs", &req.status);
    *nmissing = req.nmissing;
    return req.status.code == RX_GRPC_OK ? RX_OK : RX_ERROR;
}

static rx_int_t
tool_upload(rx_reapi_ctx_t *ctx, rx_reapi_blob_t *blobs, rx_uint_t n,
            rx_uint_t *nbatch, rx_uint_t *nwrite)
{
    rx_reapi_req_t req;
    rx_uint_t      i, bad = 0;

    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    req.blobs = blobs;
    req.nblobs = n;
    (void) tool_run(&req, rx_reapi_upload);
    tool_diag_status("upload", &req.status);
    *nbatch = *nwrite = 0;
    for (i = 0; i < req._nops; i++) {
        *nbatch += strcmp(req._ops[i].path, RX_REAPI_BATCH_UPDATE) == 0;
        *nwrite += strcmp(req._ops[i].path, RX_BYTESTREAM_WRITE) == 0;
    }
    for (i = 0; i < n; i++) {
        if (blobs[i].code != RX_GRPC_OK) {
            printf("# blob %lu (%zu bytes): %s\n", (unsigned long) i,
                   blobs[i].data.len, rx_grpc_code_name(blobs[i].code));
            bad++;
        }
    }
    return req.status.code == RX_GRPC_OK && bad == 0 ? RX_OK : RX_ERROR;
}

/* ByteStream.Read of every blob at once; counts the identical ones */
static rx_uint_t
tool_read_all(rx_reapi_ctx_t *ctx, rx_reapi_blob_t *blobs, rx_uint_t n,
              rx_grpc_status_t *last)
{
    rx_reapi_req_t *reqs;
    rx_uint_t       i, pending = n, same = 0;

    reqs = rx_pcalloc(ctx->pool, (n + 1) * sizeof(rx_reapi_req_t));
    for (i = 0; reqs && i < n; i++) {
        reqs[i].ctx = ctx;
        reqs[i].digests = &blobs[i].d;
        reqs[i].done = tool_req_done;
        reqs[i].data = &pending;
        rx_reapi_read(&reqs[i]);
    }
    if (reqs == NULL || tool_wait(&pending, TOOL_LIMIT) != RX_OK) {
        for (i = 0; reqs && i < n; i++) {
            rx_reapi_req_cancel(&reqs[i]);
        }
        return 0;
    }
    for (i = 0; i < n; i++) {
        same +=
            reqs[i].status.code == RX_GRPC_OK
            && reqs[i].out.len == blobs[i].data.len
            && memcmp(reqs[i].out.data, blobs[i].data.data, blobs[i].data.len)
                   == 0;
        if (reqs[i].status.code != RX_GRPC_OK) {
            *last = reqs[i].status;
        }
    }
    return same;
}

/* ---- scenarios ---- */

static void
tool_scn_caps(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t        *ctx = tool_ctx(pool, a);
    rx_reapi_req_t         req;
    const rx_reapi_caps_t *caps;

    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    (void) tool_run(&req, tool_caps_start);
    caps = rx_reapi_caps();
    tool_diag_status("GetCapabilities", &req.status);
    ok(req.status.code == RX_GRPC_OK && caps->known, "%s: GetCapabilities OK",
       tool_label(a));
    if (tool_arg(a, "max_batch", NULL)) {
        is_int(caps->max_batch, tool_num(a, "max_batch", 0),
               "%s: max_batch_total_size_bytes", tool_label(a));
    }
    if (tool_arg(a, "exec", NULL)) {
        is_int(caps->exec_enabled, tool_num(a, "exec", 0), "%s: exec_enabled",
               tool_label(a));
    }
}

static void
tool_scn_find(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t    *ctx = tool_ctx(pool, a);
    rx_uint_t          n = (rx_uint_t) tool_num(a, "n", 20), i, missing = 0;
    rx_reapi_digest_t *d = rx_pcalloc(pool, (n + 1) * sizeof(*d));

    for (i = 0; i < n; i++) {
        tool_random_digest(&d[i]);
    }
    ok(tool_find(ctx, d, n, &missing) == RX_OK,
       "%s: FindMissingBlobs of %lu digests OK", tool_label(a),
       (unsigned long) n);
    is_int(missing, n, "%s: all %lu unknown digests reported missing",
           tool_label(a), (unsigned long) n);
}

static void
tool_scn_upload(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t    *ctx = tool_ctx(pool, a);
    rx_reapi_blob_t   *blobs;
    rx_reapi_digest_t *d;
    rx_grpc_status_t   last = {0};
    rx_uint_t          n, i, missing = 0, nb = 0, nw = 0;
    const char        *L = tool_label(a);

    blobs = tool_blobs(pool, tool_arg(a, "blobs", "10x1000"), &n);
    d = rx_pcalloc(pool, (n + 1) * sizeof(*d));
    if (blobs == NULL || d == NULL) {
        ok(0, "%s: bad blobs= spec", L);
        return;
    }
    for (i = 0; i < n; i++) {
        d[i] = blobs[i].d;
    }
    ok(tool_caps(ctx) == RX_OK, "%s: GetCapabilities (batch limit %lld)", L,
       (long long) rx_reapi_caps()->max_batch);
    ok(tool_find(ctx, d, n, &missing) == RX_OK, "%s: FindMissingBlobs before",
       L);
    is_int(missing, tool_num(a, "expect_missing", (long) n),
           "%s: missing before upload", L);
    ok(tool_upload(ctx, blobs, n, &nb, &nw) == RX_OK, "%s: upload of %lu blobs",
       L, (unsigned long) n);
    printf("# %s: %lu BatchUpdateBlobs, %lu ByteStream.Write\n", L,
           (unsigned long) nb, (unsigned long) nw);
    if (tool_arg(a, "batches_min", NULL)) {
        ok(nb >= (rx_uint_t) tool_num(a, "batches_min", 0),
           "%s: %lu BatchUpdateBlobs calls (>= %ld)", L, (unsigned long) nb,
           tool_num(a, "batches_min", 0));
    }
    if (tool_arg(a, "writes", NULL)) {
        is_int(nw, tool_num(a, "writes", 0), "%s: ByteStream.Write calls", L);
    }
    ok(tool_find(ctx, d, n, &missing) == RX_OK && missing == 0,
       "%s: none missing after upload (%lu)", L, (unsigned long) missing);
    if (tool_num(a, "read", 1)) {
        is_int(tool_read_all(ctx, blobs, n, &last), n,
               "%s: ByteStream.Read gives every blob back", L);
        tool_diag_status("read", &last);
    }
}

static void
tool_scn_dataloss(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t  *ctx = tool_ctx(pool, a);
    rx_reapi_blob_t *blob;
    rx_reapi_req_t   req;
    rx_uint_t        n, nb, nw;

    blob = tool_blobs(pool, tool_arg(a, "blobs", "1x1000"), &n);
    ok(blob && tool_upload(ctx, blob, 1, &nb, &nw) == RX_OK,
       "%s: blob uploaded", tool_label(a));
    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    req.digests = &blob->d;
    (void) tool_run(&req, rx_reapi_read);
    tool_diag_status("read", &req.status);
    is_int(req.status.code, RX_GRPC_DATA_LOSS, "%s: read gives DATA_LOSS",
           tool_label(a));
}

static void
tool_scn_action_miss(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_req_t req;

    rx_memzero(&req, sizeof(req));
    req.ctx = tool_ctx(pool, a);
    tool_random_digest(&req.action);
    (void) tool_run(&req, rx_reapi_get_action_result);
    tool_diag_status("GetActionResult", &req.status);
    is_int(req.status.code, RX_GRPC_NOT_FOUND,
           "%s: GetActionResult of an unknown action is NOT_FOUND",
           tool_label(a));
}

/* ---- execute ---- */

static rx_int_t
tool_pack_blob(rx_pool_t *pool, const ProtobufCMessage *m, rx_reapi_blob_t *b)
{
    if (rx_pb_pack(pool, m, 0, &b->data) != RX_OK) {
        return RX_ERROR;
    }
    rx_reapi_digest_of(&b->d, b->data.data, b->data.len);
    return RX_OK;
}

static void
tool_pb_digest(tool_pb_digest_t *pb, rx_reapi_digest_t *d)
{
    build__bazel__remote__execution__v2__digest__init(pb);
    pb->hash = d->hash;
    pb->size_bytes = d->size;
}

/* blobs[0] Command, [1] input root (empty Directory), [2] Action */
static rx_int_t
tool_make_action(rx_pool_t *pool, tool_args_t *a, rx_reapi_blob_t *blobs)
{
    tool_command_t   c = BUILD__BAZEL__REMOTE__EXECUTION__V2__COMMAND__INIT;
    tool_dir_t       dir = BUILD__BAZEL__REMOTE__EXECUTION__V2__DIRECTORY__INIT;
    tool_action_t    act = BUILD__BAZEL__REMOTE__EXECUTION__V2__ACTION__INIT;
    tool_env_var_t   ev[2], *evp[2];
    tool_pb_digest_t cd, rd;
    char            *argv[3], *outs[1], script[128], nonce[40];
    rx_reapi_digest_t r;

    tool_random_digest(&r);
    snprintf(nonce, sizeof(nonce), "%.32s", r.hash);
    snprintf(script, sizeof(script), "sleep %s; echo hi > out.txt",
             tool_arg(a, "sleep", "0"));
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = script;
    outs[0] = "out.txt";
    build__bazel__remote__execution__v2__command__environment_variable__init(
        &ev[0]);
    build__bazel__remote__execution__v2__command__environment_variable__init(
        &ev[1]);
    ev[0].name = "NONCE";
    ev[0].value = nonce;
    ev[1].name = "PATH";
    ev[1].value = "/bin:/usr/bin";
    evp[0] = &ev[0];
    evp[1] = &ev[1];
    c.n_arguments = 3;
    c.arguments = argv;
    c.n_environment_variables = 2;
    c.environment_variables = evp;
    c.n_output_files = 1;
    c.output_files = outs;
    if (tool_pack_blob(pool, &c.base, &blobs[0]) != RX_OK
        || tool_pack_blob(pool, &dir.base, &blobs[1]) != RX_OK) {
        return RX_ERROR;
    }
    tool_pb_digest(&cd, &blobs[0].d);
    tool_pb_digest(&rd, &blobs[1].d);
    act.command_digest = &cd;
    act.input_root_digest = &rd;
    return tool_pack_blob(pool, &act.base, &blobs[2]);
}

static void
tool_check_result(tool_args_t *a, rx_reapi_req_t *req)
{
    Build__Bazel__Remote__Execution__V2__ExecuteResponse *r = req->response;
    Build__Bazel__Remote__Execution__V2__OutputFile      *f = NULL;
    rx_reapi_digest_t                                     hi;
    const char                                           *L = tool_label(a);

    rx_reapi_digest_of(&hi, (u_char *) "hi\n", 3);
    ok(r != NULL && r->result != NULL, "%s: ExecuteResponse with a result", L);
    if (r == NULL || r->result == NULL) {
        return;
    }
    ok(r->status == NULL || r->status->code == 0, "%s: response status OK", L);
    is_int(r->result->exit_code, 0, "%s: exit code", L);
    if (r->result->n_output_files == 1) {
        f = r->result->output_files[0];
    }
    ok(f && strcmp(f->path, "out.txt") == 0 && f->digest
           && strcmp(f->digest->hash, hi.hash) == 0
           && f->digest->size_bytes == 3,
       "%s: output out.txt has the digest of \"hi\\n\"", L);
}

static void
tool_scn_execute(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t  *ctx = tool_ctx(pool, a);
    rx_reapi_blob_t  blobs[3], out;
    rx_reapi_req_t   req;
    rx_grpc_status_t last = {0};
    rx_uint_t        nb, nw;

    rx_memzero(blobs, sizeof(blobs));
    ok(tool_make_action(pool, a, blobs) == RX_OK
           && tool_upload(ctx, blobs, 3, &nb, &nw) == RX_OK,
       "%s: Command, input root and Action uploaded", tool_label(a));
    rx_memzero(&req, sizeof(req));
    req.ctx = ctx;
    req.action = blobs[2].d;
    req.skip_cache_lookup = (rx_uint_t) tool_num(a, "skip_cache", 0);
    req.max_attempts = (rx_uint_t) tool_num(a, "max_attempts", 5);
    req.stream_timeout = (rx_msec_t) tool_num(a, "stream_timeout", 20000);
    (void) tool_run(&req, rx_reapi_execute);
    tool_diag_status("execute", &req.status);
    printf("# %s: %lu stream(s), operation %.*s\n", tool_label(a),
           (unsigned long) req._attempt, (int) req.operation.len,
           req.operation.data);
    is_int(req.status.code, RX_GRPC_OK, "%s: Execute OK", tool_label(a));
    ok(req.operation.len > 0, "%s: operation name seen", tool_label(a));
    if (tool_arg(a, "attempts_min", NULL)) {
        ok(req._attempt >= (rx_uint_t) tool_num(a, "attempts_min", 0),
           "%s: %lu streams (Execute + WaitExecution)", tool_label(a),
           (unsigned long) req._attempt);
    }
    tool_check_result(a, &req);
    rx_memzero(&out, sizeof(out));
    out.data.data = (u_char *) "hi\n";
    out.data.len = 3;
    rx_reapi_digest_of(&out.d, out.data.data, 3);
    is_int(tool_read_all(ctx, &out, 1, &last), 1,
           "%s: the output reads back as \"hi\\n\"", tool_label(a));
}

/* ---- call: one raw operation (n at once) with an expected outcome ---- */

static rx_int_t
tool_call_request(rx_reapi_op_t *op, const char *method, tool_args_t *a)
{
    Build__Bazel__Remote__Execution__V2__FindMissingBlobsRequest f =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__FIND_MISSING_BLOBS_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__GetCapabilitiesRequest g =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__GET_CAPABILITIES_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__GetActionResultRequest r =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__GET_ACTION_RESULT_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__BatchReadBlobsRequest br =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__BATCH_READ_BLOBS_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__ExecuteRequest e =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__EXECUTE_REQUEST__INIT;
    Google__Bytestream__ReadRequest rd = GOOGLE__BYTESTREAM__READ_REQUEST__INIT;
    rx_uint_t          n = (rx_uint_t) tool_num(a, "digests", 1), i;
    tool_pb_digest_t  *pbs, **ptrs;
    rx_reapi_digest_t *d;
    char               name[120];

    pbs = rx_pcalloc(op->pool, (n + 1) * sizeof(*pbs));
    ptrs = rx_pcalloc(op->pool, (n + 1) * sizeof(*ptrs));
    d = rx_pcalloc(op->pool, (n + 1) * sizeof(*d));
    if (pbs == NULL || ptrs == NULL || d == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < n; i++) {
        tool_random_digest(&d[i]);
        tool_pb_digest(&pbs[i], &d[i]);
        ptrs[i] = &pbs[i];
    }
    f.instance_name = g.instance_name = r.instance_name = br.instance_name =
        e.instance_name = tool_instance();
    f.n_blob_digests = n;
    f.blob_digests = ptrs;
    r.action_digest = e.action_digest = &pbs[0];
    snprintf(name, sizeof(name), "blobs/%s/1", d[0].hash);
    rd.resource_name = name;
    if (strcmp(method, "FindMissingBlobs") == 0) {
        op->path = RX_REAPI_FIND_MISSING;
        return rx_reapi_pack(op, &f.base);
    }
    if (strcmp(method, "GetCapabilities") == 0) {
        op->path = RX_REAPI_CAPABILITIES;
        return rx_reapi_pack(op, &g.base);
    }
    if (strcmp(method, "GetActionResult") == 0) {
        op->path = RX_REAPI_GET_ACTION_RESULT;
        return rx_reapi_pack(op, &r.base);
    }
    if (strcmp(method, "BatchReadBlobs") == 0) {
        op->path = RX_REAPI_BATCH_READ;
        return rx_reapi_pack(op, &br.base);
    }
    if (strcmp(method, "Execute") == 0) {
        op->path = RX_REAPI_EXECUTE;
        return rx_reapi_pack(op, &e.base);
    }
    if (strcmp(method, "Read") == 0) {
        op->path = RX_BYTESTREAM_READ;
        return rx_reapi_pack(op, &rd.base);
    }
    return RX_ERROR;
}

static rx_int_t
tool_call_setup(rx_reapi_op_t *op, rx_reapi_ctx_t *ctx, tool_args_t *a,
                rx_uint_t *pending)
{
    op->pool = ctx->pool;
    op->metadata = ctx->metadata;
    op->deadline = ctx->deadline;
    op->timeout = (rx_msec_t) tool_num(a, "timeout", 10000);
    op->max_attempts = (rx_uint_t) tool_num(a, "max_attempts", 0);
    op->flags = tool_num(a, "cas", 0) ? RX_REAPI_RETRY_CAS : 0;
    op->done = tool_op_done;
    op->data = pending;
    if (op->deadline == 0 && op->max_attempts == 0) {
        op->deadline = rx_current_msec + 15000; /* bound the retries */
    }
    return tool_call_request(op, tool_arg(a, "method", "FindMissingBlobs"), a);
}

static void
tool_call_report(tool_args_t *a, rx_reapi_op_t *ops, rx_uint_t n, uint64_t usec)
{
    rx_grpc_code_e    want = tool_code(tool_arg(a, "code", "OK"));
    const char       *msg = tool_arg(a, "msg", NULL);
    const char       *sub = tool_arg(a, "msgsub", NULL);
    rx_grpc_status_t *st = &ops[0].status;
    rx_uint_t         i, good = 0;

    for (i = 0; i < n; i++) {
        good += ops[i].status.code == want;
        if (ops[i].status.code != want) {
            st = &ops[i].status;
        }
    }
    printf("# %s: %s \"%.*s\", %lu attempt(s), %.1f ms\n", tool_label(a),
           rx_grpc_code_name(st->code), (int) st->message.len, st->message.data,
           (unsigned long) ops[0].attempts, usec / 1000.0);
    is_int(good, n, "%s: %lu call(s) end with %s", tool_label(a),
           (unsigned long) n, rx_grpc_code_name(want));
    if (msg) {
        is_mem(st->message.data, st->message.len, msg, strlen(msg),
               "%s: message is \"%s\"", tool_label(a), msg);
    }
    if (sub) {
        ok(st->message.len
               && memmem(st->message.data, st->message.len, sub, strlen(sub)),
           "%s: message contains \"%s\"", tool_label(a), sub);
    }
    if (tool_arg(a, "attempts", NULL)) {
        is_int(ops[0].attempts, tool_num(a, "attempts", 0), "%s: attempts",
               tool_label(a));
    }
    if (tool_arg(a, "maxms", NULL)) {
        ok(usec / 1000 <= (uint64_t) tool_num(a, "maxms", 0),
           "%s: done within %ld ms", tool_label(a), tool_num(a, "maxms", 0));
    }
}

static void
tool_scn_call(tool_args_t *a, rx_pool_t *pool)
{
    rx_reapi_ctx_t *ctx = tool_ctx(pool, a);
    rx_uint_t       n = (rx_uint_t) tool_num(a, "n", 1), i, pending = n;
    rx_reapi_op_t  *ops = rx_pcalloc(pool, (n + 1) * sizeof(rx_reapi_op_t));
    uint64_t        start;

    for (i = 0; ops && i < n; i++) {
        if (tool_call_setup(&ops[i], ctx, a, &pending) != RX_OK) {
            ok(0, "%s: unknown method or out of memory", tool_label(a));
            return;
        }
    }
    rx_time_update(); /* timers count from the cached time */
    start = rx_time_usec();
    for (i = 0; ops && i < n; i++) {
        rx_reapi_start(&ops[i]);
    }
    if (ops == NULL || tool_wait(&pending, TOOL_LIMIT) != RX_OK) {
        for (i = 0; ops && i < n; i++) {
            rx_reapi_cancel(&ops[i]);
        }
        ok(0, "%s: %lu call(s) did not end in time", tool_label(a),
           (unsigned long) pending);
        return;
    }
    tool_call_report(a, ops, n, rx_time_usec() - start);
}

/* ---- modes ---- */

static int
tool_test(int argc, char **argv)
{
    const tool_scenario_t *s;
    tool_args_t            a;
    rx_pool_t             *pool;
    int                    i;

    for (i = 0; i < argc; i++) {
        if (tool_parse_args(&a, argv[i]) != RX_OK) {
            ok(0, "%s: malformed scenario", a.text);
            free((void *) a.text);
            continue;
        }
        for (s = tool_scenarios; s->name && strcmp(s->name, a.name); s++) {
            /* void */
        }
        pool = rx_create_pool(16384, &rx_cycle->log);
        rx_time_update();
        if (s->name == NULL || pool == NULL) {
            ok(0, "%s: unknown scenario", a.text);
        } else {
            s->run(&a, pool);
            rx_destroy_pool(pool);
        }
        free((void *) a.text);
    }
    return done_testing();
}

/* the FindMissingBlobs request of bench and dump-findmissing: framed */
static rx_int_t
tool_bench_request(rx_pool_t *pool, const char *instance, rx_str_t *out)
{
    Build__Bazel__Remote__Execution__V2__FindMissingBlobsRequest m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__FIND_MISSING_BLOBS_REQUEST__INIT;
    tool_pb_digest_t  pbs[TOOL_BENCH_DIGEST], *ptrs[TOOL_BENCH_DIGEST];
    rx_reapi_digest_t d[TOOL_BENCH_DIGEST];
    char              text[64];
    int               i, len;

    for (i = 0; i < TOOL_BENCH_DIGEST; i++) {
        len = snprintf(text, sizeof(text), "reapi_tool bench blob %d", i);
        rx_reapi_digest_of(&d[i], (u_char *) text, (size_t) len);
        tool_pb_digest(&pbs[i], &d[i]);
        ptrs[i] = &pbs[i];
    }
    m.instance_name = (char *) instance;
    m.n_blob_digests = TOOL_BENCH_DIGEST;
    m.blob_digests = ptrs;
    if (rx_pb_pack(pool, &m.base, 5, out) != RX_OK) {
        return RX_ERROR;
    }
    rx_grpc_frame(out);
    return RX_OK;
}

static int
tool_dump(const char *file)
{
    rx_pool_t *pool = rx_create_pool(4096, &rx_log_stderr);
    rx_str_t   req;
    FILE      *fp;
    int        rc = 1;

    if (pool == NULL || tool_bench_request(pool, "", &req) != RX_OK) {
        return 1;
    }
    fp = fopen(file, "wb");
    if (fp && fwrite(req.data, 1, req.len, fp) == req.len) {
        rc = 0;
    }
    if (fp == NULL || fclose(fp) != 0) {
        perror(file);
        rc = 1;
    }
    rx_destroy_pool(pool);
    return rc;
}

static rx_uint_t tool_bench_done, tool_bench_failed;

static void
tool_bench_op_done(rx_reapi_op_t *op)
{
    tool_slot_t *slot = op->data;

    slot->busy = 0;
    tool_bench_done++;
    rx_event_post(&tool_wake); /* refill before the loop sleeps */
    if (op->status.code != RX_GRPC_OK) {
        if (tool_bench_failed++ == 0) {
            tool_diag_status("bench call", &op->status);
        }
    }
}

static void
tool_bench_start(tool_slot_t *slot, rx_str_t *request)
{
    rx_reset_pool(slot->pool);
    rx_memzero(&slot->op, sizeof(slot->op));
    slot->op.pool = slot->pool;
    slot->op.path = RX_REAPI_FIND_MISSING;
    slot->op.request = *request;
    slot->op.timeout = 30000;
    slot->op.max_attempts = 1;
    slot->op.done = tool_bench_op_done;
    slot->op.data = slot;
    slot->busy = 1;
    rx_reapi_start(&slot->op);
}

/* keeps @inflight calls outstanding until @n have ended */
static rx_int_t
tool_bench_loop(tool_slot_t *slots, long n, long inflight, rx_str_t *req)
{
    rx_event_t guard;
    long       started = 0, i;

    rx_memzero(&guard, sizeof(guard));
    guard.handler = tool_guard_handler;
    guard.log = &rx_cycle->log;
    tool_timed_out = 0;
    rx_event_add_timer(&guard, 300000);
    while ((long) tool_bench_done < n && !tool_timed_out) {
        for (i = 0; i < inflight && started < n; i++) {
            if (!slots[i].busy) {
                tool_bench_start(&slots[i], req);
                started++;
            }
        }
        rx_event_process();
    }
    rx_event_del_timer(&guard);
    for (i = 0; i < inflight; i++) {
        if (slots[i].busy) {
            rx_reapi_cancel(&slots[i].op);
        }
    }
    return tool_timed_out ? RX_ERROR : RX_OK;
}

static uint64_t
tool_cpu_usec(void)
{
    struct rusage ru;

    (void) getrusage(RUSAGE_SELF, &ru);
    return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
           + (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
tool_bench_run(rx_pool_t *pool, long n, long inflight)
{
    tool_slot_t *slots = rx_pcalloc(pool, (size_t) inflight * sizeof(*slots));
    rx_str_t     req;
    uint64_t     t0, c0, t1, c1;
    long         i;

    if (slots == NULL
        || tool_bench_request(pool, tool_instance(), &req) != RX_OK) {
        return 1;
    }
    for (i = 0; i < inflight; i++) {
        slots[i].pool = rx_create_pool(4096, &rx_cycle->log);
        if (slots[i].pool == NULL) {
            return 1;
        }
    }
    /* one call first: connection set-up is not measured */
    if (tool_bench_loop(slots, 1, 1, &req) != RX_OK || tool_bench_failed) {
        fprintf(stderr, "reapi_tool: the first call failed\n");
        return 1;
    }
    tool_bench_done = 0;
    t0 = rx_time_usec();
    c0 = tool_cpu_usec();
    (void) tool_bench_loop(slots, n, inflight, &req);
    t1 = rx_time_usec();
    c1 = tool_cpu_usec();
    for (i = 0; i < inflight; i++) {
        rx_destroy_pool(slots[i].pool);
    }
    printf("BENCH calls=%ld inflight=%ld ok=%lu failed=%lu secs=%.3f "
           "calls_per_s=%.0f cpu_us_per_call=%.2f\n",
           n, inflight, (unsigned long) (tool_bench_done - tool_bench_failed),
           (unsigned long) tool_bench_failed, (t1 - t0) / 1e6,
           tool_bench_done * 1e6 / (double) rx_max(t1 - t0, 1),
           (c1 - c0) / (double) rx_max(tool_bench_done, 1));
    return tool_bench_failed || (long) tool_bench_done < n ? 1 : 0;
}

static int
tool_bench(const char *conf, long n, long inflight)
{
    rx_pool_t *pool;
    int        rc = 1;

    if (n <= 0 || inflight <= 0 || inflight > 100000) {
        return tool_usage();
    }
    if (tool_env_init(conf) != RX_OK) {
        tool_env_done();
        return 1;
    }
    pool = rx_create_pool(16384, &rx_cycle->log);
    if (pool) {
        rc = tool_bench_run(pool, n, inflight);
        rx_destroy_pool(pool);
    }
    tool_env_done();
    return rc;
}

static int
tool_usage(void)
{
    fprintf(stderr,
            "usage: reapi_tool test CONF SCENARIO...\n"
            "       reapi_tool bench CONF N INFLIGHT\n"
            "       reapi_tool dump-findmissing FILE\n"
            "scenarios: caps find upload read-dataloss action-miss execute "
            "call (NAME[:key=value,...])\n");
    return 2;
}

int
main(int argc, char **argv)
{
    int rc;

    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "dump-findmissing") == 0) {
        return tool_dump(argv[2]);
    }
    if (argc == 5 && strcmp(argv[1], "bench") == 0) {
        return tool_bench(argv[2], atol(argv[3]), atol(argv[4]));
    }
    if (argc < 4 || strcmp(argv[1], "test") != 0) {
        return tool_usage();
    }
    if (tool_env_init(argv[2]) != RX_OK) {
        tool_env_done();
        ok(0, "reapi_tool: cannot set up from %s", argv[2]);
        (void) done_testing();
        return 1;
    }
    rc = tool_test(argc - 3, argv + 3);
    tool_env_done();
    return rc;
}
