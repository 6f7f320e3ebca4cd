/*
 * The typed configuration of one cycle, filled from YAML by the directive
 * tables in rx_conf.c and then overridden by Go-compatible command-line
 * flags. Later subsystems add their sections here.
 */

#ifndef _RX_CONF_H_INCLUDED_
#define _RX_CONF_H_INCLUDED_

/* workers: three generations (reloads) and the managers fit in the
   master's process table of 256 */
#define RX_MAX_WORKERS 64

#include <rx_conf_file.h>

typedef struct {
    rx_str_t                text; /* as written: "127.0.0.1:5050" */
    struct sockaddr_storage sockaddr;
    socklen_t               socklen;
    rx_str_t                certificate;
    rx_str_t                key;
    rx_int_t                backlog;
    void                   *ssl_ctx; /* SSL_CTX *, owned by http */
    unsigned                tls : 1;
    unsigned                wildcard : 1; /* "*:port": dual-stack any */
    rx_uint_t               line;
    rx_uint_t               col;
} rx_conf_listen_t;

typedef struct {
    rx_uint_t max_connections;
    size_t    header_size;
    rx_uint_t max_headers;
    size_t    body_size;
    rx_msec_t header_timeout;
    rx_msec_t body_timeout;
    rx_msec_t keepalive_timeout;
    rx_msec_t send_timeout;
    rx_uint_t keepalive_requests;
} rx_conf_limits_t;

#define RX_AUTH_NONE          0
#define RX_AUTH_STATIC_TOKENS 1

typedef struct {
    rx_uint_t  mode;
    rx_str_t   tokens_file;
    rx_array_t allowed_users; /* rx_str_t */
} rx_conf_auth_t;

typedef struct {
    rx_str_t name;
    rx_str_t value;
} rx_conf_kv_t;

typedef struct {
    rx_str_t   address; /* host:port or unix:/path */
    rx_str_t   instance_name;
    rx_int_t   insecure; /* h2c */
    rx_int_t   skip_verify;
    rx_str_t   ca_file;
    rx_str_t   client_certificate;
    rx_str_t   client_key;
    rx_str_t   bearer_token_file;
    rx_str_t   service_account_json;
    rx_int_t   connections; /* per worker */
    rx_msec_t  keepalive;   /* PING interval, 0 = off */
    size_t     max_message_size;
    rx_array_t headers; /* rx_conf_kv_t */
} rx_conf_backend_t;

#define RX_EXEC_NTIMEOUTS 8

/* one platform config (REMOTEEXEC.md §3.5), YAML or --exec-config-file */
typedef struct {
    rx_array_t dimensions; /* rx_str_t "key:value" */
    rx_str_t   instance_basename;
    rx_array_t properties; /* rx_conf_kv_t, in order */
    rx_int_t   has_nsjail;
    rx_array_t allowed_groups;    /* rx_str_t */
    rx_array_t disallowed_groups; /* rx_str_t */
} rx_conf_platform_t;

typedef struct {
    rx_int_t   max_retry_count;
    rx_str_t   config_file; /* Go text-format ConfigResp */
    rx_str_t   platform_container_image;
    rx_msec_t  action_timeout;
    rx_msec_t  request_timeout;
    rx_msec_t  timeouts[RX_EXEC_NTIMEOUTS]; /* inventory ... response */
    rx_array_t platforms;                   /* rx_conf_platform_t */
} rx_conf_exec_t;

typedef struct {
    rx_str_t path;
    size_t   max_size;
    rx_int_t index_entries;
    size_t   max_blob_size;
} rx_conf_file_store_t;

typedef struct {
    rx_int_t entries;
    rx_str_t path; /* optional file-backed persistence */
} rx_conf_digest_cache_t;

#define RX_EXECUTOR_AUTO 2

typedef struct {
    rx_int_t  enabled;  /* 0, 1, RX_EXECUTOR_AUTO */
    rx_str_t  socket;   /* unix socket the proxy uses */
    rx_str_t  listen;   /* optional loopback host:port */
    rx_str_t  root;     /* CAS, action cache, work dirs */
    size_t    max_size; /* CAS size cap */
    rx_int_t  jobs;     /* 0: CPU count */
    rx_str_t  user;     /* actions run as this user if root */
    rx_msec_t action_timeout;
    rx_str_t  sandbox;         /* none, bwrap */
    rx_str_t  sandbox_program; /* "": looked up in the system's bin dirs */
} rx_conf_executor_t;

struct rx_conf_s {
    rx_pool_t             *pool;
    rx_str_t               file;
    rx_int_t               workers; /* 0 = auto */
    rx_array_t             listen;  /* rx_conf_listen_t */
    rx_str_t               pid;
    rx_str_t               error_log;
    rx_uint_t              log_level;
    rx_str_t               access_log; /* "" or "off": none */
    rx_msec_t              shutdown_timeout;
    rx_conf_limits_t       limits;
    rx_conf_auth_t         auth;
    rx_conf_backend_t      backend;
    rx_conf_exec_t         exec;
    rx_conf_file_store_t   file_store;
    rx_conf_digest_cache_t digest_cache;
    rx_conf_executor_t     executor;
    rx_array_t             ignored_flags; /* Go flags without effect */
};

extern const char *rx_exec_timeout_names[RX_EXEC_NTIMEOUTS];

/** The embedded executor runs when enabled, or by default when no
 *  backend address is configured. */
static inline int
rx_executor_active(const rx_conf_t *conf)
{
    return conf->executor.enabled == 1
           || (conf->executor.enabled == RX_EXECUTOR_AUTO
               && conf->backend.address.len == 0);
}

/** Command-line overrides, kept by main and reapplied on every reload. */
typedef struct {
    rx_str_t name; /* flag name without dashes */
    rx_str_t value;
} rx_conf_override_t;

/** Reads and validates @file (NULL = built-in defaults only), applies the
 *  overrides; returns a complete config in @pool or NULL (errors logged). */
rx_conf_t *rx_conf_load(rx_pool_t *pool, const char *file,
                        const rx_conf_override_t *ov, rx_uint_t nov,
                        rx_log_t *log);
/** On a reload: every key that is not reloadable keeps its value from
 *  @old, copied into @conf's pool (a warning names each key the new file
 *  changed). RX_ERROR on ENOMEM. */
rx_int_t rx_conf_keep_restart_only(rx_conf_t *conf, const rx_conf_t *old,
                                   rx_log_t *log);
/** Checks a Go-style flag name; returns 1 (takes a value), 0 (boolean),
 *  or RX_DECLINED if unknown. */
rx_int_t rx_conf_flag_kind(const char *name);
/** Applies one command-line override to @conf (used by rx_conf_load). */
rx_int_t rx_conf_override(rx_conf_ctx_t *cf, rx_conf_t *conf,
                          const rx_conf_override_t *ov);
/** Resolves "host:port", "[v6]:port", "*:port", "unix:/path". */
const char *rx_conf_parse_listen(rx_pool_t *pool, const rx_str_t *text,
                                 rx_conf_listen_t *ls);

#endif /* _RX_CONF_H_INCLUDED_ */
