/*
 * Stages "setup" (Command and Action), "check cache" (GetActionResult),
 * "check missing" (FindMissingBlobs), "upload blobs" and "execute"
 * (REMOTEEXEC.md §6.7–§6.11).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>
#include <rx_exec_path.h>

typedef Build__Bazel__Remote__Execution__V2__Command rx_pb_cmd_t;
typedef Build__Bazel__Remote__Execution__V2__Command__EnvironmentVariable
                                                      rx_pb_env_t;
typedef Build__Bazel__Remote__Execution__V2__Action   rx_pb_action_t;
typedef Build__Bazel__Remote__Execution__V2__Platform rx_pb_platform_t;
typedef Build__Bazel__Remote__Execution__V2__Platform__Property rx_pb_prop_t;
typedef Build__Bazel__Remote__Execution__V2__Digest             rx_pb_digest_t;

static void rx_exec_rr_done(rx_reapi_req_t *rr);

static int
rx_exec_env_cmp(const void *a, const void *b)
{
    const rx_pb_env_t *x = *(rx_pb_env_t *const *) a;
    const rx_pb_env_t *y = *(rx_pb_env_t *const *) b;

    return strcmp(x->name, y->name);
}

static int
rx_exec_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* env entries "NAME=value": later duplicates win, sorted by name */
static rx_int_t
rx_exec_env(rx_exec_t *x, rx_pb_cmd_t *cmd)
{
    rx_pb_env_t **v, *e;
    char        **env = x->env.elts, *eq;
    size_t        i, j, n = 0;

    v = rx_palloc(x->pool, (x->env.nelts + 1) * sizeof(rx_pb_env_t *));
    if (v == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < x->env.nelts; i++) {
        eq = strchr(env[i], '=');
        if (eq == NULL) {
            continue; /* [C-DEVIATION] Go crashes on these */
        }
        e = rx_palloc(x->pool, sizeof(rx_pb_env_t));
        if (e == NULL) {
            return RX_ERROR;
        }
        build__bazel__remote__execution__v2__command__environment_variable__init(
            e);
        e->name =
            rx_exec_strdup(x->pool, (u_char *) env[i], (size_t) (eq - env[i]));
        e->value = eq + 1;
        for (j = 0; j < n && strcmp(v[j]->name, e->name) != 0; j++) {
            /* void */
        }
        v[j] = e;
        n += j == n;
    }
    qsort(v, n, sizeof(rx_pb_env_t *), rx_exec_env_cmp);
    cmd->environment_variables = v;
    cmd->n_environment_variables = n;
    return RX_OK;
}

static rx_int_t
rx_exec_output_list(rx_exec_t *x, rx_array_t *in, char ***out, size_t *n)
{
    rx_str_t *s = in->elts, rel;
    size_t    i;

    *out = rx_palloc(x->pool, (in->nelts + 1) * sizeof(char *));
    *n = 0;
    if (*out == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < in->nelts; i++) {
        if (rx_exec_root_rel(x->pool, &x->root, &x->cwd, &s[i], &rel) != RX_OK
            || rel.len == 0) {
            rx_exec_bad_request(x, "output %.*s is outside the input root %s",
                                (int) s[i].len, s[i].data, x->root.data);
            return RX_DONE;
        }
        (*out)[(*n)++] = (char *) rel.data;
    }
    qsort(*out, *n, sizeof(char *), rx_exec_str_cmp);
    return RX_OK;
}

