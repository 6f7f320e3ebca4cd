/*
 * Stage "response" (REMOTEEXEC.md §6.12): stdout/stderr, output files and
 * output directories (through their Tree) fetched from the CAS one at a
 * time, converted to goma FileBlobs (FILE up to 2 MiB, FILE_META with
 * FILE_CHUNKs in the file store above), recorded in the digest cache so
 * later link steps resolve them, and the 6 MiB answer guard.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>
#include <rx_exec_path.h>
#include <rx_file_store.h>
#include <rx_digest_cache.h>

typedef Build__Bazel__Remote__Execution__V2__ActionResult rx_pb_ar_t;
typedef Build__Bazel__Remote__Execution__V2__Tree         rx_pb_tree_t;
typedef Build__Bazel__Remote__Execution__V2__Directory    rx_pb_dir_t;

typedef enum {
    RX_OUT_STDOUT = 0,
    RX_OUT_STDERR,
    RX_OUT_FILE,
    RX_OUT_TREE
} rx_out_kind_e;

typedef struct {
    rx_out_kind_e     kind;
    rx_reapi_digest_t d;
    rx_str_t          data; /* inline or fetched */
    rx_str_t          path; /* root-relative output path */
    int               executable;
    unsigned          have : 1;
} rx_exec_output_t;

static rx_int_t
rx_exec_out_push(rx_exec_t *x, rx_out_kind_e kind,
                 const Build__Bazel__Remote__Execution__V2__Digest *d,
                 const ProtobufCBinaryData *inl, const char *path, int exec)
{
    rx_exec_output_t *o = rx_array_push(&x->pending_outputs);
    rx_reapi_digest_t got;

    if (o == NULL) {
        return RX_ERROR;
    }
    o->kind = kind;
    o->executable = exec;
    o->path.data = (u_char *) (path ? path : "");
    o->path.len = strlen((char *) o->path.data);
    if (d && rx_reapi_digest_from_pb(&o->d, d) != RX_OK) {
        return RX_ERROR;
    }
    if (inl && (inl->len || (d && d->size_bytes == 0) || d == NULL)) {
        o->data.data = inl->data;
        o->data.len = inl->len;
        o->have = 1;
        if (d) {
            /* inline bytes must be what the digest names: the digest is
               remembered for later requests; else fetch by the digest */
            rx_reapi_digest_of(&got, inl->data, inl->len);
            if (got.size != o->d.size || strcmp(got.hash, o->d.hash) != 0) {
                o->have = 0;
                o->data.len = 0;
            }
        }
    } else if (d && d->size_bytes == 0) {
        o->have = 1; /* empty: nothing to fetch */
    }
    return RX_OK;
}

static rx_int_t
rx_exec_out_plan(rx_exec_t *x)
{
    rx_pb_ar_t *ar = x->ar;
    size_t      i;
    rx_int_t    rc = RX_OK;

    if (rx_array_init(&x->pending_outputs, x->pool, 8, sizeof(rx_exec_output_t))
        != RX_OK) {
        return RX_ERROR;
    }
    if (ar->stdout_raw.len || ar->stdout_digest) {
        rc |= rx_exec_out_push(x, RX_OUT_STDOUT, ar->stdout_digest,
                               &ar->stdout_raw, NULL, 0);
    }
    if (ar->stderr_raw.len || ar->stderr_digest) {
        rc |= rx_exec_out_push(x, RX_OUT_STDERR, ar->stderr_digest,
                               &ar->stderr_raw, NULL, 0);
    }
    for (i = 0; i < ar->n_output_files; i++) {
        rc |= rx_exec_out_push(x, RX_OUT_FILE, ar->output_files[i]->digest,
                               &ar->output_files[i]->contents,
                               ar->output_files[i]->path,
                               ar->output_files[i]->is_executable);
    }
    for (i = 0; i < ar->n_output_directories; i++) {
        if (ar->output_directories[i]->tree_digest) {
            rc |= rx_exec_out_push(x, RX_OUT_TREE,
                                   ar->output_directories[i]->tree_digest, NULL,
                                   ar->output_directories[i]->path, 0);
        }
    }
    return rc == RX_OK ? RX_OK : RX_ERROR;
}

