/*
 * Unit tests of src/rpc/rx_zlib.c: header decisions (GOMA_PROTOCOL.md §3.2,
 * §4.2, §4.3), decoding of fixtures made by gzip(1) and Python's zlib (see
 * t/fixtures/zlib/gen.sh), errors, size bounds, a decompression bomb, and
 * encodings checked by independent decoders (gzip -dc, python3 zlib).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <zlib.h>
#include <rx_zlib.h>
#include "tap.h"

#define FIXTURES "t/fixtures/zlib/"
#define MiB      ((size_t) 1024 * 1024)

typedef struct {
    const char   *hdr;
    rx_int_t      rc;
    rx_encoding_e enc;
} req_case_t;

typedef struct {
    const char   *hdr;
    rx_encoding_e enc;
    const char   *accept;
} resp_case_t;

typedef struct {
    const char   *file;
    rx_encoding_e enc;
    const char   *what;
} fixture_case_t;

static rx_str_t slurp(rx_pool_t *pool, const char *name);
static double   now_sec(void);
static void     test_request_headers(void);
static void     test_response_headers(void);
static void     test_fixtures(rx_pool_t *fp, const rx_str_t *plain);
static void     test_empty(rx_pool_t *fp);
static void     test_errors(rx_pool_t *fp, const rx_str_t *plain);
static void     test_trailers(rx_pool_t *fp, const rx_str_t *plain);
static void     test_limits(rx_pool_t *fp, const rx_str_t *plain);
static void     test_growth(void);
static void     test_bomb(void);
static void     test_encode(const rx_str_t *plain);
static void     test_external(const rx_str_t *plain);
static u_char  *make_bomb(size_t copies, size_t *lenp, size_t *gzlenp);
static int      external_decode(const char *cmd, const rx_str_t *data,
                                const rx_str_t *exp);

static const req_case_t req_cases[] = {
    {NULL, RX_OK, RX_ENC_IDENTITY},
    {"", RX_OK, RX_ENC_IDENTITY},
    {"identity", RX_OK, RX_ENC_IDENTITY},
    {"gzip", RX_OK, RX_ENC_GZIP},
    {"deflate", RX_OK, RX_ENC_DEFLATE},
    {"gzip, deflate", RX_OK, RX_ENC_GZIP},
    {"deflate, gzip", RX_OK, RX_ENC_GZIP},
    {"x-gzip", RX_OK, RX_ENC_GZIP},
    {"identity, deflate", RX_OK, RX_ENC_DEFLATE},
    {"lzma2, identity", RX_OK, RX_ENC_IDENTITY},
    {"lzma2", RX_ERROR, RX_ENC_IDENTITY},
    {"x-foo", RX_ERROR, RX_ENC_IDENTITY},
    {"br", RX_ERROR, RX_ENC_IDENTITY},
    {"GZIP", RX_ERROR, RX_ENC_IDENTITY}, /* Go: case-sensitive */
    {" ", RX_ERROR, RX_ENC_IDENTITY},
};

static const resp_case_t resp_cases[] = {
    {NULL, RX_ENC_IDENTITY, "deflate"},
    {"", RX_ENC_IDENTITY, "deflate"},
    {"gzip", RX_ENC_GZIP, "gzip, deflate"},
    {"gzip, deflate", RX_ENC_GZIP, "gzip, deflate"},
    {"gzip,deflate", RX_ENC_GZIP, "gzip, deflate"},
    {"deflate", RX_ENC_DEFLATE, "deflate"},
    {"deflate, lzma2", RX_ENC_DEFLATE, "deflate"},
    {"identity", RX_ENC_IDENTITY, "deflate"},
    {"lzma2", RX_ENC_IDENTITY, "deflate"},
    {"x-foo", RX_ENC_IDENTITY, "deflate"},
};

static const fixture_case_t fixture_cases[] = {
    {"plain.gz", RX_ENC_GZIP, "gzip -6 (one member)"},
    {"multi.gz", RX_ENC_GZIP, "gzip, two concatenated members"},
    {"plain.raw", RX_ENC_DEFLATE, "raw deflate without trailer"},
    {"plain.goma", RX_ENC_DEFLATE, "goma deflate (raw + Adler-32)"},
    {"plain.zlib", RX_ENC_DEFLATE, "zlib-header deflate [C-DEVIATION]"},
    {"stored.raw", RX_ENC_DEFLATE, "raw deflate, stored blocks"},
};


