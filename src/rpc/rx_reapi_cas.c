/*
 * Typed REAPI operations: capabilities, FindMissingBlobs, uploads, reads,
 * GetActionResult. Execute lives in rx_reapi_execute.c.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_reapi_cas.h>
#include <openssl/rand.h>

#define RX_DIGEST_T Build__Bazel__Remote__Execution__V2__Digest

static rx_reapi_caps_t rx_reapi_worker_caps;

static void
rx_reapi_req_op_done(rx_reapi_req_t *req, rx_reapi_op_t *op)
{
    if (op->status.code != RX_GRPC_OK && req->status.code == RX_GRPC_OK) {
        req->status = op->status;
    }
    if (--req->_pending == 0 && !req->_cancelled) {
        req->done(req);
    }
}

rx_reapi_op_t *
rx_reapi_ops(rx_reapi_req_t *req, rx_uint_t n)
{
    req->_ops = rx_pcalloc(req->ctx->pool, (n ? n : 1) * sizeof(rx_reapi_op_t));
    req->_nops = req->_ops ? n : 0; /* nothing to cancel or wait for */
    req->_pending = req->_nops;
    req->_cancelled = 0;
    rx_memzero(&req->status, sizeof(req->status));
    return req->_ops;
}

void
rx_reapi_op_setup(rx_reapi_req_t *req, rx_reapi_op_t *op, const char *path,
                  rx_reapi_done_pt done, rx_uint_t flags)
{
    op->pool = req->ctx->pool;
    op->path = path;
    op->metadata = req->ctx->metadata;
    op->deadline = req->ctx->deadline;
    op->flags = flags;
    op->done = done;
    op->data = req;
}

void
rx_reapi_req_cancel(rx_reapi_req_t *req)
{
    rx_uint_t i;

    req->_cancelled = 1;
    rx_event_del_timer(&req->_retry);
    for (i = 0; i < req->_nops; i++) {
        rx_reapi_cancel(&req->_ops[i]);
    }
}

void
rx_reapi_digest_of(rx_reapi_digest_t *d, const u_char *data, size_t len)
{
    rx_sha256_hex(data, len, (u_char *) d->hash);
    d->hash[RX_SHA256_HEX_LEN] = '\0';
    d->size = (int64_t) len;
}

rx_int_t
rx_reapi_digest_from_pb(rx_reapi_digest_t *d, const RX_DIGEST_T *pb)
{
    u_char tmp[RX_SHA256_LEN];

    if (pb == NULL || pb->size_bytes < 0
        || rx_sha256_parse_hex((u_char *) pb->hash, strlen(pb->hash), tmp)
               != RX_OK) {
        return RX_ERROR;
    }
    memcpy(d->hash, pb->hash, RX_SHA256_HEX_LEN + 1);
    d->size = pb->size_bytes;
    return RX_OK;
}

static void
rx_reapi_digest_to_pb(RX_DIGEST_T *pb, const rx_reapi_digest_t *d)
{
    build__bazel__remote__execution__v2__digest__init(pb);
    pb->hash = (char *) d->hash;
    pb->size_bytes = d->size;
}

static char *
rx_reapi_instance(rx_reapi_req_t *req)
{
    return req->ctx->instance.len ? (char *) req->ctx->instance.data : "";
}

/* ---- GetCapabilities, cached per worker ---- */

static void
rx_reapi_caps_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t                                          *req = op->data;
    Build__Bazel__Remote__Execution__V2__ServerCapabilities *sc;
    rx_reapi_caps_t *caps = &rx_reapi_worker_caps;

    if (op->status.code == RX_GRPC_OK) {
        sc = (void *) rx_reapi_unpack(
            op,
            &build__bazel__remote__execution__v2__server_capabilities__descriptor);
        if (sc) {
            caps->known = 1;
            if (sc->cache_capabilities) {
                caps->max_batch =
                    sc->cache_capabilities->max_batch_total_size_bytes;
                caps->symlinks_allowed =
                    sc->cache_capabilities->symlink_absolute_path_strategy == 2;
            }
            caps->exec_enabled = sc->execution_capabilities
                                 && sc->execution_capabilities->exec_enabled;
        }
    } else {
        rx_log_error(RX_LOG_WARN, &rx_cycle->log, 0,
                     "GetCapabilities "
                     "failed: %s %.*s (using defaults, retried later)",
                     rx_grpc_code_name(op->status.code),
                     (int) op->status.message.len, op->status.message.data);
    }
    if (caps->max_batch <= 0) {
        caps->max_batch = RX_REAPI_DEFAULT_BATCH;
    }
    rx_reapi_req_op_done(req, op);
}

