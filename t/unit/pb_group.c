/*
 * Unit test of the proto2 group transcoder (src/rpc/rx_pb_group.c) and of
 * the protobuf-c glue (src/rpc/rx_pb.c).
 *
 * Golden vectors in t/fixtures/pb were produced by Debian's protoc from the
 * .txtpb sources (t/fixtures/pb/gen.sh): NAME.bin uses the real group
 * encoding (t/proto/goma_wire.proto), NAME.ld.bin the nested-message form of
 * src/rpc/proto/goma_data.proto.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_pb_group.h>
#include <rx_pb.h>

#include "tap.h"

#define FIXTURES "t/fixtures/pb/"

typedef struct {
    const char *name;
    const char *in;
    size_t      len;
} bad_case_t;

/* a string literal as (bytes, length) without its NUL */
#define B(s) (const u_char *) (s), sizeof(s) - 1

static rx_pool_t *pool;
static uint64_t   rnd_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void);
static rx_str_t read_fixture(const char *name);
static void     test_varint(void);
static void     test_to_ld_basic(void);
static void     test_to_ld_nested(void);
static void     test_to_ld_bad(void);
static void     test_depth(void);
static void     test_to_group(void);
static void     test_to_group_depth(void);
static void     test_many_groups(void);
static void     test_fixture_req(void);
static void     test_req_unpack(void);
static void     test_req_unpack_bad(void);
static void     test_prefixes(void);
static void     test_mutations(void);
static void     test_resp_pack(void);
static void     test_resp_bad(void);
static void     test_negative_enum(void);
static void     test_pack_prefix(void);
static void     test_pool_limit(void);
static void     test_random_roundtrip(void);


static uint32_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t) (rnd_state >> 32);
}


static rx_str_t
read_fixture(const char *name)
{
    FILE    *f;
    long     n;
    rx_str_t s = rx_null_string;
    char     path[256];

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        printf("# cannot open %s (run from the repository root)\n", path);
        return s;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0
        && fseek(f, 0, SEEK_SET) == 0) {
        s.data = rx_pnalloc(pool, (size_t) n);
        if (s.data && fread(s.data, 1, (size_t) n, f) == (size_t) n) {
            s.len = (size_t) n;
        }
    }
    fclose(f);
    return s;
}


static int
to_ld_is(const u_char *in, size_t len, const u_char *exp, size_t elen)
{
    rx_str_t out;

    if (rx_pb_group_to_ld(pool, in, len, 10, &out) != RX_OK) {
        return 0;
    }
    return out.len == elen && memcmp(out.data, exp, elen) == 0;
}


static int
to_group_is(const u_char *in, size_t len, const u_char *exp, size_t elen)
{
    rx_str_t out;

    if (rx_pb_ld_to_group(pool, in, len, 10, &out) != RX_OK) {
        return 0;
    }
    return out.len == elen && memcmp(out.data, exp, elen) == 0;
}


static void
test_varint(void)
{
    u_char buf[16], *p;

    is_int(rx_pb_varint_size(0), 1, "varint size 0");
    is_int(rx_pb_varint_size(127), 1, "varint size 127");
    is_int(rx_pb_varint_size(128), 2, "varint size 128");
    is_int(rx_pb_varint_size(UINT64_MAX), 10, "varint size 2^64-1");

    p = rx_pb_varint_write(buf, 300);
    is_mem(buf, (size_t) (p - buf), "\xac\x02", 2, "varint 300");

    p = rx_pb_varint_write(buf, (uint64_t) -1);
    is_mem(buf, (size_t) (p - buf), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
           10, "varint -1");
}


