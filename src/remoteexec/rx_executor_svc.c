/*
 * The executor's unary and streaming services other than Execution:
 * Capabilities, ContentAddressableStorage (FindMissingBlobs,
 * BatchUpdateBlobs, BatchReadBlobs), ByteStream (Read, Write,
 * QueryWriteStatus) and ActionCache. Any instance name is accepted.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_pb.h>

typedef struct {
    int     fd;
    int64_t offset;
    int64_t left;
} rx_ex_read_t;

typedef struct {
    rx_ex_writer_t w;
    rx_ex_digest_t d;
    char          *resource;
    int64_t        offset;
    unsigned       open : 1;
} rx_ex_write_t;

static void rx_ex_capabilities(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_find_missing(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_batch_update(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_batch_read(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_get_result(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_update_result(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_bs_read(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_bs_write(rx_ex_stream_t *st, u_char *msg, size_t len);
static void rx_ex_bs_query(rx_ex_stream_t *st, u_char *msg, size_t len);

const rx_ex_method_t rx_ex_methods[] = {
    {RX_REAPI_CAPABILITIES, rx_ex_capabilities, 0},
    {RX_REAPI_FIND_MISSING, rx_ex_find_missing, 0},
    {RX_REAPI_BATCH_UPDATE, rx_ex_batch_update, 0},
    {RX_REAPI_BATCH_READ, rx_ex_batch_read, 0},
    {RX_REAPI_GET_ACTION_RESULT, rx_ex_get_result, 0},
    {RX_REAPI_PKG "ActionCache/UpdateActionResult", rx_ex_update_result, 0},
    {RX_REAPI_EXECUTE, rx_ex_execute, 0},
    {RX_REAPI_WAIT_EXECUTION, rx_ex_wait_execution, 0},
    {RX_BYTESTREAM_READ, rx_ex_bs_read, 0},
    {RX_BYTESTREAM_WRITE, rx_ex_bs_write, 1},
    {"/google.bytestream.ByteStream/QueryWriteStatus", rx_ex_bs_query, 0},
    {NULL, NULL, 0}};

#define rx_ex_unpack(st, name, msg, len)                                       \
    ((void *) rx_pb_unpack((st)->pool, &rx_re_desc(name), msg, len))

static Google__Rpc__Status *
rx_ex_status(rx_pool_t *pool, rx_grpc_code_e code, const char *message)
{
    Google__Rpc__Status  init = GOOGLE__RPC__STATUS__INIT;
    Google__Rpc__Status *s;

    s = rx_palloc(pool, sizeof(*s));
    if (s) {
        *s = init;
        s->code = (int32_t) code;
        s->message = (char *) message;
    }
    return s;
}

static void
rx_ex_reply(rx_ex_stream_t *st, const ProtobufCMessage *m)
{
    if (rx_ex_send(st, m) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot send the response");
        return;
    }
    rx_ex_finish(st, RX_GRPC_OK, NULL);
}

/* ---- Capabilities ---- */

static void
rx_ex_capabilities(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    static rx_re_t(DigestFunction__Value) fns[] = {
        BUILD__BAZEL__REMOTE__EXECUTION__V2__DIGEST_FUNCTION__VALUE__SHA256};
    rx_re_t(ServerCapabilities) sc = RX_RE_INIT(SERVER_CAPABILITIES);
    rx_re_t(CacheCapabilities) cc = RX_RE_INIT(CACHE_CAPABILITIES);
    rx_re_t(ExecutionCapabilities) ec = RX_RE_INIT(EXECUTION_CAPABILITIES);
    rx_re_t(ActionCacheUpdateCapabilities) up =
        RX_RE_INIT(ACTION_CACHE_UPDATE_CAPABILITIES);
    Build__Bazel__Semver__SemVer low = BUILD__BAZEL__SEMVER__SEM_VER__INIT;
    Build__Bazel__Semver__SemVer high = BUILD__BAZEL__SEMVER__SEM_VER__INIT;

    up.update_enabled = 1;
    cc.n_digest_functions = 1;
    cc.digest_functions = fns;
    cc.action_cache_update_capabilities = &up;
    cc.max_batch_total_size_bytes = RX_EX_MAX_BATCH;
    cc.symlink_absolute_path_strategy =
        RX_RE_ENUM(SYMLINK_ABSOLUTE_PATH_STRATEGY__VALUE__ALLOWED);
    ec.digest_function = fns[0];
    ec.exec_enabled = 1;
    ec.n_digest_functions = 1;
    ec.digest_functions = fns;
    low.major = 2;
    high.major = 2;
    high.minor = 3;
    sc.cache_capabilities = &cc;
    sc.execution_capabilities = &ec;
    sc.low_api_version = &low;
    sc.high_api_version = &high;
    rx_ex_reply(st, &sc.base);
}

