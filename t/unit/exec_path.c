/*
 * Unit tests of src/remoteexec/rx_exec_path.c: POSIX path semantics
 * (REMOTEEXEC.md §8), rootRel (§6.5.2) and input root detection (§6.5.1).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec_path.h>
#include "tap.h"

#define NOPE ((const char *) 0) /* expected error */

typedef struct {
    const char *in;
    const char *exp;
} path1_case_t;

typedef struct {
    const char *a;
    const char *b;
    const char *exp;
} path2_case_t;

typedef struct {
    const char *root;
    const char *cwd;
    const char *name;
    const char *exp; /* NOPE: out of root */
} root_rel_case_t;

#define MAXV 8

typedef struct {
    const char *what;
    const char *cwd;
    const char *argv0;
    const char *inputs[MAXV];
    const char *args[MAXV];
    const char *opts; /* 'c': allow_chroot, 'u': exclude_usr off */
    const char *exec_root;
    const char *exp; /* root ("/!": "/" with chroot), else error */
} root_case_t;

static rx_str_t s(const char *p);
static int      str_is(const rx_str_t *got, const char *exp);
static void     test_is_abs(void);
static void     test_clean(rx_pool_t *pool);
static void     test_join(rx_pool_t *pool);
static void     test_dir(rx_pool_t *pool);
static void     test_rel(rx_pool_t *pool);
static void     test_root_rel(rx_pool_t *pool);
static void     test_root_rel_long(rx_pool_t *pool);
static void     test_input_root(rx_pool_t *pool);
static void     run_root_case(rx_pool_t *pool, const root_case_t *c);
static void     test_input_root_many(rx_pool_t *pool);
static void     test_nul_terminated(rx_pool_t *pool);
static void     test_oom(void);

static const path1_case_t clean_cases[] = {
    {"", "."},
    {".", "."},
    {"./", "."},
    {"./.", "."},
    {"/", "/"},
    {"//", "/"},
    {"///", "/"},
    {"/.", "/"},
    {"/./", "/"},
    {"a", "a"},
    {"a/", "a"},
    {"a/.", "a"},
    {"a//b", "a/b"},
    {"a/./b", "a/b"},
    {"./a", "a"},
    {"../a", "../a"},
    {"..", ".."},
    {"../..", "../.."},
    {"/..", "/"},
    {"/../a", "/a"},
    {"/a/../..", "/"},
    {"a/..", "."},
    {"a/../..", ".."},
    {"a/b/../../..", ".."},
    {"x/../../y", "../y"},
    {"/a/b/../c", "/a/c"},
    {"/a/./../b/", "/b"},
    {"/a/b/", "/a/b"},
    {"...", "..."},
    {"a/..b", "a/..b"},
    {"a/b.", "a/b."},
    {"//a//b//", "/a/b"},
};

/* join: no ".." resolution, empty arguments dropped, "" when empty */
static const path2_case_t join_cases[] = {
    {"a", "b", "a/b"},
    {"a", "", "a"},
    {"", "b", "b"},
    {"", "", ""},
    {".", "", ""},
    {".", ".", ""},
    {"a", ".", "a"},
    {"/", "a", "/a"},
    {"/", "", "/"},
    {"", "/", "/"},
    {"/", "/", "/"},
    {"/a/", "b", "/a/b"},
    {"a/.", "b", "a/b"},
    {"a", "../b", "a/../b"},
    {"/a", "..", "/a/.."},
    {"a", "b/", "a/b"},
    {"a", "/b", "a/b"},
    {"a", "./b/./c", "a/b/c"},
    {"/src/out", "../../x.h", "/src/out/../../x.h"},
    {"..", "..", "../.."},
};

/* dir: all but the last element, not cleaned */
static const path1_case_t dir_cases[] = {
    {"", "."},      {".", "."},      {"/", "/"},        {"//", "/"},
    {"a", "."},     {"..", "."},     {"./a", "."},      {"/a", "/"},
    {"//a", "/"},   {"a/b", "a"},    {"a/b/c", "a/b"},  {"/a/b", "/a"},
    {"a/", "a"},    {"a/.", "a"},    {"/a/b/", "/a/b"}, {"a/../b", "a/.."},
    {"../a", ".."}, {"/a/..", "/a"},
};

