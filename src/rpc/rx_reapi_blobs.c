/*
 * Blob transfer: BatchUpdateBlobs under the advertised byte limit and
 * 1000 blobs per batch, ByteStream.Write (2 MiB messages) above it, and
 * ByteStream.Read with size and hash verification; GetActionResult.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_reapi_cas.h>
#include <openssl/rand.h>
#include <rx_pb.h>

#define RX_BATCH_OVERHEAD 128 /* digest, tags, lengths per blob */

typedef Build__Bazel__Remote__Execution__V2__BatchUpdateBlobsRequest rx_bur_t;
typedef Build__Bazel__Remote__Execution__V2__BatchUpdateBlobsRequest__Request
                                                    rx_bur_req_t;
typedef Build__Bazel__Remote__Execution__V2__Digest rx_pb_digest_t;

static void
rx_reapi_pb_digest(rx_pb_digest_t *pb, const rx_reapi_digest_t *d)
{
    build__bazel__remote__execution__v2__digest__init(pb);
    pb->hash = (char *) d->hash;
    pb->size_bytes = d->size;
}

static void
rx_reapi_blobs_op_done(rx_reapi_req_t *req, rx_reapi_op_t *op)
{
    if (op->status.code != RX_GRPC_OK && req->status.code == RX_GRPC_OK) {
        req->status = op->status;
    }
    if (--req->_pending == 0 && !req->_cancelled) {
        req->done(req);
    }
}

static void
rx_reapi_batch_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t *req = op->data;
    Build__Bazel__Remote__Execution__V2__BatchUpdateBlobsResponse *r = NULL;
    rx_reapi_blob_t                                               *b;
    rx_uint_t                                                      i;
    size_t                                                         k;

    if (op->status.code == RX_GRPC_OK) {
        r = (void *) rx_reapi_unpack(
            op,
            &build__bazel__remote__execution__v2__batch_update_blobs_response__descriptor);
    }
    for (i = op->first; i < op->first + op->count; i++) {
        b = &req->blobs[req->_idx[i]];
        b->code =
            op->status.code != RX_GRPC_OK ? op->status.code : RX_GRPC_INTERNAL;
        for (k = 0; r && k < r->n_responses; k++) {
            if (r->responses[k]->digest
                && strcmp(r->responses[k]->digest->hash, b->d.hash) == 0) {
                b->code = r->responses[k]->status
                              ? (rx_grpc_code_e) r->responses[k]->status->code
                              : RX_GRPC_OK;
                break;
            }
        }
    }
    /* a failed batch reports per blob; the request itself succeeded */
    op->status.code = RX_GRPC_OK;
    rx_reapi_blobs_op_done(req, op);
}

static rx_int_t
rx_reapi_pack_batch(rx_reapi_req_t *req, rx_reapi_op_t *op)
{
    rx_bur_t m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__BATCH_UPDATE_BLOBS_REQUEST__INIT;
    rx_bur_req_t    *items, **ptrs;
    rx_pb_digest_t  *ds;
    rx_reapi_blob_t *b;
    rx_uint_t        i;

    items = rx_palloc(req->ctx->pool, op->count * sizeof(rx_bur_req_t));
    ptrs = rx_palloc(req->ctx->pool, op->count * sizeof(rx_bur_req_t *));
    ds = rx_palloc(req->ctx->pool, op->count * sizeof(rx_pb_digest_t));
    if (items == NULL || ptrs == NULL || ds == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < op->count; i++) {
        b = &req->blobs[req->_idx[op->first + i]];
        build__bazel__remote__execution__v2__batch_update_blobs_request__request__init(
            &items[i]);
        rx_reapi_pb_digest(&ds[i], &b->d);
        items[i].digest = &ds[i];
        items[i].data.data = b->data.data;
        items[i].data.len = b->data.len;
        ptrs[i] = &items[i];
    }
    m.instance_name =
        req->ctx->instance.len ? (char *) req->ctx->instance.data : "";
    m.requests = ptrs;
    m.n_requests = op->count;
    return rx_reapi_pack(op, &m.base);
}

static void
rx_reapi_uuid4(char *out)
{
    u_char r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        for (size_t i = 0; i < sizeof(r); i++) {
            r[i] = (u_char) random();
        }
    }
    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;
    sprintf(out,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
            "%02x%02x%02x%02x%02x%02x",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
            r[11], r[12], r[13], r[14], r[15]);
}

static void
rx_reapi_write_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t                    *req = op->data;
    rx_reapi_blob_t                   *b = &req->blobs[op->first];
    Google__Bytestream__WriteResponse *r;

    b->code = op->status.code;
    if (op->status.code == RX_GRPC_OK) {
        r = (void *) rx_reapi_unpack(
            op, &google__bytestream__write_response__descriptor);
        if (r == NULL
            || (r->committed_size != b->d.size && r->committed_size != -1)) {
            b->code = RX_GRPC_DATA_LOSS;
        }
    }
    op->status.code = RX_GRPC_OK;
    rx_reapi_blobs_op_done(req, op);
}

