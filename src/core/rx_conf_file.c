/*
 * YAML configuration: libyaml events to a node tree, generic setters.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_conf_file.h>
#include <yaml.h>

#define RX_CONF_MAX_DEPTH 32

typedef struct {
    rx_conf_node_t *node;
    rx_array_t      kids; /* rx_conf_node_t *: key, value, key, ... */
} rx_conf_frame_t;

typedef struct {
    rx_pool_t      *pool;
    const char     *file;
    rx_log_t       *log;
    yaml_parser_t   parser;
    rx_conf_frame_t stack[RX_CONF_MAX_DEPTH];
    rx_uint_t       depth;
    rx_conf_node_t *root;
} rx_conf_parser_t;

static rx_int_t rx_conf_on_event(rx_conf_parser_t *p, yaml_event_t *ev);
static rx_int_t rx_conf_close_node(rx_conf_parser_t *p, yaml_event_t *ev);
static rx_int_t rx_conf_add_child(rx_conf_parser_t *p, rx_conf_node_t *n,
                                  yaml_event_t *ev);

static void
rx_conf_parse_error(rx_conf_parser_t *p, rx_uint_t line, rx_uint_t col,
                    const char *what)
{
    rx_log_error(RX_LOG_EMERG, p->log, 0, "%s in %s:%lu:%lu", what, p->file,
                 (unsigned long) line, (unsigned long) col);
}

static rx_conf_node_t *
rx_conf_new_node(rx_conf_parser_t *p, rx_uint_t type, yaml_event_t *ev)
{
    rx_conf_node_t *n;

    n = rx_pcalloc(p->pool, sizeof(rx_conf_node_t));
    if (n == NULL) {
        return NULL;
    }
    n->type = type;
    n->line = ev->start_mark.line + 1;
    n->col = ev->start_mark.column + 1;
    return n;
}

