/*
 * The YAML configuration: libyaml events are turned into a small tree of
 * nodes, each carrying file, line and column; directive tables walk the
 * tree and fill typed config structs through generic setters.
 */

#ifndef _RX_CONF_FILE_H_INCLUDED_
#define _RX_CONF_FILE_H_INCLUDED_

#define RX_CONF_SCALAR 0x1
#define RX_CONF_SEQ    0x2
#define RX_CONF_MAP    0x4
#define RX_CONF_ANY    (RX_CONF_SCALAR | RX_CONF_SEQ | RX_CONF_MAP)

typedef struct rx_conf_node_s rx_conf_node_t;
struct rx_conf_node_s {
    rx_uint_t        type;
    rx_str_t         value; /* scalar text */
    rx_uint_t        line;
    rx_uint_t        col;
    unsigned         quoted : 1;
    rx_conf_node_t **keys;  /* mapping keys (scalars) */
    rx_conf_node_t **items; /* sequence items or mapping values */
    rx_uint_t        n;
};

typedef struct rx_conf_cmd_s rx_conf_cmd_t;

typedef struct {
    rx_pool_t  *pool;
    const char *file;
    rx_log_t   *log;
    char        path[256]; /* dotted key path of the current node */
    rx_conf_t  *conf;
} rx_conf_ctx_t;

/** Returns NULL on success or a static reason; the caller adds context. */
typedef const char *(*rx_conf_set_pt)(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                      const rx_conf_cmd_t *cmd, void *conf);

struct rx_conf_cmd_s {
    const char    *name;
    rx_uint_t      type; /* allowed node types */
    rx_conf_set_pt set;
    size_t         offset;
    const void    *post; /* bounds, sub-table, enum values */
    unsigned       reloadable : 1;
};

#define rx_conf_null_cmd                                                       \
    {                                                                          \
        NULL, 0, NULL, 0, NULL, 0                                              \
    }

typedef struct {
    int64_t min;
    int64_t max;
} rx_conf_bounds_t;

typedef struct {
    const char *name;
    rx_uint_t   value;
} rx_conf_enum_t;

#define RX_CONF_UNSET      -1
#define RX_CONF_UNSET_UINT ((rx_uint_t) -1)
#define RX_CONF_UNSET_SIZE ((size_t) -1)
#define RX_CONF_UNSET_MSEC ((rx_msec_t) -1)

/** Parses @file into a node tree in @pool. On error logs
 *  "... in FILE:LINE:COL" at emerg level and returns NULL. */
rx_conf_node_t *rx_conf_parse_file(rx_pool_t *pool, const char *file,
                                   rx_log_t *log);
/** Parses a YAML document held in memory (tests, -t of a string). */
rx_conf_node_t *rx_conf_parse_string(rx_pool_t *pool, const char *name,
                                     const u_char *text, size_t len,
                                     rx_log_t *log);

/** Applies @cmds to the mapping @map; unknown keys are errors. */
rx_int_t rx_conf_apply(rx_conf_ctx_t *cf, rx_conf_node_t *map,
                       const rx_conf_cmd_t *cmds, void *conf);
/** Logs an error about @n naming file:line:col and the key path. */
void rx_conf_error(rx_conf_ctx_t *cf, rx_conf_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* generic setters */
const char *rx_conf_set_str(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                            const rx_conf_cmd_t *cmd, void *conf);
const char *rx_conf_set_flag(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                             const rx_conf_cmd_t *cmd, void *conf);
const char *rx_conf_set_num(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                            const rx_conf_cmd_t *cmd, void *conf);
const char *rx_conf_set_size(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                             const rx_conf_cmd_t *cmd, void *conf);
const char *rx_conf_set_msec(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                             const rx_conf_cmd_t *cmd, void *conf);
const char *rx_conf_set_enum(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                             const rx_conf_cmd_t *cmd, void *conf);
/** Sequence of scalars into an rx_array_t of rx_str_t. */
const char *rx_conf_set_str_array(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                  const rx_conf_cmd_t *cmd, void *conf);
/** Mapping handled by the sub-table in cmd->post, same conf struct. */
const char *rx_conf_set_section(rx_conf_ctx_t *cf, rx_conf_node_t *n,
                                const rx_conf_cmd_t *cmd, void *conf);

/* scalar parsers shared with the command line */
int64_t  rx_conf_parse_size(const rx_str_t *s); /* "64m" -> bytes */
int64_t  rx_conf_parse_msec(const rx_str_t *s); /* "30s" -> ms */
rx_int_t rx_conf_parse_bool(const rx_str_t *s); /* 1, 0, RX_ERROR */

#endif /* _RX_CONF_FILE_H_INCLUDED_ */
