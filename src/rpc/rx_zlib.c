/*
 * HTTP body compression (GOMA_PROTOCOL.md §4).
 *
 * Decoding inflates straight into one pool buffer sized from a guess (the
 * gzip ISIZE trailer, else 4x the input) and doubled up to max + 1 bytes:
 * the first byte past max means "too large". Growing reallocs the large
 * pool allocation. The buffer is not trimmed at the end: shrinking a
 * mmap'ed chunk with realloc keeps glibc's adaptive mmap threshold low, so
 * every large body then faults in fresh pages (measured: ~500 page faults
 * and 2x the time per 2 MiB body). The pool goes with the request anyway.
 *
 * zlib streams are kept per process and reset between uses: deflateInit2()
 * costs far more than compressing a small response (measured ~1 ms against
 * ~13 us for 1 KiB), inflateInit2() about 10% of a 1 KiB body.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <zlib.h>
#include <rx_zlib.h>

#define RX_ZLIB_GZIP_BITS 31  /* gzip wrapper only */
#define RX_ZLIB_RAW_BITS  -15 /* raw RFC 1951 */
#define RX_ZLIB_ZLIB_BITS 15  /* RFC 1950 */
#define RX_ZLIB_MEM_LEVEL 8
#define RX_ZLIB_MAX_RATIO 1032 /* deflate's best output/input ratio */
#define RX_ZLIB_MIN_OUT   4096 /* smallest output buffer */
#define RX_ZLIB_GZIP_MIN  18   /* gzip header + trailer */

typedef struct {
    z_stream     *zs;
    rx_pool_t    *pool;
    const u_char *end;  /* end of input */
    u_char       *buf;  /* output, in pool */
    size_t        size; /* bytes allocated at buf */
    size_t        cap;  /* max + 1: the size that proves "too large" */
    rx_encoding_e enc;
} rx_zlib_dec_t;

typedef struct {
    z_stream zs;
    int      level;
    unsigned inited : 1;
} rx_zlib_stream_t;

static int      rx_zlib_contains(const rx_str_t *s, const char *needle);
static void     rx_zlib_log(rx_pool_t *pool, rx_uint_t level, const char *what,
                            const char *msg);
static rx_int_t rx_zlib_identity(rx_pool_t *pool, const u_char *in, size_t len,
                                 size_t max, rx_str_t *out);
static int rx_zlib_window_bits(rx_encoding_e enc, const u_char *in, size_t len);
static int rx_zlib_has_zlib_header(const u_char *in, size_t len);
static z_stream *rx_zlib_inflater(int bits);
static z_stream *rx_zlib_deflater(rx_encoding_e enc, int level);
static size_t    rx_zlib_guess(const u_char *in, size_t len, rx_encoding_e enc,
                               size_t cap);
static void      rx_zlib_feed(rx_zlib_dec_t *d);
static rx_int_t  rx_zlib_grow(rx_zlib_dec_t *d);
static rx_int_t  rx_zlib_stream_end(rx_zlib_dec_t *d);
static rx_int_t  rx_zlib_inflate_all(rx_zlib_dec_t *d);
static rx_int_t  rx_zlib_deflate_all(z_stream *zs, const u_char *in, size_t len,
                                     u_char *last);

/* inflate is per process: one stream serves every window/wrapper kind */
static rx_zlib_stream_t rx_zlib_inf;
/* deflate keeps one stream per wrapper: [0] gzip, [1] raw */
static rx_zlib_stream_t rx_zlib_def[2];

static const char *rx_zlib_names[] = {"identity", "gzip", "deflate"};


rx_int_t
rx_zlib_request_encoding(const rx_str_t *hdr, rx_encoding_e *enc)
{
    if (rx_zlib_contains(hdr, "gzip")) {
        *enc = RX_ENC_GZIP;
    } else if (rx_zlib_contains(hdr, "deflate")) {
        *enc = RX_ENC_DEFLATE;
    } else if (hdr == NULL || hdr->len == 0
               || rx_zlib_contains(hdr, "identity")) {
        *enc = RX_ENC_IDENTITY;
    } else {
        return RX_ERROR;
    }
    return RX_OK;
}


