/*
 * Platform configs (REMOTEEXEC.md §3): from YAML exec.platforms, or from
 * the Go server's text-format ConfigResp (--exec-config-file), or the
 * built-in default; selection by dimensions and group ACL (§6.3).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>

typedef struct rx_tp_node_s rx_tp_node_t;
struct rx_tp_node_s {
    rx_str_t      name;
    rx_str_t      value; /* scalar fields */
    rx_tp_node_t *kids;  /* message fields */
    rx_tp_node_t *next;
    rx_uint_t     line;
};

typedef struct {
    rx_pool_t  *pool;
    u_char     *p;
    u_char     *end;
    rx_uint_t   line;
    const char *err;
} rx_tp_t;

static void
rx_tp_skip(rx_tp_t *t)
{
    while (t->p < t->end) {
        if (*t->p == '#') {
            while (t->p < t->end && *t->p != '\n') {
                t->p++;
            }
        } else if (*t->p == '\n') {
            t->line++;
            t->p++;
        } else if (*t->p == ' ' || *t->p == '\t' || *t->p == '\r'
                   || *t->p == ',' || *t->p == ';') {
            t->p++;
        } else {
            return;
        }
    }
}

static rx_int_t
rx_tp_string(rx_tp_t *t, rx_str_t *out)
{
    u_char q = *t->p++, *d;

    d = out->data = rx_pnalloc(t->pool, (size_t) (t->end - t->p) + 1);
    if (d == NULL) {
        return RX_ERROR;
    }
    while (t->p < t->end && *t->p != q) {
        if (*t->p == '\\' && t->p + 1 < t->end) {
            t->p++;
            *d++ = *t->p == 'n' ? '\n' : *t->p == 't' ? '\t' : *t->p;
            t->p++;
        } else {
            *d++ = *t->p++;
        }
    }
    if (t->p == t->end) {
        t->err = "unterminated string";
        return RX_ERROR;
    }
    t->p++;
    *d = '\0';
    out->len = (size_t) (d - out->data);
    return RX_OK;
}

static rx_int_t rx_tp_message(rx_tp_t *t, rx_tp_node_t **list, u_char close,
                              rx_uint_t depth);

static rx_int_t
rx_tp_field(rx_tp_t *t, rx_tp_node_t *n, rx_uint_t depth)
{
    u_char *s;

    rx_tp_skip(t);
    if (t->p < t->end && *t->p == ':') {
        t->p++;
        rx_tp_skip(t);
    }
    if (t->p == t->end) {
        t->err = "unexpected end";
        return RX_ERROR;
    }
    if (*t->p == '{' || *t->p == '<') {
        t->p++;
        return rx_tp_message(t, &n->kids, t->p[-1] == '{' ? '}' : '>',
                             depth + 1);
    }
    if (*t->p == '"' || *t->p == '\'') {
        return rx_tp_string(t, &n->value);
    }
    for (s = t->p; t->p < t->end
                   && (isalnum(*t->p) || *t->p == '_' || *t->p == '.'
                       || *t->p == '-' || *t->p == '+');
         t->p++) {
        /* void: identifiers, numbers, true/false, enum names */
    }
    if (s == t->p) {
        t->err = "value expected";
        return RX_ERROR;
    }
    n->value.data = s;
    n->value.len = (size_t) (t->p - s);
    return RX_OK;
}

static rx_int_t
rx_tp_message(rx_tp_t *t, rx_tp_node_t **list, u_char close, rx_uint_t depth)
{
    rx_tp_node_t *n, **tail = list;
    u_char       *s;

    if (depth > 32) {
        t->err = "nesting too deep";
        return RX_ERROR;
    }
    for (;;) {
        rx_tp_skip(t);
        if (t->p == t->end || *t->p == close) {
            if (close && t->p == t->end) {
                t->err = "missing closing brace";
                return RX_ERROR;
            }
            t->p += t->p < t->end;
            return RX_OK;
        }
        for (s = t->p; t->p < t->end && (isalnum(*t->p) || *t->p == '_');
             t->p++) {
            /* void */
        }
        if (s == t->p) {
            t->err = "field name expected";
            return RX_ERROR;
        }
        n = rx_pcalloc(t->pool, sizeof(rx_tp_node_t));
        if (n == NULL) {
            return RX_ERROR;
        }
        n->name.data = s;
        n->name.len = (size_t) (t->p - s);
        n->line = t->line;
        *tail = n;
        tail = &n->next;
        if (rx_tp_field(t, n, depth) != RX_OK) {
            return RX_ERROR;
        }
    }
}

static int
rx_tp_is(const rx_tp_node_t *n, const char *name)
{
    return n->name.len == strlen(name)
           && memcmp(n->name.data, name, n->name.len) == 0;
}

