/*
 * The input tree (merkle): build, canonicalize, digest.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec_tree.h>
#include <rx_pb.h>
#include <rx_exec.h>

typedef enum { RX_NODE_FILE = 0, RX_NODE_DIR, RX_NODE_SYMLINK } rx_node_e;

typedef struct rx_node_s rx_node_t;
struct rx_node_s {
    rx_str_t          name;
    rx_node_e         kind;
    rx_reapi_digest_t d;
    rx_str_t          target;
    int               executable;
    rx_node_t        *parent;
    rx_array_t        kids; /* rx_node_t * (directories only) */
};

struct rx_exec_tree_s {
    rx_pool_t *pool;
    rx_node_t *root;
};

typedef Build__Bazel__Remote__Execution__V2__Directory     rx_pb_dir_t;
typedef Build__Bazel__Remote__Execution__V2__FileNode      rx_pb_file_t;
typedef Build__Bazel__Remote__Execution__V2__DirectoryNode rx_pb_dnode_t;
typedef Build__Bazel__Remote__Execution__V2__SymlinkNode   rx_pb_link_t;
typedef Build__Bazel__Remote__Execution__V2__Digest        rx_pb_digest_t;

static rx_node_t *
rx_tree_node(rx_exec_tree_t *t, rx_node_e kind, const u_char *name, size_t len,
             rx_node_t *parent)
{
    rx_node_t *n = rx_pcalloc(t->pool, sizeof(rx_node_t));

    if (n == NULL) {
        return NULL;
    }
    n->kind = kind;
    n->name.data = (u_char *) name;
    n->name.len = len;
    n->parent = parent;
    if (kind == RX_NODE_DIR
        && rx_array_init(&n->kids, t->pool, 4, sizeof(rx_node_t *)) != RX_OK) {
        return NULL;
    }
    return n;
}

rx_exec_tree_t *
rx_exec_tree_create(rx_pool_t *pool)
{
    rx_exec_tree_t *t = rx_pcalloc(pool, sizeof(rx_exec_tree_t));

    if (t == NULL) {
        return NULL;
    }
    t->pool = pool;
    t->root = rx_tree_node(t, RX_NODE_DIR, (u_char *) "", 0, NULL);
    return t->root ? t : NULL;
}

static rx_node_t *
rx_tree_child_dir(rx_exec_tree_t *t, rx_node_t *dir, const u_char *name,
                  size_t len)
{
    rx_node_t **kids = dir->kids.elts, *n, **slot;
    rx_uint_t   i;

    for (i = 0; i < dir->kids.nelts; i++) {
        if (kids[i]->kind == RX_NODE_DIR && kids[i]->name.len == len
            && memcmp(kids[i]->name.data, name, len) == 0) {
            return kids[i];
        }
    }
    n = rx_tree_node(t, RX_NODE_DIR, name, len, dir);
    slot = n ? rx_array_push(&dir->kids) : NULL;
    if (slot == NULL) {
        return NULL;
    }
    *slot = n;
    return n;
}

/* Walks @name's elements; returns the parent dir of the leaf and the leaf
 * element in *leaf (empty when the name designates a directory). */
static rx_node_t *
rx_tree_walk(rx_exec_tree_t *t, const rx_str_t *name, rx_str_t *leaf,
             const char **err)
{
    rx_node_t *dir = t->root;
    u_char    *p = name->data, *end = name->data + name->len, *q;
    size_t     len;

    leaf->len = 0;
    leaf->data = NULL;
    if (name->len && name->data[0] == '/') {
        *err = "absolute path in the input tree";
        return NULL;
    }
    while (p < end) {
        q = memchr(p, '/', (size_t) (end - p));
        q = q ? q : end;
        len = (size_t) (q - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* skip */
        } else if (q == end) {
            leaf->data = p;
            leaf->len = len;
            break;
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (dir->parent == NULL) {
                *err = "path escapes the input root";
                return NULL;
            }
            dir = dir->parent;
        } else {
            dir = rx_tree_child_dir(t, dir, p, len);
            if (dir == NULL) {
                *err = "out of memory";
                return NULL;
            }
        }
        p = q + 1;
    }
    return dir;
}