rx_encoding_e
rx_zlib_response_encoding(const rx_str_t *accept)
{
    if (rx_zlib_contains(accept, "gzip")) {
        return RX_ENC_GZIP;
    }
    if (rx_zlib_contains(accept, "deflate")) {
        return RX_ENC_DEFLATE;
    }
    return RX_ENC_IDENTITY;
}


const char *
rx_zlib_accept_header(const rx_str_t *accept)
{
    return rx_zlib_contains(accept, "gzip") ? "gzip, deflate" : "deflate";
}


const char *
rx_zlib_encoding_name(rx_encoding_e enc)
{
    if ((size_t) enc >= rx_nelems(rx_zlib_names)) {
        return "identity";
    }
    return rx_zlib_names[enc];
}


/* Go's strings.Contains: case-sensitive. */
static int
rx_zlib_contains(const rx_str_t *s, const char *needle)
{
    if (s == NULL || s->len == 0) {
        return 0;
    }
    return memmem(s->data, s->len, needle, strlen(needle)) != NULL;
}


static void
rx_zlib_log(rx_pool_t *pool, rx_uint_t level, const char *what, const char *msg)
{
    if (pool->log) {
        rx_log_error(level, pool->log, 0, "zlib: %s%s%s", what, msg ? ": " : "",
                     msg ? msg : "");
    }
}


rx_int_t
rx_zlib_decode(rx_pool_t *pool, rx_encoding_e enc, const u_char *in, size_t len,
               size_t max, rx_str_t *out)
{
    rx_zlib_dec_t d;
    rx_int_t      rc;
    int           bits;

    if (enc == RX_ENC_IDENTITY) {
        return rx_zlib_identity(pool, in, len, max, out);
    }
    bits = rx_zlib_window_bits(enc, in, len);
    if (bits == 0) {
        return RX_ERROR;
    }
    d.zs = rx_zlib_inflater(bits);
    if (d.zs == NULL) {
        rx_zlib_log(pool, RX_LOG_ERR, "inflateInit2() failed", NULL);
        return RX_ERROR;
    }
    d.pool = pool;
    d.enc = enc;
    d.end = in + len;
    d.cap = max < SIZE_MAX ? max + 1 : SIZE_MAX;
    d.size = rx_zlib_guess(in, len, enc, d.cap);
    d.buf = rx_pnalloc(pool, d.size);
    if (d.buf == NULL) {
        rx_zlib_log(pool, RX_LOG_ERR, "decode", "out of memory");
        return RX_ERROR;
    }
    d.zs->next_in = (Bytef *) in;
    d.zs->next_out = d.buf;
    rc = rx_zlib_inflate_all(&d);
    if (rc != RX_OK) {
        return rc;
    }
    out->data = d.buf;
    out->len = (size_t) (d.zs->next_out - d.buf);
    return RX_OK;
}


static rx_int_t
rx_zlib_identity(rx_pool_t *pool, const u_char *in, size_t len, size_t max,
                 rx_str_t *out)
{
    if (len > max) {
        rx_zlib_log(pool, RX_LOG_INFO, "body too large", NULL);
        return RX_DECLINED;
    }
    out->data = (u_char *) in;
    out->len = len;
    return RX_OK;
}


/* inflateInit2() windowBits for a body; 0 for an unknown encoding. */
static int
rx_zlib_window_bits(rx_encoding_e enc, const u_char *in, size_t len)
{
    if (enc == RX_ENC_GZIP) {
        return RX_ZLIB_GZIP_BITS;
    }
    if (enc != RX_ENC_DEFLATE) {
        return 0;
    }
    return rx_zlib_has_zlib_header(in, len) ? RX_ZLIB_ZLIB_BITS
                                            : RX_ZLIB_RAW_BITS;
}


/* RFC 1950 header: deflate method and a header checksum divisible by 31. */
static int
rx_zlib_has_zlib_header(const u_char *in, size_t len)
{
    if (len < 2) {
        return 0;
    }
    return (in[0] & 0x0f) == 8 && ((unsigned) in[0] << 8 | in[1]) % 31 == 0;
}


