/*
 * The HTTP module: server TLS contexts, listeners in each worker, the
 * route table and the built-in routes (/healthz, ping, status page).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>
#include <rx_process.h>
#include <openssl/err.h>

#define RX_HTTP_MAX_ROUTES 32

static rx_int_t  rx_http_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static rx_int_t  rx_http_init_worker(rx_cycle_t *cycle);
static void      rx_http_quit_worker(rx_cycle_t *cycle);
static rx_uint_t rx_http_busy(rx_cycle_t *cycle);
static rx_int_t  rx_http_healthz(rx_http_req_t *r);
static rx_int_t  rx_http_ping(rx_http_req_t *r);
static void      rx_http_done_cycle(rx_cycle_t *cycle);


const rx_module_t rx_http_module = {
    .name = "http",
    .init_cycle = rx_http_init_cycle,
    .done_cycle = rx_http_done_cycle,
    .init_worker = rx_http_init_worker,
    .quit_worker = rx_http_quit_worker,
    .busy = rx_http_busy,
};

rx_int_t rx_http_quitting;
rx_int_t (*rx_http_authenticate)(rx_http_req_t *r);

static rx_http_route_t rx_http_routes[RX_HTTP_MAX_ROUTES];
static rx_uint_t       rx_http_nroutes;

static const rx_http_route_t rx_http_builtin_routes[] = {
    {"/healthz", RX_HTTP_GET | RX_HTTP_HEAD, rx_http_healthz, 0},
    {RX_HTTP_PREFIX "/ping", RX_HTTP_GET | RX_HTTP_HEAD | RX_HTTP_POST,
     rx_http_ping, 1},
    {"/", RX_HTTP_GET | RX_HTTP_HEAD, rx_http_status_page, 0},
    {"/metrics", RX_HTTP_GET | RX_HTTP_HEAD, rx_http_metrics_page, 0},
};

rx_int_t
rx_http_add_route(const rx_http_route_t *route)
{
    rx_uint_t i;

    for (i = 0; i < rx_http_nroutes; i++) {
        if (strcmp(rx_http_routes[i].path, route->path) == 0) {
            rx_http_routes[i] = *route; /* re-registered on reload */
            return RX_OK;
        }
    }
    if (rx_http_nroutes == RX_HTTP_MAX_ROUTES) {
        return RX_ERROR;
    }
    rx_http_routes[rx_http_nroutes++] = *route;
    return RX_OK;
}

static SSL_CTX *
rx_http_ssl_ctx(rx_cycle_t *cycle, rx_conf_listen_t *cl)
{
    SSL_CTX *ctx;
    char     cert[PATH_MAX], key[PATH_MAX];

    snprintf(cert, sizeof(cert), "%.*s", (int) cl->certificate.len,
             cl->certificate.data);
    snprintf(key, sizeof(key), "%.*s", (int) cl->key.len, cl->key.data);
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "cannot load TLS certificate \"%s\" / key \"%s\" for "
                     "%s: %s (in %s:%lu:%lu)",
                     cert, key, cl->text.data,
                     ERR_reason_error_string(ERR_peek_last_error())
                         ? ERR_reason_error_string(ERR_peek_last_error())
                         : "unknown error",
                     cycle->conf->file.len ? (char *) cycle->conf->file.data
                                           : "(defaults)",
                     (unsigned long) cl->line, (unsigned long) cl->col);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static rx_int_t
rx_http_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_listen_t *cl = cycle->conf->listen.elts;
    rx_uint_t         i;

    for (i = 0; i < rx_nelems(rx_http_builtin_routes); i++) {
        if (rx_http_add_route(&rx_http_builtin_routes[i]) != RX_OK) {
            return RX_ERROR;
        }
    }
    for (i = 0; i < cycle->conf->listen.nelts; i++) {
        if (cl[i].tls) {
            cl[i].ssl_ctx = rx_http_ssl_ctx(cycle, &cl[i]);
            if (cl[i].ssl_ctx == NULL) {
                return RX_ERROR;
            }
        }
    }
    return RX_OK;
}

static void
rx_http_done_cycle(rx_cycle_t *cycle)
{
    rx_conf_listen_t *cl;
    rx_uint_t         i;

    if (cycle->conf == NULL) {
        return;
    }
    cl = cycle->conf->listen.elts;
    for (i = 0; i < cycle->conf->listen.nelts; i++) {
        if (cl[i].ssl_ctx) {
            SSL_CTX_free(cl[i].ssl_ctx);
            cl[i].ssl_ctx = NULL;
        }
    }
}

