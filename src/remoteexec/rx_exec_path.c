/*
 * POSIX client path arithmetic (REMOTEEXEC.md §8), rootRel (§6.5.2) and
 * input root detection (§6.5.1).
 *
 * A path is worked on as a list of elements (split): an optional leading
 * "/" element, the non-empty components other than ".", and a final "."
 * when the path ends with "/" or "/.". Elements point into the source
 * string or into the list's own text buffer; small lists and texts live
 * on the stack, larger ones in the pool.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec_path.h>

#define RX_PATH_LOCAL 32
#define RX_PATH_TEXT  512

typedef struct {
    rx_str_t *elts;
    rx_uint_t nelts;
    rx_uint_t nalloc;
    rx_str_t  local[RX_PATH_LOCAL];
    u_char    text[RX_PATH_TEXT];
} rx_path_elts_t;

typedef struct {
    rx_pool_t               *pool;
    const rx_exec_root_in_t *in;
    rx_path_elts_t           common; /* elements of cwd, then the prefix */
    rx_uint_t                ncommon;
    rx_path_elts_t           cand;
    rx_str_t                 bad; /* first candidate without a common
                                     dir with cwd */
    rx_uint_t ncand;
} rx_path_root_t;

static void     rx_path_elts_init(rx_path_elts_t *e);
static rx_int_t rx_path_reserve(rx_pool_t *pool, rx_path_elts_t *e,
                                rx_uint_t n);
static rx_int_t rx_path_push(rx_pool_t *pool, rx_path_elts_t *e,
                             const rx_str_t *s);
static int      rx_path_all_slashes(const rx_str_t *p);
static int      rx_path_trailing_dot(const rx_str_t *p);
static void     rx_path_components(const rx_str_t *p, rx_path_elts_t *e);
static rx_int_t rx_path_split(rx_pool_t *pool, const rx_str_t *p,
                              rx_path_elts_t *e);
static rx_int_t rx_path_split_join(rx_pool_t *pool, const rx_str_t *a,
                                   const rx_str_t *b, rx_path_elts_t *e);
static void     rx_path_drop_dot(rx_path_elts_t *e);
static void     rx_path_clean_elts(rx_path_elts_t *e);
static rx_int_t rx_path_join_elts(rx_pool_t *pool, const rx_str_t *elts,
                                  rx_uint_t n, rx_str_t *out);
static rx_int_t rx_path_empty(rx_pool_t *pool, rx_str_t *out);
static int      rx_path_is(const rx_str_t *s, const char *lit);
static int      rx_path_is_root(const rx_str_t *s);
static rx_int_t rx_path_rel_elts(rx_pool_t *pool, rx_path_elts_t *b,
                                 rx_path_elts_t *t, rx_str_t *out);
static rx_int_t rx_path_abs_clean(rx_pool_t *pool, const rx_str_t *cwd,
                                  const rx_str_t *name, rx_path_elts_t *e);
static int      rx_path_root_prefix(const rx_path_elts_t *root,
                                    const rx_path_elts_t *name);
static int rx_path_under_dotdot(rx_pool_t *pool, const rx_path_elts_t *name,
                                rx_uint_t from, rx_path_elts_t *tmp);
static rx_int_t    rx_path_root_add(rx_path_root_t *st, const rx_str_t *name);
static const char *rx_path_sysroot(char **args, rx_uint_t nargs);
static int         rx_path_system_argv0(const rx_str_t *argv0);
static rx_int_t    rx_path_root_collect(rx_path_root_t *st);
static rx_int_t    rx_path_root_decide(rx_path_root_t *st, rx_str_t *root,
                                       int *need_chroot, const char **err);
