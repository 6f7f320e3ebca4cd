/*
 * Collecting a finished action's outputs into the CAS: declared
 * output_files and output_directories (or output_paths when set), each a
 * file, a directory (as a Tree built bottom-up: every Directory's digest
 * is taken over its own serialization before its parent lists it) or a
 * symlink (reported, never followed). Paths are opened component by
 * component without following symlinks, and when actions run as another
 * user a file is only taken if that user could read it, so an action
 * cannot make the executor copy files it had no access to. stdout and
 * stderr go to the CAS too, and inline when small.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_pb.h>
#include <dirent.h>

#define RX_EX_OUT_FILE 0
#define RX_EX_OUT_DIR  1
#define RX_EX_OUT_ANY  2

typedef struct {
    rx_array_t children; /* rx_re_t(Directory) * */
    rx_array_t digests;  /* rx_ex_digest_t, same order */
} rx_ex_tree_t;

static rx_int_t rx_ex_out_dir(rx_ex_op_t *op, rx_ex_tree_t *tree, int dfd,
                              rx_uint_t depth, rx_re_t(Directory) * dir);

static int
rx_ex_out_readable(const struct stat *st)
{
    if (!rx_ex.switch_user) {
        return 1;
    }
    if (st->st_uid == rx_ex.uid) {
        return (st->st_mode & S_IRUSR) != 0;
    }
    if (st->st_gid == rx_ex.gid) {
        return (st->st_mode & S_IRGRP) != 0;
    }
    return (st->st_mode & S_IROTH) != 0;
}

/* RX_OK: stored; RX_DECLINED: not a readable regular file */
static rx_int_t
rx_ex_out_store(rx_ex_op_t *op, int dfd, const char *name, rx_ex_digest_t *d,
                int *exec)
{
    struct stat st;
    rx_int_t    rc;
    int         fd;

    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        return RX_DECLINED;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
        || !rx_ex_out_readable(&st)) {
        close(fd);
        return RX_DECLINED;
    }
    *exec = (st.st_mode & S_IXUSR) != 0;
    rc = rx_ex_cas_put_fd(fd, d);
    close(fd);
    if (rc != RX_OK) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL,
                             "cannot store output "
                             "\"%s\"",
                             name);
    }
    return RX_OK;
}

static char *
rx_ex_out_readlink(rx_ex_op_t *op, int dfd, const char *name)
{
    char    buf[PATH_MAX], *t;
    ssize_t n;

    n = readlinkat(dfd, name, buf, sizeof(buf) - 1);
    if (n == -1) {
        return NULL;
    }
    t = rx_pnalloc(op->pool, (size_t) n + 1);
    if (t) {
        memcpy(t, buf, (size_t) n);
        t[n] = '\0';
    }
    return t;
}

static int
rx_ex_out_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* the sorted entry names of a directory, in op->pool */
static rx_array_t *
rx_ex_out_names(rx_ex_op_t *op, int dfd)
{
    struct dirent *de;
    rx_array_t    *names;
    DIR           *dir;
    char         **n;
    int            fd;

    names = rx_array_create(op->pool, 16, sizeof(char *));
    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir = fd != -1 ? fdopendir(fd) : NULL;
    if (names == NULL || dir == NULL) {
        if (fd != -1) {
            close(fd);
        }
        return NULL;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        n = rx_array_push(names);
        if (n == NULL
            || (*n = rx_pnalloc(op->pool, strlen(de->d_name) + 1)) == NULL) {
            closedir(dir);
            return NULL;
        }
        memcpy(*n, de->d_name, strlen(de->d_name) + 1);
    }
    closedir(dir);
    qsort(names->elts, names->nelts, sizeof(char *), rx_ex_out_cmp);
    return names;
}