static rx_int_t
rx_http_init_worker(rx_cycle_t *cycle)
{
    rx_listening_t *ls = cycle->listening.elts;
    rx_conn_t      *c;
    rx_uint_t       i;

    for (i = 0; i < cycle->listening.nelts; i++) {
        c = rx_get_connection(ls[i].fd, &cycle->log);
        if (c == NULL) {
            return RX_ERROR;
        }
        c->listening = &ls[i];
        c->shared = 1;
        c->read->handler = rx_http_accept;
        c->read->accept = 1;
        ls[i].conn = c;
        if (rx_event_add_listen(c) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static void
rx_http_quit_worker(rx_cycle_t *cycle)
{
    rx_listening_t *ls = cycle->listening.elts;
    rx_uint_t       i;

    rx_http_quitting = 1;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].conn) {
            /* closes this worker's copy; the master keeps the socket */
            rx_close_connection(ls[i].conn);
            ls[i].conn = NULL;
        }
    }
    rx_http_quit_idle();
}

static rx_uint_t
rx_http_busy(rx_cycle_t *cycle)
{
    /* idle keep-alive connections in their grace keep a quitting worker */
    return rx_http_busy_conns + (rx_http_quitting ? rx_http_idle_count() : 0);
}

/* From the head alone, before any of the body is read: the route, its
 * method and the authentication (nothing is buffered for a client that
 * may not send it).  RX_OK: the handler runs once the body is in;
 * RX_DONE: the answer is set; else an HTTP status. */
rx_int_t
rx_http_route(rx_http_req_t *r)
{
    const rx_http_route_t *rt = NULL;
    rx_uint_t              i;
    rx_int_t               rc;

    for (i = 0; i < rx_http_nroutes; i++) {
        if (strlen(rx_http_routes[i].path) == r->path.len
            && memcmp(rx_http_routes[i].path, r->path.data, r->path.len) == 0) {
            rt = &rx_http_routes[i];
            break;
        }
    }
    if (rt == NULL) {
        return rx_http_set_text(r, 404, "404 page not found") == RX_OK ? RX_DONE
                                                                       : 500;
    }
    if (!(rt->methods & r->method)) {
        (void) rx_http_add_header(
            r, "Allow",
            (rt->methods & RX_HTTP_POST)
                ? ((rt->methods & RX_HTTP_GET) ? "GET, HEAD, POST" : "POST")
                : "GET, HEAD");
        return rx_http_set_text(r, 405, "Method Not Allowed") == RX_OK ? RX_DONE
                                                                       : 500;
    }
    r->route = rt;
    if (rt->auth && rx_http_authenticate) {
        rc = rx_http_authenticate(r);
        if (rc != RX_OK) {
            return rc; /* RX_DONE: answer set */
        }
    }
    return RX_OK;
}

rx_int_t
rx_http_dispatch(rx_http_req_t *r)
{
    return r->route->handler(r);
}

static rx_int_t
rx_http_healthz(rx_http_req_t *r)
{
    rx_str_t body = rx_string("ok\n");

    rx_http_set_body(r, 200, "text/plain; charset=utf-8", &body);
    return RX_OK;
}

static rx_int_t
rx_http_ping(rx_http_req_t *r)
{
    rx_str_t body = rx_string("ok\n");

    rx_http_set_body(r, 200, "text/plain; charset=utf-8", &body);
    return rx_http_add_header(r, "Accept-Encoding",
                              rx_str_contains_ci(&r->accept_encoding, "gzip")
                                  ? "gzip, deflate"
                                  : "deflate");
}

rx_str_t *
rx_http_header_in(rx_http_req_t *r, const char *name)
{
    rx_http_header_t *h = r->headers.elts;
    rx_uint_t         i;

    for (i = 0; i < r->headers.nelts; i++) {
        if (rx_str_eq_ci(&h[i].name, name)) {
            return &h[i].value;
        }
    }
    return NULL;
}

rx_int_t
rx_http_add_header(rx_http_req_t *r, const char *name, const char *value)
{
    rx_http_header_t *h;

    h = rx_array_push(&r->headers_out);
    if (h == NULL) {
        return 500;
    }
    h->name.data = (u_char *) name;
    h->name.len = strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = strlen(value);
    return RX_OK;
}

void
rx_http_set_body(rx_http_req_t *r, rx_uint_t status, const char *type,
                 rx_str_t *body)
{
    r->status = status;
    r->content_type.data = (u_char *) type;
    r->content_type.len = type ? strlen(type) : 0;
    r->out = *body;
}

rx_int_t
rx_http_set_text(rx_http_req_t *r, rx_uint_t status, const char *text)
{
    size_t  len = strlen(text);
    u_char *p;

    p = rx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return RX_ERROR;
    }
    memcpy(p, text, len);
    p[len] = '\n';
    r->status = status;
    rx_str_set(&r->content_type, "text/plain; charset=utf-8");
    r->out.data = p;
    r->out.len = len + 1;
    if (status != 200) {
        (void) rx_http_add_header(r, "X-Content-Type-Options", "nosniff");
    }
    return RX_OK;
}

const char *
rx_http_status_text(rx_uint_t status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client closed request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