static rx_int_t
rx_tree_add(rx_exec_tree_t *t, const rx_str_t *name, rx_node_t *proto,
            const char **err)
{
    rx_node_t *dir, *n, **slot;
    rx_str_t   leaf;

    dir = rx_tree_walk(t, name, &leaf, err);
    if (dir == NULL) {
        return RX_ERROR;
    }
    if (leaf.len == 2 && leaf.data[0] == '.' && leaf.data[1] == '.') {
        if (proto->kind != RX_NODE_DIR) {
            *err = "a file named \"..\"";
            return RX_ERROR;
        }
        if (dir->parent == NULL) {
            *err = "path escapes the input root";
            return RX_ERROR;
        }
        return RX_OK;
    }
    if (leaf.len == 0) {
        if (proto->kind != RX_NODE_DIR) {
            *err = "a file without a name";
            return RX_ERROR;
        }
        return RX_OK; /* the directory exists now */
    }
    if (proto->kind == RX_NODE_DIR) {
        return rx_tree_child_dir(t, dir, leaf.data, leaf.len) ? RX_OK
                                                              : RX_ERROR;
    }
    n = rx_tree_node(t, proto->kind, leaf.data, leaf.len, dir);
    slot = n ? rx_array_push(&dir->kids) : NULL;
    if (slot == NULL) {
        *err = "out of memory";
        return RX_ERROR;
    }
    n->d = proto->d;
    n->target = proto->target;
    n->executable = proto->executable;
    *slot = n;
    return RX_OK;
}

rx_int_t
rx_exec_tree_add_file(rx_exec_tree_t *t, const rx_str_t *name,
                      const rx_reapi_digest_t *d, int executable,
                      const char **err)
{
    rx_node_t proto;

    rx_memzero(&proto, sizeof(proto));
    proto.kind = RX_NODE_FILE;
    proto.d = *d;
    proto.executable = executable ? 1 : 0;
    return rx_tree_add(t, name, &proto, err);
}

rx_int_t
rx_exec_tree_add_symlink(rx_exec_tree_t *t, const rx_str_t *name,
                         const rx_str_t *target, const char **err)
{
    rx_node_t proto;

    rx_memzero(&proto, sizeof(proto));
    proto.kind = RX_NODE_SYMLINK;
    proto.target = *target;
    return rx_tree_add(t, name, &proto, err);
}

rx_int_t
rx_exec_tree_add_dir(rx_exec_tree_t *t, const rx_str_t *name, const char **err)
{
    rx_node_t proto;

    if (name->len == 0) {
        return RX_OK;
    }
    rx_memzero(&proto, sizeof(proto));
    proto.kind = RX_NODE_DIR;
    return rx_tree_add(t, name, &proto, err);
}

static int
rx_tree_cmp(const void *a, const void *b)
{
    const rx_node_t *x = *(rx_node_t *const *) a, *y = *(rx_node_t *const *) b;
    size_t           n = rx_min(x->name.len, y->name.len);
    int              c = memcmp(x->name.data, y->name.data, n);

    if (c) {
        return c;
    }
    if (x->name.len != y->name.len) {
        return x->name.len < y->name.len ? -1 : 1;
    }
    return (int) x->kind - (int) y->kind;
}

static int
rx_tree_same(const rx_node_t *a, const rx_node_t *b)
{
    return a->kind == b->kind && a->executable == b->executable
           && strcmp(a->d.hash, b->d.hash) == 0 && a->d.size == b->d.size
           && rx_str_eq(&a->target, &b->target);
}

/* sorts the children, drops exact duplicates, refuses conflicts */
static rx_int_t
rx_tree_normalize(rx_node_t *dir, const char **err)
{
    rx_node_t **k = dir->kids.elts;
    rx_uint_t   i, j = 0;

    qsort(k, dir->kids.nelts, sizeof(rx_node_t *), rx_tree_cmp);
    for (i = 0; i < dir->kids.nelts; i++) {
        if (j && rx_str_eq(&k[j - 1]->name, &k[i]->name)) {
            if (!rx_tree_same(k[j - 1], k[i])) {
                *err = "conflicting entries in the input tree";
                return RX_ERROR;
            }
            continue;
        }
        k[j++] = k[i];
    }
    dir->kids.nelts = j;
    return RX_OK;
}

typedef struct {
    rx_pool_t           *pool;
    rx_exec_tree_blob_pt blob;
    void                *data;
    const char         **err;
    rx_uint_t            depth;
} rx_tree_ctx_t;

