/*
 * Stage "input tree" (REMOTEEXEC.md §6.4–§6.6): input root, wrapper,
 * environment, input digests (digest cache, embedded content, file
 * store), missing inputs, toolchain symlinks, extra directories, outputs
 * and the merkle tree.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>
#include <rx_exec_tree.h>
#include <rx_exec_path.h>
#include <rx_exec_rules.h>
#include <rx_file_store.h>
#include <rx_digest_cache.h>

static const char rx_exec_wrapper[] =
    "#!/bin/sh\n"
    "set -e\n"
    "if [ -n \"$WORK_DIR\" ]; then cd \"$WORK_DIR\"; fi\n"
    "exec \"$@\"\n";

static rx_str_t
rx_exec_cstr(const char *s)
{
    rx_str_t r;

    r.data = (u_char *) (s ? s : "");
    r.len = strlen((char *) r.data);
    return r;
}

rx_exec_blob_t *
rx_exec_add_blob(rx_exec_t *x, const u_char *data, size_t len)
{
    rx_exec_blob_t *b = rx_array_push(&x->blobs);

    if (b == NULL) {
        return NULL;
    }
    rx_reapi_digest_of(&b->d, data, len);
    b->data.data = (u_char *) data;
    b->data.len = len;
    return b;
}

static rx_int_t
rx_exec_tree_blob(void *data, const u_char *bytes, size_t len,
                  const rx_reapi_digest_t *d)
{
    rx_exec_t      *x = data;
    rx_exec_blob_t *b = rx_array_push(&x->blobs);

    if (b == NULL) {
        return RX_ERROR;
    }
    b->d = *d;
    b->data.data = (u_char *) bytes;
    b->data.len = len;
    return RX_OK;
}

/* The content of a stored FILE or FILE_META (chunks joined in order). */
static rx_int_t rx_exec_load_meta(rx_pool_t *pool, DevtoolsGoma__FileBlob *fb,
                                  rx_str_t *content);

rx_int_t
rx_exec_load_input(rx_pool_t *pool, const u_char key[RX_SHA256_LEN],
                   rx_str_t *content)
{
    DevtoolsGoma__FileBlob *fb;
    rx_str_t                raw;
    rx_int_t                rc;

    rc = rx_file_store_get(pool, key, &raw);
    if (rc != RX_OK) {
        return rc;
    }
    fb = (void *) rx_pb_unpack(pool, &devtools_goma__file_blob__descriptor,
                               raw.data, raw.len);
    if (fb == NULL) {
        return RX_ERROR;
    }
    if (fb->blob_type == DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE) {
        content->data = fb->content.data;
        content->len = fb->content.len;
        return RX_OK;
    }
    return rx_exec_load_meta(pool, fb, content);
}

/* the content of a FILE_META: its FILE_CHUNKs from the file store */
static rx_int_t
rx_exec_load_meta(rx_pool_t *pool, DevtoolsGoma__FileBlob *fb,
                  rx_str_t *content)
{
    DevtoolsGoma__FileBlob *ch;
    rx_str_t                raw;
    u_char                  k[RX_SHA256_LEN], *p;
    size_t                  i;

    if (fb->blob_type != DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META
        || fb->file_size < 0 || fb->file_size > 4LL * 1024 * 1024 * 1024) {
        return RX_ERROR;
    }
    p = content->data = rx_pnalloc(pool, (size_t) fb->file_size + 1);
    if (p == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < fb->n_hash_key; i++) {
        if (rx_sha256_parse_hex((u_char *) fb->hash_key[i],
                                strlen(fb->hash_key[i]), k)
                != RX_OK
            || rx_file_store_get(pool, k, &raw) != RX_OK
            || (ch = (void *) rx_pb_unpack(
                    pool, &devtools_goma__file_blob__descriptor, raw.data,
                    raw.len))
                   == NULL
            || ch->blob_type != DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_CHUNK
            || (size_t) (p - content->data) + ch->content.len
                   > (size_t) fb->file_size) {
            return RX_DECLINED; /* a chunk is missing or malformed */
        }
        p = rx_cpymem(p, ch->content.data, ch->content.len);
    }
    content->len = (size_t) (p - content->data);
    return content->len == (size_t) fb->file_size ? RX_OK : RX_DECLINED;
}