int
main(void)
{
    rx_pool_t *fp;
    rx_str_t   plain;

    fp = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    plain = slurp(fp, "plain.bin");
    ok(plain.len == 40000, "fixture plain.bin read");

    test_request_headers();
    test_response_headers();
    test_fixtures(fp, &plain);
    test_empty(fp);
    test_errors(fp, &plain);
    test_trailers(fp, &plain);
    test_limits(fp, &plain);
    test_growth();
    test_bomb();
    test_encode(&plain);
    test_external(&plain);

    rx_destroy_pool(fp);
    rx_zlib_cleanup();
    return done_testing();
}


static rx_str_t
slurp(rx_pool_t *pool, const char *name)
{
    char        path[256];
    struct stat st;
    rx_str_t    s = rx_null_string;
    FILE       *f;

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        printf("# cannot open %s (run from the repository root)\n", path);
        if (f) {
            fclose(f);
        }
        return s;
    }
    s.data = rx_pnalloc(pool, (size_t) st.st_size + 1);
    s.len = fread(s.data, 1, (size_t) st.st_size, f);
    fclose(f);
    return s;
}


static double
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static void
test_request_headers(void)
{
    const req_case_t *c;
    rx_encoding_e     enc;
    rx_str_t          h;
    rx_int_t          rc;
    size_t            i;

    for (i = 0; i < rx_nelems(req_cases); i++) {
        c = &req_cases[i];
        h.data = (u_char *) c->hdr;
        h.len = c->hdr ? strlen(c->hdr) : 0;
        enc = RX_ENC_IDENTITY;
        rc = rx_zlib_request_encoding(c->hdr ? &h : NULL, &enc);
        ok(rc == c->rc && (rc != RX_OK || enc == c->enc),
           "Content-Encoding \"%s\" -> %s", c->hdr ? c->hdr : "(none)",
           c->rc == RX_OK ? rx_zlib_encoding_name(c->enc) : "error (400)");
    }
}


static void
test_response_headers(void)
{
    const resp_case_t *c;
    rx_str_t           h, *hp;
    size_t             i;

    for (i = 0; i < rx_nelems(resp_cases); i++) {
        c = &resp_cases[i];
        h.data = (u_char *) c->hdr;
        h.len = c->hdr ? strlen(c->hdr) : 0;
        hp = c->hdr ? &h : NULL;
        ok(rx_zlib_response_encoding(hp) == c->enc
               && strcmp(rx_zlib_accept_header(hp), c->accept) == 0,
           "Accept-Encoding \"%s\" -> body %s, header \"%s\"",
           c->hdr ? c->hdr : "(none)", rx_zlib_encoding_name(c->enc),
           c->accept);
    }
    ok(strcmp(rx_zlib_encoding_name(RX_ENC_GZIP), "gzip") == 0
           && strcmp(rx_zlib_encoding_name(RX_ENC_DEFLATE), "deflate") == 0
           && strcmp(rx_zlib_encoding_name(RX_ENC_IDENTITY), "identity") == 0,
       "encoding names");
}


static void
test_fixtures(rx_pool_t *fp, const rx_str_t *plain)
{
    const fixture_case_t *c;
    rx_pool_t            *pool;
    rx_str_t              in, out;
    rx_int_t              rc;
    size_t                i;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    for (i = 0; i < rx_nelems(fixture_cases); i++) {
        c = &fixture_cases[i];
        in = slurp(fp, c->file);
        rc = rx_zlib_decode(pool, c->enc, in.data, in.len, 64 * MiB, &out);
        is_int(rc, RX_OK, "%s: %s decodes", c->file, c->what);
        is_mem(out.data, out.len, plain->data, plain->len,
               "%s: plaintext matches", c->file);
    }
    rc = rx_zlib_decode(pool, RX_ENC_IDENTITY, plain->data, plain->len,
                        64 * MiB, &out);
    ok(rc == RX_OK && out.data == plain->data && out.len == plain->len,
       "identity: out points into the input, no copy");
    rx_destroy_pool(pool);
}