/* ByteStream.Write: all WriteRequests framed back to back; the last one
 * carries finish_write. */
static rx_int_t
rx_reapi_pack_write(rx_reapi_req_t *req, rx_reapi_op_t *op, rx_reapi_blob_t *b)
{
    Google__Bytestream__WriteRequest m;
    rx_buf_t                         buf;
    rx_str_t                         one;
    char                             uuid[40], *name;
    size_t                           off = 0, n, nlen;

    rx_reapi_uuid4(uuid);
    nlen = req->ctx->instance.len + 160; /* 138 + digits of the size */
    name = rx_pnalloc(req->ctx->pool, nlen);
    if (name == NULL
        || rx_buf_init(&buf, req->ctx->pool,
                       b->data.len + 256
                           + b->data.len / RX_REAPI_WRITE_CHUNK * 256)
               != RX_OK) {
        return RX_ERROR;
    }
    snprintf(name, nlen, "%s%suploads/%s/blobs/%s/%lld",
             req->ctx->instance.len ? (char *) req->ctx->instance.data : "",
             req->ctx->instance.len ? "/" : "", uuid, b->d.hash,
             (long long) b->d.size);
    do {
        google__bytestream__write_request__init(&m);
        n = rx_min(b->data.len - off, (size_t) RX_REAPI_WRITE_CHUNK);
        m.resource_name = name;
        m.write_offset = (int64_t) off;
        m.data.data = b->data.data + off;
        m.data.len = n;
        off += n;
        m.finish_write = off == b->data.len;
        op->request.len = 0;
        if (rx_reapi_pack(op, &m.base) != RX_OK) {
            return RX_ERROR;
        }
        one = op->request;
        if (rx_buf_append(&buf, one.data, one.len) != RX_OK) {
            return RX_ERROR;
        }
    } while (off < b->data.len);
    op->request.data = buf.pos;
    op->request.len = rx_buf_len(&buf);
    return RX_OK;
}

void
rx_reapi_upload(rx_reapi_req_t *req)
{
    const rx_reapi_caps_t *caps = rx_reapi_caps();
    rx_reapi_op_t         *ops;
    rx_uint_t              i, nsmall = 0, nops = 0, nlarge = 0, k;
    size_t                 limit = (size_t) caps->max_batch, bytes;
    rx_int_t               rc = RX_OK;

    req->_idx =
        rx_palloc(req->ctx->pool, (req->nblobs + 1) * sizeof(rx_uint_t));
    if (req->_idx == NULL) {
        return;
    }
    for (i = 0; i < req->nblobs; i++) { /* small blobs first, in order */
        if (req->blobs[i].data.len + RX_BATCH_OVERHEAD + req->ctx->instance.len
            < limit) {
            req->_idx[nsmall++] = i;
        }
    }
    nlarge = req->nblobs - nsmall;
    ops = rx_reapi_ops(req, req->nblobs + 1); /* upper bound */
    if (ops == NULL) {
        return;
    }
    for (i = 0; i < nsmall; nops++) {
        ops[nops].first = i;
        bytes = req->ctx->instance.len + 16;
        for (k = 0; i < nsmall && k < RX_REAPI_MAX_BATCH_BLOBS; k++, i++) {
            bytes += req->blobs[req->_idx[i]].data.len + RX_BATCH_OVERHEAD;
            if (k && bytes >= limit) {
                break;
            }
        }
        ops[nops].count = k;
        rx_reapi_op_setup(req, &ops[nops], RX_REAPI_BATCH_UPDATE,
                          rx_reapi_batch_done, RX_REAPI_RETRY_CAS);
        rc |= rx_reapi_pack_batch(req, &ops[nops]);
    }
    for (i = 0; i < req->nblobs && nlarge; i++) {
        if (req->blobs[i].data.len + RX_BATCH_OVERHEAD + req->ctx->instance.len
            < limit) {
            continue;
        }
        ops[nops].first = i;
        ops[nops].count = 1;
        rx_reapi_op_setup(req, &ops[nops], RX_BYTESTREAM_WRITE,
                          rx_reapi_write_done, RX_REAPI_RETRY_CAS);
        rc |= rx_reapi_pack_write(req, &ops[nops], &req->blobs[i]);
        nops++;
    }
    req->_nops = nops;
    req->_pending = nops;
    if (rc != RX_OK) {
        rx_log_error(RX_LOG_ERR, &rx_cycle->log, 0, "upload: out of memory");
    }
    for (i = 0; i < nops; i++) {
        rx_reapi_start(&ops[i]);
    }
}