/* ---- ContentAddressableStorage ---- */

static void
rx_ex_find_missing(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(FindMissingBlobsRequest) * req;
    rx_re_t(FindMissingBlobsResponse) resp =
        RX_RE_INIT(FIND_MISSING_BLOBS_RESPONSE);
    rx_ex_digest_t d;
    size_t         i;

    req = rx_ex_unpack(st, find_missing_blobs_request, msg, len);
    if (req == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "malformed request");
        return;
    }
    resp.missing_blob_digests = rx_palloc(
        st->pool, (req->n_blob_digests + 1) * sizeof(rx_re_t(Digest) *));
    if (resp.missing_blob_digests == NULL) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (i = 0; i < req->n_blob_digests; i++) {
        if (rx_ex_digest_from_pb(&d, req->blob_digests[i]) != RX_OK) {
            rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "invalid digest");
            return;
        }
        if (!rx_ex_cas_has(&d)) {
            resp.missing_blob_digests[resp.n_missing_blob_digests++] =
                req->blob_digests[i];
        }
    }
    rx_ex_reply(st, &resp.base);
}

static Google__Rpc__Status *
rx_ex_update_one(rx_ex_stream_t *st,
                 rx_re_t(BatchUpdateBlobsRequest__Request) * r)
{
    rx_ex_digest_t d;
    rx_int_t       rc;

    if (rx_ex_digest_from_pb(&d, r->digest) != RX_OK) {
        return rx_ex_status(st->pool, RX_GRPC_INVALID_ARGUMENT,
                            "invalid digest");
    }
    if (r->compressor
        != BUILD__BAZEL__REMOTE__EXECUTION__V2__COMPRESSOR__VALUE__IDENTITY) {
        return rx_ex_status(st->pool, RX_GRPC_INVALID_ARGUMENT,
                            "compression is not supported");
    }
    rc = rx_ex_cas_put(&d, r->data.data, r->data.len);
    if (rc == RX_DECLINED) {
        return rx_ex_status(st->pool, RX_GRPC_INVALID_ARGUMENT,
                            "data does not match the digest");
    }
    if (rc != RX_OK) {
        return rx_ex_status(st->pool, RX_GRPC_INTERNAL, "cannot store blob");
    }
    return rx_ex_status(st->pool, RX_GRPC_OK, "");
}

static void
rx_ex_batch_update(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(BatchUpdateBlobsRequest) * req;
    rx_re_t(BatchUpdateBlobsResponse) resp =
        RX_RE_INIT(BATCH_UPDATE_BLOBS_RESPONSE);
    rx_re_t(BatchUpdateBlobsResponse__Response) * r,
        init = RX_RE_INIT(BATCH_UPDATE_BLOBS_RESPONSE__RESPONSE);
    size_t i;

    req = rx_ex_unpack(st, batch_update_blobs_request, msg, len);
    if (req == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "malformed request");
        return;
    }
    resp.responses = rx_palloc(st->pool, (req->n_requests + 1) * sizeof(r));
    r = rx_palloc(st->pool, (req->n_requests + 1) * sizeof(*r));
    if (resp.responses == NULL || r == NULL) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (i = 0; i < req->n_requests; i++) {
        r[i] = init;
        r[i].digest = req->requests[i]->digest;
        r[i].status = rx_ex_update_one(st, req->requests[i]);
        if (r[i].status == NULL) {
            rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        resp.responses[resp.n_responses++] = &r[i];
    }
    rx_ex_reply(st, &resp.base);
}

static rx_int_t
rx_ex_read_one(rx_ex_stream_t *st, rx_re_t(Digest) * pb,
               rx_re_t(BatchReadBlobsResponse__Response) * r)
{
    rx_ex_digest_t d;
    rx_str_t       data;
    rx_int_t       rc;

    r->digest = pb;
    if (rx_ex_digest_from_pb(&d, pb) != RX_OK) {
        r->status =
            rx_ex_status(st->pool, RX_GRPC_INVALID_ARGUMENT, "invalid digest");
        return r->status ? RX_OK : RX_ERROR;
    }
    rc = rx_ex_cas_get(st->pool, &d, RX_EX_MAX_BATCH, &data);
    if (rc == RX_OK) {
        r->data.data = data.data;
        r->data.len = data.len;
    }
    r->status = rx_ex_status(st->pool,
                             rc == RX_OK         ? RX_GRPC_OK
                             : rc == RX_DECLINED ? RX_GRPC_NOT_FOUND
                                                 : RX_GRPC_INTERNAL,
                             rc == RX_DECLINED ? "blob not found" : "");
    return r->status ? RX_OK : RX_ERROR;
}