static void
test_empty(rx_pool_t *fp)
{
    rx_pool_t *pool;
    rx_str_t   in, out;
    rx_int_t   rc;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    rc = rx_zlib_decode(pool, RX_ENC_IDENTITY, (u_char *) "", 0, 10, &out);
    ok(rc == RX_OK && out.len == 0, "identity: empty body");
    in = slurp(fp, "empty.gz");
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, in.data, in.len, 10, &out);
    ok(rc == RX_OK && out.len == 0, "gzip of nothing -> empty");
    in = slurp(fp, "empty.raw");
    rc = rx_zlib_decode(pool, RX_ENC_DEFLATE, in.data, in.len, 10, &out);
    ok(rc == RX_OK && out.len == 0, "raw deflate of nothing -> empty");
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, (u_char *) "", 0, 10, &out);
    is_int(rc, RX_ERROR, "gzip: 0-byte body is an error (as Go)");
    rc = rx_zlib_decode(pool, RX_ENC_DEFLATE, (u_char *) "", 0, 10, &out);
    is_int(rc, RX_ERROR, "deflate: 0-byte body is an error (as Go)");
    rx_destroy_pool(pool);
}


static void
test_errors(rx_pool_t *fp, const rx_str_t *plain)
{
    rx_pool_t *pool;
    rx_str_t   gz, goma, zl, out;
    u_char    *bad;
    size_t     n;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    gz = slurp(fp, "plain.gz");
    goma = slurp(fp, "plain.goma");
    zl = slurp(fp, "plain.zlib");
    n = rx_max(gz.len, rx_max(goma.len, zl.len));
    bad = rx_pnalloc(pool, n);

    memcpy(bad, gz.data, gz.len);
    bad[gz.len - 6] ^= 0x55; /* CRC-32 */
    is_int(rx_zlib_decode(pool, RX_ENC_GZIP, bad, gz.len, 64 * MiB, &out),
           RX_ERROR, "gzip: CRC mismatch -> RX_ERROR");
    memcpy(bad, gz.data, gz.len);
    bad[gz.len - 2] ^= 0x01; /* ISIZE */
    is_int(rx_zlib_decode(pool, RX_ENC_GZIP, bad, gz.len, 64 * MiB, &out),
           RX_ERROR, "gzip: ISIZE mismatch -> RX_ERROR");
    memcpy(bad, gz.data, gz.len);
    bad[0] = 0x1e;
    is_int(rx_zlib_decode(pool, RX_ENC_GZIP, bad, gz.len, 64 * MiB, &out),
           RX_ERROR, "gzip: bad magic -> RX_ERROR");
    is_int(rx_zlib_decode(pool, RX_ENC_GZIP, zl.data, zl.len, 64 * MiB, &out),
           RX_ERROR, "gzip: a zlib stream is not gzip -> RX_ERROR");
    is_int(
        rx_zlib_decode(pool, RX_ENC_GZIP, gz.data, gz.len - 1, 64 * MiB, &out),
        RX_ERROR, "gzip: truncated trailer -> RX_ERROR");
    is_int(
        rx_zlib_decode(pool, RX_ENC_GZIP, gz.data, gz.len / 2, 64 * MiB, &out),
        RX_ERROR, "gzip: truncated in the middle -> RX_ERROR");
    is_int(rx_zlib_decode(pool, RX_ENC_DEFLATE, goma.data, goma.len / 2,
                          64 * MiB, &out),
           RX_ERROR, "deflate: truncated raw stream -> RX_ERROR");
    is_int(rx_zlib_decode(pool, RX_ENC_DEFLATE, zl.data, zl.len - 4, 64 * MiB,
                          &out),
           RX_ERROR, "deflate: zlib variant without its Adler-32 -> RX_ERROR");
    memcpy(bad, zl.data, zl.len);
    bad[zl.len - 1] ^= 0x01;
    is_int(rx_zlib_decode(pool, RX_ENC_DEFLATE, bad, zl.len, 64 * MiB, &out),
           RX_ERROR, "deflate: zlib variant with a bad Adler-32 -> RX_ERROR");
    memset(bad, 0xff, 64);
    is_int(rx_zlib_decode(pool, RX_ENC_DEFLATE, bad, 64, 64 * MiB, &out),
           RX_ERROR, "deflate: garbage (invalid block type) -> RX_ERROR");
    is_int(rx_zlib_decode(pool, RX_ENC_GZIP, gz.data, gz.len, 64 * MiB, &out),
           RX_OK, "gzip decodes again after errors (stream reuse)");
    is_mem(out.data, out.len, plain->data, plain->len, "... same plaintext");
    rx_destroy_pool(pool);
}