static rx_int_t
rx_tp_push_str(rx_pool_t *pool, rx_array_t *a, const rx_str_t *v)
{
    rx_str_t *s;

    if (a->elts == NULL
        && rx_array_init(a, pool, 4, sizeof(rx_str_t)) != RX_OK) {
        return RX_ERROR;
    }
    s = rx_array_push(a);
    if (s == NULL) {
        return RX_ERROR;
    }
    return rx_str_dup(pool, s, v);
}

static rx_int_t
rx_tp_platform(rx_pool_t *pool, rx_tp_node_t *rp, rx_conf_platform_t *p)
{
    rx_tp_node_t *n, *k;
    rx_conf_kv_t *kv;

    for (n = rp->kids; n; n = n->next) {
        if (rx_tp_is(n, "rbe_instance_basename")) {
            p->instance_basename = n->value;
        } else if (rx_tp_is(n, "has_nsjail")) {
            p->has_nsjail =
                n->value.len == 4 && memcmp(n->value.data, "true", 4) == 0;
        } else if (rx_tp_is(n, "properties")) {
            if (p->properties.elts == NULL
                && rx_array_init(&p->properties, pool, 4, sizeof(rx_conf_kv_t))
                       != RX_OK) {
                return RX_ERROR;
            }
            kv = rx_array_push(&p->properties);
            if (kv == NULL) {
                return RX_ERROR;
            }
            for (k = n->kids; k; k = k->next) {
                if (rx_tp_is(k, "name")) {
                    kv->name = k->value;
                } else if (rx_tp_is(k, "value")) {
                    kv->value = k->value;
                }
            }
        }
    }
    return RX_OK;
}

/* one ConfigResp.configs entry; RX_DECLINED for toolchain configs */
static rx_int_t
rx_tp_config(rx_pool_t *pool, rx_tp_node_t *c, rx_conf_platform_t *p)
{
    rx_tp_node_t *n, *k;
    rx_int_t      has_platform = 0;

    for (n = c->kids; n; n = n->next) {
        if (rx_tp_is(n, "cmd_descriptor")) {
            return RX_DECLINED;
        }
        if (rx_tp_is(n, "remoteexec_platform")) {
            has_platform = 1;
            if (rx_tp_platform(pool, n, p) != RX_OK) {
                return RX_ERROR;
            }
        } else if (rx_tp_is(n, "dimensions")) {
            if (rx_tp_push_str(pool, &p->dimensions, &n->value) != RX_OK) {
                return RX_ERROR;
            }
        } else if (rx_tp_is(n, "acl")) {
            for (k = n->kids; k; k = k->next) {
                if (rx_tp_push_str(pool,
                                   rx_tp_is(k, "allowed_groups")
                                       ? &p->allowed_groups
                                       : &p->disallowed_groups,
                                   &k->value)
                    != RX_OK) {
                    return RX_ERROR;
                }
            }
        }
    }
    return has_platform ? RX_OK : RX_DECLINED;
}

static rx_int_t
rx_exec_config_file(rx_cycle_t *cycle, const char *path)
{
    rx_array_t         *a = &cycle->conf->exec.platforms;
    rx_conf_platform_t *p;
    rx_tp_node_t       *root = NULL, *c;
    rx_tp_t             t;
    struct stat         st;
    ssize_t             n;
    int                 fd;
    rx_int_t            rc;

    rx_memzero(&t, sizeof(t));
    t.pool = cycle->pool;
    t.line = 1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size > 16 * 1024 * 1024
        || (t.p = rx_pnalloc(cycle->pool, (size_t) st.st_size + 1)) == NULL) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "cannot read exec config file \"%s\"", path);
        if (fd != -1) {
            close(fd);
        }
        return RX_ERROR;
    }
    n = read(fd, t.p, (size_t) st.st_size);
    close(fd);
    t.end = t.p + (n > 0 ? n : 0);
    if (rx_tp_message(&t, &root, 0, 0) != RX_OK) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0, "%s in %s:%lu",
                     t.err ? t.err : "out of memory", path,
                     (unsigned long) t.line);
        return RX_ERROR;
    }
    if (rx_array_init(a, cycle->pool, 4, sizeof(rx_conf_platform_t)) != RX_OK) {
        return RX_ERROR;
    }
    for (c = root; c; c = c->next) {
        if (!rx_tp_is(c, "configs")) {
            continue;
        }
        p = rx_array_push(a);
        if (p == NULL) {
            return RX_ERROR;
        }
        rc = rx_tp_config(cycle->pool, c, p);
        if (rc == RX_DECLINED) {
            a->nelts--;
            rx_log_error(RX_LOG_WARN, &cycle->log, 0,
                         "%s:%lu: toolchain "
                         "configs are not supported, entry skipped",
                         path, (unsigned long) c->line);
        } else if (rc != RX_OK) {
            return RX_ERROR;
        }
    }
    if (a->nelts == 0) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "no usable platform config "
                     "in %s",
                     path);
        return RX_ERROR;
    }
    return RX_OK;
}