static void
rx_ex_batch_read(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(BatchReadBlobsRequest) * req;
    rx_re_t(BatchReadBlobsResponse) resp =
        RX_RE_INIT(BATCH_READ_BLOBS_RESPONSE);
    rx_re_t(BatchReadBlobsResponse__Response) * r,
        init = RX_RE_INIT(BATCH_READ_BLOBS_RESPONSE__RESPONSE);
    int64_t total = 0;
    size_t  i;

    req = rx_ex_unpack(st, batch_read_blobs_request, msg, len);
    if (req == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "malformed request");
        return;
    }
    for (i = 0; i < req->n_digests && total <= RX_EX_MAX_BATCH; i++) {
        /* each size is bounded before the sum: no overflow */
        total += rx_max(
            rx_min(req->digests[i]->size_bytes, (int64_t) RX_EX_MAX_BATCH + 1),
            (int64_t) 0);
    }
    if (total > RX_EX_MAX_BATCH) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT,
                     "blobs larger than max_batch_total_size_bytes");
        return;
    }
    resp.responses = rx_palloc(st->pool, (req->n_digests + 1) * sizeof(r));
    r = rx_palloc(st->pool, (req->n_digests + 1) * sizeof(*r));
    for (i = 0; resp.responses && r && i < req->n_digests; i++) {
        r[i] = init;
        if (rx_ex_read_one(st, req->digests[i], &r[i]) != RX_OK) {
            break;
        }
        resp.responses[resp.n_responses++] = &r[i];
    }
    if (resp.n_responses != req->n_digests) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rx_ex_reply(st, &resp.base);
}

/* ---- ByteStream ---- */

/* "[{instance}/]blobs/{hash}/{size}[/...]", with "uploads/{uuid}/" before
   "blobs" when @write */
static rx_int_t
rx_ex_resource(const char *name, int write, rx_ex_digest_t *d)
{
    rx_re_t(Digest) pb = RX_RE_INIT(DIGEST);
    char      buf[1024], *seg[64], *p;
    rx_uint_t n = 0, i;

    if (snprintf(buf, sizeof(buf), "%s", name) >= (int) sizeof(buf)) {
        return RX_ERROR;
    }
    for (p = buf; n < rx_nelems(seg);) {
        seg[n++] = p;
        p = strchr(p, '/');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
    for (i = 0; i + 2 < n; i++) {
        if (strcmp(seg[i], "blobs") != 0
            || (write && (i < 2 || strcmp(seg[i - 2], "uploads") != 0))) {
            continue;
        }
        pb.hash = seg[i + 1];
        pb.size_bytes = rx_atoi64((u_char *) seg[i + 2], strlen(seg[i + 2]));
        return rx_ex_digest_from_pb(d, &pb);
    }
    return RX_ERROR;
}

static void
rx_ex_read_cleanup(rx_ex_stream_t *st)
{
    rx_ex_read_t *rd = st->data;

    if (rd->fd != -1) {
        close(rd->fd);
        rd->fd = -1;
    }
}

static rx_int_t
rx_ex_read_pull(rx_ex_stream_t *st)
{
    Google__Bytestream__ReadResponse resp =
        GOOGLE__BYTESTREAM__READ_RESPONSE__INIT;
    rx_ex_read_t *rd = st->data;
    u_char       *buf;
    ssize_t       n;
    size_t        want = (size_t) rx_min(rd->left, (int64_t) RX_EX_READ_CHUNK);

    if (rd->left == 0) {
        rx_ex_read_cleanup(st);
        rx_ex_finish(st, RX_GRPC_OK, NULL);
        return RX_DONE;
    }
    buf = rx_pnalloc(st->pool, want);
    do {
        n = buf ? pread(rd->fd, buf, want, rd->offset) : -1;
    } while (n == -1 && errno == EINTR);
    if (n <= 0) {
        rx_ex_read_cleanup(st);
        rx_ex_finish(st, RX_GRPC_DATA_LOSS, "blob read failed");
        return RX_ERROR;
    }
    rd->offset += n;
    rd->left -= n;
    resp.data.data = buf;
    resp.data.len = (size_t) n;
    if (rx_ex_send(st, &resp.base) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot send");
        return RX_ERROR;
    }
    (void) rx_pfree(st->pool, buf);
    return RX_OK;
}

static void
rx_ex_bs_read(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    Google__Bytestream__ReadRequest *req;
    rx_ex_digest_t                   d;
    rx_ex_read_t                    *rd;

    req = (void *) rx_pb_unpack(
        st->pool, &google__bytestream__read_request__descriptor, msg, len);
    if (req == NULL || rx_ex_resource(req->resource_name, 0, &d) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "bad resource name");
        return;
    }
    if (req->read_offset < 0 || req->read_offset > d.size
        || req->read_limit < 0) {
        rx_ex_finish(st, RX_GRPC_OUT_OF_RANGE, "bad read_offset/read_limit");
        return;
    }
    rd = rx_pcalloc(st->pool, sizeof(rx_ex_read_t));
    if (rd == NULL) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    rd->fd = -1;
    rd->offset = req->read_offset;
    rd->left = d.size - req->read_offset;
    if (req->read_limit && req->read_limit < rd->left) {
        rd->left = req->read_limit;
    }
    if (!rx_ex_digest_empty(&d) && (rd->fd = rx_ex_cas_open(&d)) == -1) {
        rx_ex_finish(st, RX_GRPC_NOT_FOUND, "blob %s/%lld not found",
                     (char *) d.hex, (long long) d.size);
        return;
    }
    st->data = rd;
    st->cleanup = rx_ex_read_cleanup;
    st->pull = rx_ex_read_pull;
    (void) rx_ex_read_pull(st);
}