static void
rx_tree_pb_digest(rx_pb_digest_t *pb, const rx_reapi_digest_t *d)
{
    build__bazel__remote__execution__v2__digest__init(pb);
    pb->hash = (char *) d->hash;
    pb->size_bytes = d->size;
}

static rx_int_t
rx_tree_serialize(rx_tree_ctx_t *ctx, rx_node_t *dir)
{
    rx_pb_dir_t     m = BUILD__BAZEL__REMOTE__EXECUTION__V2__DIRECTORY__INIT;
    rx_node_t     **k = dir->kids.elts;
    rx_uint_t       i, n = dir->kids.nelts;
    rx_pb_file_t   *f = rx_palloc(ctx->pool, (n + 1) * sizeof(*f));
    rx_pb_dnode_t  *dn = rx_palloc(ctx->pool, (n + 1) * sizeof(*dn));
    rx_pb_link_t   *ln = rx_palloc(ctx->pool, (n + 1) * sizeof(*ln));
    rx_pb_digest_t *ds = rx_palloc(ctx->pool, (n + 1) * sizeof(*ds));
    void          **fp = rx_palloc(ctx->pool, 3 * (n + 1) * sizeof(void *));
    rx_str_t        out;

    if (!f || !dn || !ln || !ds || !fp) {
        return RX_ERROR;
    }
    m.files = (rx_pb_file_t **) fp;
    m.directories = (rx_pb_dnode_t **) (fp + n + 1);
    m.symlinks = (rx_pb_link_t **) (fp + 2 * (n + 1));
    for (i = 0; i < n; i++) {
        switch (k[i]->kind) {
        case RX_NODE_FILE:
            build__bazel__remote__execution__v2__file_node__init(&f[i]);
            f[i].name =
                rx_exec_strdup(ctx->pool, k[i]->name.data, k[i]->name.len);
            rx_tree_pb_digest(&ds[i], &k[i]->d);
            f[i].digest = &ds[i];
            f[i].is_executable = k[i]->executable;
            m.files[m.n_files++] = &f[i];
            break;
        case RX_NODE_DIR:
            build__bazel__remote__execution__v2__directory_node__init(&dn[i]);
            dn[i].name =
                rx_exec_strdup(ctx->pool, k[i]->name.data, k[i]->name.len);
            rx_tree_pb_digest(&ds[i], &k[i]->d);
            dn[i].digest = &ds[i];
            m.directories[m.n_directories++] = &dn[i];
            break;
        case RX_NODE_SYMLINK:
            build__bazel__remote__execution__v2__symlink_node__init(&ln[i]);
            ln[i].name =
                rx_exec_strdup(ctx->pool, k[i]->name.data, k[i]->name.len);
            ln[i].target =
                rx_exec_strdup(ctx->pool, k[i]->target.data, k[i]->target.len);
            m.symlinks[m.n_symlinks++] = &ln[i];
            break;
        }
    }
    if (rx_pb_pack(ctx->pool, &m.base, 0, &out) != RX_OK) {
        return RX_ERROR;
    }
    rx_reapi_digest_of(&dir->d, out.data, out.len);
    return ctx->blob(ctx->data, out.data, out.len, &dir->d);
}

static rx_int_t
rx_tree_digest(rx_tree_ctx_t *ctx, rx_node_t *dir)
{
    rx_node_t **k = dir->kids.elts;
    rx_uint_t   i;

    if (++ctx->depth > 512) {
        *ctx->err = "input tree too deep";
        return RX_ERROR;
    }
    for (i = 0; i < dir->kids.nelts; i++) {
        if (k[i]->kind == RX_NODE_DIR && rx_tree_digest(ctx, k[i]) != RX_OK) {
            return RX_ERROR;
        }
    }
    ctx->depth--;
    if (rx_tree_normalize(dir, ctx->err) != RX_OK) {
        return RX_ERROR;
    }
    return rx_tree_serialize(ctx, dir);
}

rx_int_t
rx_exec_tree_finish(rx_exec_tree_t *t, rx_exec_tree_blob_pt blob, void *data,
                    rx_reapi_digest_t *root, const char **err)
{
    rx_tree_ctx_t ctx = {t->pool, blob, data, err, 0};

    *err = "out of memory";
    if (rx_tree_digest(&ctx, t->root) != RX_OK) {
        return RX_ERROR;
    }
    *root = t->root->d;
    return RX_OK;
}