static void
test_trailers(rx_pool_t *fp, const rx_str_t *plain)
{
    rx_pool_t *pool;
    rx_str_t   gz, raw, zl, out;
    u_char    *p;
    size_t     n;
    rx_int_t   rc;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    gz = slurp(fp, "plain.gz");
    raw = slurp(fp, "plain.raw");
    zl = slurp(fp, "plain.zlib");
    n = rx_max(gz.len, rx_max(raw.len, zl.len)) + 16;
    p = rx_pnalloc(pool, n);

    memcpy(p, raw.data, raw.len);
    memcpy(p + raw.len, "garbage after the final block", 16);
    rc = rx_zlib_decode(pool, RX_ENC_DEFLATE, p, raw.len + 16, 64 * MiB, &out);
    ok(rc == RX_OK && out.len == plain->len
           && memcmp(out.data, plain->data, out.len) == 0,
       "deflate: bytes after the final block are ignored");
    memcpy(p, zl.data, zl.len);
    memset(p + zl.len, 0, 16);
    rc = rx_zlib_decode(pool, RX_ENC_DEFLATE, p, zl.len + 16, 64 * MiB, &out);
    ok(rc == RX_OK && out.len == plain->len,
       "deflate: bytes after a zlib-header stream are ignored");
    memcpy(p, gz.data, gz.len);
    memset(p + gz.len, 0, 16);
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, p, gz.len + 16, 64 * MiB, &out);
    is_int(rc, RX_ERROR, "gzip: trailing garbage -> RX_ERROR (as Go)");
    memcpy(p + gz.len, gz.data, 10);
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, p, gz.len + 10, 64 * MiB, &out);
    is_int(rc, RX_ERROR, "gzip: a truncated second member -> RX_ERROR");
    rx_destroy_pool(pool);
}


static void
test_limits(rx_pool_t *fp, const rx_str_t *plain)
{
    const fixture_case_t *c;
    rx_pool_t            *pool;
    rx_str_t              in, out;
    size_t                i, n;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    n = plain->len;
    for (i = 0; i < rx_nelems(fixture_cases); i++) {
        c = &fixture_cases[i];
        in = slurp(fp, c->file);
        ok(rx_zlib_decode(pool, c->enc, in.data, in.len, n, &out) == RX_OK
               && out.len == n
               && rx_zlib_decode(pool, c->enc, in.data, in.len, n - 1, &out)
                      == RX_DECLINED,
           "%s: max = size is OK, max = size - 1 is RX_DECLINED", c->file);
    }
    ok(rx_zlib_decode(pool, RX_ENC_IDENTITY, plain->data, n, n, &out) == RX_OK
           && rx_zlib_decode(pool, RX_ENC_IDENTITY, plain->data, n, n - 1, &out)
                  == RX_DECLINED,
       "identity: max = size is OK, max = size - 1 is RX_DECLINED");
    rx_destroy_pool(pool);
}


/* 8 MiB of text squeezed far below 1:4, so the deflate guess must grow. */
static void
test_growth(void)
{
    rx_pool_t *pool, *dp;
    rx_str_t   enc, out;
    u_char    *big;
    size_t     i, n;
    int        good;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    dp = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    n = 8 * MiB;
    big = rx_pnalloc(pool, n);
    for (i = 0; i < n; i++) {
        big[i] = (u_char) ("object file line\n"[i % 17] + (i / 4096) % 3);
    }
    good = rx_zlib_encode(pool, RX_ENC_DEFLATE, 1, big, n, &enc) == RX_OK;
    ok(good && enc.len < n / 16, "8 MiB compresses below 1:16 (%zu bytes)",
       enc.len);
    ok(rx_zlib_decode(dp, RX_ENC_DEFLATE, enc.data, enc.len, n, &out) == RX_OK
           && out.len == n && memcmp(out.data, big, n) == 0,
       "deflate: output buffer grows past the 4x guess");
    ok(dp->total <= n + 1 + 4096,
       "decode: growth stopped at max + 1 (pool holds %zu)", dp->total);
    rx_destroy_pool(dp);
    rx_destroy_pool(pool);
}


/*
 * 1 GiB of zeros: one 1 MiB chunk compressed with Z_FULL_FLUSH is a
 * byte-aligned run of non-final blocks; 1024 copies and a final empty
 * fixed block (03 00) form a valid raw stream. The gzip form wraps it.
 */
