/*
 * Compiler-specific rules (REMOTEEXEC.md §7): relocatability checks for
 * gcc/clang (§7.1) and clang-cl (§7.2), outputs computed from the command
 * line (§6.6, §7.1–§7.3), and target normalization (§6.3.1).
 *
 * The gcc and clang-cl checks share one argument loop driven by a rule
 * table. Each step returns RX_OK (argument consumed), RX_DECLINED (not
 * this step's argument), RX_DONE (request rejected, reason set) or
 * RX_ERROR (allocation failure).
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec_rules.h>

typedef enum {
    RX_SUB_NONE = 0,
    RX_SUB_CLANG,
    RX_SUB_LLVM,
    RX_SUB_AS,
    RX_SUB_LD,
    RX_SUB_CPP,
    RX_SUB_N
} rx_sub_e;

typedef struct {
    const char *const *joined;     /* joined path flags, longest first */
    const char *const *path_flags; /* the next argument is a path */
    const char *const *exact_ok;
    const char *const *prefix_ok;
    unsigned           gcc : 1; /* gcc-only rules (§7.1 vs §7.2) */
} rx_cc_rules_t;

typedef struct {
    rx_pool_t           *pool;
    const rx_cc_rules_t *rules;
    const char          *reason;
    const char          *debug; /* first -g flag since the last -g0 */
    rx_sub_e             sub;   /* the next argument belongs to it */
    unsigned             path_flag : 1;
    unsigned             debug_dir : 1;
    rx_array_t           subs[RX_SUB_N]; /* rx_str_t */
} rx_reloc_t;

typedef struct {
    rx_str_t arch; /* the arch type */
    rx_str_t vendor;
    rx_str_t os;
    rx_str_t env;
} rx_target_t;

static int      rx_reloc_check(rx_reloc_t *st, char **args, rx_uint_t nargs,
                               char **env, rx_uint_t nenv);