static void
test_to_ld_basic(void)
{
    static const u_char plain[] = "\x08\x01\x12\x02hi";
    size_t              plen = sizeof(plain) - 1;
    rx_str_t            out;

    ok(rx_pb_group_to_ld(pool, NULL, 0, 10, &out) == RX_OK && out.len == 0,
       "empty message");

    ok(rx_pb_group_to_ld(pool, plain, plen, 10, &out) == RX_OK
           && out.data == plain && out.len == plen,
       "no group: zero copy");

    ok(to_ld_is(B("\x53\x54"), B("\x52\x00")), "empty group");

    ok(to_ld_is(B("\x08\x01\x53\x5a\x01x\x54\x10\x02"),
                B("\x08\x01\x52\x03\x5a\x01x\x10\x02")),
       "group between other fields");

    ok(to_ld_is(B("\x53\x54\x53\x5a\x01T\x54"), B("\x52\x00\x52\x03\x5a\x01T")),
       "two groups, END_GROUP byte inside a string");

    ok(to_ld_is(B("\xd3\x00\x54"), B("\x52\x00")),
       "non-canonical START_GROUP tag rewritten canonically");

    ok(to_ld_is(B("\x52\x02\x08\x01\x53\x54"), B("\x52\x02\x08\x01\x52\x00")),
       "field 10 already length-delimited is kept");

    ok(to_ld_is(B("\x5b\x08\x01\x5c\x53\x54"), B("\x5b\x08\x01\x5c\x52\x00")),
       "group of another field copied verbatim");

    ok(to_ld_is(B("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x53\x54"),
                B("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x52\x00")),
       "10-byte varint accepted");

    ok(rx_pb_group_to_ld(pool, B("\x53\x54"), 0, &out) == RX_ERROR,
       "field 0 rejected");
    ok(rx_pb_group_to_ld(pool, B("\x53\x54"), RX_PB_FIELD_MAX + 1, &out)
           == RX_ERROR,
       "field 2^29 rejected");
    ok(rx_pb_group_to_ld(pool, B("\xfb\xff\xff\xff\x0f\xfc\xff\xff\xff\x0f"),
                         RX_PB_FIELD_MAX, &out)
               == RX_OK
           && out.len == 6
           && memcmp(out.data, "\xfa\xff\xff\xff\x0f\x00", 6) == 0,
       "largest field number 2^29-1 converted");
}


static void
test_to_ld_nested(void)
{
    u_char   in[512], exp[512], *p, *q;
    rx_str_t out;
    int      i;

    ok(to_ld_is(B("\x53\xa3\x01\x08\x05\xa4\x01\x54"),
                B("\x52\x06\xa3\x01\x08\x05\xa4\x01")),
       "nested unknown group skipped");

    ok(to_ld_is(B("\x53\x65TTTT\x61TTTTTTTT\x54"),
                B("\x52\x0e\x65TTTT\x61TTTTTTTT")),
       "fixed32/fixed64 payload holding END_GROUP bytes");

    ok(to_ld_is(B("\x53\x6a\x05\x0a\x03\x53\x54\x54\x54"),
                B("\x52\x07\x6a\x05\x0a\x03\x53\x54\x54")),
       "length-delimited payload not parsed");

    p = in;
    q = exp;
    *p++ = 0x53;
    *q++ = 0x52;
    *q++ = 0xac; /* 300 */
    *q++ = 0x02;
    *p++ = 0x5a;
    *q++ = 0x5a;
    *p++ = 0xa9; /* 297 */
    *q++ = 0xa9;
    *p++ = 0x02;
    *q++ = 0x02;
    for (i = 0; i < 297; i++) {
        *p++ = 'T';
        *q++ = 'T';
    }
    *p++ = 0x54;
    ok(rx_pb_group_to_ld(pool, in, (size_t) (p - in), 10, &out) == RX_OK
           && out.len == (size_t) (q - exp)
           && memcmp(out.data, exp, out.len) == 0,
       "300-byte body gets a 2-byte length");
}