static void
rx_ex_write_cleanup(rx_ex_stream_t *st)
{
    rx_ex_write_t *wr = st->data;

    if (wr->open) {
        rx_ex_writer_abort(&wr->w);
        wr->open = 0;
    }
}

static void
rx_ex_write_committed(rx_ex_stream_t *st, int64_t size)
{
    Google__Bytestream__WriteResponse resp =
        GOOGLE__BYTESTREAM__WRITE_RESPONSE__INIT;

    resp.committed_size = size;
    rx_ex_reply(st, &resp.base);
}

static rx_int_t
rx_ex_write_first(rx_ex_stream_t *st, Google__Bytestream__WriteRequest *req)
{
    rx_ex_write_t *wr;

    wr = rx_pcalloc(st->pool, sizeof(rx_ex_write_t));
    if (wr == NULL) {
        rx_ex_finish(st, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return RX_ERROR;
    }
    st->data = wr;
    st->cleanup = rx_ex_write_cleanup;
    wr->resource = req->resource_name;
    if (rx_ex_resource(req->resource_name, 1, &wr->d) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "bad resource name");
        return RX_ERROR;
    }
    if (rx_ex_cas_has(&wr->d)) {
        rx_ex_write_committed(st, wr->d.size); /* already there */
        return RX_ERROR;
    }
    if (rx_ex_writer_open(&wr->w) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot create upload file");
        return RX_ERROR;
    }
    wr->open = 1;
    return RX_OK;
}

static void
rx_ex_write_finish(rx_ex_stream_t *st, rx_ex_write_t *wr)
{
    rx_ex_digest_t got;
    rx_int_t       rc;

    wr->open = 0;
    rc = rx_ex_writer_commit(&wr->w, &wr->d, &got);
    if (rc == RX_DECLINED) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT,
                     "data does not match the digest (got %s/%lld)",
                     (char *) got.hex, (long long) got.size);
        return;
    }
    if (rc != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot store blob");
        return;
    }
    rx_ex_write_committed(st, wr->d.size);
}

static void
rx_ex_bs_write(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    Google__Bytestream__WriteRequest *req;
    rx_ex_write_t                    *wr = st->data;

    if (msg == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT,
                     "stream ended without "
                     "finish_write");
        return;
    }
    req = (void *) rx_pb_unpack(
        st->pool, &google__bytestream__write_request__descriptor, msg, len);
    if (req == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "malformed request");
        return;
    }
    if (wr == NULL) {
        if (rx_ex_write_first(st, req) != RX_OK) {
            return;
        }
        wr = st->data;
    } else if (req->resource_name[0]
               && strcmp(req->resource_name, wr->resource) != 0) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "resource name changed");
        return;
    }
    if (req->write_offset != wr->offset
        || wr->offset + (int64_t) req->data.len > wr->d.size) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT,
                     "bad write_offset or "
                     "too much data");
        return;
    }
    if (rx_ex_writer_add(&wr->w, req->data.data, req->data.len) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot write upload file");
        return;
    }
    wr->offset += (int64_t) req->data.len;
    if (req->finish_write) {
        rx_ex_write_finish(st, wr);
    }
}