static int         rx_path_bad_root(const rx_str_t *root);
static const char *rx_path_errorf(rx_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static const rx_str_t rx_path_root_elt = rx_string("/");
static const rx_str_t rx_path_dot_elt = rx_string(".");

/* roots that would hide the worker's shared libraries (§6.5.1 step 7) */
static const char *const rx_path_system_dirs[] = {
    "/lib/x86_64-linux-gnu/",
    "/usr/lib/x86_64-linux-gnu/",
    "/lib64/",
};

/* argv0 under these is expected in the worker image (§6.5.1 step 2) */
static const char *const rx_path_system_bins[] = {
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
};


/* ---------------------------------------------------------- elements */

static void
rx_path_elts_init(rx_path_elts_t *e)
{
    e->elts = e->local;
    e->nelts = 0;
    e->nalloc = RX_PATH_LOCAL;
}

static rx_int_t
rx_path_reserve(rx_pool_t *pool, rx_path_elts_t *e, rx_uint_t n)
{
    rx_str_t *elts;
    rx_uint_t size;

    if (e->nelts + n <= e->nalloc) {
        return RX_OK;
    }
    size = rx_max(2 * e->nalloc, e->nelts + n);
    elts = rx_palloc(pool, size * sizeof(rx_str_t));
    if (elts == NULL) {
        return RX_ERROR;
    }
    memcpy(elts, e->elts, e->nelts * sizeof(rx_str_t));
    e->elts = elts;
    e->nalloc = size;
    return RX_OK;
}

static rx_int_t
rx_path_push(rx_pool_t *pool, rx_path_elts_t *e, const rx_str_t *s)
{
    if (rx_path_reserve(pool, e, 1) != RX_OK) {
        return RX_ERROR;
    }
    e->elts[e->nelts++] = *s;
    return RX_OK;
}

static int
rx_path_is(const rx_str_t *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}

static int
rx_path_is_root(const rx_str_t *s)
{
    return s->len == 1 && s->data[0] == '/';
}

static int
rx_path_all_slashes(const rx_str_t *p)
{
    size_t i;

    for (i = 0; i < p->len; i++) {
        if (p->data[i] != '/') {
            return 0;
        }
    }
    return 1;
}

static int
rx_path_trailing_dot(const rx_str_t *p)
{
    size_t n = p->len;

    if (n >= 1 && p->data[n - 1] == '/') {
        return 1;
    }
    return n >= 2 && p->data[n - 2] == '/' && p->data[n - 1] == '.';
}

/* appends the non-empty components other than "."; room is reserved */
static void
rx_path_components(const rx_str_t *p, rx_path_elts_t *e)
{
    u_char   *s, *c, *end;
    rx_str_t *elt;

    s = p->data;
    end = p->data + p->len;
    while (s < end) {
        c = memchr(s, '/', (size_t) (end - s));
        if (c == NULL) {
            c = end;
        }
        if (c > s && !(c - s == 1 && *s == '.')) {
            elt = &e->elts[e->nelts++];
            elt->data = s;
            elt->len = (size_t) (c - s);
        }
        s = c + 1;
    }
}

/* split(p), appended to @e; elements point into @p */
static rx_int_t
rx_path_split(rx_pool_t *pool, const rx_str_t *p, rx_path_elts_t *e)
{
    rx_uint_t n;
    size_t    i;

    if (p->len == 0) {
        return RX_OK;
    }
    if (rx_path_all_slashes(p)) {
        return rx_path_push(pool, e, &rx_path_root_elt);
    }
    if (rx_path_is(p, ".")) {
        return rx_path_push(pool, e, &rx_path_dot_elt);
    }
    for (n = 3, i = 0; i < p->len; i++) {
        n += (p->data[i] == '/');
    }
    if (rx_path_reserve(pool, e, n) != RX_OK) {
        return RX_ERROR;
    }
    if (p->data[0] == '/') {
        e->elts[e->nelts++] = rx_path_root_elt;
    }
    rx_path_components(p, e);
    if (rx_path_trailing_dot(p)) {
        e->elts[e->nelts++] = rx_path_dot_elt;
    }
    return RX_OK;
}

/* split(a + "/" + b) with empty arguments dropped, then the trailing "."
 * dropped: the elements of join(a, b); they point into @e's text */
static rx_int_t
rx_path_split_join(rx_pool_t *pool, const rx_str_t *a, const rx_str_t *b,
                   rx_path_elts_t *e)
{
    rx_str_t t;
    u_char  *p;

    t.len = a->len + b->len + (a->len && b->len);
    t.data = e->text;
    if (t.len > RX_PATH_TEXT) {
        t.data = rx_pnalloc(pool, t.len);
        if (t.data == NULL) {
            return RX_ERROR;
        }
    }
    p = t.data;
    if (a->len) {
        p = rx_cpymem(p, a->data, a->len);
    }
    if (a->len && b->len) {
        *p++ = '/';
    }
    if (b->len) {
        memcpy(p, b->data, b->len);
    }
    e->nelts = 0;
    if (rx_path_split(pool, &t, e) != RX_OK) {
        return RX_ERROR;
    }
    rx_path_drop_dot(e);
    return RX_OK;
}

static void
rx_path_drop_dot(rx_path_elts_t *e)
{
    if (e->nelts > 0 && rx_path_is(&e->elts[e->nelts - 1], ".")) {
        e->nelts--;
    }
}

/* cleanElem: trailing "." dropped; ".." after the root dropped, after a
 * normal element pops it, otherwise kept */
static void
rx_path_clean_elts(rx_path_elts_t *e)
{
    rx_uint_t i, r;
    rx_str_t *elts;

    rx_path_drop_dot(e);
    elts = e->elts;
    for (r = 0, i = 0; i < e->nelts; i++) {
        if (rx_path_is(&elts[i], "..")) {
            if (r == 1 && rx_path_is_root(&elts[0])) {
                continue;
            }
            if (r > 0 && !rx_path_is(&elts[r - 1], "..")) {
                r--;
                continue;
            }
        }
        elts[r++] = elts[i];
    }
    e->nelts = r;
}

/* joinElems: [] -> "."; one element -> itself; else joined by "/", the
 * leading "/" element rendering as the empty prefix */
static rx_int_t
rx_path_join_elts(rx_pool_t *pool, const rx_str_t *elts, rx_uint_t n,
                  rx_str_t *out)
{
    rx_uint_t i;
    size_t    len;
    u_char   *p;

    if (n == 0) {
        elts = &rx_path_dot_elt;
        n = 1;
    }
    len = n - 1;
    for (i = 0; i < n; i++) {
        len += (n > 1 && i == 0 && rx_path_is_root(&elts[0])) ? 0 : elts[i].len;
    }
    p = rx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return RX_ERROR;
    }
    out->data = p;
    out->len = len;
    for (i = 0; i < n; i++) {
        if (i > 0) {
            *p++ = '/';
        }
        if (n == 1 || i > 0 || !rx_path_is_root(&elts[0])) {
            p = rx_cpymem(p, elts[i].data, elts[i].len);
        }
    }
    *p = '\0';
    return RX_OK;
}