static void
rx_exec_missing(rx_exec_t *x, const char *filename, const char *reason)
{
    char **f = rx_array_push(&x->missing), **r = rx_array_push(&x->reasons);

    if (f && r) {
        *f = (char *) filename;
        *r = (char *) reason;
    }
}

/*
 * Whether @key is the hash key of the embedded blob @fb: the SHA-256 of
 * its serialization (GOMA_PROTOCOL.md 10.3; protobuf-c writes fields in
 * number order, as the client's encoder does).  The digest cache is
 * shared by every user: a key a request pairs with other content must
 * not go in, or later requests naming that key would get the other bytes.
 */
static rx_int_t
rx_exec_key_names(rx_exec_t *x, DevtoolsGoma__FileBlob *fb, const u_char *key)
{
    rx_str_t raw;
    u_char   k[RX_SHA256_LEN];

    if (rx_pb_pack(x->pool, &fb->base, 0, &raw) != RX_OK) {
        return RX_ERROR;
    }
    rx_sha256(raw.data, raw.len, k);
    return memcmp(k, key, RX_SHA256_LEN) == 0 ? RX_OK : RX_DECLINED;
}

/* Digest of one input: digest cache, else the bytes (embedded or stored). */
static rx_int_t
rx_exec_input_digest(rx_exec_t *x, DevtoolsGoma__ExecReqInput *in,
                     rx_exec_blob_t *b)
{
    rx_dc_digest_t dc;
    rx_str_t       content, raw;
    rx_int_t       rc, keyed = 0, named = RX_OK;

    if (in->hash_key && in->hash_key[0]) {
        if (rx_sha256_parse_hex((u_char *) in->hash_key, strlen(in->hash_key),
                                b->key)
            != RX_OK) {
            return RX_DECLINED;
        }
        keyed = 1;
    } else if (in->content) {
        if (rx_pb_pack(x->pool, &in->content->base, 0, &raw) != RX_OK) {
            return RX_ERROR;
        }
        rx_sha256(raw.data, raw.len, b->key);
    } else {
        return RX_DECLINED;
    }
    if (in->content
        && in->content->blob_type
               == DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE) {
        /* this request gets the bytes it sent, whatever its key says */
        b->data.data = in->content->content.data;
        b->data.len = in->content->content.len;
        rx_reapi_digest_of(&b->d, b->data.data, b->data.len);
        named = keyed ? rx_exec_key_names(x, in->content, b->key) : RX_OK;
        if (named == RX_ERROR) {
            return RX_ERROR;
        }
        if (named == RX_OK) {
            (void) rx_hex_decode(dc.hash, (u_char *) b->d.hash,
                                 RX_SHA256_HEX_LEN);
            dc.size = b->d.size;
            rx_digest_cache_put(b->key, &dc);
        }
        return RX_OK;
    }
    if (rx_digest_cache_get(b->key, &dc) == RX_OK) {
        rx_hex_dump((u_char *) b->d.hash, dc.hash, RX_SHA256_LEN);
        b->d.hash[RX_SHA256_HEX_LEN] = '\0';
        b->d.size = dc.size;
        b->from_store = 1; /* bytes loaded only if the CAS lacks them */
        return RX_OK;
    }
    /* an embedded FILE_META: its chunks were uploaded with /s */
    if (in->content
        && in->content->blob_type
               == DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META) {
        rc = rx_exec_load_meta(x->pool, in->content, &content);
        if (rc == RX_OK && keyed) {
            /* its chunks are verified; the key must name this FILE_META */
            named = rx_exec_key_names(x, in->content, b->key);
            if (named == RX_ERROR) {
                return RX_ERROR;
            }
        }
    } else {
        /* the file store checks the bytes against the key on every read */
        rc = rx_exec_load_input(x->pool, b->key, &content);
    }
    if (rc != RX_OK) {
        return rc;
    }
    b->data = content;
    rx_reapi_digest_of(&b->d, content.data, content.len);
    if (named == RX_OK) {
        (void) rx_hex_decode(dc.hash, (u_char *) b->d.hash, RX_SHA256_HEX_LEN);
        dc.size = b->d.size;
        rx_digest_cache_put(b->key, &dc);
    }
    return RX_OK;
}