static int
rx_exec_prop_cmp(const void *a, const void *b)
{
    const rx_pb_prop_t *x = *(rx_pb_prop_t *const *) a;
    const rx_pb_prop_t *y = *(rx_pb_prop_t *const *) b;
    int                 c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

/* Command.platform and Action.platform: names sorted (REAPI §8) */
static rx_int_t
rx_exec_platform(rx_exec_t *x, rx_pb_platform_t *pl)
{
    rx_conf_kv_t  *kv = x->props.elts;
    rx_pb_prop_t **props, *p;
    rx_uint_t      i, n = x->props.nelts;

    build__bazel__remote__execution__v2__platform__init(pl);
    props = rx_palloc(x->pool, (n + 1) * sizeof(rx_pb_prop_t *));
    p = rx_palloc(x->pool, (n + 1) * sizeof(rx_pb_prop_t));
    if (props == NULL || p == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < n; i++) {
        build__bazel__remote__execution__v2__platform__property__init(&p[i]);
        p[i].name = rx_exec_strdup(x->pool, kv[i].name.data, kv[i].name.len);
        p[i].value = rx_exec_strdup(x->pool, kv[i].value.data, kv[i].value.len);
        props[i] = &p[i];
    }
    qsort(props, n, sizeof(rx_pb_prop_t *), rx_exec_prop_cmp);
    pl->properties = props;
    pl->n_properties = n;
    return RX_OK;
}

static rx_int_t
rx_exec_command(rx_exec_t *x, rx_pb_cmd_t *cmd, rx_pb_platform_t *pl)
{
    char   **argv;
    size_t   i, n = 0;
    rx_int_t rc;

    build__bazel__remote__execution__v2__command__init(cmd);
    argv = rx_palloc(x->pool, (x->req->n_arg + 2) * sizeof(char *));
    if (argv == NULL) {
        return RX_ERROR;
    }
    if (x->wrapper.len == 6 && memcmp(x->wrapper.data, "run.sh", 6) == 0) {
        argv[n++] = "./run.sh";
    } else {
        argv[n++] = (char *) x->wrapper.data;
    }
    argv[n++] = x->req->toolchain_specs[0]->path;
    for (i = 1; i < x->req->n_arg; i++) {
        argv[n++] = x->req->arg[i];
    }
    cmd->arguments = argv;
    cmd->n_arguments = n;
    if (rx_exec_env(x, cmd) != RX_OK) {
        return RX_ERROR;
    }
    rc = rx_exec_output_list(x, &x->out_files, &cmd->output_files,
                             &cmd->n_output_files);
    if (rc == RX_OK) {
        rc = rx_exec_output_list(x, &x->out_dirs, &cmd->output_directories,
                                 &cmd->n_output_directories);
    }
    if (rc != RX_OK) {
        return rc;
    }
    cmd->platform = pl;
    return RX_OK;
}

rx_int_t
rx_exec_setup(rx_exec_t *x)
{
    rx_pb_cmd_t       cmd;
    rx_pb_action_t    act = BUILD__BAZEL__REMOTE__EXECUTION__V2__ACTION__INIT;
    rx_pb_platform_t  pl;
    rx_pb_digest_t    cd = BUILD__BAZEL__REMOTE__EXECUTION__V2__DIGEST__INIT;
    rx_pb_digest_t    rd = BUILD__BAZEL__REMOTE__EXECUTION__V2__DIGEST__INIT;
    Rx__Wkt__Duration to = RX__WKT__DURATION__INIT;
    rx_exec_blob_t   *b;
    rx_str_t          out;
    rx_int_t          rc;

    if (rx_exec_platform(x, &pl) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    rc = rx_exec_command(x, &cmd, &pl);
    if (rc != RX_OK) {
        return rc == RX_DONE ? RX_DONE : rx_exec_fail(x, 500, "command");
    }
    if (rx_pb_pack(x->pool, &cmd.base, 0, &out) != RX_OK
        || (b = rx_exec_add_blob(x, out.data, out.len)) == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    cd.hash = b->d.hash;
    cd.size_bytes = b->d.size;
    rd.hash = x->input_root.hash;
    rd.size_bytes = x->input_root.size;
    to.seconds = (int64_t) (rx_cycle->conf->exec.action_timeout / 1000);
    act.command_digest = &cd;
    act.input_root_digest = &rd;
    act.timeout = &to;
    act.do_not_cache =
        x->req->has_cache_policy
        && x->req->cache_policy
               == DEVTOOLS_GOMA__EXEC_REQ__CACHE_POLICY__LOOKUP_ONLY;
    act.platform = &pl;
    if (rx_pb_pack(x->pool, &act.base, 0, &out) != RX_OK
        || (b = rx_exec_add_blob(x, out.data, out.len)) == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    x->action = b->d;
    return RX_OK;
}

static void
rx_exec_rr_done(rx_reapi_req_t *rr)
{
    rx_exec_next(rr->data, RX_OK);
}

void
rx_exec_rr_done_public(rx_reapi_req_t *rr)
{
    rx_exec_next(rr->data, RX_OK);
}

rx_int_t
rx_exec_check_cache(rx_exec_t *x)
{
    if (x->rr.done == NULL) { /* first entry: start the call */
        if (x->req->has_cache_policy
            && x->req->cache_policy
                   == DEVTOOLS_GOMA__EXEC_REQ__CACHE_POLICY__STORE_ONLY) {
            return RX_OK;
        }
        x->rr.done = rx_exec_rr_done;
        x->rr.action = x->action;
        rx_reapi_get_action_result(&x->rr);
        return RX_AGAIN;
    }
    x->rr.done = NULL;
    if (x->rr.status.code == RX_GRPC_OK && x->rr.result) {
        x->ar = x->rr.result;
        x->cache_hit = 1;           /* MEM_CACHE: found by GetActionResult */
        x->jump = RX_EXEC_RESPONSE; /* a hit: straight to the answer */
        return RX_OK;
    }
    if (x->rr.status.code != RX_GRPC_NOT_FOUND) {
        rx_log_error(RX_LOG_WARN, &x->r->c->log, 0,
                     "exec %s: "
                     "GetActionResult: %s %.*s (treated as a miss)",
                     x->id.data, rx_grpc_code_name(x->rr.status.code),
                     (int) x->rr.status.message.len, x->rr.status.message.data);
    }
    return RX_OK;
}

rx_int_t
rx_exec_check_missing(rx_exec_t *x)
{
    rx_exec_blob_t    *b = x->blobs.elts;
    rx_reapi_digest_t *d;
    rx_uint_t          i, j, n = 0;

    if (x->rr.done == NULL) {
        d = rx_palloc(x->pool, (x->blobs.nelts + 1) * sizeof(*d));
        if (d == NULL) {
            return rx_exec_fail(x, 500, "out of memory");
        }
        for (i = 0; i < x->blobs.nelts; i++) {
            if (b[i].d.size == 0) {
                b[i].present = 1; /* the empty blob is always there */
                continue;
            }
            for (j = 0; j < n && strcmp(d[j].hash, b[i].d.hash) != 0; j++) {
                /* void: ask once per digest */
            }
            if (j == n) {
                d[n++] = b[i].d;
            }
        }
        x->rr.done = rx_exec_rr_done;
        x->rr.digests = d;
        x->rr.n = n;
        rx_reapi_find_missing(&x->rr);
        return RX_AGAIN;
    }
    x->rr.done = NULL;
    if (x->rr.status.code != RX_GRPC_OK) {
        return rx_exec_fail(x,
                            x->rr.status.code == RX_GRPC_RESOURCE_EXHAUSTED
                                ? 429
                            : x->rr.status.code == RX_GRPC_UNAVAILABLE ? 503
                                                                       : 500,
                            "FindMissingBlobs failed");
    }
    for (i = 0; i < x->blobs.nelts; i++) {
        if (b[i].d.size == 0) {
            continue;
        }
        b[i].present = 1;
        for (j = 0; j < x->rr.nmissing; j++) {
            if (strcmp(x->rr.missing[j].hash, b[i].d.hash) == 0) {
                b[i].present = 0;
                break;
            }
        }
    }
    return RX_OK;
}

/* Blobs the CAS lacks, each digest once, bytes loaded from the file store
 * when they were not in memory; unreadable inputs become missing inputs. */
static rx_int_t
rx_exec_collect_uploads(rx_exec_t *x, rx_reapi_blob_t **out, rx_uint_t *n)
{
    rx_exec_blob_t  *b = x->blobs.elts;
    rx_reapi_blob_t *u;
    rx_uint_t        i, j;
    char           **f, **r;

    u = rx_pcalloc(x->pool, (x->blobs.nelts + 1) * sizeof(*u));
    if (u == NULL) {
        return RX_ERROR;
    }
    *n = 0;
    for (i = 0; i < x->blobs.nelts; i++) {
        if (b[i].present) {
            continue;
        }
        for (j = 0; j < *n && strcmp(u[j].d.hash, b[i].d.hash) != 0; j++) {
            /* void */
        }
        if (j < *n) {
            continue;
        }
        if (b[i].from_store && b[i].data.data == NULL
            && rx_exec_load_input(x->pool, b[i].key, &b[i].data) != RX_OK) {
            f = rx_array_push(&x->missing);
            r = rx_array_push(&x->reasons);
            if (f && r) {
                *f = (char *) b[i].filename.data;
                *r = "input: not in the file store any more";
            }
            continue;
        }
        u[*n].d = b[i].d;
        u[*n].data = b[i].data;
        (*n)++;
    }
    *out = u;
    return RX_OK;
}

static rx_int_t
rx_exec_upload_result(rx_exec_t *x)
{
    rx_exec_blob_t *b = x->blobs.elts;
    rx_uint_t       i, j, other = 0;
    char          **f, **r;

    for (i = 0; i < x->rr.nblobs; i++) {
        if (x->rr.blobs[i].code == RX_GRPC_OK) {
            continue;
        }
        for (j = 0; j < x->blobs.nelts; j++) { /* every file sharing it */
            if (strcmp(b[j].d.hash, x->rr.blobs[i].d.hash) != 0) {
                continue;
            }
            if (b[j].filename.len == 0) {
                other++;
                continue;
            }
            f = rx_array_push(&x->missing);
            r = rx_array_push(&x->reasons);
            if (f && r) {
                *f = (char *) b[j].filename.data;
                *r = (char *) rx_grpc_code_name(x->rr.blobs[i].code);
            }
        }
    }
    if (x->missing.nelts) {
        return RX_DONE;
    }
    if (other) {
        return rx_exec_fail(x, 500,
                            "uploading a directory or the action "
                            "failed");
    }
    return RX_OK;
}

rx_int_t
rx_exec_upload_blobs(rx_exec_t *x)
{
    rx_reapi_blob_t *u;
    rx_uint_t        n;

    if (x->rr.done == NULL) {
        if (rx_exec_collect_uploads(x, &u, &n) != RX_OK) {
            return rx_exec_fail(x, 500, "out of memory");
        }
        if (x->missing.nelts) {
            return RX_DONE;
        }
        if (n == 0) {
            return RX_OK;
        }
        x->rr.done = rx_exec_rr_done;
        x->rr.blobs = u;
        x->rr.nblobs = n;
        rx_reapi_upload(&x->rr);
        return RX_AGAIN;
    }
    x->rr.done = NULL;
    return rx_exec_upload_result(x);
}

static rx_uint_t
rx_exec_status_http(rx_grpc_code_e code)
{
    switch (code) {
    case RX_GRPC_DEADLINE_EXCEEDED:
        return 504;
    case RX_GRPC_UNAVAILABLE:
        return 503;
    case RX_GRPC_CANCELLED:
        return 499;
    default:
        return 500;
    }
}

rx_int_t
rx_exec_execute(rx_exec_t *x)
{
    Google__Rpc__Status *st;

    if (x->rr.done == NULL) {
        x->rr.done = rx_exec_rr_done;
        x->rr.action = x->action;
        x->rr.skip_cache_lookup =
            x->req->has_cache_policy
            && x->req->cache_policy
                   == DEVTOOLS_GOMA__EXEC_REQ__CACHE_POLICY__STORE_ONLY;
        x->rr.max_attempts = (rx_uint_t) rx_cycle->conf->exec.max_retry_count;
        x->rr.stream_timeout = rx_cycle->conf->exec.timeouts[RX_EXEC_EXECUTE];
        rx_reapi_execute(&x->rr);
        return RX_AGAIN;
    }
    x->rr.done = NULL;
    if (x->rr.status.code != RX_GRPC_OK || x->rr.response == NULL) {
        return rx_exec_fail(x, rx_exec_status_http(x->rr.status.code),
                            "Execute failed");
    }
    st = x->rr.response->status;
    if (st && st->code != RX_GRPC_OK) {
        /* execution failures are infrastructure errors: the client
           retries the whole request (§6.11 step 4) */
        rx_log_error(RX_LOG_WARN, &x->r->c->log, 0,
                     "exec %s: execution "
                     "status %s: %s",
                     x->id.data, rx_grpc_code_name((rx_grpc_code_e) st->code),
                     st->message ? st->message : "");
        return rx_exec_fail(x,
                            st->code == RX_GRPC_DEADLINE_EXCEEDED ? 504 : 500,
                            "execution failed");
    }
    x->ar = x->rr.response->result;
    x->cache_hit = x->rr.response->cached_result ? 2 : 0;
    if (x->ar == NULL) {
        rx_exec_error(x, "unexpected response message");
        return RX_DONE;
    }
    return RX_OK;
}
