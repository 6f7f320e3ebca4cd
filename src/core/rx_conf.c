/*
 * The configuration: directive tables, defaults, validation and the
 * Go-compatible command-line overrides.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_conf.h>

static const char *rx_conf_set_workers(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                       const rx_conf_cmd_t *cmd, void *conf);
static const char *rx_conf_set_listen(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                      const rx_conf_cmd_t *cmd, void *conf);
static const char *rx_conf_set_level(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                     const rx_conf_cmd_t *cmd, void *conf);
static const char *rx_conf_set_headers(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                       const rx_conf_cmd_t *cmd, void *conf);
static void        rx_conf_defaults(rx_conf_t *conf);
static rx_int_t    rx_conf_validate(rx_conf_ctx_t *cf, rx_conf_t *conf);

const char *rx_exec_timeout_names[RX_EXEC_NTIMEOUTS] = {
    "inventory",     "input_tree",   "setup",   "check_cache",
    "check_missing", "upload_blobs", "execute", "response"};

/* three generations of workers fit in the process table during reloads */
static const rx_conf_bounds_t rx_conf_workers_bounds = {0, RX_MAX_WORKERS};
static const rx_conf_bounds_t rx_conf_conns_bounds = {16, 1000000};
static const rx_conf_bounds_t rx_conf_header_bounds = {1024, 1048576};
static const rx_conf_bounds_t rx_conf_nheaders_bounds = {8, 10000};
static const rx_conf_bounds_t rx_conf_body_bounds = {1024, 1LL << 32};
static const rx_conf_bounds_t rx_conf_positive = {0, INT32_MAX};
static const rx_conf_bounds_t rx_conf_backend_conns = {1, 64};
static const rx_conf_bounds_t rx_conf_entries_bounds = {1024, 1LL << 31};

static const rx_conf_enum_t rx_conf_auth_modes[] = {
    {"none", RX_AUTH_NONE},
    {"static_tokens", RX_AUTH_STATIC_TOKENS},
    {NULL, 0}};

#define RX_OFF(f) offsetof(rx_conf_t, f)