static int
rx_exec_is_toolchain_exec(rx_exec_t *x, const char *filename)
{
    DevtoolsGoma__ToolchainSpec *ts;
    size_t                       i;

    for (i = 0; i < x->req->n_toolchain_specs; i++) {
        ts = x->req->toolchain_specs[i];
        if (ts->path && strcmp(ts->path, filename) == 0
            && (!ts->symlink_path || ts->symlink_path[0] == '\0')) {
            return ts->has_is_executable && ts->is_executable;
        }
    }
    return 0;
}

static rx_int_t
rx_exec_inputs(rx_exec_t *x, rx_exec_tree_t *t)
{
    DevtoolsGoma__ExecReqInput *in;
    rx_exec_blob_t             *b;
    rx_str_t                    name, rel;
    const char                 *err;
    size_t                      i;
    rx_int_t                    rc;

    for (i = 0; i < x->req->n_input; i++) {
        in = x->req->input[i];
        name = rx_exec_cstr(in->filename);
        rc = rx_exec_root_rel(x->pool, &x->root, &x->cwd, &name, &rel);
        if (rc == RX_DECLINED) {
            continue; /* out of the input root: must exist on the worker */
        }
        if (rc != RX_OK) {
            return rx_exec_fail(x, 500, "rootRel failed");
        }
        b = rx_array_push(&x->blobs);
        if (b == NULL) {
            return rx_exec_fail(x, 500, "out of memory");
        }
        b->filename = name;
        rc = rx_exec_input_digest(x, in, b);
        if (rc != RX_OK) {
            x->blobs.nelts--;
            rx_exec_missing(x, in->filename,
                            rc == RX_ERROR ? "input: file store read failed"
                                           : "input: not found in the file "
                                             "store");
            continue;
        }
        if (rx_exec_tree_add_file(t, &rel, &b->d,
                                  rx_exec_is_toolchain_exec(x, in->filename),
                                  &err)
            != RX_OK) {
            rx_exec_bad_request(x, "bad input %s: %s", in->filename, err);
            return RX_DONE;
        }
    }
    return x->missing.nelts ? RX_DONE : RX_OK;
}

/* §6.5.7 symlinks and directories from toolchain_specs, §6.5.8 extras */
static rx_int_t
rx_exec_extra_entries(rx_exec_t *x, rx_exec_tree_t *t)
{
    DevtoolsGoma__ToolchainSpec *ts;
    DevtoolsGoma__CommandSpec   *cs = x->req->command_spec;
    rx_str_t                     p, rel, target, *o;
    const char                  *err = NULL;
    size_t                       i, n;
    char                       **lists[3];
    size_t                       counts[3];
    rx_uint_t                    l;

    for (i = 0; i < x->req->n_toolchain_specs; i++) {
        ts = x->req->toolchain_specs[i];
        p = rx_exec_cstr(ts->path);
        if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &p, &rel) != RX_OK) {
            continue;
        }
        if (ts->symlink_path && ts->symlink_path[0]) {
            target = rx_exec_cstr(ts->symlink_path);
            if (rx_exec_tree_add_symlink(t, &rel, &target, &err) != RX_OK) {
                goto bad;
            }
        } else if (ts->hash == NULL || ts->hash[0] == '\0') {
            if (rx_exec_tree_add_dir(t, &rel, &err) != RX_OK) {
                goto bad;
            }
        }
    }
    lists[0] = cs ? cs->cxx_system_include_path : NULL;
    counts[0] = cs ? cs->n_cxx_system_include_path : 0;
    lists[1] = cs ? cs->system_include_path : NULL;
    counts[1] = cs ? cs->n_system_include_path : 0;
    lists[2] = cs ? cs->system_framework_path : NULL;
    counts[2] = cs ? cs->n_system_framework_path : 0;
    for (l = 0; l < 3; l++) {
        for (i = 0; i < counts[l]; i++) {
            p = rx_exec_cstr(lists[l][i]);
            if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &p, &rel) == RX_OK
                && rx_exec_tree_add_dir(t, &rel, &err) != RX_OK) {
                goto bad;
            }
        }
    }
    o = x->out_files.elts;
    for (n = 0; n < x->out_files.nelts; n++) {
        if (rx_path_dir(x->pool, &o[n], &p) != RX_OK) {
            return rx_exec_fail(x, 500, "out of memory");
        }
        if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &p, &rel) == RX_OK
            && rx_exec_tree_add_dir(t, &rel, &err) != RX_OK) {
            goto bad;
        }
    }
    o = x->out_dirs.elts;
    for (n = 0; n < x->out_dirs.nelts; n++) {
        if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &o[n], &rel) == RX_OK
            && rx_exec_tree_add_dir(t, &rel, &err) != RX_OK) {
            goto bad;
        }
    }
    return RX_OK;