static z_stream *
rx_zlib_inflater(int bits)
{
    rx_zlib_stream_t *s;

    s = &rx_zlib_inf;
    if (s->inited) {
        return inflateReset2(&s->zs, bits) == Z_OK ? &s->zs : NULL;
    }
    rx_memzero(&s->zs, sizeof(z_stream));
    if (inflateInit2(&s->zs, bits) != Z_OK) {
        return NULL;
    }
    s->inited = 1;
    return &s->zs;
}


/*
 * gzip's ISIZE trailer is the size of a single-member body mod 2^32; it is
 * trusted only if deflate could reach it from @len bytes. Otherwise 4x.
 */
static size_t
rx_zlib_guess(const u_char *in, size_t len, rx_encoding_e enc, size_t cap)
{
    const u_char *p;
    size_t        guess, isize;

    guess = len <= SIZE_MAX / 4 ? len * 4 : SIZE_MAX;
    if (enc == RX_ENC_GZIP && len >= RX_ZLIB_GZIP_MIN) {
        p = in + len - 4;
        isize = (size_t) p[0] | (size_t) p[1] << 8 | (size_t) p[2] << 16
                | (size_t) p[3] << 24;
        if (isize / RX_ZLIB_MAX_RATIO <= len) {
            guess = isize + 1;
        }
    }
    return rx_min(rx_max(guess, (size_t) RX_ZLIB_MIN_OUT), cap);
}


/* zlib counts in uInt: hand it at most UINT_MAX bytes at a time. */
static void
rx_zlib_feed(rx_zlib_dec_t *d)
{
    size_t in, out;

    in = (size_t) (d->end - d->zs->next_in);
    out = d->size - (size_t) (d->zs->next_out - d->buf);
    d->zs->avail_in = (uInt) rx_min(in, (size_t) UINT_MAX);
    d->zs->avail_out = (uInt) rx_min(out, (size_t) UINT_MAX);
}


/*
 * Z_BUF_ERROR means no progress although output space was offered: the
 * input ran out before the end of the stream.
 */
static rx_int_t
rx_zlib_inflate_all(rx_zlib_dec_t *d)
{
    int      rc;
    rx_int_t r;

    for (;;) {
        rx_zlib_feed(d);
        if (d->zs->avail_out == 0) {
            r = rx_zlib_grow(d);
            if (r != RX_OK) {
                return r;
            }
            continue;
        }
        rc = inflate(d->zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            r = rx_zlib_stream_end(d);
            if (r != RX_AGAIN) {
                return r;
            }
        } else if (rc == Z_BUF_ERROR) {
            rx_zlib_log(d->pool, RX_LOG_INFO, "bad body", "truncated stream");
            return RX_ERROR;
        } else if (rc != Z_OK) {
            rx_zlib_log(d->pool, RX_LOG_INFO, "bad body", d->zs->msg);
            return RX_ERROR;
        }
    }
}


/*
 * The output is full. A full buffer of cap = max + 1 bytes means the body
 * is too large; otherwise double it (realloc, no copy of our own).
 */
static rx_int_t
rx_zlib_grow(rx_zlib_dec_t *d)
{
    size_t  size;
    u_char *p;

    if (d->size >= d->cap) {
        rx_zlib_log(d->pool, RX_LOG_INFO, "decoded body too large", NULL);
        return RX_DECLINED;
    }
    size = d->size <= d->cap / 2 ? d->size * 2 : d->cap;
    p = rx_prealloc(d->pool, d->buf, d->size, size);
    if (p == NULL) {
        rx_zlib_log(d->pool, RX_LOG_ERR, "decode", "out of memory");
        return RX_ERROR;
    }
    d->zs->next_out = p + (d->zs->next_out - d->buf);
    d->buf = p;
    d->size = size;
    return RX_OK;
}


/*
 * End of a stream, which may have filled the buffer up to cap (> max).
 * deflate ignores what follows (goma's Adler-32 trailer).
 * gzip goes on with the next member if bytes remain; bytes that are not a
 * complete member then fail in inflate(), as in Go's multistream reader.
 */