/* rel(base, target); NOPE: error */
static const path2_case_t rel_cases[] = {
    {"/a", "/a/b", "b"},
    {"/a/b", "/a", ".."},
    {"/a/b", "/c/d", "../../c/d"},
    {"/", "/a", "a"},
    {"/a", "/", ".."},
    {"/", "/", "."},
    {"/a", "/a", "."},
    {"a", "a", "."},
    {"a/b", "c", "../../c"},
    {".", "a", "a"},
    {"", "a", "a"},
    {"a", ".", ".."},
    {"a", "", ".."},
    {"a/..", "b", "b"},
    {"x/..", "..", ".."},
    {"..", "..", "."},
    {"../a", "../b", "../b"},
    {"/a/./b/", "/a/b/c/", "c"},
    {"/a/b/", "/a/b/../c", "../c"},
    {"/a/b", "/a/b/c/../d", "d"},
    {"../x", "a", "../../a"}, /* base rest not all "..": computed */
    {"/a", "b", NOPE},
    {"a", "/b", NOPE},
    {"", "/", NOPE},
    {"..", "a", NOPE},
    {"../..", "a", NOPE},
    {"a/../..", "b", NOPE},
};

static const root_rel_case_t root_rel_cases[] = {
    {"/src", "/src/out", "a.o", "out/a.o"},
    {"/src", "/src/out", "./a.o", "out/a.o"},
    {"/src", "/src/out", "gen//x.h", "out/gen/x.h"},
    {"/src", "/src/out", "../x.h", "out/../x.h"},
    {"/src", "/src/out", "../../src/x.h", NOPE}, /* lexical */
    {"/src", "/src/out", "../../x.h", NOPE},
    {"/src", "/src/out", "..", "out/.."},
    {"/src", "/src/out", "../..", NOPE},
    {"/src", "/src/out", ".", "out"},
    {"/src", "/src/out", "", "out"},
    {"/src", "/src", ".", ""},
    {"/src", "/src", "", ""},
    {"/src", "/src", "./", ""},
    {"/src", "/src/out", "/src/a/b", "a/b"},
    {"/src", "/src/out", "/src", ""},
    {"/src", "/src/out", "/src/", ""},
    {"/src", "/src/out", "/src/.", ""},
    {"/src", "/src/out", "/src/a/./b/", "a/b"},
    {"/src", "/src/out", "/src/a/../b", "a/../b"},
    {"/src", "/src/out", "/src/a/..", "a/.."},
    {"/src", "/src/out", "/src/..foo", "..foo"},
    {"/src", "/src/out", "/src/../src/a", NOPE},
    {"/src", "/src/out", "/", NOPE},
    {"/src", "/src/out", "/srcx/a", NOPE},
    {"/src", "/src/out", "/sr", NOPE},
    {"/src", "/src/out", "/other/a", NOPE},
    {"/src", "/src/out", "src/a", "out/src/a"},
    {"/src/out", "/src/out", "a", "a"},
    {"/src/out", "/src/out", "../a", NOPE},
    {"/", "/x", "a", "x/a"},
    {"/", "/x", "/", ""},
    {"/", "/x", "/y/z", "y/z"},
    {"/", "/", "..", NOPE},
    {"/a/b", "/a/b/c", "d/../../e", "c/d/../../e"},
    {"/a/b", "/a/b/c", "d/../../../e", NOPE},
    {"/a/b", "/a/b/c", "d/../e", "c/d/../e"},
};

#define E_NOCOMMON "input root detection failed: no common paths in inputs: "
#define E_BADROOT  "input root detection failed: bad input root: "