static rx_int_t
rx_ex_tree_add(rx_ex_op_t *op, rx_ex_tree_t *tree, rx_re_t(Directory) * dir,
               rx_ex_digest_t *d)
{
    rx_re_t(Directory) * *c;
    rx_ex_digest_t *known = tree->digests.elts, *k;
    rx_str_t        bytes;
    rx_uint_t       i;

    if (rx_pb_pack(op->pool, &dir->base, 0, &bytes) != RX_OK) {
        return RX_ERROR;
    }
    rx_ex_digest_of(d, bytes.data, bytes.len);
    for (i = 0; i < tree->digests.nelts; i++) {
        if (strcmp((char *) known[i].hex, (char *) d->hex) == 0) {
            return RX_OK;
        }
    }
    c = rx_array_push(&tree->children);
    k = rx_array_push(&tree->digests);
    if (c == NULL || k == NULL) {
        return RX_ERROR;
    }
    *c = dir;
    *k = *d;
    return RX_OK;
}

static rx_int_t
rx_ex_out_subdir(rx_ex_op_t *op, rx_ex_tree_t *tree, int dfd, const char *name,
                 rx_uint_t depth, rx_re_t(DirectoryNode) * dn)
{
    rx_re_t(Directory) * child, init = RX_RE_INIT(DIRECTORY);
    rx_ex_digest_t d;
    rx_int_t       rc;
    int            fd;

    child = rx_palloc(op->pool, sizeof(*child));
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child == NULL || fd == -1) {
        if (fd != -1) {
            close(fd);
        }
        return RX_DECLINED;
    }
    *child = init;
    rc = rx_ex_out_dir(op, tree, fd, depth + 1, child);
    close(fd);
    if (rc != RX_OK || rx_ex_tree_add(op, tree, child, &d) != RX_OK) {
        return RX_ERROR;
    }
    dn->name = (char *) name;
    dn->digest = rx_ex_digest_pb(op->pool, &d);
    return dn->digest ? RX_OK : RX_ERROR;
}

static rx_int_t
rx_ex_out_entry(rx_ex_op_t *op, rx_ex_tree_t *tree, int dfd, char *name,
                rx_uint_t depth, rx_re_t(Directory) * dir)
{
    rx_re_t(FileNode) fi = RX_RE_INIT(FILE_NODE);
    rx_re_t(DirectoryNode) di = RX_RE_INIT(DIRECTORY_NODE);
    rx_re_t(SymlinkNode) si = RX_RE_INIT(SYMLINK_NODE);
    struct stat    st;
    rx_ex_digest_t d;
    rx_int_t       rc;
    int            exec;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
        return RX_OK;
    }
    if (S_ISREG(st.st_mode)) {
        rc = rx_ex_out_store(op, dfd, name, &d, &exec);
        if (rc != RX_OK) {
            return rc == RX_DECLINED ? RX_OK : RX_ERROR;
        }
        dir->files[dir->n_files] = rx_palloc(op->pool, sizeof(fi));
        fi.name = name;
        fi.digest = rx_ex_digest_pb(op->pool, &d);
        fi.is_executable = exec;
        if (dir->files[dir->n_files] == NULL || fi.digest == NULL) {
            return RX_ERROR;
        }
        *dir->files[dir->n_files++] = fi;
    } else if (S_ISDIR(st.st_mode)) {
        if (depth >= RX_EX_MAX_DEPTH) {
            return RX_OK;
        }
        rc = rx_ex_out_subdir(op, tree, dfd, name, depth, &di);
        if (rc != RX_OK) {
            return rc == RX_DECLINED ? RX_OK : RX_ERROR;
        }
        dir->directories[dir->n_directories] = rx_palloc(op->pool, sizeof(di));
        if (dir->directories[dir->n_directories] == NULL) {
            return RX_ERROR;
        }
        *dir->directories[dir->n_directories++] = di;
    } else if (S_ISLNK(st.st_mode)) {
        si.name = name;
        si.target = rx_ex_out_readlink(op, dfd, name);
        dir->symlinks[dir->n_symlinks] = rx_palloc(op->pool, sizeof(si));
        if (si.target == NULL || dir->symlinks[dir->n_symlinks] == NULL) {
            return RX_ERROR;
        }
        *dir->symlinks[dir->n_symlinks++] = si;
    }
    return RX_OK;
}