static rx_int_t
rx_path_empty(rx_pool_t *pool, rx_str_t *out)
{
    out->data = rx_pnalloc(pool, 1);
    if (out->data == NULL) {
        return RX_ERROR;
    }
    out->data[0] = '\0';
    out->len = 0;
    return RX_OK;
}


/* ---------------------------------------------------------- public ops */

int
rx_path_is_abs(const rx_str_t *p)
{
    return p->len > 0 && p->data[0] == '/';
}

rx_int_t
rx_path_clean(rx_pool_t *pool, const rx_str_t *p, rx_str_t *out)
{
    rx_path_elts_t e;

    rx_path_elts_init(&e);
    if (rx_path_split(pool, p, &e) != RX_OK) {
        return RX_ERROR;
    }
    rx_path_clean_elts(&e);
    return rx_path_join_elts(pool, e.elts, e.nelts, out);
}

rx_int_t
rx_path_join(rx_pool_t *pool, const rx_str_t *a, const rx_str_t *b,
             rx_str_t *out)
{
    rx_path_elts_t e;

    rx_path_elts_init(&e);
    if (rx_path_split_join(pool, a, b, &e) != RX_OK) {
        return RX_ERROR;
    }
    if (e.nelts == 0) {
        return rx_path_empty(pool, out);
    }
    return rx_path_join_elts(pool, e.elts, e.nelts, out);
}

rx_int_t
rx_path_dir(rx_pool_t *pool, const rx_str_t *p, rx_str_t *out)
{
    rx_path_elts_t e;

    rx_path_elts_init(&e);
    if (rx_path_split(pool, p, &e) != RX_OK) {
        return RX_ERROR;
    }
    if (e.nelts == 1 && !rx_path_is_root(&e.elts[0])) {
        e.nelts = 0;
    }
    if (e.nelts > 1) {
        e.nelts--;
    }
    return rx_path_join_elts(pool, e.elts, e.nelts, out);
}

