/*
 * Client authentication (GOMA_PROTOCOL.md §5): auth.mode none accepts
 * everything; static_tokens compares the Authorization header with the
 * tokens of a file (token user [group] per line) in constant time, then
 * applies allowed_users (e-mails and *@domain) to the user name.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_goma.h>

static rx_int_t rx_goma_auth_fail(rx_http_req_t *r, const char *reason);
static rx_int_t rx_goma_user_allowed(const rx_str_t *user);

static rx_int_t
rx_goma_token_line(rx_cycle_t *cycle, rx_goma_conf_t *gc, u_char *p,
                   u_char *end)
{
    rx_goma_token_t *t;
    rx_str_t         f[3];
    rx_uint_t        n = 0;

    while (p < end && n < 3) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p == end || *p == '#') {
            break;
        }
        f[n].data = p;
        while (p < end && *p != ' ' && *p != '\t') {
            p++;
        }
        f[n].len = (size_t) (p - f[n].data);
        n++;
    }
    if (n == 0) {
        return RX_OK;
    }
    if (n < 2) {
        return RX_ERROR;
    }
    t = rx_array_push(&gc->tokens);
    if (t == NULL
        || (t->token_hash.data = rx_pnalloc(cycle->pool, RX_SHA256_LEN))
               == NULL) {
        return RX_ERROR;
    }
    rx_sha256(f[0].data, f[0].len, t->token_hash.data);
    t->token_hash.len = RX_SHA256_LEN;
    t->user = f[1];
    if (n == 3) {
        t->group = f[2];
    }
    return RX_OK;
}

rx_int_t
rx_goma_load_tokens(rx_cycle_t *cycle, rx_goma_conf_t *gc)
{
    rx_conf_auth_t *ac = &cycle->conf->auth;
    rx_str_t        path = ac->tokens_file;
    rx_str_t        text;
    u_char         *p, *end, *eol;
    rx_uint_t       line = 0;
    struct stat     st;
    int             fd;

    if (rx_array_init(&gc->tokens, cycle->pool, 8, sizeof(rx_goma_token_t))
        != RX_OK) {
        return RX_ERROR;
    }
    if (ac->mode != RX_AUTH_STATIC_TOKENS) {
        return RX_OK;
    }
    if (rx_cycle_full_path(cycle, &path) != RX_OK) {
        return RX_ERROR;
    }
    fd = open((char *) path.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size > 16 * 1024 * 1024) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                     "cannot read auth.tokens_file \"%s\"", path.data);
        if (fd != -1) {
            close(fd);
        }
        return RX_ERROR;
    }
    text.len = (size_t) st.st_size;
    text.data = rx_pnalloc(cycle->pool, text.len + 1);
    if (text.data == NULL
        || read(fd, text.data, text.len) != (ssize_t) text.len) {
        close(fd);
        return RX_ERROR;
    }
    close(fd);
    for (p = text.data, end = p + text.len; p < end; p = eol + 1) {
        line++;
        eol = memchr(p, '\n', (size_t) (end - p));
        eol = eol ? eol : end;
        if (rx_goma_token_line(cycle, gc, p,
                               eol > p && eol[-1] == '\r' ? eol - 1 : eol)
            != RX_OK) {
            rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                         "invalid line (want "
                         "\"TOKEN USER [GROUP]\") in %s:%lu",
                         path.data, (unsigned long) line);
            return RX_ERROR;
        }
    }
    if (gc->tokens.nelts == 0) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0, "no tokens in %s",
                     path.data);
        return RX_ERROR;
    }
    return RX_OK;
}

rx_int_t
rx_goma_authenticate(rx_http_req_t *r)
{
    rx_goma_conf_t  *gc = rx_cycle->modules[2];
    rx_goma_token_t *t = gc->tokens.elts, *match = NULL;
    rx_str_t         v = r->authorization;
    u_char           md[RX_SHA256_LEN];
    rx_uint_t        i;

    if (rx_cycle->conf->auth.mode == RX_AUTH_NONE) {
        return RX_OK;
    }
    if (v.len == 0) {
        return rx_goma_auth_fail(r, "no Authorization header");
    }
    if (v.len > 7 && strncasecmp((char *) v.data, "Bearer ", 7) == 0) {
        v.data += 7;
        v.len -= 7;
    }
    rx_sha256(v.data, v.len, md);
    for (i = 0; i < gc->tokens.nelts; i++) { /* no early exit */
        if (rx_memcmp_ct(md, t[i].token_hash.data, RX_SHA256_LEN) == 0) {
            match = &t[i];
        }
    }
    if (match == NULL) {
        return rx_goma_auth_fail(r, "invalid token");
    }
    if (!rx_goma_user_allowed(&match->user)) {
        return rx_goma_auth_fail(r, "access rejected");
    }
    r->user = match->user;
    r->group = match->group;
    return RX_OK;
}

static rx_int_t
rx_goma_user_allowed(const rx_str_t *user)
{
    rx_array_t *a = &rx_cycle->conf->auth.allowed_users;
    rx_str_t   *u = a->elts;
    rx_uint_t   i;
    size_t      dlen;

    if (a->nelts == 0) {
        return 1;
    }
    for (i = 0; i < a->nelts; i++) {
        if (u[i].len > 2 && u[i].data[0] == '*' && u[i].data[1] == '@') {
            dlen = u[i].len - 1; /* "@domain" */
            if (user->len > dlen
                && strncasecmp((char *) user->data + user->len - dlen,
                               (char *) u[i].data + 1, dlen)
                       == 0) {
                return 1;
            }
        } else if (user->len == u[i].len
                   && strncasecmp((char *) user->data, (char *) u[i].data,
                                  u[i].len)
                          == 0) {
            return 1;
        }
    }
    return 0;
}

static rx_int_t
rx_goma_auth_fail(rx_http_req_t *r, const char *reason)
{
    rx_str_t addr = r->c->addr_text;
    u_char  *comma, buf[512];

    if (r->forwarded_for.len) { /* first element, as the Go server does */
        addr = r->forwarded_for;
        comma = memchr(addr.data, ',', addr.len);
        if (comma) {
            addr.len = (size_t) (comma - addr.data);
        }
    }
    if (r->route && strcmp(r->route->path, RX_HTTP_PREFIX "/ping") == 0) {
        rx_slprintf(buf, buf + sizeof(buf), "auth failed: %s", reason);
    } else {
        rx_slprintf(buf, buf + sizeof(buf), "auth failed %.*s: %s",
                    (int) rx_min(addr.len, (size_t) 128), addr.data, reason);
    }
    rx_log_error(RX_LOG_INFO, &r->c->log, 0, "client %s: %s",
                 r->c->addr_text.data, buf);
    return rx_http_set_text(r, 401, (char *) buf) == RX_OK ? RX_DONE : 500;
}