/* Walks a Tree: every file becomes an output under @dir (§6.12 step 9);
 * children are matched by the digest of their exact bytes. */
static rx_int_t rx_exec_out_tree(rx_exec_t *x, rx_exec_output_t *t);

static rx_int_t
rx_exec_out_walk(rx_exec_t *x, rx_pb_dir_t *d, const rx_str_t *dir,
                 rx_pb_dir_t **kids, rx_reapi_digest_t *kd, size_t nkids,
                 rx_uint_t depth)
{
    rx_str_t name, path;
    size_t   i, j;

    for (i = 0; i < d->n_files; i++) {
        name.data = (u_char *) d->files[i]->name;
        name.len = strlen(d->files[i]->name);
        if (rx_path_join(x->pool, dir, &name, &path) != RX_OK
            || rx_exec_out_push(x, RX_OUT_FILE, d->files[i]->digest, NULL,
                                (char *) path.data, d->files[i]->is_executable)
                   != RX_OK) {
            return RX_ERROR;
        }
    }
    for (i = 0; i < d->n_directories && depth < 256; i++) {
        name.data = (u_char *) d->directories[i]->name;
        name.len = strlen(d->directories[i]->name);
        for (j = 0; j < nkids; j++) {
            if (d->directories[i]->digest
                && strcmp(kd[j].hash, d->directories[i]->digest->hash) == 0) {
                break;
            }
        }
        if (j == nkids || rx_path_join(x->pool, dir, &name, &path) != RX_OK) {
            continue; /* missing child: logged by the caller's count */
        }
        if (rx_exec_out_walk(x, kids[j], &path, kids, kd, nkids, depth + 1)
            != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static rx_int_t
rx_exec_out_tree(rx_exec_t *x, rx_exec_output_t *t)
{
    rx_pb_tree_t      *tree;
    rx_pb_dir_t      **kids;
    rx_reapi_digest_t *kd;
    rx_array_t         raw;
    rx_goma_raw_t     *r;
    rx_str_t           root;
    size_t             i;

    tree = (void *) rx_pb_unpack(
        x->pool, &build__bazel__remote__execution__v2__tree__descriptor,
        t->data.data, t->data.len);
    if (tree == NULL || tree->root == NULL
        || rx_array_init(&raw, x->pool, 8, sizeof(rx_goma_raw_t)) != RX_OK
        || rx_goma_raw_fields(x->pool, &t->data, 2, &raw) != RX_OK
        || raw.nelts != tree->n_children) {
        rx_exec_error(x, "failed to unmarshal tree data %.*s",
                      (int) t->path.len, t->path.data);
        return RX_OK;
    }
    kids = tree->children;
    kd = rx_palloc(x->pool, (raw.nelts + 1) * sizeof(*kd));
    r = raw.elts;
    for (i = 0; kd && i < raw.nelts; i++) {
        rx_reapi_digest_of(&kd[i], r[i].data, r[i].len);
    }
    if (kd == NULL) {
        return RX_ERROR;
    }
    /* the walk pushes outputs: the array that holds *t may move, so the
       path goes by value (its bytes stay in the pool) */
    root = t->path;
    return rx_exec_out_walk(x, tree->root, &root, kids, kd, raw.nelts, 0);
}

static DevtoolsGoma__FileBlob *
rx_exec_blob_new(rx_exec_t *x, DevtoolsGoma__FileBlob__BlobType type)
{
    DevtoolsGoma__FileBlob *b = rx_palloc(x->pool, sizeof(*b));

    if (b) {
        devtools_goma__file_blob__init(b);
        b->blob_type = type;
    }
    return b;
}

/* key(serialized blob) -> digest of the content, for later link steps */
static void
rx_exec_remember(rx_exec_t *x, DevtoolsGoma__FileBlob *b,
                 const rx_reapi_digest_t *d, int store)
{
    rx_dc_digest_t dc;
    rx_str_t       raw;
    u_char         key[RX_SHA256_LEN];

    if (rx_pb_pack(x->pool, &b->base, 0, &raw) != RX_OK) {
        return;
    }
    rx_sha256(raw.data, raw.len, key);
    (void) rx_hex_decode(dc.hash, (u_char *) d->hash, RX_SHA256_HEX_LEN);
    dc.size = d->size;
    rx_digest_cache_put(key, &dc);
    if (store) {
        (void) rx_file_store_put(key, raw.data, raw.len);
    }
}

/* > 2 MiB: FILE_CHUNKs in the file store, FILE_META in the answer */
static DevtoolsGoma__FileBlob *
rx_exec_file_meta(rx_exec_t *x, rx_exec_output_t *o)
{
    DevtoolsGoma__FileBlob *meta, chunk;
    rx_str_t                raw;
    u_char                  key[RX_SHA256_LEN];
    size_t                  off, n, i = 0;

    meta = rx_exec_blob_new(x, DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META);
    n = (o->data.len + RX_GOMA_CHUNK_SIZE - 1) / RX_GOMA_CHUNK_SIZE;
    if (meta == NULL
        || (meta->hash_key = rx_palloc(x->pool, n * sizeof(char *))) == NULL) {
        return NULL;
    }
    for (off = 0; off < o->data.len; off += RX_GOMA_CHUNK_SIZE, i++) {
        devtools_goma__file_blob__init(&chunk);
        chunk.blob_type = DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_CHUNK;
        chunk.has_offset = 1;
        chunk.offset = (int64_t) off;
        chunk.has_content = 1;
        chunk.content.data = o->data.data + off;
        chunk.content.len =
            rx_min(o->data.len - off, (size_t) RX_GOMA_CHUNK_SIZE);
        chunk.has_file_size = 1;
        chunk.file_size = (int64_t) o->data.len;
        if (rx_pb_pack(x->pool, &chunk.base, 0, &raw) != RX_OK) {
            return NULL;
        }
        rx_sha256(raw.data, raw.len, key);
        if (rx_file_store_put(key, raw.data, raw.len) == RX_ERROR) {
            return NULL;
        }
        meta->hash_key[i] = rx_pnalloc(x->pool, RX_SHA256_HEX_LEN + 1);
        if (meta->hash_key[i] == NULL) {
            return NULL;
        }
        rx_hex_dump((u_char *) meta->hash_key[i], key, RX_SHA256_LEN);
        meta->hash_key[i][RX_SHA256_HEX_LEN] = '\0';
    }
    meta->n_hash_key = i;
    meta->has_file_size = 1;
    meta->file_size = (int64_t) o->data.len;
    rx_exec_remember(x, meta, &o->d, 1); /* the meta blob is stored too */
    return meta;
}

/* An output path from the backend: relative to the input root and staying
 * in it (no "..", not absolute), or the client would be told to write
 * outside its build. */
static int
rx_exec_out_path_ok(const rx_str_t *p)
{
    u_char *c = p->data, *end = p->data + p->len, *e;

    if (p->len == 0 || c[0] == '/') {
        return 0;
    }
    for (; c < end; c = e + 1) {
        e = memchr(c, '/', (size_t) (end - c));
        e = e ? e : end;
        if (e - c == 2 && c[0] == '.' && c[1] == '.') {
            return 0;
        }
    }
    return 1;
}

static rx_int_t
rx_exec_out_file(rx_exec_t *x, rx_exec_output_t *o)
{
    DevtoolsGoma__ExecResultOutput *out, **slot;
    DevtoolsGoma__FileBlob         *b;
    rx_str_t                        full, rel;

    if (!rx_exec_out_path_ok(&o->path)) {
        rx_exec_error(x, "output path %.*s: outside the input root",
                      (int) o->path.len, o->path.data);
        return RX_OK;
    }
    if (rx_path_join(x->pool, &x->root, &o->path, &full) != RX_OK
        || rx_path_rel(x->pool, &x->cwd, &full, &rel) != RX_OK) {
        rx_exec_error(x, "output path %.*s: not relative to cwd",
                      (int) o->path.len, o->path.data);
        return RX_OK;
    }
    if (o->data.len <= RX_GOMA_CHUNK_SIZE) {
        b = rx_exec_blob_new(x, DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE);
        if (b == NULL) {
            return RX_ERROR;
        }
        b->has_content = 1; /* also when empty ([C-DEVIATION] §12 #2) */
        b->content.data = o->data.data;
        b->content.len = o->data.len;
        b->has_file_size = 1;
        b->file_size = (int64_t) o->data.len;
        rx_exec_remember(x, b, &o->d, 0);
    } else if ((b = rx_exec_file_meta(x, o)) == NULL) {
        rx_exec_error(x, "goma blob for %.*s: INTERNAL", (int) o->path.len,
                      o->path.data);
        return RX_OK;
    }
    out = rx_palloc(x->pool, sizeof(*out));
    slot = out ? rx_prealloc(x->pool, x->result->output,
                             x->result->n_output * sizeof(*slot),
                             (x->result->n_output + 1) * sizeof(*slot))
               : NULL;
    if (slot == NULL) {
        return RX_ERROR;
    }
    devtools_goma__exec_result_output__init(out);
    out->filename = (char *) rel.data;
    out->blob = b;
    out->has_is_executable = o->executable ? 1 : 0;
    out->is_executable = o->executable ? 1 : 0;
    x->result->output = slot;
    slot[x->result->n_output++] = out;
    return RX_OK;
}

static void
rx_exec_out_begin(rx_exec_t *x)
{
    DevtoolsGoma__ExecutionStats                                *es;
    Build__Bazel__Remote__Execution__V2__ExecutedActionMetadata *md;
    size_t n = RX_SHA256_HEX_LEN + 24;

    x->resp->cache_key = rx_pnalloc(x->pool, n);
    if (x->resp->cache_key) {
        snprintf(x->resp->cache_key, n, "%s/%lld", x->action.hash,
                 (long long) x->action.size);
    }
    x->resp->has_cache_hit = 1;
    x->resp->cache_hit =
        x->cache_hit == 1 ? DEVTOOLS_GOMA__EXEC_RESP__CACHE_SOURCE__MEM_CACHE
        : x->cache_hit == 2
            ? DEVTOOLS_GOMA__EXEC_RESP__CACHE_SOURCE__STORAGE_CACHE
            : DEVTOOLS_GOMA__EXEC_RESP__CACHE_SOURCE__NO_CACHE;
    md = x->ar->execution_metadata;
    es = rx_palloc(x->pool, sizeof(*es));
    if (md && es) {
        devtools_goma__execution_stats__init(es);
        /* wire-identical timestamps: copy field by field */
        if (md->execution_start_timestamp) {
            es->execution_start_timestamp =
                rx_pcalloc(x->pool, sizeof(DevtoolsGoma__Timestamp));
            if (es->execution_start_timestamp) {
                devtools_goma__timestamp__init(es->execution_start_timestamp);
                es->execution_start_timestamp->seconds =
                    md->execution_start_timestamp->seconds;
                es->execution_start_timestamp->nanos =
                    md->execution_start_timestamp->nanos;
            }
        }
        if (md->execution_completed_timestamp) {
            es->execution_completed_timestamp =
                rx_pcalloc(x->pool, sizeof(DevtoolsGoma__Timestamp));
            if (es->execution_completed_timestamp) {
                devtools_goma__timestamp__init(
                    es->execution_completed_timestamp);
                es->execution_completed_timestamp->seconds =
                    md->execution_completed_timestamp->seconds;
                es->execution_completed_timestamp->nanos =
                    md->execution_completed_timestamp->nanos;
            }
        }
        x->resp->execution_stats = es;
    }
}

static const char *
rx_exec_out_what(rx_exec_output_t *o)
{
    switch (o->kind) {
    case RX_OUT_STDOUT:
        return "failed to fetch stdout";
    case RX_OUT_STDERR:
        return "failed to fetch stderr";
    case RX_OUT_TREE:
        return "failed to download tree";
    default:
        return "goma blob for";
    }
}

static rx_int_t
rx_exec_out_use(rx_exec_t *x, rx_exec_output_t *o)
{
    switch (o->kind) {
    case RX_OUT_STDOUT:
        x->result->has_stdout_buffer = 1;
        x->result->stdout_buffer.data = o->data.data;
        x->result->stdout_buffer.len = o->data.len;
        return RX_OK;
    case RX_OUT_STDERR:
        x->result->has_stderr_buffer = 1;
        x->result->stderr_buffer.data = o->data.data;
        x->result->stderr_buffer.len = o->data.len;
        return RX_OK;
    case RX_OUT_TREE:
        return rx_exec_out_tree(x, o);
    default:
        return rx_exec_out_file(x, o);
    }
}

/* §6.12 step 12: answers over 6 MiB carry FILE outputs as FILE_REFs */
static rx_int_t
rx_exec_size_guard(rx_exec_t *x)
{
    DevtoolsGoma__FileBlob *b, *ref;
    rx_str_t                raw;
    u_char                  key[RX_SHA256_LEN];
    size_t                  i;

    if (devtools_goma__exec_resp__get_packed_size(x->resp)
        <= RX_EXEC_MAX_RESP) {
        return RX_OK;
    }
    for (i = 0; i < x->result->n_output; i++) {
        b = x->result->output[i]->blob;
        if (b->blob_type != DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE) {
            continue;
        }
        ref =
            rx_exec_blob_new(x, DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_REF);
        if (ref == NULL || rx_pb_pack(x->pool, &b->base, 0, &raw) != RX_OK
            || (ref->hash_key = rx_palloc(x->pool, sizeof(char *))) == NULL
            || (ref->hash_key[0] = rx_pnalloc(x->pool, 65)) == NULL) {
            return RX_ERROR;
        }
        rx_sha256(raw.data, raw.len, key);
        if (rx_file_store_put(key, raw.data, raw.len) == RX_ERROR) {
            return RX_ERROR;
        }
        rx_hex_dump((u_char *) ref->hash_key[0], key, RX_SHA256_LEN);
        ref->hash_key[0][64] = '\0';
        ref->n_hash_key = 1;
        ref->has_file_size = 1;
        ref->file_size = b->file_size;
        x->result->output[i]->blob = ref;
    }
    return devtools_goma__exec_resp__get_packed_size(x->resp)
                   <= RX_EXEC_MAX_RESP
               ? RX_OK
               : RX_ERROR;
}

rx_int_t
rx_exec_response(rx_exec_t *x)
{
    rx_exec_output_t *o;

    if (x->rr.done) { /* a fetch finished */
        x->rr.done = NULL;
        o = &((rx_exec_output_t *) x->pending_outputs.elts)[x->out_next];
        if (x->rr.status.code != RX_GRPC_OK) {
            rx_exec_error(x, "%s %.*s: %s", rx_exec_out_what(o),
                          (int) o->path.len, o->path.data,
                          rx_grpc_code_name(x->rr.status.code));
            x->out_next++;
        } else {
            o->data = x->rr.out;
            o->have = 1;
        }
    } else if (x->pending_outputs.elts == NULL) {
        rx_exec_out_begin(x);
        if (rx_exec_out_plan(x) != RX_OK) {
            return rx_exec_fail(x, 500, "malformed ActionResult");
        }
    }
    while (x->out_next < x->pending_outputs.nelts) {
        o = &((rx_exec_output_t *) x->pending_outputs.elts)[x->out_next];
        if (!o->have) {
            x->rr.done = rx_exec_rr_done_public;
            x->rr.digests = &o->d;
            rx_reapi_read(&x->rr);
            return RX_AGAIN;
        }
        x->out_next++;
        if (rx_exec_out_use(x, o) != RX_OK) {
            return rx_exec_fail(x, 500, "output conversion");
        }
    }
    if (x->errors.nelts == 0) {
        x->result->exit_status = x->ar->exit_code;
    }
    if (rx_exec_size_guard(x) != RX_OK) {
        return rx_exec_fail(x, 500, "response over 6 MiB");
    }
    return RX_DONE;
}