rx_int_t
rx_path_rel(rx_pool_t *pool, const rx_str_t *base, const rx_str_t *target,
            rx_str_t *out)
{
    rx_path_elts_t b, t;

    if (rx_path_is_abs(base) != rx_path_is_abs(target)) {
        return RX_ERROR;
    }
    rx_path_elts_init(&b);
    rx_path_elts_init(&t);
    if (rx_path_split(pool, base, &b) != RX_OK
        || rx_path_split(pool, target, &t) != RX_OK) {
        return RX_ERROR;
    }
    rx_path_clean_elts(&b);
    rx_path_clean_elts(&t);
    return rx_path_rel_elts(pool, &b, &t, out);
}

static rx_int_t
rx_path_rel_elts(rx_pool_t *pool, rx_path_elts_t *b, rx_path_elts_t *t,
                 rx_str_t *out)
{
    rx_uint_t      i, j, n;
    rx_path_elts_t r;

    for (i = 0; i < b->nelts && i < t->nelts; i++) {
        if (!rx_str_eq(&b->elts[i], &t->elts[i])) {
            break;
        }
    }
    for (j = i; j < b->nelts && rx_path_is(&b->elts[j], ".."); j++) {
        /* void */
    }
    if (i < b->nelts && j == b->nelts) {
        return RX_ERROR; /* only ".." left in base */
    }
    rx_path_elts_init(&r);
    n = (b->nelts - i) + (t->nelts - i);
    if (rx_path_reserve(pool, &r, n) != RX_OK) {
        return RX_ERROR;
    }
    for (j = i; j < b->nelts; j++) {
        rx_str_set(&r.elts[r.nelts], "..");
        r.nelts++;
    }
    for (j = i; j < t->nelts; j++) {
        r.elts[r.nelts++] = t->elts[j];
    }
    return rx_path_join_elts(pool, r.elts, r.nelts, out);
}


/* ---------------------------------------------------------- rootRel */

rx_int_t
rx_exec_root_rel(rx_pool_t *pool, const rx_str_t *root, const rx_str_t *cwd,
                 const rx_str_t *name, rx_str_t *out)
{
    rx_path_elts_t r, f, tmp;
    rx_uint_t      n;

    rx_path_elts_init(&r);
    rx_path_elts_init(&f);
    rx_path_elts_init(&tmp);
    if (rx_path_split(pool, root, &r) != RX_OK) {
        return RX_ERROR;
    }
    if (rx_path_is_abs(name)) {
        if (rx_path_split(pool, name, &f) != RX_OK) {
            return RX_ERROR;
        }
    } else if (rx_path_split_join(pool, cwd, name, &f) != RX_OK) {
        return RX_ERROR;
    }
    if (!rx_path_root_prefix(&r, &f)) {
        return RX_DECLINED;
    }
    switch (rx_path_under_dotdot(pool, &f, r.nelts, &tmp)) {
    case -1:
        return RX_ERROR;
    case 1:
        return RX_DECLINED;
    }
    n = f.nelts - r.nelts;
    if (n > 0 && rx_path_is(&f.elts[f.nelts - 1], ".")) {
        n--;
    }
    if (n == 0) {
        return rx_path_empty(pool, out);
    }
    return rx_path_join_elts(pool, f.elts + r.nelts, n, out);
}

/* 1 if the first elements of @name are those of @root */
static int
rx_path_root_prefix(const rx_path_elts_t *root, const rx_path_elts_t *name)
{
    rx_uint_t i;

    if (name->nelts < root->nelts) {
        return 0;
    }
    for (i = 0; i < root->nelts; i++) {
        if (!rx_str_eq(&root->elts[i], &name->elts[i])) {
            return 0;
        }
    }
    return 1;
}

/* 1 if the cleaned elements of @name from @from on start with "..";
 * -1 on allocation failure */