const rx_reapi_caps_t *
rx_reapi_caps(void)
{
    if (rx_reapi_worker_caps.max_batch <= 0) {
        rx_reapi_worker_caps.max_batch = RX_REAPI_DEFAULT_BATCH;
    }
    return &rx_reapi_worker_caps;
}

void
rx_reapi_capabilities(rx_reapi_req_t *req, rx_reapi_caps_t *caps)
{
    Build__Bazel__Remote__Execution__V2__GetCapabilitiesRequest m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__GET_CAPABILITIES_REQUEST__INIT;
    rx_reapi_op_t *op = rx_reapi_ops(req, 1);

    (void) caps;
    m.instance_name = rx_reapi_instance(req);
    rx_reapi_op_setup(req, op, RX_REAPI_CAPABILITIES, rx_reapi_caps_done, 0);
    op->max_attempts = 1;
    if (rx_reapi_pack(op, &m.base) != RX_OK) {
        op->status.code = RX_GRPC_INTERNAL;
    }
    rx_reapi_start(op);
}

/* ---- FindMissingBlobs ---- */

static void
rx_reapi_find_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t *req = op->data;
    Build__Bazel__Remote__Execution__V2__FindMissingBlobsResponse *r;
    size_t                                                         i;

    if (op->status.code == RX_GRPC_OK) {
        r = (void *) rx_reapi_unpack(
            op,
            &build__bazel__remote__execution__v2__find_missing_blobs_response__descriptor);
        for (i = 0; r && i < r->n_missing_blob_digests; i++) {
            if (req->nmissing < req->n
                && rx_reapi_digest_from_pb(&req->missing[req->nmissing],
                                           r->missing_blob_digests[i])
                       == RX_OK) {
                req->nmissing++;
            }
        }
        if (r == NULL) {
            op->status.code = RX_GRPC_INTERNAL;
            rx_str_set(&op->status.message, "unparsable FindMissingBlobs "
                                            "response");
        }
    }
    rx_reapi_req_op_done(req, op);
}

void
rx_reapi_find_missing(rx_reapi_req_t *req)
{
    Build__Bazel__Remote__Execution__V2__FindMissingBlobsRequest m;
    RX_DIGEST_T                                                 *pbs, **ptrs;
    rx_reapi_op_t                                               *ops;
    rx_uint_t                                                    nb, b, i, k;

    nb = (req->n + RX_REAPI_FIND_BATCH - 1) / RX_REAPI_FIND_BATCH;
    ops = rx_reapi_ops(req, nb);
    req->missing =
        rx_pcalloc(req->ctx->pool, (req->n + 1) * sizeof(rx_reapi_digest_t));
    pbs = rx_palloc(req->ctx->pool, (req->n + 1) * sizeof(RX_DIGEST_T));
    ptrs = rx_palloc(req->ctx->pool, (req->n + 1) * sizeof(RX_DIGEST_T *));
    req->nmissing = 0;
    if (ops == NULL || req->missing == NULL || pbs == NULL || ptrs == NULL) {
        return; /* ENOMEM: the request pool limit was hit */
    }
    for (i = 0; i < req->n; i++) {
        rx_reapi_digest_to_pb(&pbs[i], &req->digests[i]);
        ptrs[i] = &pbs[i];
    }
    for (b = 0; b < nb; b++) {
        build__bazel__remote__execution__v2__find_missing_blobs_request__init(
            &m);
        m.instance_name = rx_reapi_instance(req);
        k = b * RX_REAPI_FIND_BATCH;
        m.blob_digests = &ptrs[k];
        m.n_blob_digests = rx_min((rx_uint_t) RX_REAPI_FIND_BATCH, req->n - k);
        rx_reapi_op_setup(req, &ops[b], RX_REAPI_FIND_MISSING,
                          rx_reapi_find_done, RX_REAPI_RETRY_CAS);
        (void) rx_reapi_pack(&ops[b], &m.base);
    }
    if (nb == 0) { /* nothing to ask: answer on the next turn */
        req->_pending = 1;
        rx_reapi_op_setup(req, &ops[0], RX_REAPI_FIND_MISSING,
                          rx_reapi_find_done, 0);
        build__bazel__remote__execution__v2__find_missing_blobs_request__init(
            &m);
        m.instance_name = rx_reapi_instance(req);
        (void) rx_reapi_pack(&ops[0], &m.base);
        nb = 1;
        req->_nops = 1;
    }
    for (b = 0; b < nb; b++) {
        rx_reapi_start(&ops[b]);
    }
}