static rx_int_t
rx_exec_default_basename(rx_cycle_t *cycle, rx_conf_platform_t *p)
{
    rx_str_t *flag = &cycle->conf->backend.instance_name;
    u_char   *slash;

    slash = flag->len ? memrchr(flag->data, '/', flag->len) : NULL;
    p->instance_basename.data = slash ? slash + 1 : flag->data;
    p->instance_basename.len =
        flag->len - (size_t) (slash ? slash + 1 - flag->data : 0);
    if (p->instance_basename.len == 0) {
        rx_str_set(&p->instance_basename, "."); /* "" after §3.4 mapping */
    }
    return RX_OK;
}

/* §3.4: dirname(instance flag) joined with the platform's basename;
 * "." and "" map to the empty instance ([C-DEVIATION]) */
rx_int_t
rx_exec_instance(rx_exec_t *x, const rx_conf_platform_t *p, rx_str_t *out)
{
    rx_str_t *flag = &rx_cycle->conf->backend.instance_name;
    rx_str_t  base = p->instance_basename;
    u_char   *slash;
    size_t    plen;

    if (base.len == 0) {
        rx_str_set(&base, "default_instance");
    }
    slash = flag->len ? memrchr(flag->data, '/', flag->len) : NULL;
    plen = slash ? (size_t) (slash - flag->data) : 0;
    if (base.len == 1 && base.data[0] == '.') {
        base.len = 0;
    }
    out->data = rx_pnalloc(x->pool, plen + base.len + 2);
    if (out->data == NULL) {
        return RX_ERROR;
    }
    out->len = (size_t) (rx_slprintf(out->data, out->data + plen + base.len + 2,
                                     "%.*s%s%.*s", (int) plen, flag->data,
                                     plen && base.len ? "/" : "",
                                     (int) base.len, base.data)
                         - out->data);
    return RX_OK;
}

rx_int_t
rx_exec_platforms_init(rx_cycle_t *cycle)
{
    rx_conf_exec_t     *ec = &cycle->conf->exec;
    rx_conf_platform_t *p;
    rx_conf_kv_t       *kv;
    rx_str_t            linux_dim = rx_string("os:linux");

    if (ec->config_file.len) {
        if (rx_cycle_full_path(cycle, &ec->config_file) != RX_OK) {
            return RX_ERROR;
        }
        return rx_exec_config_file(cycle, (char *) ec->config_file.data);
    }
    if (ec->platforms.nelts) {
        return RX_OK;
    }
    /* §3.3 built-in default */
    if (rx_array_init(&ec->platforms, cycle->pool, 1,
                      sizeof(rx_conf_platform_t))
            != RX_OK
        || (p = rx_array_push(&ec->platforms)) == NULL
        || rx_exec_default_basename(cycle, p) != RX_OK
        || rx_tp_push_str(cycle->pool, &p->dimensions, &linux_dim) != RX_OK
        || rx_array_init(&p->properties, cycle->pool, 2, sizeof(rx_conf_kv_t))
               != RX_OK) {
        return RX_ERROR;
    }
    if (ec->platform_container_image.len) {
        kv = rx_array_push(&p->properties);
        if (kv == NULL) {
            return RX_ERROR;
        }
        rx_str_set(&kv->name, "container-image");
        kv->value = ec->platform_container_image;
    }
    kv = rx_array_push(&p->properties);
    if (kv == NULL) {
        return RX_ERROR;
    }
    rx_str_set(&kv->name, "OSFamily");
    rx_str_set(&kv->value, "Linux");
    return RX_OK;
}

static int
rx_exec_in_list(const rx_array_t *a, const rx_str_t *v)
{
    rx_str_t *s = a->elts;
    rx_uint_t i;

    for (i = 0; i < a->nelts; i++) {
        if (rx_str_eq(&s[i], v)) {
            return 1;
        }
    }
    return 0;
}

static int
rx_exec_acl_ok(const rx_conf_platform_t *p, const rx_str_t *group)
{
    if (p->disallowed_groups.nelts
        && (group->len == 0 || rx_exec_in_list(&p->disallowed_groups, group))) {
        return 0;
    }
    if (p->allowed_groups.nelts
        && (group->len == 0 || !rx_exec_in_list(&p->allowed_groups, group))) {
        return 0;
    }
    return 1;
}

const rx_conf_platform_t *
rx_exec_select_platform(rx_exec_t *x, char **dims, size_t n)
{
    rx_conf_platform_t *p = rx_cycle->conf->exec.platforms.elts;
    rx_str_t            d;
    rx_uint_t           i;
    size_t              j;

    for (i = 0; i < rx_cycle->conf->exec.platforms.nelts; i++) {
        if (!rx_exec_acl_ok(&p[i], &x->r->group)) {
            continue;
        }
        for (j = 0; j < n; j++) {
            d.data = (u_char *) dims[j];
            d.len = strlen(dims[j]);
            if (!rx_exec_in_list(&p[i].dimensions, &d)) {
                break;
            }
        }
        if (j == n) {
            return &p[i];
        }
    }
    return NULL;
}