static int
rx_path_under_dotdot(rx_pool_t *pool, const rx_path_elts_t *name,
                     rx_uint_t from, rx_path_elts_t *tmp)
{
    rx_uint_t n;

    n = name->nelts - from;
    tmp->nelts = 0;
    if (rx_path_reserve(pool, tmp, n) != RX_OK) {
        return -1;
    }
    memcpy(tmp->elts, name->elts + from, n * sizeof(rx_str_t));
    tmp->nelts = n;
    rx_path_clean_elts(tmp);
    return tmp->nelts > 0 && rx_path_is(&tmp->elts[0], "..");
}


/* ---------------------------------------------------------- input root */

rx_int_t
rx_exec_input_root(rx_pool_t *pool, const rx_exec_root_in_t *in, rx_str_t *root,
                   int *need_chroot, const char **err)
{
    rx_path_root_t st;

    *need_chroot = 0;
    *err = NULL;
    if (!rx_path_is_abs(&in->cwd)) {
        *err = rx_path_errorf(pool, "bad input: cwd is not abs path: %.*s",
                              (int) in->cwd.len, (char *) in->cwd.data);
        return RX_ERROR;
    }
    if (in->exec_root.len) {
        if (rx_path_clean(pool, &in->exec_root, root) != RX_OK) {
            return RX_ERROR;
        }
        *need_chroot = in->allow_chroot && rx_path_is(root, "/");
        return RX_OK;
    }
    rx_memzero(&st, sizeof(rx_path_root_t));
    st.pool = pool;
    st.in = in;
    if (rx_path_root_collect(&st) != RX_OK) {
        return RX_ERROR;
    }
    return rx_path_root_decide(&st, root, need_chroot, err);
}

/* the candidates after cwd (step 2): inputs, argv0, the sysroot */
static rx_int_t
rx_path_root_collect(rx_path_root_t *st)
{
    const rx_exec_root_in_t *in = st->in;
    rx_str_t                 s;
    rx_uint_t                i;
    const char              *sysroot;

    rx_path_elts_init(&st->common);
    rx_path_elts_init(&st->cand);
    if (rx_path_split(st->pool, &in->cwd, &st->common) != RX_OK) {
        return RX_ERROR;
    }
    rx_path_clean_elts(&st->common);
    st->ncommon = st->common.nelts;
    st->ncand = 1;
    for (i = 0; i < in->ninputs; i++) {
        if (rx_path_root_add(st, &in->inputs[i]) != RX_OK) {
            return RX_ERROR;
        }
    }
    if (!rx_path_system_argv0(&in->argv0)
        && rx_path_root_add(st, &in->argv0) != RX_OK) {
        return RX_ERROR;
    }
    sysroot = rx_path_sysroot(in->args, in->nargs);
    if (sysroot == NULL || sysroot[0] == '\0' || sysroot[0] == '/') {
        return RX_OK;
    }
    s.data = (u_char *) sysroot;
    s.len = strlen(sysroot);
    return rx_path_root_add(st, &s);
}

/* clean(join(cwd, name)) or clean(name) when absolute, as elements */
static rx_int_t
rx_path_abs_clean(rx_pool_t *pool, const rx_str_t *cwd, const rx_str_t *name,
                  rx_path_elts_t *e)
{
    e->nelts = 0;
    if (rx_path_is_abs(name)) {
        if (rx_path_split(pool, name, e) != RX_OK) {
            return RX_ERROR;
        }
    } else if (rx_path_split_join(pool, cwd, name, e) != RX_OK) {
        return RX_ERROR;
    }
    rx_path_clean_elts(e);
    return RX_OK;
}

/* narrows the common prefix by one candidate; remembers the first one
 * that shares no directory with cwd */
static rx_int_t
rx_path_root_add(rx_path_root_t *st, const rx_str_t *name)
{
    rx_path_elts_t *c = &st->cand;
    rx_path_elts_t *p0 = &st->common;
    rx_uint_t       i;

    if (rx_path_abs_clean(st->pool, &st->in->cwd, name, c) != RX_OK) {
        return RX_ERROR;
    }
    if (st->in->exclude_usr && c->nelts >= 2 && c->elts[1].len >= 3
        && memcmp(c->elts[1].data, "usr", 3) == 0) {
        return RX_OK; /* [FORK] the string starts with "/usr" */
    }
    st->ncand++;
    for (i = 0; i < st->ncommon && i < c->nelts; i++) {
        if (!rx_str_eq(&p0->elts[i], &c->elts[i])) {
            break;
        }
    }
    st->ncommon = i;
    if (st->bad.data == NULL
        && (p0->nelts < 2 || c->nelts < 2
            || !rx_str_eq(&p0->elts[1], &c->elts[1]))) {
        return rx_path_join_elts(st->pool, c->elts, c->nelts, &st->bad);
    }
    return RX_OK;
}