static const bad_case_t bad_cases[] = {
    {"truncated tag", "\x80", 1},
    {"truncated varint value", "\x08\x80", 2},
    {"truncated fixed64", "\x09\x01\x02\x03", 4},
    {"truncated fixed32", "\x0d\x01", 2},
    {"length past the end",
     "\x12\x05"
     "a",
     3},
    {"huge length", "\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11},
    {"11-byte varint tag", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11},
    {"11-byte varint value", "\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
     12},
    {"11-byte varint in group",
     "\x53\x08\x80\x80\x80\x80\x80\x80\x80\x80"
     "\x80\x80\x01\x54",
     14},
    {"tag above 2^32", "\x80\x80\x80\x80\x10\x00", 6},
    {"field number 0", "\x02\x00", 2},
    {"field number 0 in group", "\x53\x00\x00\x54", 4},
    {"wire type 6", "\x0e", 1},
    {"wire type 7", "\x0f", 1},
    {"wire type 6 in group", "\x53\x0e\x54", 3},
    {"wire type 7 in group", "\x53\x0f\x54", 3},
    {"END_GROUP without START", "\x54", 1},
    {"END_GROUP of field 1 at top", "\x08\x01\x0c", 3},
    {"mismatched END_GROUP", "\x53\x5c", 2},
    {"mismatched nested END_GROUP", "\x53\x0b\x54\x0c\x54", 5},
    {"unterminated group", "\x53\x08\x01", 3},
    {"unterminated nested group", "\x53\x0b\x0c\x0b", 4},
    {"truncated length in group",
     "\x53\x5a\x05"
     "a",
     4},
    {"truncated after START_GROUP", "\x53", 1},
    {"unterminated other group", "\x5b\x08\x01", 3},
};


static void
test_to_ld_bad(void)
{
    rx_str_t out;
    size_t   i;
    u_char  *in;
    rx_int_t rc;

    for (i = 0; i < rx_nelems(bad_cases); i++) {
        /* exact-size heap copy so that ASan sees any over-read */
        in = malloc(bad_cases[i].len);
        memcpy(in, bad_cases[i].in, bad_cases[i].len);
        rc = rx_pb_group_to_ld(pool, in, bad_cases[i].len, 10, &out);
        is_int(rc, RX_ERROR, "to_ld rejects: %s", bad_cases[i].name);
        rc = rx_pb_ld_to_group(pool, in, bad_cases[i].len, 10, &out);
        is_int(rc, RX_ERROR, "to_group rejects: %s", bad_cases[i].name);
        ok(rx_pb_exec_req_unpack(pool, in, bad_cases[i].len) == NULL,
           "exec_req_unpack rejects: %s", bad_cases[i].name);
        free(in);
    }
}


/* START_GROUP(10), then @n - 1 nested START_GROUP(1), and the ENDs. */
static size_t
nest(u_char *buf, int n, int close)
{
    u_char *p;
    int     i;

    p = buf;
    *p++ = 0x53;
    for (i = 1; i < n; i++) {
        *p++ = 0x0b;
    }
    for (i = 1; close && i < n; i++) {
        *p++ = 0x0c;
    }
    if (close) {
        *p++ = 0x54;
    }
    return (size_t) (p - buf);
}


static void
test_depth(void)
{
    static u_char bomb[200000];
    u_char        buf[256];
    rx_str_t      out;
    size_t        n;

    n = nest(buf, RX_PB_GROUP_MAX_DEPTH, 1);
    ok(rx_pb_group_to_ld(pool, buf, n, 10, &out) == RX_OK && out.len == n
           && out.data[0] == 0x52 && out.data[1] == n - 2,
       "nesting depth %d accepted", RX_PB_GROUP_MAX_DEPTH);

    n = nest(buf, RX_PB_GROUP_MAX_DEPTH + 1, 1);
    is_int(rx_pb_group_to_ld(pool, buf, n, 10, &out), RX_ERROR,
           "nesting depth %d rejected", RX_PB_GROUP_MAX_DEPTH + 1);

    buf[0] = 0x5b; /* the same through a group of field 11 */
    buf[n - 1] = 0x5c;
    is_int(rx_pb_group_to_ld(pool, buf, n, 10, &out), RX_ERROR,
           "nesting depth %d in another field rejected",
           RX_PB_GROUP_MAX_DEPTH + 1);

    n = nest(buf, RX_PB_GROUP_MAX_DEPTH, 1);
    buf[0] = 0x5b;
    buf[n - 1] = 0x5c;
    ok(rx_pb_group_to_ld(pool, buf, n, 10, &out) == RX_OK && out.data == buf,
       "nesting depth %d in another field copied", RX_PB_GROUP_MAX_DEPTH);

    memset(bomb, 0x53, sizeof(bomb));
    is_int(rx_pb_group_to_ld(pool, bomb, sizeof(bomb), 10, &out), RX_ERROR,
           "200000 nested START_GROUPs rejected");
    ok(rx_pb_exec_req_unpack(pool, bomb, sizeof(bomb)) == NULL,
       "exec_req_unpack rejects the nesting bomb");
}


/* a body may nest one group less: it becomes a group itself */
static void
test_to_group_depth(void)
{
    u_char   buf[256], grp[256];
    size_t   n;
    int      d;
    rx_str_t out;

    for (d = RX_PB_GROUP_MAX_DEPTH - 1; d <= RX_PB_GROUP_MAX_DEPTH; d++) {
        n = nest(grp, d + 1, 1); /* START(10) d x START(1) ... END(10) */
        buf[0] = 0x52;
        buf[1] = (u_char) (n - 2);
        memcpy(buf + 2, grp + 1, n - 2);
        if (d < RX_PB_GROUP_MAX_DEPTH) {
            ok(rx_pb_ld_to_group(pool, buf, n, 10, &out) == RX_OK
                   && out.len == n && memcmp(out.data, grp, n) == 0,
               "body nesting %d groups accepted", d);
        } else {
            is_int(rx_pb_ld_to_group(pool, buf, n, 10, &out), RX_ERROR,
                   "body nesting %d groups rejected", d);
        }
    }
}


static void
test_to_group(void)
{
    rx_str_t            out;
    static const u_char ld[] = "\x5a\x01x";

    ok(to_group_is(B("\x52\x00"), B("\x53\x54")), "empty body");
    ok(to_group_is(B("\x08\x01\x52\x03\x5a\x01x\x10\x02"),
                   B("\x08\x01\x53\x5a\x01x\x54\x10\x02")),
       "body between other fields");
    ok(to_group_is(B("\x52\x06\xa3\x01\x08\x05\xa4\x01"),
                   B("\x53\xa3\x01\x08\x05\xa4\x01\x54")),
       "body holding a group");
    ok(to_group_is(B("\x53\x54\x52\x00"), B("\x53\x54\x53\x54")),
       "existing group kept");

    ok(rx_pb_ld_to_group(pool, ld, 3, 10, &out) == RX_OK && out.data == ld,
       "nothing to rewrite: zero copy");

    is_int(rx_pb_ld_to_group(pool, B("\x52\x01\x54"), 10, &out), RX_ERROR,
           "body with a stray END_GROUP rejected");
    is_int(rx_pb_ld_to_group(pool, B("\x52\x01\x80"), 10, &out), RX_ERROR,
           "body with a truncated varint rejected");
    is_int(rx_pb_ld_to_group(pool, B("\x52\x01\x53"), 10, &out), RX_ERROR,
           "body with an unterminated group rejected");
    test_to_group_depth();
}


static void
test_many_groups(void)
{
    u_char  *in;
    size_t   i, n;
    rx_str_t out, back;
    int      good;

    n = 10000;
    in = malloc(2 * n);
    for (i = 0; i < n; i++) {
        in[2 * i] = 0x53;
        in[2 * i + 1] = 0x54;
    }
    good = rx_pb_group_to_ld(pool, in, 2 * n, 10, &out) == RX_OK
           && out.len == 2 * n;
    for (i = 0; good && i < n; i++) {
        good = out.data[2 * i] == 0x52 && out.data[2 * i + 1] == 0;
    }
    ok(good, "%zu empty groups", n);
    ok(rx_pb_ld_to_group(pool, out.data, out.len, 10, &back) == RX_OK
           && back.len == 2 * n && memcmp(back.data, in, back.len) == 0,
       "%zu empty groups back", n);
    free(in);
}


static void
test_fixture_req(void)
{
    rx_str_t wire, ld, out;

    wire = read_fixture("exec_req.bin");
    ld = read_fixture("exec_req.ld.bin");
    ok(wire.len > 0 && ld.len > 0, "ExecReq fixtures read");

    ok(rx_pb_group_to_ld(pool, wire.data, wire.len, 10, &out) == RX_OK
           && out.len == ld.len && memcmp(out.data, ld.data, ld.len) == 0,
       "ExecReq from protoc: groups -> length-delimited == protoc's");

    ok(rx_pb_ld_to_group(pool, ld.data, ld.len, 10, &out) == RX_OK
           && out.len == wire.len && memcmp(out.data, wire.data, wire.len) == 0,
       "ExecReq: length-delimited -> groups == protoc's");

    ok(rx_pb_group_to_ld(pool, ld.data, ld.len, 10, &out) == RX_OK
           && out.data == ld.data,
       "ExecReq already length-delimited: zero copy");
}


static int
check_inputs(const DevtoolsGoma__ExecReq *r)
{
    DevtoolsGoma__ExecReqInput **in;

    if (r->n_input != 5) {
        return 0;
    }
    in = r->input;
    return strcmp(in[0]->filename, "T.cc") == 0 && in[0]->content == NULL
           && strlen(in[0]->hash_key) == 64
           && strcmp(in[1]->filename, "inc/ST.h") == 0 && in[1]->content != NULL
           && in[1]->content->blob_type
                  == DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE
           && in[1]->content->has_content && in[1]->content->content.len == 17
           && memcmp(in[1]->content->content.data, "ST\n", 3) == 0
           && in[1]->content->file_size == 17
           && strcmp(in[2]->hash_key, "") == 0
           && in[2]->content->blob_type
                  == DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META
           && in[2]->content->n_hash_key == 2 && !in[2]->content->has_content
           && in[3]->content->has_content && in[3]->content->content.len == 0
           && in[3]->content->has_file_size && in[4]->filename == NULL
           && in[4]->content == NULL && strcmp(in[4]->hash_key, "") == 0;
}


static int
check_req(const DevtoolsGoma__ExecReq *r)
{
    return r->command_spec != NULL
           && strcmp(r->command_spec->name, "clang++") == 0
           && r->command_spec->binary_hash.len == 64
           && r->command_spec->size == 123456 && r->n_arg == 5
           && strcmp(r->arg[4], "out/T.o") == 0
           && strcmp(r->cwd, "/home/u/src") == 0 && check_inputs(r)
           && r->n_expanded_arg == 1 && r->n_subprogram == 1
           && r->requester_info->retry == 1
           && r->requester_info->path_style
                  == DEVTOOLS_GOMA__REQUESTER_INFO__PATH_STYLE__POSIX_STYLE
           && r->requester_info->n_platform_properties == 1
           && r->has_cache_policy
           && r->cache_policy
                  == DEVTOOLS_GOMA__EXEC_REQ__CACHE_POLICY__STORE_ONLY
           && r->toolchain_included && r->n_toolchain_specs == 2
           && strcmp(r->toolchain_specs[1]->symlink_path, "clang++") == 0;
}


static void
test_req_unpack(void)
{
    rx_str_t               wire, ld;
    DevtoolsGoma__ExecReq *r;
    u_char                *copy;

    wire = read_fixture("exec_req.bin");
    ld = read_fixture("exec_req.ld.bin");

    r = rx_pb_exec_req_unpack(pool, wire.data, wire.len);
    ok(r != NULL && check_req(r), "ExecReq (groups) unpacked, fields right");

    copy = malloc(ld.len);
    memcpy(copy, ld.data, ld.len);
    r = rx_pb_exec_req_unpack(pool, copy, ld.len);
    memset(copy, 'x', ld.len);
    free(copy);
    ok(r != NULL && check_req(r),
       "ExecReq (length-delimited) unpacked; no pointer into the input");

    r = rx_pb_exec_req_unpack(pool, B("\x0a\x00"));
    ok(r != NULL && r->n_input == 0 && !r->has_cache_policy
           && r->cache_policy
                  == DEVTOOLS_GOMA__EXEC_REQ__CACHE_POLICY__LOOKUP_AND_STORE,
       "minimal ExecReq: cache_policy default LOOKUP_AND_STORE");

    r = rx_pb_exec_req_unpack(pool, B("\x0a\x00\x53\x62\x00\x54"));
    ok(r != NULL && r->n_input == 1 && r->input[0]->hash_key[0] == '\0',
       "input with empty hash_key");
}


static void
test_req_unpack_bad(void)
{
    ok(rx_pb_exec_req_unpack(pool, B("\x0a\x00\x53\x54")) == NULL,
       "input without required hash_key rejected");
    ok(rx_pb_exec_req_unpack(pool, B("\x53\x62\x00\x54")) == NULL,
       "ExecReq without required command_spec rejected");
    ok(rx_pb_exec_req_unpack(pool, B("\x0a\x00\x53\x6a\x00\x62\x00\x54"))
           == NULL,
       "input content without required blob_type rejected");
    ok(rx_pb_exec_req_unpack(pool, B("\x0a\x00\x5b\x5c")) == NULL,
       "group in another field rejected by protobuf-c");
}


/* Every prefix: no crash, no over-read (exact-size heap copies). */
static void
test_prefixes(void)
{
    rx_str_t   wire, out;
    size_t     n, okn, transcoded;
    u_char    *in;
    rx_pool_t *p;

    wire = read_fixture("exec_req.bin");
    okn = 0;
    transcoded = 0;

    for (n = 0; n < wire.len; n++) {
        p = rx_create_pool(4096, &rx_log_stderr);
        in = malloc(n ? n : 1);
        memcpy(in, wire.data, n);
        if (rx_pb_group_to_ld(p, in, n, 10, &out) == RX_OK) {
            transcoded++;
        }
        if (rx_pb_exec_req_unpack(p, in, n) != NULL) {
            okn++;
        }
        free(in);
        rx_destroy_pool(p);
    }

    ok(transcoded > 0 && transcoded < wire.len,
       "prefixes: %zu of %zu end on a field boundary", transcoded, wire.len);
    ok(okn < transcoded, "prefixes: %zu unpack", okn);
}


static void
test_mutations(void)
{
    rx_str_t   wire, out, again;
    u_char    *in;
    size_t     i, pos;
    int        rt;
    rx_pool_t *p;

    wire = read_fixture("exec_req.bin");
    rt = 1;
    for (i = 0; i < 3000 && wire.len; i++) {
        p = rx_create_pool(4096, &rx_log_stderr);
        in = malloc(wire.len);
        memcpy(in, wire.data, wire.len);
        pos = rnd() % wire.len;
        in[pos] = (u_char) rnd();
        if (i & 1) {
            in[rnd() % wire.len] = (u_char) rnd();
        }
        if (rx_pb_group_to_ld(p, in, wire.len, 10, &out) == RX_OK) {
            rt &= rx_pb_group_to_ld(p, out.data, out.len, 10, &again) == RX_OK
                  && again.data == out.data;
        }
        (void) rx_pb_exec_req_unpack(p, in, wire.len);
        free(in);
        rx_destroy_pool(p);
    }
    ok(rt, "3000 mutated ExecReqs: no crash, accepted ones fully rewritten");
}


static void
init_outputs(DevtoolsGoma__ExecResultOutput *o, DevtoolsGoma__FileBlob *b)
{
    static char *keys[] = {
        "3333333333333333333333333333333333333333333333333333333333333333",
        "4444444444444444444444444444444444444444444444444444444444444444",
    };

    o[0].filename = "out/T.o";
    o[0].blob = &b[0];
    o[0].has_is_executable = 1;
    o[0].is_executable = 0;
    b[0].blob_type = DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE;
    b[0].has_content = 1;
    b[0].content.data = (uint8_t *) "\177ELF\002\001\001\000ST";
    b[0].content.len = 10;
    b[0].has_file_size = 1;
    b[0].file_size = 10;

    o[2].filename = "out/big.o";
    o[2].blob = &b[1];
    o[2].has_is_executable = 1;
    o[2].is_executable = 1;
    b[1].blob_type = DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META;
    b[1].has_file_size = 1;
    b[1].file_size = 2400000;
    b[1].n_hash_key = 2;
    b[1].hash_key = keys;
}


static void
test_resp_pack(void)
{
    static char *missing[] = {"T.cc"}, *reason[] = {"not found"};
    DevtoolsGoma__ExecResultOutput o[3] = {
        DEVTOOLS_GOMA__EXEC_RESULT_OUTPUT__INIT,
        DEVTOOLS_GOMA__EXEC_RESULT_OUTPUT__INIT,
        DEVTOOLS_GOMA__EXEC_RESULT_OUTPUT__INIT};
    DevtoolsGoma__ExecResultOutput *op[3] = {&o[0], &o[1], &o[2]};
    DevtoolsGoma__FileBlob          b[2] = {DEVTOOLS_GOMA__FILE_BLOB__INIT,
                                            DEVTOOLS_GOMA__FILE_BLOB__INIT};
    DevtoolsGoma__ExecResult        res = DEVTOOLS_GOMA__EXEC_RESULT__INIT;
    DevtoolsGoma__ExecResp          resp = DEVTOOLS_GOMA__EXEC_RESP__INIT;
    DevtoolsGoma__ExecutionStats    st = DEVTOOLS_GOMA__EXECUTION_STATS__INIT;
    DevtoolsGoma__Timestamp         t1 = DEVTOOLS_GOMA__TIMESTAMP__INIT;
    DevtoolsGoma__Timestamp         t2 = DEVTOOLS_GOMA__TIMESTAMP__INIT;
    rx_str_t                        wire, ld, out;

    init_outputs(o, b);
    res.exit_status = 0;
    res.has_stdout_buffer = 1;
    res.has_stderr_buffer = 1;
    res.stderr_buffer.data = (uint8_t *) "T.cc:1: warning: ST\n";
    res.stderr_buffer.len = 20;
    res.n_output = 3;
    res.output = op;
    t1.has_seconds = t1.has_nanos = t2.has_seconds = 1;
    t1.seconds = 1700000000;
    t1.nanos = 5;
    t2.seconds = 1700000001;
    st.execution_start_timestamp = &t1;
    st.execution_completed_timestamp = &t2;
    resp.result = &res;
    resp.has_error = 1;
    resp.n_missing_input = resp.n_missing_reason = 1;
    resp.missing_input = missing;
    resp.missing_reason = reason;
    resp.cache_key = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4959"
                     "91b7852b855/142";
    resp.has_cache_hit = 1;
    resp.cache_hit = DEVTOOLS_GOMA__EXEC_RESP__CACHE_SOURCE__STORAGE_CACHE;
    resp.execution_stats = &st;

    wire = read_fixture("exec_resp.bin");
    ld = read_fixture("exec_resp.ld.bin");

    ok(rx_pb_pack(pool, &resp.base, 0, &out) == RX_OK && out.len == ld.len
           && memcmp(out.data, ld.data, ld.len) == 0,
       "ExecResp: protobuf-c packing == protoc's nested-message form");
    ok(rx_pb_exec_resp_pack(pool, &resp, &out) == RX_OK && out.len == wire.len
           && memcmp(out.data, wire.data, wire.len) == 0,
       "ExecResp: rx_pb_exec_resp_pack == protoc's group encoding");
    ok(out.len > 2 && out.data[0] == 0x0a, "ExecResp starts with field 1");

    resp.result = NULL;
    ok(rx_pb_exec_resp_pack(pool, &resp, &out) == RX_OK
           && out.len == protobuf_c_message_get_packed_size(&resp.base)
           && out.data[0] == 0x10,
       "ExecResp without result packs as is");
}


static void
test_resp_bad(void)
{
    static char *msg[] = {"output out/T.o is outside the input root"};
    DevtoolsGoma__ExecResult res = DEVTOOLS_GOMA__EXEC_RESULT__INIT;
    DevtoolsGoma__ExecResp   resp = DEVTOOLS_GOMA__EXEC_RESP__INIT;
    rx_str_t                 wire, out;

    is_int(res.exit_status, -1, "ExecResult.exit_status default -1");

    resp.result = &res;
    resp.has_error = 1;
    resp.error = DEVTOOLS_GOMA__EXEC_RESP__EXEC_ERROR__BAD_REQUEST;
    resp.n_error_message = 1;
    resp.error_message = msg;

    wire = read_fixture("exec_resp_bad.bin");
    ok(rx_pb_exec_resp_pack(pool, &resp, &out) == RX_OK && out.len == wire.len
           && memcmp(out.data, wire.data, wire.len) == 0,
       "BAD_REQUEST ExecResp == protoc's");
    ok(out.len > 24
           && memcmp(out.data + 13,
                     "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)
                  == 0,
       "error = BAD_REQUEST is a 10-byte varint");
}


static void
test_negative_enum(void)
{
    rx_str_t                ld;
    DevtoolsGoma__ExecResp *r;

    ld = read_fixture("exec_resp_bad.ld.bin");
    r = (DevtoolsGoma__ExecResp *) rx_pb_unpack(
        pool, &devtools_goma__exec_resp__descriptor, ld.data, ld.len);
    ok(r != NULL && r->has_error
           && r->error == DEVTOOLS_GOMA__EXEC_RESP__EXEC_ERROR__BAD_REQUEST
           && r->result->exit_status == -1,
       "10-byte BAD_REQUEST and exit_status -1 decoded");

    r = (DevtoolsGoma__ExecResp *) rx_pb_unpack(
        pool, &devtools_goma__exec_resp__descriptor,
        B("\x10\xff\xff\xff\xff\x0f"));
    ok(r != NULL && r->has_error
           && r->error == DEVTOOLS_GOMA__EXEC_RESP__EXEC_ERROR__BAD_REQUEST,
       "5-byte BAD_REQUEST decoded");
}


static void
test_pack_prefix(void)
{
    DevtoolsGoma__StoreFileResp r = DEVTOOLS_GOMA__STORE_FILE_RESP__INIT;
    static char                *keys[] = {"ab", ""};
    rx_str_t                    out;

    r.n_hash_key = 2;
    r.hash_key = keys;
    ok(rx_pb_pack(pool, &r.base, 5, &out) == RX_OK && out.len == 5 + 6
           && memcmp(out.data + 5,
                     "\x0a\x02"
                     "ab\x0a\x00",
                     6)
                  == 0,
       "pack leaves a 5-byte prefix");
}


/* failmalloc-like: every pool limit either works or fails cleanly */
static void
test_pool_limit(void)
{
    rx_str_t               wire, out;
    rx_pool_t             *p;
    size_t                 limit;
    rx_uint_t              fails, wins;
    DevtoolsGoma__ExecReq *r;

    wire = read_fixture("exec_req.bin");
    fails = wins = 0;

    for (limit = 1; limit < 16384; limit += 61) {
        p = rx_create_pool(1024, &rx_log_stderr);
        p->limit = limit;
        r = rx_pb_exec_req_unpack(p, wire.data, wire.len);
        if (r == NULL) {
            fails++;
        } else {
            wins += check_req(r);
        }
        if (rx_pb_group_to_ld(p, wire.data, wire.len, 10, &out) != RX_OK) {
            fails++;
        }
        rx_destroy_pool(p);
    }
    ok(fails > 0 && wins > 0, "pool limits: %lu failures, %lu successes",
       (unsigned long) fails, (unsigned long) wins);
}


/* random well-formed message with canonical tags */
static u_char *
gen_fields(u_char *p, u_char *end, int depth)
{
    uint32_t n, k, type, len;

    n = rnd() % 6;
    while (n-- && end - p > 64) {
        k = rnd() % 4 ? rnd() % 20 + 1 : rnd() % 100000 + 1;
        if (depth == 0 && k == 10) {
            k = 11; /* field 10 appears at the top only as a group */
        }
        type = rnd() % 5;
        if (type == RX_PB_WT_END_GROUP) {
            type = RX_PB_WT_START_GROUP;
        }
        if (type == RX_PB_WT_START_GROUP && depth >= 6) {
            type = RX_PB_WT_VARINT;
        }
        p = rx_pb_varint_write(p, ((uint64_t) k << 3) | type);
        switch (type) {
        case RX_PB_WT_VARINT:
            p = rx_pb_varint_write(p, (uint64_t) rnd() << (rnd() % 32));
            break;
        case RX_PB_WT_FIXED64:
        case RX_PB_WT_FIXED32:
            len = (type == RX_PB_WT_FIXED64) ? 8 : 4;
            for (k = 0; k < len; k++) {
                *p++ = (u_char) rnd();
            }
            break;
        case RX_PB_WT_LEN:
            len = rnd() % 40;
            p = rx_pb_varint_write(p, len);
            for (k = 0; k < len; k++) {
                *p++ = (u_char) rnd();
            }
            break;
        default:
            p = gen_fields(p, end - 8, depth + 1);
            p = rx_pb_varint_write(p, ((uint64_t) k << 3) | 4);
        }
    }
    return p;
}


static void
test_random_roundtrip(void)
{
    static u_char buf[65536];
    rx_str_t      ld, back;
    u_char       *p, *in;
    int           i, good;
    size_t        len;

    good = 1;
    for (i = 0; i < 2000 && good; i++) {
        p = buf;
        while (p - buf < 2000) {
            if (rnd() % 3 == 0) {
                *p++ = 0x53;
                p = gen_fields(p, buf + sizeof(buf) - 16, 1);
                *p++ = 0x54;
            } else {
                p = gen_fields(p, buf + sizeof(buf) - 16, 0);
            }
        }
        len = (size_t) (p - buf);
        in = malloc(len);
        memcpy(in, buf, len);
        good = rx_pb_group_to_ld(pool, in, len, 10, &ld) == RX_OK
               && rx_pb_ld_to_group(pool, ld.data, ld.len, 10, &back) == RX_OK
               && back.len == len && memcmp(back.data, in, len) == 0;
        free(in);
        if (i % 100 == 0) {
            rx_reset_pool(pool);
        }
    }
    ok(good, "2000 random messages: groups -> ld -> groups is identity");
}


int
main(void)
{
    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    if (pool == NULL) {
        return 1;
    }

    test_varint();
    test_to_ld_basic();
    test_to_ld_nested();
    test_to_ld_bad();
    test_depth();
    test_to_group();
    test_many_groups();
    test_fixture_req();
    test_req_unpack();
    test_req_unpack_bad();
    test_prefixes();
    test_mutations();
    test_resp_pack();
    test_resp_bad();
    test_negative_enum();
    test_pack_prefix();
    test_pool_limit();
    test_random_roundtrip();

    rx_destroy_pool(pool);
    return done_testing();
}
