/*
 * The Go server's command-line flags, applied over the YAML config, and
 * listen address parsing.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_conf.h>

typedef rx_int_t (*rx_flag_apply_pt)(rx_conf_ctx_t *cf, rx_conf_t *conf,
                                     const rx_str_t *v, size_t arg);

typedef struct {
    const char      *name;
    unsigned         boolean : 1;
    rx_flag_apply_pt apply;
    size_t           arg; /* offset into rx_conf_t or an index */
} rx_flag_t;

static rx_int_t rx_flag_port(rx_conf_ctx_t *cf, rx_conf_t *conf,
                             const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_str(rx_conf_ctx_t *cf, rx_conf_t *conf,
                            const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_bool(rx_conf_ctx_t *cf, rx_conf_t *conf,
                             const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_num(rx_conf_ctx_t *cf, rx_conf_t *conf,
                            const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_msec(rx_conf_ctx_t *cf, rx_conf_t *conf,
                             const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_users(rx_conf_ctx_t *cf, rx_conf_t *conf,
                              const rx_str_t *v, size_t arg);
static rx_int_t rx_flag_ignored(rx_conf_ctx_t *cf, rx_conf_t *conf,
                                const rx_str_t *v, size_t arg);

#define RX_CO(f)  offsetof(rx_conf_t, f)
#define RX_TMO(i) (RX_CO(exec.timeouts) + (i) * sizeof(rx_msec_t))

static const rx_flag_t rx_flags[] = {
    {"port", 0, rx_flag_port, 0},
    {"remoteexec-addr", 0, rx_flag_str, RX_CO(backend.address)},
    {"remote-instance-name", 0, rx_flag_str, RX_CO(backend.instance_name)},
    {"allowed-users", 0, rx_flag_users, 0},
    {"service-account-json", 0, rx_flag_str,
     RX_CO(backend.service_account_json)},
    {"platform-container-image", 0, rx_flag_str,
     RX_CO(exec.platform_container_image)},
    {"insecure-remoteexec", 1, rx_flag_bool, RX_CO(backend.insecure)},
    {"insecure-skip-verify", 1, rx_flag_bool, RX_CO(backend.skip_verify)},
    {"additional-tls-certificate", 0, rx_flag_str, RX_CO(backend.ca_file)},
    {"exec-max-retry-count", 0, rx_flag_num, RX_CO(exec.max_retry_count)},
    {"exec-config-file", 0, rx_flag_str, RX_CO(exec.config_file)},
    {"max-digest-cache-entries", 0, rx_flag_num, RX_CO(digest_cache.entries)},
    {"exec-inventory-timeout", 0, rx_flag_msec, RX_TMO(0)},
    {"exec-input-tree-timeout", 0, rx_flag_msec, RX_TMO(1)},
    {"exec-setup-timeout", 0, rx_flag_msec, RX_TMO(2)},
    {"exec-check-cache-timeout", 0, rx_flag_msec, RX_TMO(3)},
    {"exec-check-missing-timeout", 0, rx_flag_msec, RX_TMO(4)},
    {"exec-upload-blobs-timeout", 0, rx_flag_msec, RX_TMO(5)},
    {"exec-execute-timeout", 0, rx_flag_msec, RX_TMO(6)},
    {"exec-response-timeout", 0, rx_flag_msec, RX_TMO(7)},
    /* Google-only or superseded: accepted for compatibility, no effect */
    {"file-cache-bucket", 0, rx_flag_ignored, 0},
    {"trace-project-id", 0, rx_flag_ignored, 0},
    {"trace-sampling-fraction", 0, rx_flag_ignored, 0},
    {"trace-sampling-qps-limit", 0, rx_flag_ignored, 0},
    {"redis-max-idle-conns", 0, rx_flag_ignored, 0},
    {"redis-max-active-conns", 0, rx_flag_ignored, 0},
    {"preload", 1, rx_flag_ignored, 0},
    {NULL, 0, NULL, 0}};

static const rx_flag_t *
rx_flag_find(const char *name, size_t len)
{
    const rx_flag_t *f;

    for (f = rx_flags; f->name; f++) {
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) {
            return f;
        }
    }
    return NULL;
}

rx_int_t
rx_conf_flag_kind(const char *name)
{
    const rx_flag_t *f = rx_flag_find(name, strlen(name));

    if (f == NULL) {
        return RX_DECLINED;
    }
    return f->boolean ? 0 : 1;
}

rx_int_t
rx_conf_override(rx_conf_ctx_t *cf, rx_conf_t *conf,
                 const rx_conf_override_t *ov)
{
    const rx_flag_t *f;

    f = rx_flag_find((char *) ov->name.data, ov->name.len);
    if (f == NULL) {
        rx_log_error(RX_LOG_EMERG, cf->log, 0, "unknown flag \"--%.*s\"",
                     (int) ov->name.len, ov->name.data);
        return RX_ERROR;
    }
    if (f->apply(cf, conf, &ov->value, f->arg) != RX_OK) {
        rx_log_error(RX_LOG_EMERG, cf->log, 0,
                     "invalid value \"%.*s\" for flag \"--%s\"",
                     (int) ov->value.len, ov->value.data, f->name);
        return RX_ERROR;
    }
    return RX_OK;
}

static rx_int_t
rx_flag_port(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    rx_conf_listen_t *ls;
    u_char           *p;
    int64_t           port;

    port = rx_atoi64(v->data, v->len);
    if (port < 1 || port > 65535) {
        return RX_ERROR;
    }
    if (rx_array_init(&conf->listen, cf->pool, 1, sizeof(rx_conf_listen_t))
            != RX_OK
        || (ls = rx_array_push(&conf->listen)) == NULL
        || (p = rx_pnalloc(cf->pool, 16)) == NULL) {
        return RX_ERROR;
    }
    ls->text.data = p;
    ls->text.len = (size_t) (rx_slprintf(p, p + 16, "*:%d", (int) port) - p);
    ls->backlog = 511;
    return rx_conf_parse_listen(cf->pool, &ls->text, ls) ? RX_ERROR : RX_OK;
}

static rx_int_t
rx_flag_str(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    *(rx_str_t *) ((u_char *) conf + arg) = *v;
    return RX_OK;
}

static rx_int_t
rx_flag_bool(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    rx_int_t b = rx_conf_parse_bool(v);

    if (b == RX_ERROR) {
        return RX_ERROR;
    }
    *(rx_int_t *) ((u_char *) conf + arg) = b;
    return RX_OK;
}

static rx_int_t
rx_flag_num(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    int64_t n = rx_atoi64(v->data, v->len);

    if (n < 0 || n > INT32_MAX) {
        return RX_ERROR;
    }
    *(rx_int_t *) ((u_char *) conf + arg) = (rx_int_t) n;
    return RX_OK;
}

static rx_int_t
rx_flag_msec(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    int64_t ms = rx_conf_parse_msec(v);

    if (ms < 0) {
        return RX_ERROR;
    }
    *(rx_msec_t *) ((u_char *) conf + arg) = (rx_msec_t) ms;
    return RX_OK;
}

static rx_int_t
rx_flag_users(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v, size_t arg)
{
    rx_array_t *a = &conf->auth.allowed_users;
    rx_str_t   *s;
    u_char     *p, *end, *q;

    if (rx_array_init(a, cf->pool, 4, sizeof(rx_str_t)) != RX_OK) {
        return RX_ERROR;
    }
    for (p = v->data, end = v->data + v->len; p < end; p = q + 1) {
        q = memchr(p, ',', (size_t) (end - p));
        q = q ? q : end;
        while (p < q && (*p == ' ' || *p == '\t')) {
            p++;
        }
        s = NULL;
        if (p < q && (s = rx_array_push(a)) == NULL) {
            return RX_ERROR;
        }
        if (s) {
            s->data = p;
            for (s->len = (size_t) (q - p);
                 s->len && (p[s->len - 1] == ' ' || p[s->len - 1] == '\t');) {
                s->len--;
            }
        }
    }
    return RX_OK;
}

static rx_int_t
rx_flag_ignored(rx_conf_ctx_t *cf, rx_conf_t *conf, const rx_str_t *v,
                size_t arg)
{
    return RX_OK;
}

static const char *
rx_conf_parse_unix(const rx_str_t *text, rx_conf_listen_t *ls)
{
    struct sockaddr_un *sun = (struct sockaddr_un *) &ls->sockaddr;
    size_t              len = text->len - 5;

    if (len == 0 || len >= sizeof(sun->sun_path)) {
        return "invalid unix socket path";
    }
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, text->data + 5, len);
    sun->sun_path[len] = '\0';
    ls->socklen = (socklen_t) sizeof(struct sockaddr_un);
    return NULL;
}

const char *
rx_conf_parse_listen(rx_pool_t *pool, const rx_str_t *text,
                     rx_conf_listen_t *ls)
{
    struct addrinfo hints, *res;
    char            host[256], port[8];
    u_char         *colon;
    size_t          hlen;
    int64_t         pn;

    if (text->len > 5 && memcmp(text->data, "unix:", 5) == 0) {
        return rx_conf_parse_unix(text, ls);
    }
    colon = text->len ? memrchr(text->data, ':', text->len) : NULL;
    if (colon == NULL) {
        return "invalid listen address (use host:port, [v6]:port, *:port "
               "or unix:/path)";
    }
    pn = rx_atoi64(colon + 1, (size_t) (text->data + text->len - colon - 1));
    if (pn < 1 || pn > 65535) {
        return "invalid port";
    }
    hlen = (size_t) (colon - text->data);
    if (hlen >= 2 && text->data[0] == '[' && text->data[hlen - 1] == ']') {
        hlen -= 2;
        memcpy(host, text->data + 1, rx_min(hlen, sizeof(host) - 1));
    } else {
        memcpy(host, text->data, rx_min(hlen, sizeof(host) - 1));
    }
    host[rx_min(hlen, sizeof(host) - 1)] = '\0';
    snprintf(port, sizeof(port), "%d", (int) pn);
    ls->wildcard = (hlen == 0 || strcmp(host, "*") == 0);
    rx_memzero(&hints, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(ls->wildcard ? "::" : host, port, &hints, &res) != 0) {
        if (!ls->wildcard || getaddrinfo("0.0.0.0", port, &hints, &res) != 0) {
            return "host not found";
        }
    }
    memcpy(&ls->sockaddr, res->ai_addr, res->ai_addrlen);
    ls->socklen = res->ai_addrlen;
    freeaddrinfo(res);
    return NULL;
}