static u_char *
make_bomb(size_t copies, size_t *lenp, size_t *gzlenp)
{
    static u_char zero[1024 * 1024];
    u_char        chunk[4096], *b, *p;
    z_stream      zs;
    size_t        n, len;
    uLong         crc, crc1;

    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = zero;
    zs.avail_in = sizeof(zero);
    zs.next_out = chunk;
    zs.avail_out = sizeof(chunk);
    deflate(&zs, Z_FULL_FLUSH);
    n = sizeof(chunk) - zs.avail_out;
    deflateEnd(&zs);
    len = copies * n + 2;
    b = malloc(10 + len + 8);
    memcpy(b, "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10);
    for (p = b + 10; p < b + 10 + copies * n; p += n) {
        memcpy(p, chunk, n);
    }
    memcpy(p, "\x03\x00", 2);
    crc1 = crc32(0, zero, sizeof(zero));
    for (crc = 0, n = 0; n < copies; n++) {
        crc = crc32_combine(crc, crc1, sizeof(zero));
    }
    p += 2;
    for (n = 0; n < 4; n++) {
        p[n] = (u_char) (crc >> (8 * n));
        p[4 + n] = (u_char) ((copies * sizeof(zero)) >> (8 * n));
    }
    *lenp = len;
    *gzlenp = 10 + len + 8;
    return b;
}


static void
test_bomb(void)
{
    rx_pool_t *pool;
    rx_str_t   out;
    u_char    *b;
    size_t     len, gzlen, max;
    double     t;
    rx_int_t   rc;

    max = 64 * MiB;
    b = make_bomb(4, &len, &gzlen);
    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    ok(rx_zlib_decode(pool, RX_ENC_GZIP, b, gzlen, max, &out) == RX_OK
           && out.len == 4 * MiB && out.data[0] == 0
           && out.data[out.len - 1] == 0
           && rx_zlib_decode(pool, RX_ENC_DEFLATE, b + 10, len, max, &out)
                  == RX_OK
           && out.len == 4 * MiB,
       "bomb construction sanity: 4 MiB version decodes (gzip and raw)");
    rx_destroy_pool(pool);
    free(b);

    b = make_bomb(1024, &len, &gzlen);
    ok(len < 2 * MiB, "1 GiB of zeros compressed to %zu bytes", len);
    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    pool->limit = max + MiB;
    t = now_sec();
    rc = rx_zlib_decode(pool, RX_ENC_DEFLATE, b + 10, len, max, &out);
    t = now_sec() - t;
    is_int(rc, RX_DECLINED, "deflate bomb -> RX_DECLINED in %.3f s", t);
    ok(pool->total <= max + 65536, "deflate bomb: pool holds %zu <= max + 64K",
       pool->total);
    ok(t < 5.0, "deflate bomb: stopped early (%.3f s)", t);
    rx_destroy_pool(pool);

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    pool->limit = max + MiB;
    t = now_sec();
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, b, gzlen, max, &out);
    t = now_sec() - t;
    is_int(rc, RX_DECLINED, "gzip bomb -> RX_DECLINED in %.3f s", t);
    ok(pool->total <= max + 65536, "gzip bomb: pool holds %zu <= max + 64K",
       pool->total);
    rx_destroy_pool(pool);

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, b, gzlen, MiB, &out);
    ok(rc == RX_DECLINED && pool->total <= MiB + 65536,
       "gzip bomb, max 1 MiB: ISIZE claims 1 GiB, allocation stays at %zu",
       pool->total);
    rx_destroy_pool(pool);
    free(b);
}