static void
rx_ex_bs_query(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    Google__Bytestream__QueryWriteStatusRequest *req;
    Google__Bytestream__QueryWriteStatusResponse resp =
        GOOGLE__BYTESTREAM__QUERY_WRITE_STATUS_RESPONSE__INIT;
    rx_ex_digest_t d;

    req = (void *) rx_pb_unpack(
        st->pool, &google__bytestream__query_write_status_request__descriptor,
        msg, len);
    if (req == NULL || rx_ex_resource(req->resource_name, 1, &d) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "bad resource name");
        return;
    }
    if (!rx_ex_cas_has(&d)) {
        rx_ex_finish(st, RX_GRPC_NOT_FOUND, "no such upload");
        return;
    }
    resp.committed_size = d.size;
    resp.complete = 1;
    rx_ex_reply(st, &resp.base);
}

/* ---- ActionCache ---- */

static int
rx_ex_tree_complete(const rx_re_t(Digest) * pb)
{
    rx_re_t(Tree) * tree;
    rx_ex_digest_t d;
    rx_pool_t     *pool;
    rx_str_t       data;
    size_t         i, j;
    int            ok = 0;

    if (rx_ex_digest_from_pb(&d, pb) != RX_OK
        || (pool = rx_create_pool(4096, rx_ex.log)) == NULL) {
        return 0;
    }
    if (rx_ex_cas_get(pool, &d, RX_EX_MAX_PROTO, &data) == RX_OK
        && (tree = (void *) rx_pb_unpack(pool, &rx_re_desc(tree), data.data,
                                         data.len))
               != NULL) {
        ok = 1;
        for (i = 0; ok && i <= tree->n_children; i++) {
            rx_re_t(Directory) *dir = i ? tree->children[i - 1] : tree->root;

            for (j = 0; ok && dir && j < dir->n_files; j++) {
                ok = rx_ex_digest_from_pb(&d, dir->files[j]->digest) == RX_OK
                     && rx_ex_cas_has(&d);
            }
        }
    }
    rx_destroy_pool(pool);
    return ok;
}

static int
rx_ex_blob_present(const rx_re_t(Digest) * pb)
{
    rx_ex_digest_t d;

    return pb == NULL
           || (rx_ex_digest_from_pb(&d, pb) == RX_OK && rx_ex_cas_has(&d));
}

int
rx_ex_result_complete(const rx_re_t(ActionResult) * r)
{
    size_t i;

    if (!rx_ex_blob_present(r->stdout_digest)
        || !rx_ex_blob_present(r->stderr_digest)) {
        return 0;
    }
    for (i = 0; i < r->n_output_files; i++) {
        if (r->output_files[i]->digest == NULL
            || !rx_ex_blob_present(r->output_files[i]->digest)) {
            return 0;
        }
    }
    for (i = 0; i < r->n_output_directories; i++) {
        if (!rx_ex_tree_complete(r->output_directories[i]->tree_digest)) {
            return 0;
        }
    }
    return 1;
}

static void
rx_ex_get_result(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(GetActionResultRequest) * req;
    rx_re_t(ActionResult) *r = NULL;
    rx_ex_digest_t d;
    rx_str_t       data;

    req = rx_ex_unpack(st, get_action_result_request, msg, len);
    if (req == NULL || rx_ex_digest_from_pb(&d, req->action_digest) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "invalid action digest");
        return;
    }
    if (rx_ex_ac_get(st->pool, &d, &data) == RX_OK) {
        r = rx_ex_unpack(st, action_result, data.data, data.len);
        if (r == NULL || !rx_ex_result_complete(r)) {
            rx_ex_ac_del(&d); /* unreadable, or its blobs were evicted */
            r = NULL;
        }
    }
    if (r == NULL) {
        rx_ex_finish(st, RX_GRPC_NOT_FOUND, "no cached result");
        return;
    }
    rx_ex_reply(st, &r->base);
}

static void
rx_ex_update_result(rx_ex_stream_t *st, u_char *msg, size_t len)
{
    rx_re_t(UpdateActionResultRequest) * req;
    rx_ex_digest_t d;
    rx_str_t       data;

    req = rx_ex_unpack(st, update_action_result_request, msg, len);
    if (req == NULL || rx_ex_digest_from_pb(&d, req->action_digest) != RX_OK
        || req->action_result == NULL) {
        rx_ex_finish(st, RX_GRPC_INVALID_ARGUMENT, "invalid request");
        return;
    }
    if (rx_pb_pack(st->pool, &req->action_result->base, 0, &data) != RX_OK
        || rx_ex_ac_put(&d, &data) != RX_OK) {
        rx_ex_finish(st, RX_GRPC_INTERNAL, "cannot store the result");
        return;
    }
    rx_ex_reply(st, &req->action_result->base);
}
