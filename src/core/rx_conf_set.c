/*
 * Directive tables: applying a mapping node, generic slot setters and the
 * scalar parsers (sizes, durations, booleans).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_conf_file.h>

static const char *rx_conf_type_name(rx_uint_t type);

void
rx_conf_error(rx_conf_ctx_t *cf, rx_conf_node_t *n, const char *fmt, ...)
{
    u_char  buf[1024], *p;
    va_list args;

    va_start(args, fmt);
    p = rx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);
    *p = '\0';
    rx_log_error(RX_LOG_EMERG, cf->log, 0, "%s for \"%s\" in %s:%lu:%lu", buf,
                 cf->path[0] ? cf->path : "(top level)", cf->file,
                 (unsigned long) n->line, (unsigned long) n->col);
}

static const char *
rx_conf_type_name(rx_uint_t type)
{
    switch (type) {
    case RX_CONF_SCALAR:
        return "a scalar";
    case RX_CONF_SEQ:
        return "a list";
    case RX_CONF_MAP:
        return "a mapping";
    case RX_CONF_SCALAR | RX_CONF_SEQ:
        return "a scalar or a list";
    default:
        return "a value";
    }
}

static const rx_conf_cmd_t *
rx_conf_find(const rx_conf_cmd_t *cmds, const rx_str_t *name)
{
    for (; cmds->name; cmds++) {
        if (strlen(cmds->name) == name->len
            && memcmp(cmds->name, name->data, name->len) == 0) {
            return cmds;
        }
    }
    return NULL;
}

rx_int_t
rx_conf_apply(rx_conf_ctx_t *cf, rx_conf_node_t *map, const rx_conf_cmd_t *cmds,
              void *conf)
{
    const rx_conf_cmd_t *cmd;
    const char          *rv;
    rx_uint_t            i;
    size_t               plen;
    rx_int_t             rc = RX_OK;

    plen = strlen(cf->path);
    for (i = 0; i < map->n; i++) {
        rx_slprintf((u_char *) cf->path + plen,
                    (u_char *) cf->path + sizeof(cf->path), "%s%s",
                    plen ? "." : "", map->keys[i]->value.data);
        cmd = rx_conf_find(cmds, &map->keys[i]->value);
        if (cmd == NULL) {
            rx_conf_error(cf, map->keys[i], "unknown key");
            rc = RX_ERROR;
        } else if (!(cmd->type & map->items[i]->type)) {
            rx_conf_error(cf, map->items[i], "expected %s",
                          rx_conf_type_name(cmd->type));
            rc = RX_ERROR;
        } else {
            rv = cmd->set(cf, map->items[i], cmd, conf);
            if (rv != NULL && rv[0] != '\0') {
                rx_conf_error(cf, map->items[i], "%s", rv);
                rc = RX_ERROR;
            } else if (rv != NULL) {
                rc = RX_ERROR; /* already reported */
            }
        }
        cf->path[plen] = '\0';
    }
    return rc;
}

const char *
rx_conf_set_str(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                void *conf)
{
    rx_str_t *s = (rx_str_t *) ((u_char *) conf + cmd->offset);

    *s = n->value;
    return NULL;
}

rx_int_t
rx_conf_parse_bool(const rx_str_t *s)
{
    static const char *yes[] = {"on", "true", "yes", "1"};
    static const char *no[] = {"off", "false", "no", "0"};
    rx_uint_t          i;

    for (i = 0; i < rx_nelems(yes); i++) {
        if (rx_str_eq_ci(s, yes[i])) {
            return 1;
        }
        if (rx_str_eq_ci(s, no[i])) {
            return 0;
        }
    }
    return RX_ERROR;
}

const char *
rx_conf_set_flag(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                 void *conf)
{
    rx_int_t *fp = (rx_int_t *) ((u_char *) conf + cmd->offset);
    rx_int_t  v;

    v = rx_conf_parse_bool(&n->value);
    if (v == RX_ERROR) {
        return "invalid boolean (use on/off, true/false or yes/no)";
    }
    *fp = v;
    return NULL;
}

static const char *
rx_conf_check_bounds(const rx_conf_cmd_t *cmd, int64_t v)
{
    const rx_conf_bounds_t *b = cmd->post;

    if (b && (v < b->min || v > b->max)) {
        return "value out of range";
    }
    return NULL;
}

static int64_t
rx_conf_parse_signed(const rx_str_t *s)
{
    int64_t v;

    if (s->len > 1 && s->data[0] == '-') {
        v = rx_atoi64(s->data + 1, s->len - 1);
        return v < 0 ? INT64_MIN : -v;
    }
    v = rx_atoi64(s->data, s->len);
    return v < 0 ? INT64_MIN : v;
}