static rx_int_t
rx_ex_out_dir(rx_ex_op_t *op, rx_ex_tree_t *tree, int dfd, rx_uint_t depth,
              rx_re_t(Directory) * dir)
{
    rx_array_t *names;
    char      **name;
    rx_uint_t   i, n;

    names = rx_ex_out_names(op, dfd);
    if (names == NULL) {
        return RX_ERROR;
    }
    n = names->nelts + 1;
    dir->files = rx_palloc(op->pool, n * sizeof(void *));
    dir->directories = rx_palloc(op->pool, n * sizeof(void *));
    dir->symlinks = rx_palloc(op->pool, n * sizeof(void *));
    if (!dir->files || !dir->directories || !dir->symlinks) {
        return RX_ERROR;
    }
    name = names->elts;
    for (i = 0; i < names->nelts; i++) {
        if (rx_ex_out_entry(op, tree, dfd, name[i], depth, dir) != RX_OK) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static rx_int_t
rx_ex_out_tree(rx_ex_op_t *op, int dfd, const char *path,
               rx_re_t(ActionResult) * r)
{
    rx_re_t(OutputDirectory) * od, odi = RX_RE_INIT(OUTPUT_DIRECTORY);
    rx_re_t(Directory) * root, di = RX_RE_INIT(DIRECTORY);
    rx_re_t(Tree) t = RX_RE_INIT(TREE);
    rx_ex_tree_t   tree;
    rx_ex_digest_t d;
    rx_str_t       bytes;

    root = rx_palloc(op->pool, sizeof(*root));
    od = rx_palloc(op->pool, sizeof(*od));
    if (root == NULL || od == NULL
        || rx_array_init(&tree.children, op->pool, 8, sizeof(void *)) != RX_OK
        || rx_array_init(&tree.digests, op->pool, 8, sizeof(d)) != RX_OK) {
        return RX_ERROR;
    }
    *root = di;
    if (rx_ex_out_dir(op, &tree, dfd, 0, root) != RX_OK) {
        return RX_ERROR;
    }
    t.root = root;
    t.children = tree.children.elts;
    t.n_children = tree.children.nelts;
    if (rx_pb_pack(op->pool, &t.base, 0, &bytes) != RX_OK) {
        return RX_ERROR;
    }
    rx_ex_digest_of(&d, bytes.data, bytes.len);
    if (rx_ex_cas_put(&d, bytes.data, bytes.len) != RX_OK) {
        return RX_ERROR;
    }
    *od = odi;
    od->path = (char *) path;
    od->tree_digest = rx_ex_digest_pb(op->pool, &d);
    r->output_directories[r->n_output_directories++] = od;
    return od->tree_digest ? RX_OK : RX_ERROR;
}

static rx_int_t
rx_ex_out_symlink(rx_ex_op_t *op, int dfd, const char *base, const char *path,
                  int kind, rx_re_t(ActionResult) * r)
{
    rx_re_t(OutputSymlink) * s, init = RX_RE_INIT(OUTPUT_SYMLINK);

    s = rx_palloc(op->pool, sizeof(*s));
    if (s == NULL) {
        return RX_ERROR;
    }
    *s = init;
    s->path = (char *) path;
    s->target = rx_ex_out_readlink(op, dfd, base);
    if (s->target == NULL) {
        return RX_OK;
    }
    r->output_symlinks[r->n_output_symlinks++] = s;
    if (kind == RX_EX_OUT_FILE) {
        r->output_file_symlinks[r->n_output_file_symlinks++] = s;
    } else if (kind == RX_EX_OUT_DIR) {
        r->output_directory_symlinks[r->n_output_directory_symlinks++] = s;
    }
    return RX_OK;
}

static rx_int_t
rx_ex_out_file(rx_ex_op_t *op, int dfd, const char *base, const char *path,
               rx_re_t(ActionResult) * r)
{
    rx_re_t(OutputFile) * f, init = RX_RE_INIT(OUTPUT_FILE);
    rx_ex_digest_t d;
    rx_int_t       rc;
    int            exec;

    rc = rx_ex_out_store(op, dfd, base, &d, &exec);
    if (rc != RX_OK) {
        return rc == RX_DECLINED ? RX_OK : RX_ERROR;
    }
    f = rx_palloc(op->pool, sizeof(*f));
    if (f == NULL) {
        return RX_ERROR;
    }
    *f = init;
    f->path = (char *) path;
    f->digest = rx_ex_digest_pb(op->pool, &d);
    f->is_executable = exec;
    r->output_files[r->n_output_files++] = f;
    return f->digest ? RX_OK : RX_ERROR;
}

/* one declared output; absent ones are simply not reported */
static rx_int_t
rx_ex_out_path(rx_ex_op_t *op, int cwd, const char *path, int kind,
               rx_re_t(ActionResult) * r)
{
    struct stat st;
    const char *base;
    char        parent[PATH_MAX];
    rx_int_t    rc = RX_OK;
    int         pfd, fd;

    base = strrchr(path, '/');
    snprintf(parent, sizeof(parent), "%.*s", base ? (int) (base - path) : 0,
             path);
    base = base ? base + 1 : path;
    pfd = rx_ex_open_beneath(cwd, parent, O_RDONLY | O_DIRECTORY);
    if (pfd == -1) {
        return RX_OK;
    }
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == -1) {
        close(pfd);
        return RX_OK;
    }
    if (S_ISLNK(st.st_mode)) {
        rc = rx_ex_out_symlink(op, pfd, base, path, kind, r);
    } else if (S_ISREG(st.st_mode) && kind != RX_EX_OUT_DIR) {
        rc = rx_ex_out_file(op, pfd, base, path, r);
    } else if (S_ISDIR(st.st_mode) && kind != RX_EX_OUT_FILE) {
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd != -1) {
            rc = rx_ex_out_tree(op, fd, path, r);
            close(fd);
        }
    }
    close(pfd);
    return rc;
}

