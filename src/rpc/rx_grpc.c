/*
 * The gRPC backend module: the master resolves the backend address and
 * builds the TLS client context when the config is loaded (so workers
 * never block on DNS or file reads); each worker then owns its pool of
 * connections.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_grpc_int.h>
#include <openssl/err.h>

static rx_int_t  rx_grpc_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static void      rx_grpc_done_cycle(rx_cycle_t *cycle);
static rx_int_t  rx_grpc_init_worker(rx_cycle_t *cycle);
static rx_uint_t rx_grpc_busy(rx_cycle_t *cycle);

const rx_module_t rx_grpc_module = {
    .name = "grpc",
    .init_cycle = rx_grpc_init_cycle,
    .done_cycle = rx_grpc_done_cycle,
    .init_worker = rx_grpc_init_worker,
    .busy = rx_grpc_busy,
};

#define RX_GRPC_MODULE 3

static rx_grpc_backend_t *rx_grpc_worker_backend;

rx_int_t
rx_grpc_resolve(rx_cycle_t *cycle, rx_grpc_backend_t *b)
{
    rx_str_t           *a = &b->conf->address;
    struct addrinfo     hints, *res, *ai;
    struct sockaddr_un *sun;
    char                port[16];
    u_char             *colon;
    int                 rc;

    if (a->len > 5 && memcmp(a->data, "unix:", 5) == 0) {
        sun = (struct sockaddr_un *) &b->addrs[0];
        if (a->len - 5 >= sizeof(sun->sun_path)) {
            return RX_ERROR;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, a->data + 5, a->len - 5);
        b->addrlens[0] = sizeof(struct sockaddr_un);
        b->naddrs = 1;
        snprintf(b->authority, sizeof(b->authority), "localhost");
        return RX_OK;
    }
    colon = memrchr(a->data, ':', a->len);
    if (colon == NULL || colon == a->data
        || a->len - (size_t) (colon - a->data) > 6) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "backend.address \"%s\" "
                     "must be host:port or unix:/path",
                     a->data);
        return RX_ERROR;
    }
    snprintf(b->authority, sizeof(b->authority), "%s", (char *) a->data);
    snprintf(port, sizeof(port), "%s", (char *) colon + 1);
    snprintf(b->host, sizeof(b->host), "%.*s", (int) (colon - a->data),
             a->data);
    if (b->host[0] == '[') { /* [v6]:port */
        memmove(b->host, b->host + 1, strlen(b->host));
        b->host[strlen(b->host) - 1] = '\0';
    }
    rx_memzero(&hints, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(b->host, port, &hints, &res);
    if (rc != 0) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "cannot resolve backend "
                     "\"%s\": %s",
                     a->data, gai_strerror(rc));
        return RX_ERROR;
    }
    for (ai = res; ai && b->naddrs < RX_GRPC_MAX_ADDRS; ai = ai->ai_next) {
        memcpy(&b->addrs[b->naddrs], ai->ai_addr, ai->ai_addrlen);
        b->addrlens[b->naddrs++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return RX_OK;
}

static rx_int_t
rx_grpc_ssl_ctx(rx_cycle_t *cycle, rx_grpc_backend_t *b)
{
    rx_conf_backend_t *bc = b->conf;
    SSL_CTX           *ctx;
    const char        *what = "setup";

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return RX_ERROR;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, bc->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        what = "system CA certificates";
        goto failed;
    }
    if (bc->ca_file.len
        && SSL_CTX_load_verify_locations(ctx, (char *) bc->ca_file.data, NULL)
               != 1) {
        what = (char *) bc->ca_file.data;
        goto failed;
    }
    if (bc->client_certificate.len
        && (SSL_CTX_use_certificate_chain_file(
                ctx, (char *) bc->client_certificate.data)
                != 1
            || SSL_CTX_use_PrivateKey_file(ctx, (char *) bc->client_key.data,
                                           SSL_FILETYPE_PEM)
                   != 1)) {
        what = (char *) bc->client_certificate.data;
        goto failed;
    }
    b->ssl_ctx = ctx;
    return RX_OK;

failed:
    rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                 "backend TLS: cannot load %s: "
                 "%s",
                 what,
                 ERR_reason_error_string(ERR_peek_last_error())
                     ? ERR_reason_error_string(ERR_peek_last_error())
                     : "unknown error");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return RX_ERROR;
}