static rx_int_t
rx_zlib_stream_end(rx_zlib_dec_t *d)
{
    if ((size_t) (d->zs->next_out - d->buf) >= d->cap) {
        rx_zlib_log(d->pool, RX_LOG_INFO, "decoded body too large", NULL);
        return RX_DECLINED;
    }
    if (d->enc != RX_ENC_GZIP || d->zs->next_in == d->end) {
        return RX_OK;
    }
    if (inflateReset(d->zs) != Z_OK) {
        rx_zlib_log(d->pool, RX_LOG_ERR, "inflateReset() failed", NULL);
        return RX_ERROR;
    }
    return RX_AGAIN;
}


rx_int_t
rx_zlib_encode(rx_pool_t *pool, rx_encoding_e enc, int level, const u_char *in,
               size_t len, rx_str_t *out)
{
    z_stream *zs;
    size_t    bound;
    u_char   *buf;

    if (enc != RX_ENC_GZIP && enc != RX_ENC_DEFLATE) {
        out->data = (u_char *) in;
        out->len = len;
        return RX_OK;
    }
    zs = rx_zlib_deflater(enc, level);
    if (zs == NULL) {
        rx_zlib_log(pool, RX_LOG_ERR, "deflateInit2() failed", "bad level?");
        return RX_ERROR;
    }
    bound = deflateBound(zs, len);
    buf = rx_pnalloc(pool, bound);
    if (buf == NULL) {
        rx_zlib_log(pool, RX_LOG_ERR, "encode", "out of memory");
        return RX_ERROR;
    }
    zs->next_out = buf;
    if (rx_zlib_deflate_all(zs, in, len, buf + bound) != RX_OK) {
        rx_zlib_log(pool, RX_LOG_ERR, "deflate() failed", zs->msg);
        return RX_ERROR;
    }
    out->data = buf;
    out->len = (size_t) (zs->next_out - buf);
    return RX_OK;
}


static z_stream *
rx_zlib_deflater(rx_encoding_e enc, int level)
{
    rx_zlib_stream_t *s;
    int               bits;

    bits = enc == RX_ENC_GZIP ? RX_ZLIB_GZIP_BITS : RX_ZLIB_RAW_BITS;
    s = &rx_zlib_def[enc == RX_ENC_GZIP ? 0 : 1];
    if (s->inited && s->level == level) {
        return deflateReset(&s->zs) == Z_OK ? &s->zs : NULL;
    }
    if (s->inited) {
        (void) deflateEnd(&s->zs);
        s->inited = 0;
    }
    rx_memzero(&s->zs, sizeof(z_stream));
    if (deflateInit2(&s->zs, level, Z_DEFLATED, bits, RX_ZLIB_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY)
        != Z_OK) {
        return NULL;
    }
    s->level = level;
    s->inited = 1;
    return &s->zs;
}


/*
 * [next_out, last) holds deflateBound() bytes, so Z_FINISH completes; the
 * loop only splits inputs and outputs beyond UINT_MAX.
 */
static rx_int_t
rx_zlib_deflate_all(z_stream *zs, const u_char *in, size_t len, u_char *last)
{
    const u_char *end;
    size_t        left, room;
    int           rc, flush;

    end = in + len;
    zs->next_in = (Bytef *) in;
    do {
        left = (size_t) (end - zs->next_in);
        room = (size_t) (last - zs->next_out);
        zs->avail_in = (uInt) rx_min(left, (size_t) UINT_MAX);
        zs->avail_out = (uInt) rx_min(room, (size_t) UINT_MAX);
        flush = left <= UINT_MAX ? Z_FINISH : Z_NO_FLUSH;
        rc = deflate(zs, flush);
    } while (rc == Z_OK);
    return rc == Z_STREAM_END ? RX_OK : RX_ERROR;
}


void
rx_zlib_cleanup(void)
{
    size_t i;

    if (rx_zlib_inf.inited) {
        (void) inflateEnd(&rx_zlib_inf.zs);
        rx_zlib_inf.inited = 0;
    }
    for (i = 0; i < rx_nelems(rx_zlib_def); i++) {
        if (rx_zlib_def[i].inited) {
            (void) deflateEnd(&rx_zlib_def[i].zs);
            rx_zlib_def[i].inited = 0;
        }
    }
}