bad:
    rx_exec_bad_request(x, "bad input tree entry: %s", err);
    return RX_DONE;
}

static rx_int_t
rx_exec_find_root(rx_exec_t *x)
{
    DevtoolsGoma__RequesterInfo *ri = x->req->requester_info;
    rx_exec_root_in_t            in;
    rx_str_t                    *names;
    const char                  *err = "input root detection failed";
    size_t                       i;
    int                          chroot = 0;

    names = rx_palloc(x->pool, (x->req->n_input + 1) * sizeof(rx_str_t));
    if (names == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    for (i = 0; i < x->req->n_input; i++) {
        names[i] = rx_exec_cstr(x->req->input[i]->filename);
    }
    rx_memzero(&in, sizeof(in));
    in.cwd = x->cwd;
    in.inputs = names;
    in.ninputs = x->req->n_input;
    in.argv0 = rx_exec_cstr(x->req->toolchain_specs[0]->path);
    in.args = x->req->arg;
    in.nargs = x->req->n_arg;
    in.exclude_usr = 1;
    in.allow_chroot = x->platform && x->platform->has_nsjail;
    in.exec_root = rx_exec_cstr(ri ? ri->exec_root : NULL);
    if (rx_exec_input_root(x->pool, &in, &x->root, &chroot, &err) != RX_OK) {
        rx_exec_bad_request(x, "%s", err);
        return RX_DONE;
    }
    x->chroot = chroot ? 1 : 0;
    return RX_OK;
}

static rx_int_t
rx_exec_push_env(rx_exec_t *x, char *e)
{
    char **slot = rx_array_push(&x->env);

    if (slot == NULL) {
        return RX_ERROR;
    }
    *slot = e;
    return RX_OK;
}

/* §6.5.5: the generic wrapper cds to WORK_DIR and runs the compiler */
static rx_int_t
rx_exec_wrapper_setup(rx_exec_t *x, rx_exec_tree_t *t)
{
    rx_str_t        wd, script = rx_string("run.sh"), full, rel;
    rx_exec_blob_t *b;
    const char     *reason = NULL, *err;
    char           *e;
    size_t          i;
    int             relocatable;

    if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &x->cwd, &wd) != RX_OK) {
        rx_exec_bad_request(x, "bad cwd=%s: out of the input root",
                            x->req->cwd);
        return RX_DONE;
    }
    if (x->chroot) {
        return rx_exec_nsjail_setup(x, t, &wd);
    }
    e = rx_pnalloc(x->pool, wd.len + 16);
    if (e == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    snprintf(e, wd.len + 16, "WORK_DIR=%.*s", (int) (wd.len ? wd.len : 1),
             wd.len ? (char *) wd.data : ".");
    relocatable = rx_exec_relocatable(
        x->pool,
        &(rx_str_t){strlen(x->req->command_spec->name),
                    (u_char *) x->req->command_spec->name},
        x->req->arg, x->req->n_arg, x->req->env, x->req->n_env, &reason);
    if (rx_exec_push_env(x, e) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    for (i = 0; i < x->req->n_env; i++) {
        if (relocatable && strncmp(x->req->env[i], "PWD=", 4) == 0) {
            continue;
        }
        if (rx_exec_push_env(x, x->req->env[i]) != RX_OK) {
            return rx_exec_fail(x, 500, "out of memory");
        }
    }
    if (rx_path_join(x->pool, &x->cwd, &script, &full) != RX_OK
        || rx_exec_root_rel(x->pool, &x->root, &x->cwd, &full, &rel) != RX_OK) {
        return rx_exec_fail(x, 500, "wrapper path");
    }
    x->wrapper = rel;
    b = rx_exec_add_blob(x, (u_char *) rx_exec_wrapper,
                         sizeof(rx_exec_wrapper) - 1);
    if (b == NULL || rx_exec_tree_add_file(t, &rel, &b->d, 1, &err) != RX_OK) {
        return rx_exec_fail(x, 500, "wrapper entry");
    }
    return RX_OK;
}

static rx_int_t
rx_exec_outputs_setup(rx_exec_t *x)
{
    rx_str_t *s, name;
    size_t    i;

    if (x->req->n_expected_output_files || x->req->n_expected_output_dirs) {
        for (i = 0; i < x->req->n_expected_output_files; i++) {
            s = rx_array_push(&x->out_files);
            if (s == NULL) {
                return RX_ERROR;
            }
            *s = rx_exec_cstr(x->req->expected_output_files[i]);
        }
        for (i = 0; i < x->req->n_expected_output_dirs; i++) {
            s = rx_array_push(&x->out_dirs);
            if (s == NULL) {
                return RX_ERROR;
            }
            *s = rx_exec_cstr(x->req->expected_output_dirs[i]);
        }
        return RX_OK;
    }
    name = rx_exec_cstr(x->req->command_spec->name);
    return rx_exec_outputs(x->pool, &name, x->req->arg, x->req->n_arg,
                           &x->out_files, &x->out_dirs);
}

/* §6.5.10: embedded inputs go to the file store for later requests */
static void
rx_exec_store_embedded(rx_exec_t *x)
{
    DevtoolsGoma__ExecReqInput *in;
    rx_str_t                    raw;
    u_char                      key[RX_SHA256_LEN];
    size_t                      i;

    for (i = 0; i < x->req->n_input; i++) {
        in = x->req->input[i];
        if (in->content == NULL
            || rx_pb_pack(x->pool, &in->content->base, 0, &raw) != RX_OK) {
            continue;
        }
        rx_sha256(raw.data, raw.len, key);
        (void) rx_file_store_put(key, raw.data, raw.len);
    }
}

rx_int_t
rx_exec_input_tree(rx_exec_t *x)
{
    rx_exec_tree_t *t;
    rx_str_t        cwd = rx_exec_cstr(x->req->cwd);
    const char     *err;
    rx_int_t        rc;

    if (rx_path_clean(x->pool, &cwd, &x->cwd) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    if (!rx_path_is_abs(&x->cwd)) {
        rx_exec_bad_request(x, "bad input: cwd is not abs path: %s",
                            x->req->cwd ? x->req->cwd : "");
        return RX_DONE;
    }
    t = rx_exec_tree_create(x->pool);
    if (t == NULL || rx_exec_outputs_setup(x) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    if ((rc = rx_exec_find_root(x)) != RX_OK
        || (rc = rx_exec_wrapper_setup(x, t)) != RX_OK
        || (rc = rx_exec_inputs(x, t)) != RX_OK
        || (rc = rx_exec_extra_entries(x, t)) != RX_OK) {
        return rc;
    }
    if (rx_exec_tree_finish(t, rx_exec_tree_blob, x, &x->input_root, &err)
        != RX_OK) {
        return rx_exec_fail(x, 500, err);
    }
    rx_exec_store_embedded(x);
    return RX_OK;
}