static rx_int_t
rx_grpc_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_backend_t *bc = &cycle->conf->backend;
    rx_grpc_backend_t *b;

    if (bc->address.len == 0 && rx_executor_active(cycle->conf)) {
        /* the embedded executor: same REAPI path, over its unix socket */
        bc->address.len = cycle->conf->executor.socket.len + 5;
        bc->address.data = rx_pnalloc(cycle->pool, bc->address.len + 1);
        if (bc->address.data == NULL) {
            return RX_ERROR;
        }
        rx_slprintf(bc->address.data, bc->address.data + bc->address.len + 1,
                    "unix:%s", cycle->conf->executor.socket.data);
        bc->insecure = 1;
    }
    if (bc->address.len == 0) {
        return RX_OK;
    }
    b = rx_pcalloc(cycle->pool, sizeof(rx_grpc_backend_t));
    if (b == NULL) {
        return RX_ERROR;
    }
    b->conf = bc;
    if (rx_cycle_full_path(cycle, &bc->bearer_token_file) != RX_OK
        || rx_grpc_resolve(cycle, b) != RX_OK) {
        return RX_ERROR;
    }
    if (!bc->insecure && b->addrs[0].ss_family != AF_UNIX
        && rx_grpc_ssl_ctx(cycle, b) != RX_OK) {
        return RX_ERROR;
    }
    cycle->modules[RX_GRPC_MODULE] = b;
    return RX_OK;
}

static void
rx_grpc_done_cycle(rx_cycle_t *cycle)
{
    rx_grpc_backend_t *b = cycle->modules[RX_GRPC_MODULE];

    if (b && b->ssl_ctx) {
        SSL_CTX_free(b->ssl_ctx);
        b->ssl_ctx = NULL;
    }
}

static rx_int_t
rx_grpc_init_worker(rx_cycle_t *cycle)
{
    rx_grpc_backend_t *b = cycle->modules[RX_GRPC_MODULE];
    rx_uint_t          i;

    if (b == NULL) {
        return RX_OK;
    }
    b->nconns = (rx_uint_t) b->conf->connections;
    b->conns = rx_pcalloc(cycle->pool, b->nconns * sizeof(rx_grpc_conn_t));
    if (b->conns == NULL) {
        return RX_ERROR;
    }
    for (i = 0; i < b->nconns; i++) {
        rx_grpc_conn_init(b, &b->conns[i], i);
    }
    rx_queue_init(&b->waiting);
    rx_queue_init(&b->dirty);
    b->keepalive = b->conf->keepalive;
    srandom((unsigned) (rx_pid ^ time(NULL)));
    rx_grpc_worker_backend = b;
    return rx_event_add_before_sleep(rx_grpc_flush_dirty, b);
}

static rx_uint_t
rx_grpc_busy(rx_cycle_t *cycle)
{
    /* backend streams belong to client requests, counted by http */
    return 0;
}

void
rx_grpc_backend_close(rx_grpc_backend_t *b)
{
    rx_uint_t i;

    for (i = 0; i < b->nconns; i++) {
        if (b->conns[i].c || b->conns[i].session || b->conns[i].pool) {
            b->conns[i].state = RX_GC_READY; /* an orderly close */
            rx_grpc_conn_close(&b->conns[i], "shutting down");
        }
        rx_event_del_timer(&b->conns[i].timer);
    }
}

rx_grpc_backend_t *
rx_grpc_backend(void)
{
    return rx_grpc_worker_backend;
}

void
rx_grpc_get_stats(rx_grpc_stats_t *st)
{
    rx_grpc_backend_t *b = rx_grpc_worker_backend;
    rx_uint_t          i;

    rx_memzero(st, sizeof(*st));
    if (b == NULL) {
        return;
    }
    *st = b->stats;
    st->queued = b->nwaiting;
    for (i = 0; i < b->nconns; i++) {
        st->conns_ready += b->conns[i].state == RX_GC_READY;
    }
}