const char *
rx_conf_set_num(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                void *conf)
{
    rx_int_t *np = (rx_int_t *) ((u_char *) conf + cmd->offset);
    int64_t   v;

    v = rx_conf_parse_signed(&n->value);
    if (v == INT64_MIN) {
        return "invalid number";
    }
    *np = (rx_int_t) v;
    return rx_conf_check_bounds(cmd, v);
}

int64_t
rx_conf_parse_size(const rx_str_t *s)
{
    int64_t scale = 1, v;
    size_t  len = s->len;

    if (len == 0) {
        return RX_ERROR;
    }
    switch (rx_tolower(s->data[len - 1])) {
    case 'k':
        scale = 1024;
        break;
    case 'm':
        scale = 1024 * 1024;
        break;
    case 'g':
        scale = 1024LL * 1024 * 1024;
        break;
    case 't':
        scale = 1024LL * 1024 * 1024 * 1024;
        break;
    }
    if (scale != 1) {
        len--;
    }
    v = rx_atoi64(s->data, len);
    if (v < 0 || v > INT64_MAX / scale) {
        return RX_ERROR;
    }
    return v * scale;
}

const char *
rx_conf_set_size(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                 void *conf)
{
    size_t *sp = (size_t *) ((u_char *) conf + cmd->offset);
    int64_t v;

    v = rx_conf_parse_size(&n->value);
    if (v < 0) {
        return "invalid size (use a number with an optional k, m, g or t)";
    }
    *sp = (size_t) v;
    return rx_conf_check_bounds(cmd, v);
}

int64_t
rx_conf_parse_msec(const rx_str_t *s)
{
    static const struct {
        const char *unit;
        int64_t     ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const u_char *p = s->data, *end = s->data + s->len;
    int64_t       total = 0, v;
    size_t        i, ulen;

    if (s->len == 0) {
        return RX_ERROR;
    }
    while (p < end) { /* "1m30s", "250ms", "0" */
        for (v = 0; p < end && *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - 9) / 10) {
                return RX_ERROR;
            }
            v = v * 10 + (*p - '0');
        }
        for (ulen = 0; p + ulen < end && (p[ulen] < '0' || p[ulen] > '9');) {
            ulen++;
        }
        if (ulen == 0) {
            if (v != 0 && total == 0 && p == end) {
                return RX_ERROR; /* bare non-zero number: unit required */
            }
            return total + v;
        }
        for (i = 0; i < rx_nelems(units); i++) {
            if (strlen(units[i].unit) == ulen
                && memcmp(units[i].unit, p, ulen) == 0) {
                break;
            }
        }
        if (i == rx_nelems(units) || v > INT64_MAX / units[i].ms) {
            return RX_ERROR;
        }
        total += v * units[i].ms;
        p += ulen;
    }
    return total;
}

const char *
rx_conf_set_msec(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                 void *conf)
{
    rx_msec_t *mp = (rx_msec_t *) ((u_char *) conf + cmd->offset);
    int64_t    v;

    v = rx_conf_parse_msec(&n->value);
    if (v < 0) {
        return "invalid duration (use e.g. 500ms, 30s, 5m, 1h)";
    }
    *mp = (rx_msec_t) v;
    return rx_conf_check_bounds(cmd, v);
}

const char *
rx_conf_set_enum(rx_conf_ctx_t *cf, rx_conf_node_t *n, const rx_conf_cmd_t *cmd,
                 void *conf)
{
    rx_uint_t            *up = (rx_uint_t *) ((u_char *) conf + cmd->offset);
    const rx_conf_enum_t *e;

    for (e = cmd->post; e->name; e++) {
        if (rx_str_eq_ci(&n->value, e->name)) {
            *up = e->value;
            return NULL;
        }
    }
    return "invalid value";
}

const char *
rx_conf_set_str_array(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                      const rx_conf_cmd_t *cmd, void *conf)
{
    rx_array_t *a = (rx_array_t *) ((u_char *) conf + cmd->offset);
    rx_str_t   *s;
    rx_uint_t   i;

    if (rx_array_init(a, cf->pool, n->n ? n->n : 1, sizeof(rx_str_t))
        != RX_OK) {
        return "out of memory";
    }
    if (n->type == RX_CONF_SCALAR) { /* a single value is a list of one */
        s = rx_array_push(a);
        if (s == NULL) {
            return "out of memory";
        }
        *s = n->value;
        return NULL;
    }
    for (i = 0; i < n->n; i++) {
        if (n->items[i]->type != RX_CONF_SCALAR) {
            rx_conf_error(cf, n->items[i], "expected a scalar list item");
            return "";
        }
        s = rx_array_push(a);
        if (s == NULL) {
            return "out of memory";
        }
        *s = n->items[i]->value;
    }
    return NULL;
}

const char *
rx_conf_set_section(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                    const rx_conf_cmd_t *cmd, void *conf)
{
    return rx_conf_apply(cf, n, cmd->post, conf) == RX_OK ? NULL : "";
}