/* clang-format off */
static const root_case_t root_cases[] = {
    /* what, cwd, argv0, {inputs}, {args}, opts, exec_root, expected */
    {"common prefix by elements", "/home/u/src/out",
     "../third_party/bin/clang", {"../a.cc", "../include/a.h", "gen/x.h"},
     {NULL}, "", NULL, "/home/u/src"},
    {"prefix by element, not by string", "/w/abc/out", "/usr/bin/gcc",
     {"/w/abd/x.h"}, {NULL}, "", NULL, "/w"},
    {"cwd alone is the root", "/w/out", "/usr/bin/gcc", {"a.c", "b/c.h"},
     {NULL}, "", NULL, "/w/out"},
    {"inputs cleaned", "/w/out", "/bin/cc", {"/w/x/../y/a.h", "./b.c"},
     {NULL}, "", NULL, "/w"},
    {"deep common dir", "/a/b/c/d", "/usr/bin/cc", {"/a/b/x", "/a/b/c/y"},
     {NULL}, "", NULL, "/a/b"},
    {"/usr excluded", "/home/u/src/out", "/usr/local/bin/clang",
     {"../a.cc", "/usr/include/stdio.h", "/usr/lib/gcc/x/crt.o"},
     {NULL}, "", NULL, "/home/u/src"},
    {"/usr string prefix excluded", "/w/out", "/bin/cc",
     {"../a.c", "/usrlocal/x.h"}, {NULL}, "", NULL, "/w"},
    {"/usr kept without the fork rule", "/home/u/src/out", "/usr/bin/clang",
     {"../a.cc", "/usr/include/stdio.h"}, {NULL}, "u", NULL,
     E_NOCOMMON "[/home/u/src/out /usr/include/stdio.h]"},
    {"chroot fallback", "/home/u/src/out", "/usr/bin/clang",
     {"../a.cc", "/usr/include/stdio.h"}, {NULL}, "cu", NULL, "/!"},
    {"cwd under /usr is never excluded", "/usr/src/p/out", "/usr/bin/gcc",
     {"../a.c"}, {NULL}, "", NULL, "/usr/src/p/out"},
    {"cwd under /usr without the fork rule", "/usr/src/p/out",
     "/usr/bin/gcc", {"../a.c"}, {NULL}, "u", NULL, "/usr/src/p"},
    {"argv0 /usr/bin skipped", "/w/out", "/usr/bin/gcc", {"../a.c"},
     {NULL}, "u", NULL, "/w"},
    {"argv0 /usr/sbin skipped", "/w/out", "/usr/sbin/x", {"../a.c"},
     {NULL}, "u", NULL, "/w"},
    {"argv0 /bin skipped", "/w/out", "/bin/cc", {"../a.c"}, {NULL}, "u",
     NULL, "/w"},
    {"argv0 /sbin skipped", "/w/out", "/sbin/cc", {"../a.c"}, {NULL}, "u",
     NULL, "/w"},
    {"argv0 /binx counted", "/w/out", "/binx/cc", {"../a.c"}, {NULL}, "",
     NULL, E_NOCOMMON "[/w/out /binx/cc]"},
    {"argv0 /opt counted", "/w/out", "/opt/bin/clang", {"../a.c"}, {NULL},
     "", NULL, E_NOCOMMON "[/w/out /opt/bin/clang]"},
    {"relative argv0 joined to cwd", "/w/x/out", "../bin/clang", {"a.c"},
     {NULL}, "", NULL, "/w/x"},
    {"argv0 prefix checked as sent", "/usr/x", "../bin/cc", {NULL}, {NULL},
     "u", NULL, E_BADROOT "/usr"},
    {"first pair without a common dir", "/w/out", "/usr/bin/cc",
     {"../a.c", "/x/y", "/z"}, {NULL}, "", NULL,
     E_NOCOMMON "[/w/out /x/y]"},
    {"pair found after narrowing", "/w/out", "/usr/bin/cc",
     {"/w/a", "/x"}, {NULL}, "", NULL, E_NOCOMMON "[/w/out /x]"},
    {"input escaping to /", "/w/out", "/usr/bin/cc", {"../../.."}, {NULL},
     "", NULL, E_NOCOMMON "[/w/out /]"},
    {"cwd / alone", "/", "/usr/bin/cc", {NULL}, {NULL}, "", NULL,
     E_NOCOMMON "[]"},
    {"cwd / with an input", "/", "/usr/bin/cc", {"a.c"}, {NULL}, "", NULL,
     E_NOCOMMON "[/ /a.c]"},
    {"cwd / with chroot", "/", "/usr/bin/cc", {"a.c"}, {NULL}, "c", NULL,
     "/!"},
    {"cwd not absolute", "w/out", "/usr/bin/cc", {"a.c"}, {NULL}, "", NULL,
     "bad input: cwd is not abs path: w/out"},

    /* bad roots (step 7) */
    {"bad root /usr", "/usr", "", {NULL}, {NULL}, "u", NULL,
     E_BADROOT "/usr"},
    {"bad root /usr/lib", "/usr/lib", "", {NULL}, {NULL}, "u", NULL,
     E_BADROOT "/usr/lib"},
    {"bad root /usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "",
     {NULL}, {NULL}, "u", NULL, E_BADROOT "/usr/lib/x86_64-linux-gnu"},
    {"bad root /lib", "/lib", "", {NULL}, {NULL}, "", NULL,
     E_BADROOT "/lib"},
    {"bad root /lib64", "/lib64", "", {NULL}, {NULL}, "", NULL,
     E_BADROOT "/lib64"},
    {"bad root /lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu/out", "",
     {"../a.c"}, {NULL}, "", NULL, E_BADROOT "/lib/x86_64-linux-gnu"},
    {"bad root found by narrowing", "/lib/a", "/bin/cc", {"/lib/b"},
     {NULL}, "c", NULL, E_BADROOT "/lib"},
    {"root /lib6 is fine", "/lib6", "", {NULL}, {NULL}, "", NULL, "/lib6"},
    {"root /libx is fine", "/libx/y", "", {"../z"}, {NULL}, "", NULL,
     "/libx"},
    {"root below a system dir is fine", "/lib/x86_64-linux-gnu/sub", "",
     {NULL}, {NULL}, "", NULL, "/lib/x86_64-linux-gnu/sub"},
    {"root /usr/local is fine", "/usr/local", "", {NULL}, {NULL}, "u", NULL,
     "/usr/local"},

    /* exec_root (step 3) */
    {"exec_root wins", "/w/out", "/opt/cc", {"/x/a.c"}, {NULL}, "",
     "/b/root", "/b/root"},
    {"exec_root / with chroot", "/w/out", "", {"a.c"}, {NULL}, "c", "/",
     "/!"},
    {"exec_root / without chroot", "/w/out", "", {"a.c"}, {NULL}, "", "/",
     "/"},
    {"exec_root is not checked", "/usr/out", "", {NULL}, {NULL}, "",
     "/usr", "/usr"},
    {"exec_root cleaned", "/w/out", "", {NULL}, {NULL}, "", "/a/b/",
     "/a/b"},

    /* sysroot (step 2) */
    {"--sysroot X", "/w/out", "/usr/bin/cc", {"../a.c"},
     {"clang", "--sysroot", "../../sysroot", "-c", "../a.c"}, "", NULL,
     E_NOCOMMON "[/w/out /sysroot]"},
    {"--sysroot=X", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot=../sys"}, "", NULL, "/w"},
    {"-isysroot X", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "-isysroot", "../sdk"}, "", NULL, "/w"},
    {"-isysrootX", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "-isysroot../sdk"}, "", NULL, "/w"},
    {"-isysroot wins", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "-isysroot", "../sdk", "--sysroot=../../elsewhere"}, "",
     NULL, "/w"},
    {"-isysroot wins (other order)", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot=../../elsewhere", "-isysroot../sdk"}, "", NULL,
     "/w"},
    {"last --sysroot wins", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot=../../a", "--sysroot=../b"}, "", NULL, "/w"},
    {"-Wno-missing-sysroot", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot", "../../x", "-Wno-missing-sysroot"}, "", NULL,
     "/w/out"},
    {"-Wall after -Wno-missing-sysroot", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "-Wno-missing-sysroot", "--sysroot=../sys", "-Wall"}, "",
     NULL, "/w"},
    {"-Wmissing-sysroot after -Wno-missing-sysroot", "/w/out",
     "/usr/bin/cc", {"a.c"},
     {"clang", "-Wno-missing-sysroot", "-Wmissing-sysroot",
      "--sysroot=../sys"}, "", NULL, "/w"},
    {"-Wall before -Wno-missing-sysroot", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "-Wall", "-Wno-missing-sysroot", "--sysroot=../sys"}, "",
     NULL, "/w/out"},
    {"absolute sysroot not a candidate", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot=/opt/sysroot"}, "", NULL, "/w/out"},
    {"--sysroot without a value", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot"}, "", NULL, "/w/out"},
    {"-isysroot without a value", "/w/out", "/usr/bin/cc", {"a.c"},
     {"clang", "--sysroot=../s", "-isysroot"}, "", NULL, "/w"},
    {"sysroot under /usr excluded", "/usr/w/out", "/usr/bin/cc", {NULL},
     {"clang", "--sysroot=../sys"}, "", NULL, "/usr/w/out"},
};
/* clang-format on */


static rx_str_t
s(const char *p)
{
    rx_str_t r;

    r.data = (u_char *) p;
    r.len = strlen(p);
    return r;
}

static int
str_is(const rx_str_t *got, const char *exp)
{
    int ok_ = got->len == strlen(exp) && memcmp(got->data, exp, got->len) == 0;

    if (!ok_) {
        printf("#   got \"%.*s\", expected \"%s\"\n", (int) got->len,
               (char *) got->data, exp);
    }
    return ok_;
}

static void
test_is_abs(void)
{
    rx_str_t p;

    p = s("");
    ok(!rx_path_is_abs(&p), "is_abs(\"\") = 0");
    p = s("/");
    ok(rx_path_is_abs(&p), "is_abs(\"/\") = 1");
    p = s("/a");
    ok(rx_path_is_abs(&p), "is_abs(\"/a\") = 1");
    p = s("a/b");
    ok(!rx_path_is_abs(&p), "is_abs(\"a/b\") = 0");
    p = s("./a");
    ok(!rx_path_is_abs(&p), "is_abs(\"./a\") = 0");
}

static void
test_clean(rx_pool_t *pool)
{
    rx_str_t in, out;
    size_t   i;

    for (i = 0; i < rx_nelems(clean_cases); i++) {
        in = s(clean_cases[i].in);
        ok(rx_path_clean(pool, &in, &out) == RX_OK
               && str_is(&out, clean_cases[i].exp),
           "clean(\"%s\") = \"%s\"", clean_cases[i].in, clean_cases[i].exp);
    }
}

static void
test_join(rx_pool_t *pool)
{
    rx_str_t a, b, out;
    size_t   i;

    for (i = 0; i < rx_nelems(join_cases); i++) {
        a = s(join_cases[i].a);
        b = s(join_cases[i].b);
        ok(rx_path_join(pool, &a, &b, &out) == RX_OK
               && str_is(&out, join_cases[i].exp),
           "join(\"%s\", \"%s\") = \"%s\"", join_cases[i].a, join_cases[i].b,
           join_cases[i].exp);
    }
}

static void
test_dir(rx_pool_t *pool)
{
    rx_str_t in, out;
    size_t   i;

    for (i = 0; i < rx_nelems(dir_cases); i++) {
        in = s(dir_cases[i].in);
        ok(rx_path_dir(pool, &in, &out) == RX_OK
               && str_is(&out, dir_cases[i].exp),
           "dir(\"%s\") = \"%s\"", dir_cases[i].in, dir_cases[i].exp);
    }
}

static void
test_rel(rx_pool_t *pool)
{
    rx_str_t a, b, out;
    rx_int_t rc;
    size_t   i;

    for (i = 0; i < rx_nelems(rel_cases); i++) {
        a = s(rel_cases[i].a);
        b = s(rel_cases[i].b);
        rc = rx_path_rel(pool, &a, &b, &out);
        if (rel_cases[i].exp == NOPE) {
            is_int(rc, RX_ERROR, "rel(\"%s\", \"%s\") fails", rel_cases[i].a,
                   rel_cases[i].b);
            continue;
        }
        ok(rc == RX_OK && str_is(&out, rel_cases[i].exp),
           "rel(\"%s\", \"%s\") = \"%s\"", rel_cases[i].a, rel_cases[i].b,
           rel_cases[i].exp);
    }
}

static void
test_root_rel(rx_pool_t *pool)
{
    const root_rel_case_t *c;
    rx_str_t               root, cwd, name, out;
    rx_int_t               rc;
    size_t                 i;

    for (i = 0; i < rx_nelems(root_rel_cases); i++) {
        c = &root_rel_cases[i];
        root = s(c->root);
        cwd = s(c->cwd);
        name = s(c->name);
        rc = rx_exec_root_rel(pool, &root, &cwd, &name, &out);
        if (c->exp == NOPE) {
            is_int(rc, RX_DECLINED, "rootRel(%s, cwd %s, \"%s\") out of root",
                   c->root, c->cwd, c->name);
            continue;
        }
        ok(rc == RX_OK && str_is(&out, c->exp),
           "rootRel(%s, cwd %s, \"%s\") = \"%s\"", c->root, c->cwd, c->name,
           c->exp);
    }
}

/* more elements and text than the stack buffers hold */
static void
test_root_rel_long(rx_pool_t *pool)
{
    char     root[2048], name[4100], exp[2048], *p, *q;
    rx_str_t r, cwd, n, out;
    int      i;

    p = root;
    for (i = 0; i < 40; i++) {
        p += sprintf(p, "/d%02d", i);
    }
    q = exp;
    for (i = 0; i < 60; i++) {
        q += sprintf(q, "%sfile-component-%02d", i ? "/" : "", i);
    }
    snprintf(name, sizeof(name), "%s/%s", root, exp);
    r = s(root);
    cwd = s(root);
    n = s(name);
    ok(rx_exec_root_rel(pool, &r, &cwd, &n, &out) == RX_OK && str_is(&out, exp),
       "rootRel with 100 elements, absolute name");
    n = s(exp);
    ok(rx_exec_root_rel(pool, &r, &cwd, &n, &out) == RX_OK && str_is(&out, exp),
       "rootRel with 100 elements, relative name");
    ok(rx_path_clean(pool, &n, &out) == RX_OK && str_is(&out, exp),
       "clean of a long path is itself");
    ok(rx_path_join(pool, &r, &n, &out) == RX_OK && str_is(&out, name),
       "join of long paths");
    ok(rx_path_rel(pool, &r, &cwd, &out) == RX_OK && str_is(&out, "."),
       "rel of a long path to itself");
    n = s(name);
    ok(rx_path_rel(pool, &n, &r, &out) == RX_OK && out.len == 60 * 3 - 1,
       "rel up 60 elements");
}

static void
run_root_case(rx_pool_t *pool, const root_case_t *c)
{
    rx_exec_root_in_t in;
    rx_str_t          inputs[MAXV], root;
    const char       *err, *exp;
    int               need, rc, chroot;

    rx_memzero(&in, sizeof(in));
    in.cwd = s(c->cwd);
    for (in.ninputs = 0; c->inputs[in.ninputs]; in.ninputs++) {
        inputs[in.ninputs] = s(c->inputs[in.ninputs]);
    }
    in.inputs = inputs;
    in.argv0 = s(c->argv0);
    in.args = (char **) c->args;
    for (in.nargs = 0; c->args[in.nargs]; in.nargs++) {
        /* void */
    }
    in.allow_chroot = strchr(c->opts, 'c') != NULL;
    in.exclude_usr = strchr(c->opts, 'u') == NULL;
    in.exec_root = s(c->exec_root ? c->exec_root : "");
    need = -1;
    err = "unset";
    rc = rx_exec_input_root(pool, &in, &root, &need, &err);
    if (c->exp[0] != '/') {
        ok(rc == RX_ERROR && err != NULL && strcmp(err, c->exp) == 0,
           "input root: %s: error", c->what);
        if (rc != RX_ERROR || err == NULL || strcmp(err, c->exp) != 0) {
            printf("#   got rc %d err \"%s\"\n", rc, err ? err : "(null)");
        }
        return;
    }
    chroot = strcmp(c->exp, "/!") == 0;
    exp = chroot ? "/" : c->exp;
    ok(rc == RX_OK && err == NULL && str_is(&root, exp)
           && root.data[root.len] == '\0' && need == chroot,
       "input root: %s: %s%s", c->what, exp, chroot ? " (chroot)" : "");
}

static void
test_input_root(rx_pool_t *pool)
{
    size_t i;

    for (i = 0; i < rx_nelems(root_cases); i++) {
        run_root_case(pool, &root_cases[i]);
    }
}

/* thousands of inputs under a deep cwd; one outlier at the end */
static void
test_input_root_many(rx_pool_t *pool)
{
    rx_exec_root_in_t in;
    rx_str_t         *inputs, root;
    const char       *err;
    char             *buf;
    int               need, i;

    inputs = rx_palloc(pool, 3001 * sizeof(rx_str_t));
    for (i = 0; i < 3000; i++) {
        buf = rx_pnalloc(pool, 64);
        snprintf(buf, 64, "../../gen/dir%d/../dir%d/file%d.h", i % 7, i % 5, i);
        inputs[i] = s(buf);
    }
    rx_memzero(&in, sizeof(in));
    in.cwd = s("/b/s/w/ir/cache/builder/src/out/Release");
    in.inputs = inputs;
    in.ninputs = 3000;
    in.argv0 = s("../../third_party/llvm-build/Release+Asserts/bin/clang");
    in.exclude_usr = 1;
    ok(rx_exec_input_root(pool, &in, &root, &need, &err) == RX_OK
           && str_is(&root, "/b/s/w/ir/cache/builder/src") && need == 0,
       "input root of 3000 inputs");
    inputs[3000] = s("/b/s/w/ir/x.h");
    in.ninputs = 3001;
    ok(rx_exec_input_root(pool, &in, &root, &need, &err) == RX_OK
           && str_is(&root, "/b/s/w/ir") && need == 0,
       "input root narrowed by the last input");
}

static void
test_nul_terminated(rx_pool_t *pool)
{
    rx_str_t a, b, out;

    a = s("x/y/z");
    b = s("w");
    ok(rx_path_clean(pool, &a, &out) == RX_OK && out.data[out.len] == '\0',
       "clean result NUL-terminated");
    ok(rx_path_dir(pool, &a, &out) == RX_OK && out.data[out.len] == '\0',
       "dir result NUL-terminated");
    ok(rx_path_join(pool, &a, &b, &out) == RX_OK && out.data[out.len] == '\0',
       "join result NUL-terminated");
    a = s("");
    ok(rx_path_join(pool, &a, &a, &out) == RX_OK && out.len == 0
           && out.data != NULL && out.data[0] == '\0',
       "empty join result is an empty NUL-terminated string");
    a = s("/r");
    b = s("/r");
    ok(rx_exec_root_rel(pool, &a, &a, &b, &out) == RX_OK && out.len == 0
           && out.data != NULL && out.data[0] == '\0',
       "rootRel of the root is an empty NUL-terminated string");
}

/* a pool that refuses to grow: errors, no crash */
static void
test_oom(void)
{
    rx_exec_root_in_t in;
    rx_pool_t        *pool;
    rx_str_t          a, b, out, root;
    const char       *err;
    char              big[4096];
    int               need;

    pool = rx_create_pool(1024, &rx_log_stderr);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pool->limit = 1;
    pool->total = 1;
    a = s(big);
    b = s("b");
    is_int(rx_path_clean(pool, &a, &out), RX_ERROR,
           "clean fails without memory");
    is_int(rx_path_join(pool, &a, &b, &out), RX_ERROR,
           "join fails without memory");
    is_int(rx_path_dir(pool, &a, &out), RX_ERROR, "dir fails without memory");
    is_int(rx_path_rel(pool, &b, &b, &out), RX_ERROR,
           "rel fails without memory");
    is_int(rx_exec_root_rel(pool, &b, &b, &a, &out), RX_ERROR,
           "rootRel fails without memory");
    rx_memzero(&in, sizeof(in));
    in.cwd = s("/w/out");
    in.argv0 = s("x");
    is_int(rx_exec_input_root(pool, &in, &root, &need, &err), RX_ERROR,
           "input root fails without memory");
    rx_destroy_pool(pool);
}

int
main(void)
{
    rx_pool_t *pool;

    pool = rx_create_pool(RX_POOL_DEFAULT_SIZE, &rx_log_stderr);
    if (pool == NULL) {
        return 1;
    }
    test_is_abs();
    test_clean(pool);
    test_join(pool);
    test_dir(pool);
    test_rel(pool);
    test_root_rel(pool);
    test_root_rel_long(pool);
    test_input_root(pool);
    test_input_root_many(pool);
    test_nul_terminated(pool);
    rx_destroy_pool(pool);
    test_oom();
    return done_testing();
}
