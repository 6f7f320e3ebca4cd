/*
 * HTTP/1.1 request head and chunked body parsing. The head parser runs
 * once over a complete header block (the caller found the empty line).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>

static rx_int_t rx_http_parse_request_line(rx_http_req_t *r, u_char *p,
                                           u_char *eol);
static rx_int_t rx_http_parse_target(rx_http_req_t *r);
static rx_int_t rx_http_parse_header_line(rx_http_req_t *r, u_char *p,
                                          u_char *eol);
static rx_int_t rx_http_process_header(rx_http_req_t *r, rx_http_header_t *h);

/* RFC 9110 tchar */
static const u_char rx_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static u_char *
rx_http_line_end(u_char *p, u_char *end, u_char **next)
{
    u_char *lf = memchr(p, '\n', (size_t) (end - p));

    if (lf == NULL) {
        return NULL;
    }
    *next = lf + 1;
    return (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
}

rx_int_t
rx_http_parse_request(rx_http_req_t *r, u_char *start, u_char *end,
                      rx_uint_t max_headers)
{
    u_char  *p = start, *eol, *next;
    rx_int_t rc;

    /* RFC 9112 2.2: ignore at least one empty line before the request */
    while (p < end && (*p == '\r' || *p == '\n')) {
        p++;
    }
    eol = rx_http_line_end(p, end, &next);
    if (eol == NULL) {
        return 400;
    }
    rc = rx_http_parse_request_line(r, p, eol);
    if (rc != RX_OK) {
        return rc;
    }
    for (p = next; p < end; p = next) {
        eol = rx_http_line_end(p, end, &next);
        if (eol == NULL) {
            return 400;
        }
        if (eol == p) {
            return RX_OK; /* the empty line */
        }
        if (r->headers.nelts >= max_headers) {
            return 431;
        }
        rc = rx_http_parse_header_line(r, p, eol);
        if (rc != RX_OK) {
            return rc;
        }
    }
    return 400;
}

static rx_uint_t
rx_http_method(const rx_str_t *m)
{
    static const struct {
        const char *name;
        rx_uint_t   id;
    } methods[] = {{"GET", RX_HTTP_GET},       {"HEAD", RX_HTTP_HEAD},
                   {"POST", RX_HTTP_POST},     {"PUT", RX_HTTP_PUT},
                   {"DELETE", RX_HTTP_DELETE}, {"OPTIONS", RX_HTTP_OPTIONS}};
    rx_uint_t i;

    for (i = 0; i < rx_nelems(methods); i++) {
        if (m->len == strlen(methods[i].name)
            && memcmp(m->data, methods[i].name, m->len) == 0) {
            return methods[i].id;
        }
    }
    return RX_HTTP_OTHER;
}

static rx_int_t
rx_http_parse_request_line(rx_http_req_t *r, u_char *p, u_char *eol)
{
    u_char *sp1, *sp2, *q;

    r->request_line.data = p;
    r->request_line.len = (size_t) (eol - p);
    for (sp1 = p; sp1 < eol && rx_http_tchar[*sp1]; sp1++) {
        /* void */
    }
    if (sp1 == p || sp1 == eol || *sp1 != ' ') {
        return 400;
    }
    r->method_name.data = p;
    r->method_name.len = (size_t) (sp1 - p);
    r->method = rx_http_method(&r->method_name);
    for (sp2 = sp1 + 1; sp2<eol && * sp2> ' ' && *sp2 != 0x7f; sp2++) {
        /* void */
    }
    if (sp2 == sp1 + 1 || sp2 == eol || *sp2 != ' ') {
        return 400;
    }
    r->uri.data = sp1 + 1;
    r->uri.len = (size_t) (sp2 - sp1 - 1);
    q = sp2 + 1;
    if (eol - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[6] != '.' || q[5] < '0'
        || q[5] > '9' || q[7] < '0' || q[7] > '9') {
        return 400;
    }
    if (q[5] != '1') {
        return q[5] >= '2' ? 505 : 400;
    }
    r->http_minor = (rx_uint_t) (q[7] - '0');
    r->keepalive = r->http_minor >= 1;
    return rx_http_parse_target(r);
}

static rx_int_t
rx_http_parse_target(rx_http_req_t *r)
{
    u_char *p = r->uri.data, *end = r->uri.data + r->uri.len, *q;

    if (r->uri.len > 7 && strncasecmp((char *) p, "http://", 7) == 0) {
        p += 7;
    } else if (r->uri.len > 8 && strncasecmp((char *) p, "https://", 8) == 0) {
        p += 8;
    } else if (r->uri.len == 1 && *p == '*' && r->method == RX_HTTP_OPTIONS) {
        r->path = r->uri;
        return RX_OK;
    }
    if (p != r->uri.data) { /* absolute-form: skip the authority */
        q = memchr(p, '/', (size_t) (end - p));
        p = q ? q : end;
    }
    if (p == end) {
        rx_str_set(&r->path, "/");
        return RX_OK;
    }
    if (*p != '/') {
        return 400;
    }
    q = memchr(p, '?', (size_t) (end - p));
    r->path.data = p;
    r->path.len = (size_t) ((q ? q : end) - p);
    if (q) {
        r->args.data = q + 1;
        r->args.len = (size_t) (end - q - 1);
    }
    return RX_OK;
}

static rx_int_t
rx_http_parse_header_line(rx_http_req_t *r, u_char *p, u_char *eol)
{
    rx_http_header_t *h;
    u_char           *colon, *v, *ve, *q;

    if (*p == ' ' || *p == '\t') {
        return 400; /* obsolete line folding */
    }
    for (colon = p; colon < eol && rx_http_tchar[*colon]; colon++) {
        /* void */
    }
    if (colon == p || colon == eol || *colon != ':') {
        return 400;
    }
    for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {
        /* void */
    }
    for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--) {
        /* void */
    }
    for (q = v; q < ve; q++) {
        if ((*q < ' ' && *q != '\t') || *q == 0x7f) {
            return 400;
        }
    }
    h = rx_array_push(&r->headers);
    if (h == NULL) {
        return 500;
    }
    h->name.data = p;
    h->name.len = (size_t) (colon - p);
    h->value.data = v;
    h->value.len = (size_t) (ve - v);
    return rx_http_process_header(r, h);
}