static void
test_encode(const rx_str_t *plain)
{
    rx_pool_t *pool;
    rx_str_t   enc, out;
    rx_int_t   rc;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    rc =
        rx_zlib_encode(pool, RX_ENC_IDENTITY, 1, plain->data, plain->len, &enc);
    ok(rc == RX_OK && enc.data == plain->data && enc.len == plain->len,
       "encode identity returns the input unchanged");

    rc = rx_zlib_encode(pool, RX_ENC_GZIP, 1, plain->data, plain->len, &enc);
    ok(rc == RX_OK && enc.len > 18 && enc.len < plain->len
           && memcmp(enc.data, "\x1f\x8b\x08", 3) == 0 && enc.data[8] == 4,
       "encode gzip: gzip header, XFL = 4 (fastest level)");
    rc = rx_zlib_decode(pool, RX_ENC_GZIP, enc.data, enc.len, 64 * MiB, &out);
    ok(rc == RX_OK && out.len == plain->len
           && memcmp(out.data, plain->data, out.len) == 0,
       "encode gzip round trip");

    rc = rx_zlib_encode(pool, RX_ENC_DEFLATE, 1, plain->data, plain->len, &enc);
    ok(rc == RX_OK && enc.len > 2 && enc.len < plain->len
           && !((enc.data[0] & 0x0f) == 8
                && ((enc.data[0] << 8) | enc.data[1]) % 31 == 0),
       "encode deflate: no zlib header");
    rc =
        rx_zlib_decode(pool, RX_ENC_DEFLATE, enc.data, enc.len, 64 * MiB, &out);
    ok(rc == RX_OK && out.len == plain->len
           && memcmp(out.data, plain->data, out.len) == 0,
       "encode deflate round trip");

    rc = rx_zlib_encode(pool, RX_ENC_GZIP, 1, (u_char *) "", 0, &enc);
    ok(rc == RX_OK && enc.len == 20, "encode gzip of nothing: 20 bytes");
    rc = rx_zlib_encode(pool, RX_ENC_DEFLATE, 6, (u_char *) "", 0, &enc);
    ok(rc == RX_OK && enc.len == 2 && enc.data[0] == 0x03 && enc.data[1] == 0,
       "encode deflate of nothing at level 6: 03 00");
    rx_log_stderr.log_level = RX_LOG_CRIT; /* the expected [error] line */
    rc =
        rx_zlib_encode(pool, RX_ENC_DEFLATE, 42, plain->data, plain->len, &enc);
    rx_log_stderr.log_level = RX_LOG_NOTICE;
    is_int(rc, RX_ERROR, "encode with an invalid level -> RX_ERROR");
    rx_destroy_pool(pool);
}


/* Runs @cmd with @data on stdin; 1 if it prints exactly @exp. */
static int
external_decode(const char *cmd, const rx_str_t *data, const rx_str_t *exp)
{
    char   path[] = "/tmp/rx_zlib_XXXXXX", line[512];
    u_char buf[65536];
    size_t n, got;
    FILE  *f;
    int    fd, same;

    fd = mkstemp(path);
    if (fd == -1 || write(fd, data->data, data->len) != (ssize_t) data->len) {
        return 0;
    }
    close(fd);
    snprintf(line, sizeof(line), "%s < %s", cmd, path);
    f = popen(line, "r");
    same = f != NULL;
    for (got = 0; f && (n = fread(buf, 1, sizeof(buf), f)) > 0; got += n) {
        same =
            same && got + n <= exp->len && memcmp(buf, exp->data + got, n) == 0;
    }
    if (f && pclose(f) != 0) {
        same = 0;
    }
    unlink(path);
    return same && got == exp->len;
}


static void
test_external(const rx_str_t *plain)
{
    rx_pool_t *pool;
    rx_str_t   enc;
    int        have_gzip, have_py;

    have_gzip = system("gzip --version >/dev/null 2>&1") == 0;
    have_py = system("python3 -c 'import zlib' >/dev/null 2>&1") == 0;
    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);

    rx_zlib_encode(pool, RX_ENC_GZIP, 1, plain->data, plain->len, &enc);
    if (have_gzip) {
        ok(external_decode("gzip -dc", &enc, plain),
           "our gzip output decoded by gzip -dc");
    } else {
        ok(1, "# SKIP gzip(1) not found");
    }
    if (have_py) {
        ok(external_decode("python3 -c 'import gzip,sys; sys.stdout.buffer."
                           "write(gzip.decompress(sys.stdin.buffer.read()))'",
                           &enc, plain),
           "our gzip output decoded by python3 gzip.decompress");
    } else {
        ok(1, "# SKIP python3 not found");
    }
    rx_zlib_encode(pool, RX_ENC_DEFLATE, 1, plain->data, plain->len, &enc);
    if (have_py) {
        ok(external_decode(
               "python3 -c 'import zlib,sys; sys.stdout.buffer."
               "write(zlib.decompress(sys.stdin.buffer.read(), -15))'",
               &enc, plain),
           "our deflate output decoded by python3 zlib (wbits=-15)");
    } else {
        ok(1, "# SKIP python3 not found");
    }
    rx_destroy_pool(pool);
}