/* ---- ByteStream.Read ---- */

static void
rx_reapi_read_message(rx_reapi_op_t *op, u_char *msg, size_t len)
{
    rx_reapi_req_t                   *req = op->data;
    Google__Bytestream__ReadResponse *r;
    ProtobufCAllocator                a;
    rx_pool_t                        *tmp;

    if (op->first != op->attempts) { /* a retry reads from offset 0 */
        op->first = op->attempts;
        op->count = 0;
        req->out.len = 0;
    }
    tmp = rx_create_pool(1024, &rx_cycle->log);
    if (tmp == NULL) {
        op->count = 1;
        return;
    }
    rx_pb_allocator_init(&a, tmp);
    r = google__bytestream__read_response__unpack(&a, len, msg);
    if (r == NULL
        || req->out.len + r->data.len > (size_t) req->digests[0].size) {
        op->count = 1; /* malformed or too long: verified at the end */
    } else {
        memcpy(req->out.data + req->out.len, r->data.data, r->data.len);
        req->out.len += r->data.len;
    }
    rx_destroy_pool(tmp);
}

static void
rx_reapi_read_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t   *req = op->data;
    rx_reapi_digest_t got;

    if (op->status.code == RX_GRPC_OK) {
        rx_reapi_digest_of(&got, req->out.data, req->out.len);
        if (op->count || got.size != req->digests[0].size
            || strcmp(got.hash, req->digests[0].hash) != 0) {
            op->status.code = RX_GRPC_DATA_LOSS;
            rx_str_set(&op->status.message, "incomplete fetch or digest "
                                            "mismatch");
        }
    }
    rx_reapi_blobs_op_done(req, op);
}

void
rx_reapi_read(rx_reapi_req_t *req)
{
    Google__Bytestream__ReadRequest m = GOOGLE__BYTESTREAM__READ_REQUEST__INIT;
    rx_reapi_digest_t              *d = &req->digests[0];
    rx_reapi_op_t                  *op = rx_reapi_ops(req, 1);
    size_t                          nlen = req->ctx->instance.len + 100;
    char                           *name;

    name = rx_pnalloc(req->ctx->pool, nlen);
    req->out.data = rx_pnalloc(req->ctx->pool, (size_t) d->size + 1);
    req->out.len = 0;
    if (op == NULL || name == NULL || req->out.data == NULL) {
        /* a size the request's memory cannot hold: fail now, never hang
           (the caller resumes through a posted event) */
        req->_nops = 0;
        req->_pending = 0;
        req->status.code = RX_GRPC_RESOURCE_EXHAUSTED;
        rx_str_set(&req->status.message, "blob too large for the request");
        req->done(req);
        return;
    }
    snprintf(name, nlen, "%s%sblobs/%s/%lld",
             req->ctx->instance.len ? (char *) req->ctx->instance.data : "",
             req->ctx->instance.len ? "/" : "", d->hash, (long long) d->size);
    m.resource_name = name;
    rx_reapi_op_setup(req, op, RX_BYTESTREAM_READ, rx_reapi_read_done,
                      RX_REAPI_RETRY_CAS);
    op->on_message = rx_reapi_read_message;
    op->timeout = rx_max((rx_msec_t) 3000,
                         (rx_msec_t) d->size / (4 * 1024 * 1024 / 1000));
    (void) rx_reapi_pack(op, &m.base);
    rx_reapi_start(op);
}

/* ---- GetActionResult ---- */

static void
rx_reapi_action_result_done(rx_reapi_op_t *op)
{
    rx_reapi_req_t *req = op->data;

    req->result = NULL;
    if (op->status.code == RX_GRPC_OK) {
        req->result = (void *) rx_reapi_unpack(
            op,
            &build__bazel__remote__execution__v2__action_result__descriptor);
        if (req->result == NULL) {
            op->status.code = RX_GRPC_INTERNAL;
        }
    }
    rx_reapi_blobs_op_done(req, op);
}

void
rx_reapi_get_action_result(rx_reapi_req_t *req)
{
    Build__Bazel__Remote__Execution__V2__GetActionResultRequest m =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__GET_ACTION_RESULT_REQUEST__INIT;
    rx_pb_digest_t d;
    rx_reapi_op_t *op = rx_reapi_ops(req, 1);

    if (op == NULL) {
        return;
    }
    rx_reapi_pb_digest(&d, &req->action);
    m.instance_name =
        req->ctx->instance.len ? (char *) req->ctx->instance.data : "";
    m.action_digest = &d;
    rx_reapi_op_setup(req, op, RX_REAPI_GET_ACTION_RESULT,
                      rx_reapi_action_result_done, 0);
    (void) rx_reapi_pack(op, &m.base);
    rx_reapi_start(op);
}