static const rx_conf_cmd_t rx_conf_log_cmds[] = {
    {"error", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(error_log), NULL, 1},
    {"level", RX_CONF_SCALAR, rx_conf_set_level, RX_OFF(log_level), NULL, 1},
    {"access", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(access_log), NULL, 1},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_limits_cmds[] = {
    {"max_connections", RX_CONF_SCALAR, rx_conf_set_num,
     RX_OFF(limits.max_connections), &rx_conf_conns_bounds, 1},
    {"header_size", RX_CONF_SCALAR, rx_conf_set_size,
     RX_OFF(limits.header_size), &rx_conf_header_bounds, 1},
    {"max_headers", RX_CONF_SCALAR, rx_conf_set_num, RX_OFF(limits.max_headers),
     &rx_conf_nheaders_bounds, 1},
    {"body_size", RX_CONF_SCALAR, rx_conf_set_size, RX_OFF(limits.body_size),
     &rx_conf_body_bounds, 1},
    {"header_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(limits.header_timeout), NULL, 1},
    {"body_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(limits.body_timeout), NULL, 1},
    {"keepalive_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(limits.keepalive_timeout), NULL, 1},
    {"send_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(limits.send_timeout), NULL, 1},
    {"keepalive_requests", RX_CONF_SCALAR, rx_conf_set_num,
     RX_OFF(limits.keepalive_requests), &rx_conf_positive, 1},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_auth_cmds[] = {
    {"mode", RX_CONF_SCALAR, rx_conf_set_enum, RX_OFF(auth.mode),
     rx_conf_auth_modes, 1},
    {"tokens_file", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(auth.tokens_file),
     NULL, 1},
    {"allowed_users", RX_CONF_SCALAR | RX_CONF_SEQ, rx_conf_set_str_array,
     RX_OFF(auth.allowed_users), NULL, 1},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_backend_cmds[] = {
    {"address", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(backend.address), NULL,
     1},
    {"instance_name", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(backend.instance_name), NULL, 1},
    {"insecure", RX_CONF_SCALAR, rx_conf_set_flag, RX_OFF(backend.insecure),
     NULL, 1},
    {"skip_verify", RX_CONF_SCALAR, rx_conf_set_flag,
     RX_OFF(backend.skip_verify), NULL, 1},
    {"ca_file", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(backend.ca_file), NULL,
     1},
    {"client_certificate", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(backend.client_certificate), NULL, 1},
    {"client_key", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(backend.client_key),
     NULL, 1},
    {"bearer_token_file", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(backend.bearer_token_file), NULL, 1},
    {"service_account_json", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(backend.service_account_json), NULL, 1},
    {"connections", RX_CONF_SCALAR, rx_conf_set_num,
     RX_OFF(backend.connections), &rx_conf_backend_conns, 1},
    {"keepalive", RX_CONF_SCALAR, rx_conf_set_msec, RX_OFF(backend.keepalive),
     NULL, 1},
    {"max_message_size", RX_CONF_SCALAR, rx_conf_set_size,
     RX_OFF(backend.max_message_size), &rx_conf_body_bounds, 1},
    {"headers", RX_CONF_MAP, rx_conf_set_headers, RX_OFF(backend.headers), NULL,
     1},
    rx_conf_null_cmd};

#define RX_EXEC_TIMEOUT(name, i)                                               \
    {                                                                          \
        name, RX_CONF_SCALAR, rx_conf_set_msec,                                \
            RX_OFF(exec.timeouts) + (i) * sizeof(rx_msec_t), NULL, 1           \
    }

static const rx_conf_cmd_t rx_conf_exec_timeout_cmds[] = {
    RX_EXEC_TIMEOUT("inventory", 0),
    RX_EXEC_TIMEOUT("input_tree", 1),
    RX_EXEC_TIMEOUT("setup", 2),
    RX_EXEC_TIMEOUT("check_cache", 3),
    RX_EXEC_TIMEOUT("check_missing", 4),
    RX_EXEC_TIMEOUT("upload_blobs", 5),
    RX_EXEC_TIMEOUT("execute", 6),
    RX_EXEC_TIMEOUT("response", 7),
    rx_conf_null_cmd};

static const char *
rx_conf_set_properties(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                       const rx_conf_cmd_t *cmd, void *conf)
{
    static const rx_conf_cmd_t kv_cmds[] = {
        {"name", RX_CONF_SCALAR, rx_conf_set_str, offsetof(rx_conf_kv_t, name),
         NULL, 1},
        {"value", RX_CONF_SCALAR, rx_conf_set_str,
         offsetof(rx_conf_kv_t, value), NULL, 1},
        rx_conf_null_cmd};
    rx_array_t   *a = (rx_array_t *) ((u_char *) conf + cmd->offset);
    rx_conf_kv_t *kv;
    rx_uint_t     i;

    if (rx_array_init(a, cf->pool, n->n + 1, sizeof(rx_conf_kv_t)) != RX_OK) {
        return "out of memory";
    }
    for (i = 0; i < n->n; i++) {
        if (n->items[i]->type != RX_CONF_MAP) {
            rx_conf_error(cf, n->items[i], "expected {name, value}");
            return "";
        }
        kv = rx_array_push(a);
        if (kv == NULL
            || rx_conf_apply(cf, n->items[i], kv_cmds, kv) != RX_OK) {
            return kv ? "" : "out of memory";
        }
        if (kv->name.len == 0) {
            rx_conf_error(cf, n->items[i], "property without a name");
            return "";
        }
    }
    return NULL;
}

static const char *
rx_conf_set_platforms(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                      const rx_conf_cmd_t *cmd, void *conf)
{
    static const rx_conf_cmd_t acl_cmds[] = {
        {"allowed_groups", RX_CONF_SCALAR | RX_CONF_SEQ, rx_conf_set_str_array,
         offsetof(rx_conf_platform_t, allowed_groups), NULL, 1},
        {"disallowed_groups", RX_CONF_SCALAR | RX_CONF_SEQ,
         rx_conf_set_str_array, offsetof(rx_conf_platform_t, disallowed_groups),
         NULL, 1},
        rx_conf_null_cmd};
    static const rx_conf_cmd_t platform_cmds[] = {
        {"dimensions", RX_CONF_SCALAR | RX_CONF_SEQ, rx_conf_set_str_array,
         offsetof(rx_conf_platform_t, dimensions), NULL, 1},
        {"instance_basename", RX_CONF_SCALAR, rx_conf_set_str,
         offsetof(rx_conf_platform_t, instance_basename), NULL, 1},
        {"properties", RX_CONF_SEQ, rx_conf_set_properties,
         offsetof(rx_conf_platform_t, properties), NULL, 1},
        {"has_nsjail", RX_CONF_SCALAR, rx_conf_set_flag,
         offsetof(rx_conf_platform_t, has_nsjail), NULL, 1},
        {"acl", RX_CONF_MAP, rx_conf_set_section, 0, acl_cmds, 1},
        rx_conf_null_cmd};
    rx_array_t         *a = (rx_array_t *) ((u_char *) conf + cmd->offset);
    rx_conf_platform_t *p;
    rx_uint_t           i;

    if (rx_array_init(a, cf->pool, n->n + 1, sizeof(rx_conf_platform_t))
        != RX_OK) {
        return "out of memory";
    }
    for (i = 0; i < n->n; i++) {
        if (n->items[i]->type != RX_CONF_MAP) {
            rx_conf_error(cf, n->items[i], "expected a platform mapping");
            return "";
        }
        p = rx_array_push(a);
        if (p == NULL
            || rx_conf_apply(cf, n->items[i], platform_cmds, p) != RX_OK) {
            return p ? "" : "out of memory";
        }
        if (p->dimensions.nelts == 0) {
            rx_conf_error(cf, n->items[i], "a platform needs dimensions");
            return "";
        }
    }
    return NULL;
}

static const rx_conf_cmd_t rx_conf_exec_cmds[] = {
    {"max_retry_count", RX_CONF_SCALAR, rx_conf_set_num,
     RX_OFF(exec.max_retry_count), &rx_conf_positive, 1},
    {"config_file", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(exec.config_file),
     NULL, 1},
    {"platform_container_image", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(exec.platform_container_image), NULL, 1},
    {"action_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(exec.action_timeout), NULL, 1},
    {"request_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(exec.request_timeout), NULL, 1},
    {"timeouts", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_exec_timeout_cmds,
     1},
    {"platforms", RX_CONF_SEQ, rx_conf_set_platforms, RX_OFF(exec.platforms),
     NULL, 1},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_file_store_cmds[] = {
    {"path", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(file_store.path), NULL, 0},
    {"max_size", RX_CONF_SCALAR, rx_conf_set_size, RX_OFF(file_store.max_size),
     NULL, 1},
    {"index_entries", RX_CONF_SCALAR, rx_conf_set_num,
     RX_OFF(file_store.index_entries), &rx_conf_entries_bounds, 0},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_digest_cache_cmds[] = {
    {"entries", RX_CONF_SCALAR, rx_conf_set_num, RX_OFF(digest_cache.entries),
     &rx_conf_entries_bounds, 1},
    {"path", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(digest_cache.path), NULL,
     1},
    rx_conf_null_cmd};

static const rx_conf_enum_t rx_conf_executor_modes[] = {
    {"off", 0},
    {"false", 0},
    {"no", 0},
    {"on", 1},
    {"true", 1},
    {"yes", 1},
    {"auto", RX_EXECUTOR_AUTO},
    {NULL, 0}};

static const rx_conf_bounds_t rx_conf_jobs_bounds = {0, 4096};

static const rx_conf_cmd_t rx_conf_executor_cmds[] = {
    {"enabled", RX_CONF_SCALAR, rx_conf_set_enum, RX_OFF(executor.enabled),
     rx_conf_executor_modes, 1},
    {"socket", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(executor.socket), NULL,
     1},
    {"listen", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(executor.listen), NULL,
     1},
    {"root", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(executor.root), NULL, 1},
    {"max_size", RX_CONF_SCALAR, rx_conf_set_size, RX_OFF(executor.max_size),
     NULL, 1},
    {"jobs", RX_CONF_SCALAR, rx_conf_set_num, RX_OFF(executor.jobs),
     &rx_conf_jobs_bounds, 1},
    {"user", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(executor.user), NULL, 1},
    {"action_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(executor.action_timeout), NULL, 1},
    {"sandbox", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(executor.sandbox), NULL,
     1},
    {"sandbox_program", RX_CONF_SCALAR, rx_conf_set_str,
     RX_OFF(executor.sandbox_program), NULL, 1},
    rx_conf_null_cmd};

static const rx_conf_cmd_t rx_conf_main_cmds[] = {
    {"workers", RX_CONF_SCALAR, rx_conf_set_workers, RX_OFF(workers),
     &rx_conf_workers_bounds, 1},
    {"listen", RX_CONF_SCALAR | RX_CONF_SEQ, rx_conf_set_listen, RX_OFF(listen),
     NULL, 1},
    {"pid", RX_CONF_SCALAR, rx_conf_set_str, RX_OFF(pid), NULL, 0},
    {"log", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_log_cmds, 1},
    {"shutdown_timeout", RX_CONF_SCALAR, rx_conf_set_msec,
     RX_OFF(shutdown_timeout), NULL, 1},
    {"limits", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_limits_cmds, 1},
    {"auth", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_auth_cmds, 1},
    {"backend", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_backend_cmds, 1},
    {"exec", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_exec_cmds, 1},
    {"file_store", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_file_store_cmds,
     1},
    {"digest_cache", RX_CONF_MAP, rx_conf_set_section, 0,
     rx_conf_digest_cache_cmds, 1},
    {"executor", RX_CONF_MAP, rx_conf_set_section, 0, rx_conf_executor_cmds, 1},
    rx_conf_null_cmd};

static const char *
rx_conf_set_workers(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                    const rx_conf_cmd_t *cmd, void *conf)
{
    if (rx_str_eq_ci(&n->value, "auto")) {
        ((rx_conf_t *) conf)->workers = 0;
        return NULL;
    }
    return rx_conf_set_num(cf, n, cmd, conf);
}

static const char *
rx_conf_listen_item(rx_conf_ctx_t *cf, rx_conf_node_t *n, rx_array_t *a)
{
    static const rx_conf_cmd_t tls_cmds[] = {
        {"certificate", RX_CONF_SCALAR, rx_conf_set_str,
         offsetof(rx_conf_listen_t, certificate), NULL, 1},
        {"key", RX_CONF_SCALAR, rx_conf_set_str,
         offsetof(rx_conf_listen_t, key), NULL, 1},
        rx_conf_null_cmd};
    static const rx_conf_cmd_t item_cmds[] = {
        {"address", RX_CONF_SCALAR, rx_conf_set_str,
         offsetof(rx_conf_listen_t, text), NULL, 1},
        {"backlog", RX_CONF_SCALAR, rx_conf_set_num,
         offsetof(rx_conf_listen_t, backlog), &rx_conf_positive, 1},
        {"tls", RX_CONF_MAP, rx_conf_set_section, 0, tls_cmds, 1},
        rx_conf_null_cmd};
    rx_conf_listen_t *ls;
    const char       *rv;

    ls = rx_array_push(a);
    if (ls == NULL) {
        return "out of memory";
    }
    ls->backlog = 511;
    ls->line = n->line;
    ls->col = n->col;
    if (n->type == RX_CONF_SCALAR) {
        ls->text = n->value;
    } else if (n->type != RX_CONF_MAP
               || rx_conf_apply(cf, n, item_cmds, ls) != RX_OK) {
        return n->type == RX_CONF_MAP ? "" : "expected an address or a mapping";
    }
    if (ls->text.len == 0) {
        return "missing address";
    }
    ls->tls = ls->certificate.len || ls->key.len;
    if (ls->tls && (ls->certificate.len == 0 || ls->key.len == 0)) {
        return "tls needs both certificate and key";
    }
    rv = rx_conf_parse_listen(cf->pool, &ls->text, ls);
    return rv;
}

static const char *
rx_conf_set_listen(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                   const rx_conf_cmd_t *cmd, void *conf)
{
    rx_array_t *a = &((rx_conf_t *) conf)->listen;
    const char *rv;
    rx_uint_t   i;

    if (rx_array_init(a, cf->pool, 4, sizeof(rx_conf_listen_t)) != RX_OK) {
        return "out of memory";
    }
    if (n->type == RX_CONF_SCALAR) {
        return rx_conf_listen_item(cf, n, a);
    }
    for (i = 0; i < n->n; i++) {
        rv = rx_conf_listen_item(cf, n->items[i], a);
        if (rv) {
            if (rv[0]) {
                rx_conf_error(cf, n->items[i], "%s", rv);
            }
            return "";
        }
    }
    return n->n ? NULL : "at least one listen address is required";
}

static const char *
rx_conf_set_level(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                  const rx_conf_cmd_t *cmd, void *conf)
{
    rx_int_t level = rx_log_level_parse(&n->value);

    if (level == RX_ERROR) {
        return "invalid log level (emerg, alert, crit, error, warn, notice, "
               "info, debug)";
    }
    ((rx_conf_t *) conf)->log_level = (rx_uint_t) level;
    return NULL;
}

static const char *
rx_conf_set_headers(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                    const rx_conf_cmd_t *cmd, void *conf)
{
    rx_array_t   *a = (rx_array_t *) ((u_char *) conf + cmd->offset);
    rx_conf_kv_t *kv;
    rx_uint_t     i, j;

    if (rx_array_init(a, cf->pool, n->n + 1, sizeof(rx_conf_kv_t)) != RX_OK) {
        return "out of memory";
    }
    for (i = 0; i < n->n; i++) {
        if (n->items[i]->type != RX_CONF_SCALAR) {
            rx_conf_error(cf, n->items[i], "header values must be scalars");
            return "";
        }
        for (j = 0; j < n->keys[i]->value.len; j++) {
            u_char c = n->keys[i]->value.data[j];
            if (!(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9')
                  || (c >= 'a' && c <= 'z'))) {
                rx_conf_error(cf, n->keys[i],
                              "header names must be "
                              "lowercase tokens");
                return "";
            }
        }
        kv = rx_array_push(a);
        if (kv == NULL) {
            return "out of memory";
        }
        kv->name = n->keys[i]->value;
        kv->value = n->items[i]->value;
    }
    return NULL;
}

static void
rx_conf_defaults(rx_conf_t *conf)
{
    static const rx_msec_t exec_timeouts[RX_EXEC_NTIMEOUTS] = {
        1000, 60000, 1000, 3000, 10000, 60000, 0, 30000};

    conf->workers = 0;
    rx_str_set(&conf->pid, "remoteexec_proxy.pid");
    rx_str_set(&conf->error_log, "stderr");
    conf->log_level = RX_LOG_NOTICE;
    conf->shutdown_timeout = 300000;
    conf->limits.max_connections = 4096;
    conf->limits.header_size = 16384;
    conf->limits.max_headers = 100;
    conf->limits.body_size = 64 * 1024 * 1024;
    conf->limits.header_timeout = 60000;
    conf->limits.body_timeout = 60000;
    conf->limits.keepalive_timeout = 120000;
    conf->limits.send_timeout = 60000;
    conf->limits.keepalive_requests = 10000;
    conf->auth.mode = RX_AUTH_NONE;
    conf->backend.connections = 2;
    conf->backend.keepalive = 60000;
    conf->backend.max_message_size = 64 * 1024 * 1024;
    conf->exec.max_retry_count = 5;
    conf->exec.action_timeout = 15 * 60000;
    conf->exec.request_timeout = 5 * 60000;
    memcpy(conf->exec.timeouts, exec_timeouts, sizeof(exec_timeouts));
    rx_str_set(&conf->file_store.path, "files");
    conf->file_store.max_size = 10LL * 1024 * 1024 * 1024;
    conf->file_store.index_entries = 1048576;
    conf->digest_cache.entries = 2000000;
    conf->executor.enabled = RX_EXECUTOR_AUTO;
    rx_str_set(&conf->executor.socket, "executor.sock");
    rx_str_set(&conf->executor.root, "executor");
    conf->executor.max_size = 10LL * 1024 * 1024 * 1024;
    rx_str_set(&conf->executor.user, "nobody");
    conf->executor.action_timeout = 15 * 60000;
    rx_str_set(&conf->executor.sandbox, "none");
}

/* ---- keys that only a restart changes ---- */

static int
rx_conf_same(const rx_conf_cmd_t *cmd, const void *a, const void *b)
{
    if (cmd->set == rx_conf_set_str) {
        return rx_str_eq((const rx_str_t *) a, (const rx_str_t *) b);
    }
    if (cmd->set == rx_conf_set_num) {
        return *(const rx_int_t *) a == *(const rx_int_t *) b;
    }
    if (cmd->set == rx_conf_set_size) {
        return *(const size_t *) a == *(const size_t *) b;
    }
    return *(const rx_msec_t *) a == *(const rx_msec_t *) b;
}

/* the old configuration's memory goes with its cycle: strings are copied */
static rx_int_t
rx_conf_keep_value(rx_conf_t *conf, const rx_conf_cmd_t *cmd, void *dst,
                   const void *src)
{
    const rx_str_t *from = src;
    rx_str_t       *to = dst;

    if (cmd->set == rx_conf_set_str) {
        to->data = rx_pnalloc(conf->pool, from->len + 1);
        if (to->data == NULL) {
            return RX_ERROR;
        }
        if (from->len) {
            memcpy(to->data, from->data, from->len);
        }
        to->data[from->len] = '\0';
        to->len = from->len;
        return RX_OK;
    }
    memcpy(dst, src,
           cmd->set == rx_conf_set_num    ? sizeof(rx_int_t)
           : cmd->set == rx_conf_set_size ? sizeof(size_t)
                                          : sizeof(rx_msec_t));
    return RX_OK;
}

static rx_int_t
rx_conf_keep_table(const rx_conf_cmd_t *cmds, const char *prefix,
                   rx_conf_t *conf, const rx_conf_t *old, rx_log_t *log)
{
    const rx_conf_cmd_t *cmd;
    char                 path[128];
    u_char              *dst;
    const u_char        *src;

    for (cmd = cmds; cmd->name; cmd++) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                 cmd->name);
        if (cmd->set == rx_conf_set_section) {
            if (rx_conf_keep_table(cmd->post, path, conf, old, log) != RX_OK) {
                return RX_ERROR;
            }
            continue;
        }
        dst = (u_char *) conf + cmd->offset;
        src = (const u_char *) old + cmd->offset;
        if (cmd->reloadable || rx_conf_same(cmd, dst, src)) {
            continue;
        }
        rx_log_error(RX_LOG_WARN, log, 0,
                     "\"%s\" changed, but it is not reloadable: the old "
                     "value stays in effect until a restart",
                     path);
        if (rx_conf_keep_value(conf, cmd, dst, src) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

rx_int_t
rx_conf_keep_restart_only(rx_conf_t *conf, const rx_conf_t *old, rx_log_t *log)
{
    return rx_conf_keep_table(rx_conf_main_cmds, "", conf, old, log);
}

rx_conf_t *
rx_conf_load(rx_pool_t *pool, const char *file, const rx_conf_override_t *ov,
             rx_uint_t nov, rx_log_t *log)
{
    rx_conf_ctx_t   cf;
    rx_conf_node_t *root = NULL;
    rx_conf_t      *conf;
    rx_uint_t       i;
    rx_int_t        rc = RX_OK;

    conf = rx_pcalloc(pool, sizeof(rx_conf_t));
    if (conf == NULL) {
        return NULL;
    }
    conf->pool = pool;
    rx_conf_defaults(conf);
    rx_memzero(&cf, sizeof(cf));
    cf.pool = pool;
    cf.log = log;
    cf.conf = conf;
    cf.file = file ? file : "(command line)";
    if (file) {
        conf->file.data = (u_char *) file;
        conf->file.len = strlen(file);
        root = rx_conf_parse_file(pool, file, log);
        if (root == NULL) {
            return NULL;
        }
        rc = rx_conf_apply(&cf, root, rx_conf_main_cmds, conf);
    }
    for (i = 0; i < nov; i++) {
        if (rx_conf_override(&cf, conf, &ov[i]) != RX_OK) {
            rc = RX_ERROR;
        }
    }
    if (rc != RX_OK || rx_conf_validate(&cf, conf) != RX_OK) {
        return NULL;
    }
    return conf;
}

static rx_int_t
rx_conf_validate(rx_conf_ctx_t *cf, rx_conf_t *conf)
{
    rx_conf_listen_t *ls;

    if (conf->listen.nelts == 0) {
        if (rx_array_init(&conf->listen, cf->pool, 1, sizeof(rx_conf_listen_t))
            != RX_OK) {
            return RX_ERROR;
        }
        ls = rx_array_push(&conf->listen);
        if (ls == NULL) {
            return RX_ERROR;
        }
        rx_str_set(&ls->text, "*:8090"); /* the Go server's default */
        ls->backlog = 511;
        if (rx_conf_parse_listen(cf->pool, &ls->text, ls) != NULL) {
            return RX_ERROR;
        }
    }
    if (conf->auth.mode == RX_AUTH_STATIC_TOKENS
        && conf->auth.tokens_file.len == 0) {
        rx_log_error(RX_LOG_EMERG, cf->log, 0,
                     "auth.mode static_tokens needs "
                     "auth.tokens_file in %s",
                     cf->file);
        return RX_ERROR;
    }
    if (conf->executor.sandbox.len
        && !rx_str_eq_ci(&conf->executor.sandbox, "none")
        && !rx_str_eq_ci(&conf->executor.sandbox, "bwrap")) {
        rx_log_error(RX_LOG_EMERG, cf->log, 0,
                     "executor.sandbox must be none or bwrap in %s", cf->file);
        return RX_ERROR;
    }
    if (conf->executor.sandbox_program.len
        && conf->executor.sandbox_program.data[0] != '/') {
        rx_log_error(RX_LOG_EMERG, cf->log, 0,
                     "executor.sandbox_program must be an absolute path "
                     "in %s",
                     cf->file);
        return RX_ERROR;
    }
    if ((conf->backend.client_certificate.len == 0)
        != (conf->backend.client_key.len == 0)) {
        rx_log_error(RX_LOG_EMERG, cf->log, 0,
                     "backend.client_certificate "
                     "and backend.client_key go together in %s",
                     cf->file);
        return RX_ERROR;
    }
    return RX_OK;
}