static rx_int_t
rx_ex_out_alloc(rx_ex_op_t *op, rx_re_t(ActionResult) * r)
{
    rx_re_t(Command) *c = op->command;
    size_t n;

    n = c->n_output_files + c->n_output_directories + c->n_output_paths + 1;
    r->output_files = rx_palloc(op->pool, n * sizeof(void *));
    r->output_directories = rx_palloc(op->pool, n * sizeof(void *));
    r->output_symlinks = rx_palloc(op->pool, n * sizeof(void *));
    r->output_file_symlinks = rx_palloc(op->pool, n * sizeof(void *));
    r->output_directory_symlinks = rx_palloc(op->pool, n * sizeof(void *));
    return r->output_files && r->output_directories && r->output_symlinks
                   && r->output_file_symlinks && r->output_directory_symlinks
               ? RX_OK
               : RX_ERROR;
}

static rx_int_t
rx_ex_out_declared(rx_ex_op_t *op, rx_re_t(ActionResult) * r)
{
    rx_re_t(Command) *c = op->command;
    rx_int_t rc = RX_OK;
    size_t   i;
    int      root, cwd;

    root = open(op->exec_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cwd = root == -1 ? -1
                     : rx_ex_open_beneath(root, c->working_directory,
                                          O_RDONLY | O_DIRECTORY);
    if (root != -1) {
        close(root);
    }
    if (cwd == -1) {
        return RX_OK;
    }
    for (i = 0; rc == RX_OK && i < c->n_output_paths; i++) {
        rc = rx_ex_out_path(op, cwd, c->output_paths[i], RX_EX_OUT_ANY, r);
    }
    for (i = 0; rc == RX_OK && !c->n_output_paths && i < c->n_output_files;
         i++) {
        rc = rx_ex_out_path(op, cwd, c->output_files[i], RX_EX_OUT_FILE, r);
    }
    for (i = 0;
         rc == RX_OK && !c->n_output_paths && i < c->n_output_directories;
         i++) {
        rc =
            rx_ex_out_path(op, cwd, c->output_directories[i], RX_EX_OUT_DIR, r);
    }
    close(cwd);
    return rc;
}

static rx_int_t
rx_ex_out_log(rx_ex_op_t *op, const char *name, rx_re_t(Digest) * *pb,
              ProtobufCBinaryData *raw)
{
    rx_ex_digest_t d;
    rx_str_t       data;
    char           path[PATH_MAX];
    rx_int_t       rc;
    int            fd;

    snprintf(path, sizeof(path), "%s/%s", op->dir, name);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        return RX_OK;
    }
    rc = rx_ex_cas_put_fd(fd, &d);
    close(fd);
    if (rc != RX_OK || (*pb = rx_ex_digest_pb(op->pool, &d)) == NULL) {
        return RX_ERROR;
    }
    if (d.size > 0 && d.size <= RX_EX_INLINE_MAX
        && rx_ex_cas_get(op->pool, &d, RX_EX_INLINE_MAX, &data) == RX_OK) {
        raw->data = data.data;
        raw->len = data.len;
    }
    return RX_OK;
}