static rx_int_t
rx_http_process_header(rx_http_req_t *r, rx_http_header_t *h)
{
    int64_t n;

    if (rx_str_eq_ci(&h->name, "content-length")) {
        n = rx_atoi64(h->value.data, h->value.len);
        if (n < 0 || (r->content_length >= 0 && r->content_length != n)) {
            return 400;
        }
        r->content_length = n;
    } else if (rx_str_eq_ci(&h->name, "transfer-encoding")) {
        if (r->http_minor == 0) {
            return 400; /* RFC 9112 6.1: no framing to trust in HTTP/1.0 */
        }
        if (!rx_str_eq_ci(&h->value, "chunked") || r->chunked) {
            return 501; /* only "chunked" alone is understood */
        }
        r->chunked = 1;
    } else if (rx_str_eq_ci(&h->name, "connection")) {
        if (rx_str_contains_ci(&h->value, "close")) {
            r->keepalive = 0;
        } else if (rx_str_contains_ci(&h->value, "keep-alive")) {
            r->keepalive = 1;
        }
    } else if (rx_str_eq_ci(&h->name, "content-encoding")) {
        r->content_encoding = h->value;
    } else if (rx_str_eq_ci(&h->name, "accept-encoding")) {
        r->accept_encoding = h->value;
    } else if (rx_str_eq_ci(&h->name, "authorization")) {
        r->authorization = h->value;
    } else if (rx_str_eq_ci(&h->name, "user-agent")) {
        r->user_agent = h->value;
    } else if (rx_str_eq_ci(&h->name, "x-forwarded-for")) {
        r->forwarded_for = h->value;
    } else if (rx_str_eq_ci(&h->name, "expect")) {
        if (!rx_str_eq_ci(&h->value, "100-continue")) {
            return 417;
        }
        r->expect_continue = r->http_minor >= 1;
    }
    return RX_OK;
}

enum {
    RX_CHUNK_SIZE = 0,
    RX_CHUNK_SIZE_WS, /* blanks after the size: only ';' or the end next */
    RX_CHUNK_EXT,
    RX_CHUNK_SIZE_LF,
    RX_CHUNK_DATA,
    RX_CHUNK_DATA_CR,
    RX_CHUNK_DATA_LF,
    RX_CHUNK_TRAILER,
    RX_CHUNK_TRAILER_LINE,
    RX_CHUNK_DONE
};