static rx_int_t rx_reloc_arg(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_path(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_joined(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_debug_dir(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_flag(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_sub_flag(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_accepted(rx_reloc_t *st, const char *arg);
static rx_int_t rx_reloc_push(rx_reloc_t *st, rx_sub_e sub, const char *s,
                              size_t len);
static rx_int_t rx_reloc_push_list(rx_reloc_t *st, rx_sub_e sub,
                                   const char *list);
static rx_int_t rx_reloc_finish(rx_reloc_t *st, char **env, rx_uint_t nenv);
static rx_int_t rx_reloc_subs(rx_reloc_t *st);
static rx_int_t rx_reloc_clang(rx_reloc_t *st, rx_array_t *a);
static rx_int_t rx_reloc_clang_cl(rx_reloc_t *st, rx_array_t *a);
static rx_int_t rx_reloc_llvm(rx_reloc_t *st, rx_array_t *a);
static rx_int_t rx_reloc_as(rx_reloc_t *st, rx_array_t *a);
static rx_int_t rx_reloc_env(rx_reloc_t *st, char **env, rx_uint_t nenv);
static rx_int_t rx_reloc_reject(rx_reloc_t *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int      rx_cl_warning_flag(const char *arg);
static int      rx_in_list(const char *const *list, const char *arg);
static int      rx_str_is(const rx_str_t *s, const char *lit);
static int      rx_in_prefixes(const char *const *list, const char *arg);
static int      rx_has_prefix(const char *s, const char *prefix);
static int      rx_has_suffix(const char *s, const char *suffix);
static int      rx_is_abs(const char *s);
static rx_int_t rx_out_push(rx_pool_t *pool, rx_array_t *a, const char *s,
                            size_t len);
static rx_int_t rx_gcc_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs,
                               rx_array_t *files);
static rx_int_t rx_gcc_object(rx_pool_t *pool, const char *obj, int dwo,
                              rx_array_t *files);
static rx_int_t rx_cl_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs,
                              rx_array_t *files);
static rx_int_t rx_javac_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs,
                                 rx_array_t *dirs);
static rx_int_t rx_target_parse(const rx_str_t *target, rx_target_t *t);
static void     rx_target_arch_type(const rx_str_t *arch, rx_str_t *type);
static int      rx_target_env(const rx_str_t *tok);
static rx_int_t rx_target_render(rx_pool_t *pool, rx_target_t *t,
                                 rx_str_t *out);
static u_char  *rx_target_append(u_char *p, const rx_str_t *s);


/* clang-format off */
static const char *const rx_gcc_joined[] = {
    "-fcrash-diagnostics-dir=", "-fprofile-sample-use=",
    "-fsanitize-blacklist=", "-fprofile-instr-use=", "-resource-dir=",
    "--include=", "--sysroot=", "--include", "-include=", "-include",
    "-isystem", "-o", "-B", "-F", "-I", NULL,
};

static const char *const rx_gcc_path_flags[] = {
    "-o", "-I", "-B", "-F", "-isystem", "-include", "-MF", "-isysroot",
    "--sysroot", "-idirafter", NULL,
};

static const char *const rx_gcc_prefix_ok[] = {
    "-w", "-W", "-D", "-U", "-O", "-f", "-m", "-no", "-std", "--param=",
    "--target=", NULL,
};

static const char *const rx_gcc_exact_ok[] = {
    "-arch", "-target", "-integrated-as", "-pedantic", "-pipe", "-pie",
    "-pthread", "-c", "-MMD", "-MD", "-M", "-Qunused-arguments",
    "-static-libgcc", NULL,
};

static const char *const rx_cl_joined[] = {
    "-fcrash-diagnostics-dir=", "-fprofile-sample-use=",
    "-fsanitize-blacklist=", "-fprofile-instr-use=", "-resource-dir=",
    "/vctoolsdir", "/winsysroot", "/winsdkdir", "--sysroot=", "-include=",
    "-isystem", "-imsvc", "/FA", "/FI", "/FR", "/FU", "/Fa", "/Fd", "/Fe",
    "/Fl", "/Fm", "/Fo", "/Fp", "/Fr", "/Fx", "-B", "-I", "-o", NULL,
};

static const char *const rx_cl_path_flags[] = {
    "-o", "-I", "-B", "-isystem", "-include", "-MF", "-isysroot", NULL,
};

static const char *const rx_cl_prefix_ok[] = {
    "-w", "-W", "-D", "-U", "-O", "-f", "-m", "-no", "-std", "--param=",
    "--target=", "/D", "/EH", "/Zc:", "/arch:", "/clang:", "/guard:cf",
    "/showIncludes:", "/std:c++", "/Wv:", NULL,
};

static const char *const rx_cl_exact_ok[] = {
    "-arch", "-integrated-as", "-pedantic", "-pipe", "-pthread", "-c",
    "-MMD", "-MD", "-M", "-Qunused-arguments",
    "/nologo", "/Brepro", "/Brepro-", "/FS", "/Gy", "/Gy-", "/bigobj",
    "/utf-8", "/X", "/Z7", "/Zi", "/ZI", "/MD", "/MT", "/LD", "/MDd",
    "/MTd", "/LDd", "/Tc", "/Tp", "/TC", "/TP", "/Gd", "/Gr", "/Gv", "/Gz",
    "/GR", "/GR-", "/GS", "/GS-", "/Gr-", "/Gw", "/Gw-", "/GF", "/c",
    "/showIncludes",
    /* warnings (also /w1nnnn etc., see rx_cl_warning_flag()) */
    "/w", "/W0", "/W1", "/W2", "/W3", "/W4", "/Wall", "/WX", "/Wv",
    /* optimization */
    "/O1", "/O2", "/Ob0", "/Ob1", "/Ob2", "/Ob3", "/Od", "/Og", "/Oi",
    "/Oi-", "/Os", "/Ot", "/Ox", "/Oy", "/Oy-", NULL,
};

static const char *const rx_llvm_prefix_ok[] = {
    "-asan-", "-regalloc=", "-pbqp-", "-instcombine-", "-basic-aa",
    "-sanitizer-coverage-", "-enable-dse-memoryssa=", NULL,
};

static const char *const rx_target_envs[] = {
    "eabi", "gnu", "gnueabi", "gnueabihf", "macho", "android",
    "androideabi", "uclibc", "msvc", NULL,
};
/* clang-format on */

static const char *const rx_sub_names[] = {
    "", "clang", "llvm", "as", "ld", "cpp",
};

static const rx_cc_rules_t rx_gcc_rules = {
    rx_gcc_joined, rx_gcc_path_flags, rx_gcc_exact_ok, rx_gcc_prefix_ok, 1,
};

static const rx_cc_rules_t rx_cl_rules = {
    rx_cl_joined, rx_cl_path_flags, rx_cl_exact_ok, rx_cl_prefix_ok, 0,
};


rx_cc_kind_e
rx_exec_compiler_kind(const rx_str_t *name)
{
    if (rx_str_is(name, "gcc") || rx_str_is(name, "g++")
        || rx_str_is(name, "clang") || rx_str_is(name, "clang++")) {
        return RX_CC_GCC;
    }
    if (rx_str_is(name, "clang-cl")) {
        return RX_CC_CLANG_CL;
    }
    return rx_str_is(name, "javac") ? RX_CC_JAVAC : RX_CC_OTHER;
}


/* ---------------------------------------------------------- relocatability */

int
rx_exec_relocatable(rx_pool_t *pool, const rx_str_t *name, char **args,
                    rx_uint_t nargs, char **env, rx_uint_t nenv,
                    const char **reason)
{
    rx_cc_kind_e kind;
    rx_reloc_t   st;

    *reason = NULL;
    kind = rx_exec_compiler_kind(name);
    if (kind == RX_CC_JAVAC) {
        return 1;
    }
    if (kind == RX_CC_OTHER) {
        *reason = "no relocatability rules for this compiler";
        return 0;
    }
    rx_memzero(&st, sizeof(rx_reloc_t));
    st.pool = pool;
    st.rules = (kind == RX_CC_GCC) ? &rx_gcc_rules : &rx_cl_rules;
    if (rx_reloc_check(&st, args, nargs, env, nenv)) {
        return 1;
    }
    *reason = st.reason ? st.reason : "not relocatable: out of memory";
    return 0;
}

static int
rx_reloc_check(rx_reloc_t *st, char **args, rx_uint_t nargs, char **env,
               rx_uint_t nenv)
{
    rx_uint_t i;
    rx_int_t  rc;

    for (i = 0; i < nargs; i++) {
        if (args[i] == NULL) {
            continue;
        }
        rc = rx_reloc_arg(st, args[i]);
        if (rc == RX_DONE || rc == RX_ERROR) {
            return 0;
        }
    }
    return rx_reloc_finish(st, env, nenv) == RX_OK;
}

/* one argument: §7.1 steps 1–13 in order */
static rx_int_t
rx_reloc_arg(rx_reloc_t *st, const char *arg)
{
    rx_int_t rc;

    if (st->path_flag) {
        return rx_reloc_path(st, arg);
    }
    if (st->rules->gcc && rx_has_prefix(arg, "-I")
        && rx_has_suffix(arg, ".hmap")) {
        return rx_reloc_reject(st, "hmap file: %s", arg);
    }
    rc = rx_reloc_joined(st, arg);
    if (rc != RX_DECLINED) {
        return rc;
    }
    if (st->rules->gcc && strcmp(arg, "-fdebug-compilation-dir") == 0) {
        return rx_reloc_debug_dir(st, arg);
    }
    if (st->sub != RX_SUB_NONE) {
        rc = rx_reloc_push(st, st->sub, arg, strlen(arg));
        st->sub = RX_SUB_NONE;
        return rc;
    }
    return rx_reloc_flag(st, arg);
}

/* step 1: the argument after a path flag */
static rx_int_t
rx_reloc_path(rx_reloc_t *st, const char *arg)
{
    st->path_flag = 0;
    if (rx_is_abs(arg)) {
        return rx_reloc_reject(st, "abs path: %s", arg);
    }
    if (st->rules->gcc && rx_has_suffix(arg, ".hmap")) {
        return rx_reloc_reject(st, "hmap file: %s", arg);
    }
    return RX_OK;
}

/* step 3: joined path flags such as -I<dir> */
static rx_int_t
rx_reloc_joined(rx_reloc_t *st, const char *arg)
{
    const char *const *fp;
    size_t             n;

    for (fp = st->rules->joined; *fp; fp++) {
        n = strlen(*fp);
        if (strncmp(arg, *fp, n) == 0 && arg[n] != '\0') {
            if (rx_is_abs(arg + n)) {
                return rx_reloc_reject(st, "abs path: %s", arg);
            }
            return RX_OK;
        }
    }
    return RX_DECLINED;
}

/* step 4: -fdebug-compilation-dir, alone or after -Xclang (gcc only) */
static rx_int_t
rx_reloc_debug_dir(rx_reloc_t *st, const char *arg)
{
    switch (st->sub) {
    case RX_SUB_CLANG:
        if (rx_reloc_push(st, RX_SUB_CLANG, arg, strlen(arg)) != RX_OK) {
            return RX_ERROR;
        }
        /* fall through */
    case RX_SUB_NONE:
        st->debug_dir = 1;
        return RX_OK; /* the sub-command is not cleared */
    default:
        return rx_reloc_reject(st,
                               "fdebug-compilation-dir not supported "
                               "for %s",
                               rx_sub_names[st->sub]);
    }
}

/* steps 6–13 */
static rx_int_t
rx_reloc_flag(rx_reloc_t *st, const char *arg)
{
    rx_int_t rc;

    if (rx_has_prefix(arg, "-g")) {
        if (strcmp(arg, "-g0") == 0) {
            st->debug = NULL;
        } else if (st->debug == NULL) {
            st->debug = arg;
        }
        return RX_OK;
    }
    if (st->rules->gcc && strcmp(arg, "--pnacl-allow-translate") == 0) {
        return rx_reloc_reject(st, "pnacl-allow-translate");
    }
    rc = rx_reloc_sub_flag(st, arg);
    if (rc != RX_DECLINED) {
        return rc;
    }
    rc = rx_reloc_accepted(st, arg);
    if (rc != RX_DECLINED) {
        return rc;
    }
    if (arg[0] == '-' || (!st->rules->gcc && arg[0] == '/')) {
        return rx_reloc_reject(st, "unknown flag: %s", arg);
    }
    if (rx_is_abs(arg)) {
        return rx_reloc_reject(st, "abs path: %s", arg);
    }
    return RX_OK;
}

/* steps 8–9: -Wa, -Wl, -Wp, lists; -Xclang and -mllvm */
static rx_int_t
rx_reloc_sub_flag(rx_reloc_t *st, const char *arg)
{
    if (rx_has_prefix(arg, "-Wa,")) {
        return rx_reloc_push_list(st, RX_SUB_AS, arg + 4);
    }
    if (rx_has_prefix(arg, "-Wl,")) {
        return rx_reloc_push_list(st, RX_SUB_LD, arg + 4);
    }
    if (rx_has_prefix(arg, "-Wp,")) {
        return rx_reloc_push_list(st, RX_SUB_CPP, arg + 4);
    }
    if (strcmp(arg, "-Xclang") == 0) {
        st->sub = RX_SUB_CLANG;
        return RX_OK;
    }
    if (strcmp(arg, "-mllvm") == 0) {
        st->sub = RX_SUB_LLVM;
        return RX_OK;
    }
    return RX_DECLINED;
}

/* steps 10–11 and the clang-cl flags of §7.2 */
static rx_int_t
rx_reloc_accepted(rx_reloc_t *st, const char *arg)
{
    const rx_cc_rules_t *r = st->rules;

    if (rx_in_prefixes(r->prefix_ok, arg) || rx_in_list(r->exact_ok, arg)) {
        return RX_OK;
    }
    if (rx_in_list(r->path_flags, arg)) {
        st->path_flag = 1;
        return RX_OK;
    }
    if (r->gcc) {
        return RX_DECLINED;
    }
    if (rx_cl_warning_flag(arg)) {
        return RX_OK;
    }
    if (strcmp(arg, "/FC") == 0) {
        return rx_reloc_reject(st, "needs full path: %s", arg);
    }
    return RX_DECLINED;
}

/* /w1nnnn../w4nnnn, /wdnnnn, /wennnn, /wonnnn with nnnn in 4000–5999 */
static int
rx_cl_warning_flag(const char *arg)
{
    int i;

    if (strlen(arg) != 7 || strncmp(arg, "/w", 2) != 0
        || strchr("1234deo", arg[2]) == NULL) {
        return 0;
    }
    for (i = 3; i < 7; i++) {
        if (arg[i] < '0' || arg[i] > '9') {
            return 0;
        }
    }
    return arg[3] == '4' || arg[3] == '5';
}

static rx_int_t
rx_reloc_push(rx_reloc_t *st, rx_sub_e sub, const char *s, size_t len)
{
    rx_array_t *a = &st->subs[sub];
    rx_str_t   *v;

    if (a->elts == NULL
        && rx_array_init(a, st->pool, 4, sizeof(rx_str_t)) != RX_OK) {
        return RX_ERROR;
    }
    v = rx_array_push(a);
    if (v == NULL) {
        return RX_ERROR;
    }
    v->data = (u_char *) s;
    v->len = len;
    return RX_OK;
}

/* "x,y" -> x, y (an empty list still gives one empty argument) */
static rx_int_t
rx_reloc_push_list(rx_reloc_t *st, rx_sub_e sub, const char *list)
{
    const char *c;

    for (;;) {
        c = strchr(list, ',');
        if (c == NULL) {
            return rx_reloc_push(st, sub, list, strlen(list));
        }
        if (rx_reloc_push(st, sub, list, (size_t) (c - list)) != RX_OK) {
            return RX_ERROR;
        }
        list = c + 1;
    }
}

/* after the loop: debug build, sub-tool arguments, environment */
static rx_int_t
rx_reloc_finish(rx_reloc_t *st, char **env, rx_uint_t nenv)
{
    rx_int_t rc;

    if (st->rules->gcc && st->debug != NULL && !st->debug_dir) {
        return rx_reloc_reject(st, "debug build: %s", st->debug);
    }
    rc = rx_reloc_subs(st);
    if (rc != RX_OK || !st->rules->gcc) {
        return rc;
    }
    return rx_reloc_env(st, env, nenv);
}

static rx_int_t
rx_reloc_subs(rx_reloc_t *st)
{
    rx_array_t *a;
    rx_str_t   *v;
    rx_int_t    rc;
    int         sub;

    a = &st->subs[RX_SUB_CLANG];
    rc = st->rules->gcc ? rx_reloc_clang(st, a) : rx_reloc_clang_cl(st, a);
    if (rc != RX_OK) {
        return rc;
    }
    rc = rx_reloc_llvm(st, &st->subs[RX_SUB_LLVM]);
    if (rc != RX_OK) {
        return rc;
    }
    rc = st->rules->gcc ? rx_reloc_as(st, &st->subs[RX_SUB_AS]) : RX_OK;
    if (rc != RX_OK) {
        return rc;
    }
    for (sub = st->rules->gcc ? RX_SUB_LD : RX_SUB_AS; sub < RX_SUB_N; sub++) {
        a = &st->subs[sub];
        if (a->nelts) {
            v = a->elts;
            return rx_reloc_reject(st, "unsupported subcommand args %s: %.*s",
                                   rx_sub_names[sub], (int) v->len,
                                   (char *) v->data);
        }
    }
    return RX_OK;
}

/* -Xclang arguments of gcc/clang (§7.1) */
static rx_int_t
rx_reloc_clang(rx_reloc_t *st, rx_array_t *a)
{
    static const char *const skip[] = {"-mllvm", "-add-plugin",
                                       "-fdebug-compilation-dir", NULL};
    rx_str_t                *v = a->elts;
    rx_uint_t                i;
    int                      path = 0, skipping = 0;

    for (i = 0; i < a->nelts; i++) {
        if (path && v[i].len && v[i].data[0] == '/') {
            return rx_reloc_reject(st, "clang abs path: %s", v[i].data);
        }
        if (path || skipping) {
            path = skipping = 0;
        } else if (rx_in_list(skip, (char *) v[i].data)
                   || rx_has_prefix((char *) v[i].data, "-plugin-arg-")) {
            skipping = 1;
        } else if (strcmp((char *) v[i].data, "-load") == 0) {
            path = 1;
        } else if (!rx_has_prefix((char *) v[i].data, "-debug-info-kind=")
                   && strcmp((char *) v[i].data,
                             "-fno-experimental-new-pass-manager")
                          != 0) {
            return rx_reloc_reject(st, "clang unknown arg: %s", v[i].data);
        }
    }
    return RX_OK;
}

/* -Xclang arguments of clang-cl (§7.2) */
static rx_int_t
rx_reloc_clang_cl(rx_reloc_t *st, rx_array_t *a)
{
    static const char *const skip[] = {"-add-plugin", "-mllvm",
                                       "-plugin-arg-blink-gc-plugin", NULL};
    rx_str_t                *v = a->elts;
    rx_uint_t                i;
    int                      path = 0, skipping = 0;

    for (i = 0; i < a->nelts; i++) {
        if (path && v[i].len && v[i].data[0] == '/') {
            return rx_reloc_reject(st, "clang-cl abs path: %s", v[i].data);
        }
        if (path || skipping) {
            path = skipping = 0;
        } else if (strcmp((char *) v[i].data, "-fdebug-compilation-dir") == 0) {
            path = 1;
        } else if (rx_in_list(skip, (char *) v[i].data)) {
            skipping = 1;
        } else if (!rx_has_prefix((char *) v[i].data, "-debug-info-kind")) {
            return rx_reloc_reject(st, "clang-cl unknown arg: %s", v[i].data);
        }
    }
    return RX_OK;
}

static rx_int_t
rx_reloc_llvm(rx_reloc_t *st, rx_array_t *a)
{
    rx_str_t *v = a->elts;
    rx_uint_t i;

    for (i = 0; i < a->nelts; i++) {
        if (!rx_in_prefixes(rx_llvm_prefix_ok, (char *) v[i].data)) {
            return rx_reloc_reject(st, "llvm unknown arg: %s", v[i].data);
        }
    }
    return RX_OK;
}

/* -Wa, pieces are not NUL-terminated: compare by length */
static rx_int_t
rx_reloc_as(rx_reloc_t *st, rx_array_t *a)
{
    static const rx_str_t ok = rx_string("--fatal-warnings");
    rx_str_t             *v = a->elts;
    rx_uint_t             i;

    for (i = 0; i < a->nelts; i++) {
        if (!rx_str_eq(&v[i], &ok)) {
            return rx_reloc_reject(st, "unsupported subcommand args as: %.*s",
                                   (int) v[i].len, (char *) v[i].data);
        }
    }
    return RX_OK;
}

static rx_int_t
rx_reloc_env(rx_reloc_t *st, char **env, rx_uint_t nenv)
{
    const char *eq;
    rx_uint_t   i;

    for (i = 0; i < nenv; i++) {
        if (env[i] == NULL) {
            continue;
        }
        eq = strchr(env[i], '=');
        if (eq == NULL) {
            return rx_reloc_reject(st, "bad environment variable: %s", env[i]);
        }
        if (eq - env[i] == 3 && strncmp(env[i], "PWD", 3) == 0) {
            continue;
        }
        if (rx_is_abs(eq + 1)) {
            return rx_reloc_reject(st, "abs path in env %s", env[i]);
        }
    }
    return RX_OK;
}

static rx_int_t
rx_reloc_reject(rx_reloc_t *st, const char *fmt, ...)
{
    va_list args;
    char   *p;
    int     n;

    st->reason = "not relocatable";
    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0) {
        return RX_DONE;
    }
    p = rx_pnalloc(st->pool, (size_t) n + 1);
    if (p == NULL) {
        return RX_DONE;
    }
    va_start(args, fmt);
    vsnprintf(p, (size_t) n + 1, fmt, args);
    va_end(args);
    st->reason = p;
    return RX_DONE;
}


/* ---------------------------------------------------------- helpers */

static int
rx_in_list(const char *const *list, const char *arg)
{
    for (; *list; list++) {
        if (strcmp(*list, arg) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
rx_str_is(const rx_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}

static int
rx_in_prefixes(const char *const *list, const char *arg)
{
    for (; *list; list++) {
        if (rx_has_prefix(arg, *list)) {
            return 1;
        }
    }
    return 0;
}

static int
rx_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
rx_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int
rx_is_abs(const char *s)
{
    return s[0] == '/';
}


/* ---------------------------------------------------------- outputs */

rx_int_t
rx_exec_outputs(rx_pool_t *pool, const rx_str_t *name, char **args,
                rx_uint_t nargs, rx_array_t *files, rx_array_t *dirs)
{
    switch (rx_exec_compiler_kind(name)) {
    case RX_CC_GCC:
        return rx_gcc_outputs(pool, args, nargs, files);
    case RX_CC_CLANG_CL:
        return rx_cl_outputs(pool, args, nargs, files);
    case RX_CC_JAVAC:
        return rx_javac_outputs(pool, args, nargs, dirs);
    default:
        return RX_OK;
    }
}

static rx_int_t
rx_out_push(rx_pool_t *pool, rx_array_t *a, const char *s, size_t len)
{
    rx_str_t *v, src;

    v = rx_array_push(a);
    if (v == NULL) {
        return RX_ERROR;
    }
    src.data = (u_char *) s;
    src.len = len;
    return rx_str_dup(pool, v, &src);
}

/* -o X / -oX (last wins), -MF X / -MFX (all), -gsplit-dwarf */
static rx_int_t
rx_gcc_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs, rx_array_t *files)
{
    const char *a, *obj = NULL;
    int         out_arg = 0, mf_arg = 0, dwo = 0;
    rx_uint_t   i;

    for (i = 0; i < nargs; i++) {
        a = args[i] ? args[i] : "";
        if (strcmp(a, "-o") == 0) {
            out_arg = 1;
        } else if (out_arg) {
            obj = a;
            out_arg = 0;
        } else if (rx_has_prefix(a, "-o")) {
            obj = a + 2;
        } else if (strcmp(a, "-gsplit-dwarf") == 0) {
            dwo = 1;
        } else if (strcmp(a, "-MF") == 0) {
            mf_arg = 1;
        } else if (mf_arg || rx_has_prefix(a, "-MF")) {
            a += mf_arg ? 0 : 3;
            mf_arg = 0;
            if (rx_out_push(pool, files, a, strlen(a)) != RX_OK) {
                return RX_ERROR;
            }
        }
    }
    return rx_gcc_object(pool, obj, dwo, files);
}

static rx_int_t
rx_gcc_object(rx_pool_t *pool, const char *obj, int dwo, rx_array_t *files)
{
    rx_str_t *v;
    size_t    n;

    if (obj == NULL || obj[0] == '\0') {
        return RX_OK;
    }
    n = strlen(obj);
    if (rx_out_push(pool, files, obj, n) != RX_OK) {
        return RX_ERROR;
    }
    if (!dwo) {
        return RX_OK;
    }
    n -= rx_has_suffix(obj, ".o") ? 2 : 0;
    v = rx_array_push(files);
    if (v == NULL) {
        return RX_ERROR;
    }
    v->data = rx_pnalloc(pool, n + sizeof(".dwo"));
    if (v->data == NULL) {
        return RX_ERROR;
    }
    memcpy(rx_cpymem(v->data, obj, n), ".dwo", sizeof(".dwo"));
    v->len = n + sizeof(".dwo") - 1;
    return RX_OK;
}

/* /o X, -o X, /oX, -oX, and /Fo /Fi /Fa /Fe /Fp (also with '-') */
static rx_int_t
rx_cl_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs, rx_array_t *files)
{
    const char *a, *f = NULL;
    int         out_arg = 0;
    rx_uint_t   i;
    size_t      n;

    for (i = 0; i < nargs; i++, f = NULL) {
        a = args[i] ? args[i] : "";
        n = strlen(a);
        if (out_arg) {
            f = a;
            out_arg = 0;
        } else if (strcmp(a, "/o") == 0 || strcmp(a, "-o") == 0) {
            out_arg = 1;
        } else if (n > 2 && (a[0] == '-' || a[0] == '/') && a[1] == 'o') {
            f = a + 2;
        } else if (n > 3 && (a[0] == '-' || a[0] == '/') && a[1] == 'F'
                   && strchr("oiaep", a[2]) != NULL) {
            f = a + 3;
        }
        if (f != NULL && rx_out_push(pool, files, f, strlen(f)) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

/* the argument after each -d and -s */
static rx_int_t
rx_javac_outputs(rx_pool_t *pool, char **args, rx_uint_t nargs,
                 rx_array_t *dirs)
{
    const char *a;
    int         dir_arg = 0;
    rx_uint_t   i;

    for (i = 0; i < nargs; i++) {
        a = args[i] ? args[i] : "";
        if (dir_arg) {
            dir_arg = 0;
            if (rx_out_push(pool, dirs, a, strlen(a)) != RX_OK) {
                return RX_ERROR;
            }
        } else if (strcmp(a, "-d") == 0 || strcmp(a, "-s") == 0) {
            dir_arg = 1;
        }
    }
    return RX_OK;
}


/* ---------------------------------------------------------- targets */

rx_int_t
rx_exec_normalize_target(rx_pool_t *pool, const rx_str_t *name,
                         const rx_str_t *target, rx_str_t *out)
{
    rx_target_t t;

    if (target->len == 0 || rx_str_is(target, "java")
        || rx_str_is(name, "cl.exe")) {
        return rx_str_dup(pool, out, target);
    }
    if (rx_target_parse(target, &t) != RX_OK) {
        return RX_ERROR;
    }
    return rx_target_render(pool, &t, out);
}

/* 2–4 tokens split on '-'; a known env token last is the env; then
 * arch [vendor os | os] remain, 4 being an error */
static rx_int_t
rx_target_parse(const rx_str_t *target, rx_target_t *t)
{
    rx_str_t  tok[4];
    rx_uint_t n;
    u_char   *p, *c, *end;

    rx_memzero(t, sizeof(rx_target_t));
    end = target->data + target->len;
    for (n = 0, p = target->data; n < 4; n++, p = c + 1) {
        c = memchr(p, '-', (size_t) (end - p));
        tok[n].data = p;
        tok[n].len = (size_t) ((c ? c : end) - p);
        if (c == NULL) {
            break;
        }
    }
    if (n == 4 || n == 0) {
        return RX_ERROR; /* more than 4 tokens, or fewer than 2 */
    }
    rx_target_arch_type(&tok[0], &t->arch);
    if (rx_target_env(&tok[n])) {
        t->env = tok[n--];
    }
    if (n == 3) {
        return RX_ERROR;
    }
    if (n == 2) {
        t->vendor = tok[1];
    }
    if (n >= 1) {
        t->os = tok[n];
    }
    return RX_OK;
}

/* i[0-9]86 -> i686, amd64 -> x86_64, else the arch itself */
static void
rx_target_arch_type(const rx_str_t *arch, rx_str_t *type)
{
    u_char *a = arch->data;

    *type = *arch;
    if (arch->len == 4 && a[0] == 'i' && a[1] >= '0' && a[1] <= '9'
        && a[2] == '8' && a[3] == '6') {
        rx_str_set(type, "i686");
    } else if (rx_str_is(arch, "amd64")) {
        rx_str_set(type, "x86_64");
    }
}

static int
rx_target_env(const rx_str_t *tok)
{
    const char *const *e;

    for (e = rx_target_envs; *e; e++) {
        if (rx_str_is(tok, *e)) {
            return 1;
        }
    }
    return 0;
}

/* arch type, "cros" for vendor cros, "darwin" for apple darwin*, else the
 * os, then a non-"gnu" env; joined with '-' */
static rx_int_t
rx_target_render(rx_pool_t *pool, rx_target_t *t, rx_str_t *out)
{
    rx_str_t cros = rx_null_string;
    u_char  *p;

    if (rx_str_is(&t->vendor, "cros")) {
        cros = t->vendor;
    }
    if (rx_str_is(&t->vendor, "apple") && t->os.len >= 6
        && memcmp(t->os.data, "darwin", 6) == 0) {
        rx_str_set(&t->os, "darwin");
    }
    if (rx_str_is(&t->env, "gnu")) {
        t->env.len = 0;
    }
    p = rx_pnalloc(pool, t->arch.len + cros.len + t->os.len + t->env.len + 4);
    if (p == NULL) {
        return RX_ERROR;
    }
    out->data = p;
    p = rx_cpymem(p, t->arch.data, t->arch.len);
    p = rx_target_append(p, &cros);
    p = rx_target_append(p, &t->os);
    p = rx_target_append(p, &t->env);
    *p = '\0';
    out->len = (size_t) (p - out->data);
    return RX_OK;
}

static u_char *
rx_target_append(u_char *p, const rx_str_t *s)
{
    if (s->len == 0) {
        return p;
    }
    *p++ = '-';
    return rx_cpymem(p, s->data, s->len);
}