static Rx__Wkt__Timestamp *
rx_ex_ts(rx_ex_op_t *op, rx_uint_t i)
{
    Rx__Wkt__Timestamp *t, init = RX__WKT__TIMESTAMP__INIT;

    if (op->ts[i].tv_sec == 0
        || (t = rx_palloc(op->pool, sizeof(*t))) == NULL) {
        return NULL;
    }
    *t = init;
    t->seconds = op->ts[i].tv_sec;
    t->nanos = (int32_t) op->ts[i].tv_nsec;
    return t;
}

static void
rx_ex_out_metadata(rx_ex_op_t *op, rx_re_t(ActionResult) * r)
{
    rx_re_t(ExecutedActionMetadata) * m,
        init = RX_RE_INIT(EXECUTED_ACTION_METADATA);

    m = rx_palloc(op->pool, sizeof(*m));
    if (m == NULL) {
        return;
    }
    *m = init;
    m->worker = rx_ex.worker;
    m->queued_timestamp = rx_ex_ts(op, RX_EX_TS_QUEUED);
    m->worker_start_timestamp = rx_ex_ts(op, RX_EX_TS_START);
    m->input_fetch_start_timestamp = rx_ex_ts(op, RX_EX_TS_FETCH);
    m->input_fetch_completed_timestamp = rx_ex_ts(op, RX_EX_TS_FETCHED);
    m->execution_start_timestamp = rx_ex_ts(op, RX_EX_TS_EXEC);
    m->execution_completed_timestamp = rx_ex_ts(op, RX_EX_TS_EXECUTED);
    m->output_upload_start_timestamp = rx_ex_ts(op, RX_EX_TS_UPLOAD);
    m->output_upload_completed_timestamp = rx_ex_ts(op, RX_EX_TS_UPLOADED);
    m->worker_completed_timestamp = rx_ex_ts(op, RX_EX_TS_COMPLETED);
    r->execution_metadata = m;
}

rx_int_t
rx_ex_out_collect(rx_ex_op_t *op)
{
    rx_re_t(ActionResult) * r, init = RX_RE_INIT(ACTION_RESULT);
    rx_int_t rc;
    int      st = op->wstatus;

    (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_UPLOAD]);
    r = rx_palloc(op->pool, sizeof(*r));
    if (r == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    *r = init;
    r->exit_code = WIFEXITED(st)     ? WEXITSTATUS(st)
                   : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                     : 255;
    rc = rx_ex_out_alloc(op, r);
    if (rc == RX_OK) {
        rc = rx_ex_out_declared(op, r);
    }
    if (rc == RX_OK) {
        rc = rx_ex_out_log(op, "stdout", &r->stdout_digest, &r->stdout_raw);
    }
    if (rc == RX_OK) {
        rc = rx_ex_out_log(op, "stderr", &r->stderr_digest, &r->stderr_raw);
    }
    (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_UPLOADED]);
    op->ts[RX_EX_TS_COMPLETED] = op->ts[RX_EX_TS_UPLOADED];
    rx_ex_out_metadata(op, r);
    op->result = r;
    if (rc != RX_OK) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "cannot collect outputs");
    }
    return RX_OK;
}