static rx_int_t
rx_path_root_decide(rx_path_root_t *st, rx_str_t *root, int *need_chroot,
                    const char **err)
{
    const rx_str_t *cwd = &st->in->cwd;

    if (st->ncommon >= 2) {
        if (rx_path_join_elts(st->pool, st->common.elts, st->ncommon, root)
            != RX_OK) {
            return RX_ERROR;
        }
        if (!rx_path_bad_root(root)) {
            return RX_OK;
        }
        *err = rx_path_errorf(st->pool,
                              "input root detection failed: "
                              "bad input root: %s",
                              (char *) root->data);
        return RX_ERROR;
    }
    if (st->in->allow_chroot) {
        *need_chroot = 1;
        return rx_path_join_elts(st->pool, &rx_path_root_elt, 1, root);
    }
    if (st->bad.data == NULL) {
        *err = "input root detection failed: no common paths in inputs: []";
        return RX_ERROR;
    }
    *err = rx_path_errorf(st->pool,
                          "input root detection failed: "
                          "no common paths in inputs: [%.*s %s]",
                          (int) cwd->len, (char *) cwd->data,
                          (char *) st->bad.data);
    return RX_ERROR;
}

/* step 7: a root covering the worker's shared libraries */
static int
rx_path_bad_root(const rx_str_t *root)
{
    rx_uint_t   i;
    const char *d;

    for (i = 0; i < rx_nelems(rx_path_system_dirs); i++) {
        d = rx_path_system_dirs[i];
        if (strlen(d) > root->len && memcmp(d, root->data, root->len) == 0
            && d[root->len] == '/') {
            return 1;
        }
    }
    return 0;
}

static int
rx_path_system_argv0(const rx_str_t *argv0)
{
    rx_uint_t i;
    size_t    n;

    for (i = 0; i < rx_nelems(rx_path_system_bins); i++) {
        n = strlen(rx_path_system_bins[i]);
        if (argv0->len >= n
            && memcmp(argv0->data, rx_path_system_bins[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* the sysroot directory when it is needed (-isysroot wins), else NULL */
static const char *
rx_path_sysroot(char **args, rx_uint_t nargs)
{
    const char *a, *sys = NULL, *isys = NULL;
    rx_uint_t   i;
    int         need = 1;

    for (i = 0; i < nargs; i++) {
        a = args[i];
        if (a == NULL) {
            continue;
        }
        if (strcmp(a, "--sysroot") == 0 || strcmp(a, "-isysroot") == 0) {
            if (i + 1 == nargs || args[i + 1] == NULL) {
                continue;
            }
            if (a[1] == 'i') {
                isys = args[++i];
            } else {
                sys = args[++i];
            }
        } else if (strncmp(a, "--sysroot=", 10) == 0) {
            sys = a + 10;
        } else if (strncmp(a, "-isysroot", 9) == 0) {
            isys = a + 9;
        } else if (strcmp(a, "-Wall") == 0
                   || strcmp(a, "-Wmissing-sysroot") == 0) {
            need = 1;
        } else if (strcmp(a, "-Wno-missing-sysroot") == 0) {
            need = 0;
        }
    }
    return need ? (isys ? isys : sys) : NULL;
}

static const char *
rx_path_errorf(rx_pool_t *pool, const char *fmt, ...)
{
    va_list args;
    char   *p;
    int     n;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0) {
        return "input root detection failed";
    }
    p = rx_pnalloc(pool, (size_t) n + 1);
    if (p == NULL) {
        return "input root detection failed";
    }
    va_start(args, fmt);
    vsnprintf(p, (size_t) n + 1, fmt, args);
    va_end(args);
    return p;
}