static int
rx_http_hexval(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = rx_tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static rx_int_t
rx_http_chunk_size(rx_http_chunked_t *ctx, u_char c)
{
    int h = rx_http_hexval(c);

    if (h >= 0) {
        if (ctx->size > (UINT64_MAX >> 8)) {
            return 413;
        }
        ctx->size = ctx->size * 16 + (uint64_t) h;
        ctx->trailer++; /* counts digits here */
        return RX_OK;
    }
    if (ctx->trailer == 0) {
        return 400;
    }
    if (c == ';') {
        ctx->state = RX_CHUNK_EXT;
    } else if (c == ' ' || c == '\t') {
        ctx->state = RX_CHUNK_SIZE_WS;
    } else if (c == '\r') {
        ctx->state = RX_CHUNK_SIZE_LF;
    } else if (c == '\n') {
        ctx->state = ctx->size ? RX_CHUNK_DATA : RX_CHUNK_TRAILER;
        ctx->trailer = 0;
    } else {
        return 400;
    }
    return RX_OK;
}

rx_int_t
rx_http_parse_chunked(rx_http_chunked_t *ctx, u_char **pos, u_char *last,
                      rx_buf_t *out, size_t max)
{
    u_char  *p = *pos, c;
    size_t   n;
    rx_int_t rc = RX_AGAIN;

    while (p < last && rc == RX_AGAIN) {
        c = *p;
        switch (ctx->state) {
        case RX_CHUNK_SIZE:
            p++;
            if ((rc = rx_http_chunk_size(ctx, c)) == RX_OK) {
                rc = RX_AGAIN;
            }
            break;
        case RX_CHUNK_SIZE_WS:
            if (c == ' ' || c == '\t') {
                p++;
            } else if (c == ';' || c == '\r' || c == '\n') {
                ctx->state = RX_CHUNK_EXT; /* which takes this byte */
            } else {
                return 400; /* "1 0": a size with a blank inside */
            }
            break;
        case RX_CHUNK_EXT:
            p++;
            if (c == '\n' || c == '\r') {
                ctx->state =
                    c == '\r' ? RX_CHUNK_SIZE_LF
                              : (ctx->size ? RX_CHUNK_DATA : RX_CHUNK_TRAILER);
                ctx->trailer = 0;
            }
            break;
        case RX_CHUNK_SIZE_LF:
            p++;
            if (c != '\n') {
                return 400;
            }
            ctx->state = ctx->size ? RX_CHUNK_DATA : RX_CHUNK_TRAILER;
            ctx->trailer = 0;
            break;
        case RX_CHUNK_DATA:
            if (ctx->size > max - rx_min(max, rx_buf_len(out))) {
                return 413;
            }
            n = (size_t) rx_min(ctx->size, (uint64_t) (last - p));
            if (rx_buf_append(out, p, n) != RX_OK) {
                return 500;
            }
            p += n;
            ctx->size -= n;
            if (ctx->size == 0) {
                ctx->state = RX_CHUNK_DATA_CR;
            }
            break;
        case RX_CHUNK_DATA_CR:
            p++;
            if (c == '\r') {
                ctx->state = RX_CHUNK_DATA_LF;
            } else if (c == '\n') {
                ctx->state = RX_CHUNK_SIZE;
            } else {
                return 400;
            }
            break;
        case RX_CHUNK_DATA_LF:
            p++;
            if (c != '\n') {
                return 400;
            }
            ctx->state = RX_CHUNK_SIZE;
            break;
        case RX_CHUNK_TRAILER:
            p++;
            if (c == '\n') {
                ctx->state = RX_CHUNK_DONE;
                rc = RX_OK;
            } else if (c != '\r') {
                ctx->state = RX_CHUNK_TRAILER_LINE;
            }
            break;
        case RX_CHUNK_TRAILER_LINE:
            p++;
            if (++ctx->trailer > 16384) {
                return 431;
            }
            if (c == '\n') {
                ctx->state = RX_CHUNK_TRAILER;
            }
            break;
        default:
            return 400;
        }
        if (rc > 0) {
            return rc;
        }
    }
    *pos = p;
    return rc;
}