static rx_conf_node_t *
rx_conf_run(rx_conf_parser_t *p)
{
    yaml_event_t ev;
    rx_int_t     rc;

    for (;;) {
        if (!yaml_parser_parse(&p->parser, &ev)) {
            rx_conf_parse_error(p, p->parser.problem_mark.line + 1,
                                p->parser.problem_mark.column + 1,
                                p->parser.problem ? p->parser.problem
                                                  : "YAML syntax error");
            return NULL;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        rc = rx_conf_on_event(p, &ev);
        yaml_event_delete(&ev);
        if (rc != RX_OK) {
            return NULL;
        }
    }
    if (p->root == NULL) {
        p->root = rx_pcalloc(p->pool, sizeof(rx_conf_node_t));
        if (p->root) {
            p->root->type = RX_CONF_MAP;
            p->root->line = p->root->col = 1;
        }
    }
    return p->root;
}

static rx_int_t
rx_conf_on_event(rx_conf_parser_t *p, yaml_event_t *ev)
{
    rx_conf_node_t *n;

    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return RX_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (p->root) {
            rx_conf_parse_error(p, ev->start_mark.line + 1,
                                ev->start_mark.column + 1,
                                "more than one YAML document");
            return RX_ERROR;
        }
        return RX_OK;
    case YAML_ALIAS_EVENT:
        rx_conf_parse_error(p, ev->start_mark.line + 1,
                            ev->start_mark.column + 1,
                            "YAML aliases are not supported");
        return RX_ERROR;
    case YAML_SCALAR_EVENT:
        n = rx_conf_new_node(p, RX_CONF_SCALAR, ev);
        if (n == NULL) {
            return RX_ERROR;
        }
        n->value.len = ev->data.scalar.length;
        n->value.data = rx_pnalloc(p->pool, n->value.len + 1);
        if (n->value.data == NULL) {
            return RX_ERROR;
        }
        memcpy(n->value.data, ev->data.scalar.value, n->value.len);
        n->value.data[n->value.len] = '\0';
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        return rx_conf_add_child(p, n, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n = rx_conf_new_node(
            p, ev->type == YAML_MAPPING_START_EVENT ? RX_CONF_MAP : RX_CONF_SEQ,
            ev);
        if (n == NULL || rx_conf_add_child(p, n, ev) != RX_OK) {
            return RX_ERROR;
        }
        if (p->depth == RX_CONF_MAX_DEPTH) {
            rx_conf_parse_error(p, n->line, n->col, "nesting too deep");
            return RX_ERROR;
        }
        p->stack[p->depth].node = n;
        if (rx_array_init(&p->stack[p->depth].kids, p->pool, 8,
                          sizeof(rx_conf_node_t *))
            != RX_OK) {
            return RX_ERROR;
        }
        p->depth++;
        return RX_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return rx_conf_close_node(p, ev);
    default:
        return RX_OK;
    }
}

static rx_int_t
rx_conf_add_child(rx_conf_parser_t *p, rx_conf_node_t *n, yaml_event_t *ev)
{
    rx_conf_node_t **slot;

    if (p->depth == 0) {
        if (p->root) {
            rx_conf_parse_error(p, n->line, n->col, "unexpected content");
            return RX_ERROR;
        }
        p->root = n;
        return RX_OK;
    }
    slot = rx_array_push(&p->stack[p->depth - 1].kids);
    if (slot == NULL) {
        return RX_ERROR;
    }
    *slot = n;
    return RX_OK;
}

static rx_int_t
rx_conf_close_node(rx_conf_parser_t *p, yaml_event_t *ev)
{
    rx_conf_frame_t *f;
    rx_conf_node_t  *n, **kids;
    rx_uint_t        i, j;

    f = &p->stack[--p->depth];
    n = f->node;
    kids = f->kids.elts;
    if (n->type == RX_CONF_SEQ) {
        n->items = kids;
        n->n = f->kids.nelts;
        return RX_OK;
    }
    n->n = f->kids.nelts / 2;
    n->keys = rx_palloc(p->pool, (n->n + 1) * sizeof(rx_conf_node_t *));
    n->items = rx_palloc(p->pool, (n->n + 1) * sizeof(rx_conf_node_t *));
    if (n->keys == NULL || n->items == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < n->n; i++) {
        n->keys[i] = kids[2 * i];
        n->items[i] = kids[2 * i + 1];
        if (n->keys[i]->type != RX_CONF_SCALAR) {
            rx_conf_parse_error(p, n->keys[i]->line, n->keys[i]->col,
                                "mapping keys must be scalars");
            return RX_ERROR;
        }
        for (j = 0; j < i; j++) {
            if (rx_str_eq(&n->keys[j]->value, &n->keys[i]->value)) {
                rx_log_error(RX_LOG_EMERG, p->log, 0,
                             "duplicate key \"%s\" in %s:%lu:%lu",
                             n->keys[i]->value.data, p->file,
                             (unsigned long) n->keys[i]->line,
                             (unsigned long) n->keys[i]->col);
                return RX_ERROR;
            }
        }
    }
    return RX_OK;
}

rx_conf_node_t *
rx_conf_parse_string(rx_pool_t *pool, const char *name, const u_char *text,
                     size_t len, rx_log_t *log)
{
    rx_conf_parser_t p;
    rx_conf_node_t  *root;

    rx_memzero(&p, sizeof(p));
    p.pool = pool;
    p.file = name;
    p.log = log;
    if (!yaml_parser_initialize(&p.parser)) {
        return NULL;
    }
    yaml_parser_set_input_string(&p.parser, text, len);
    root = rx_conf_run(&p);
    yaml_parser_delete(&p.parser);
    if (root && root->type != RX_CONF_MAP) {
        rx_conf_parse_error(&p, root->line, root->col,
                            "the top level must be a mapping");
        return NULL;
    }
    return root;
}

rx_conf_node_t *
rx_conf_parse_file(rx_pool_t *pool, const char *file, rx_log_t *log)
{
    struct stat st;
    u_char     *text;
    ssize_t     n;
    int         fd;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        rx_log_error(RX_LOG_EMERG, log, errno, "open() \"%s\" failed", file);
        return NULL;
    }
    if (fstat(fd, &st) == -1 || st.st_size > 16 * 1024 * 1024) {
        rx_log_error(RX_LOG_EMERG, log, errno,
                     "cannot read \"%s\" (missing or over 16 MiB)", file);
        close(fd);
        return NULL;
    }
    text = rx_pnalloc(pool, (size_t) st.st_size + 1);
    n = text ? read(fd, text, (size_t) st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        rx_log_error(RX_LOG_EMERG, log, errno, "read() \"%s\" failed", file);
        return NULL;
    }
    return rx_conf_parse_string(pool, file, text, (size_t) n, log);
}
