/*
 * Preparing one action. The work directory root/work/<pid>.<seq>/ (owned
 * by the executor) holds stdout, stderr and x/, the input root, which is
 * built from the CAS (hard links to the read-only blobs, copies for
 * executables) and owned by executor.user when the executor is root.
 * Paths are checked: no absolute paths or ".." in outputs and the working
 * directory, input names are single components, input symlinks must stay
 * inside the input root. rx_executor_spawn.c then starts it.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_pb.h>
#include <dirent.h>

static rx_int_t rx_ex_materialize(rx_ex_op_t *op, int dfd, rx_re_t(Digest) * pb,
                                  rx_uint_t depth);
static int      rx_ex_mkdirs(int dfd, const char *path, int last);

static uint64_t rx_ex_seq;

/* ---- paths ---- */

static int
rx_ex_name_ok(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL
           && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int
rx_ex_path_ok(const char *path)
{
    const char *p, *e;
    size_t      n;

    if (path[0] == '/') {
        return 0;
    }
    for (p = path;; p = e + 1) {
        e = strchr(p, '/');
        n = e ? (size_t) (e - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.')) {
            return 0; /* empty component, or ".." */
        }
        if (e == NULL) {
            return 1;
        }
    }
}

int
rx_ex_open_beneath(int dfd, const char *path, int flags)
{
    char buf[PATH_MAX], *p, *e;
    int  fd, next;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (buf[0] == '\0') {
        return openat(dfd, ".", flags | O_CLOEXEC);
    }
    fd = dfd;
    for (p = buf; (e = strchr(p, '/')) != NULL; p = e + 1) {
        *e = '\0';
        next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd != dfd) {
            close(fd);
        }
        if (next == -1) {
            return -1;
        }
        fd = next;
    }
    next = openat(fd, p, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd != dfd) {
        close(fd);
    }
    return next;
}

rx_int_t
rx_ex_chown_at(int dfd, const char *name)
{
    if (!rx_ex.switch_user
        || fchownat(dfd, name, rx_ex.uid, rx_ex.gid, AT_SYMLINK_NOFOLLOW)
               == 0) {
        return RX_OK;
    }
    rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                 "executor: fchownat(\"%s\") failed", name);
    return RX_ERROR;
}

/* creates the directories of @path under @dfd (the last component only
   with @last), owned by the action user; returns the deepest one's fd */
static int
rx_ex_mkdirs(int dfd, const char *path, int last)
{
    char buf[PATH_MAX], *p, *e;
    int  fd, next;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf)) {
        return -1;
    }
    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (p = buf; fd != -1 && *p; p = e + 1) {
        e = strchr(p, '/');
        if (e == NULL && !last) {
            break;
        }
        if (e) {
            *e = '\0';
        }
        if (mkdirat(fd, p, 0755) == 0 && rx_ex_chown_at(fd, p) != RX_OK) {
            close(fd);
            return -1;
        }
        next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        if (e == NULL) {
            break;
        }
    }
    return fd;
}

/* a relative target, resolved lexically from a directory @depth levels
   below the input root, must not leave it */
static int
rx_ex_symlink_ok(const char *target, rx_uint_t depth)
{
    const char *p = target, *e;
    rx_int_t    level = (rx_int_t) depth;
    size_t      n;

    if (target[0] == '/' || target[0] == '\0') {
        return 0;
    }
    for (; *p; p = e + (*e != '\0')) {
        e = strchr(p, '/');
        e = e ? e : p + strlen(p);
        n = (size_t) (e - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--level < 0) {
                return 0;
            }
        } else if (n && !(n == 1 && p[0] == '.')) {
            level++;
        }
    }
    return 1;
}

/* ---- removing trees ---- */

void
rx_ex_remove_at(int dfd, const char *name, rx_uint_t depth)
{
    struct dirent *de;
    DIR           *dir;
    int            fd;

    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT || depth > 256) {
        return;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0) {
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd == -1) {
        return;
    }
    (void) fchmod(fd, 0700); /* entries of a read-only directory */
    dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            rx_ex_remove_at(dirfd(dir), de->d_name, depth + 1);
        }
    }
    closedir(dir);
    (void) unlinkat(dfd, name, AT_REMOVEDIR);
}

void
rx_ex_remove_async(const char *path)
{
    pid_t pid;

    pid = fork();
    if (pid == 0) {
        (void) close_range(3, ~0U, 0); /* no listener kept open by us */
        rx_ex_remove_at(AT_FDCWD, path, 0);
        _exit(0);
    }
    if (pid == -1) {
        rx_ex_remove_at(AT_FDCWD, path, 0);
    }
}

/* ---- the input root ---- */

static rx_int_t
rx_ex_copy_blob(rx_ex_op_t *op, const rx_ex_digest_t *d, int dfd,
                const char *name, int exec)
{
    rx_int_t rc = RX_OK;
    ssize_t  n;
    int      src = -1, dst;

    if (!rx_ex_digest_empty(d) && (src = rx_ex_cas_open(d)) == -1) {
        return errno == ENOENT ? rx_ex_op_missing(op, d) : RX_ERROR;
    }
    dst = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                 exec ? 0555 : 0444);
    if (dst == -1) {
        if (src != -1) {
            close(src);
        }
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot create input \"%s\": %s", name,
                             strerror(errno));
    }
    while (src != -1) {
        n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
        if (n == 0) {
            break;
        }
        if (n == -1 && errno != EINTR) {
            rc = rx_ex_op_fail(op, RX_GRPC_INTERNAL,
                               "copy of \"%s\" failed: "
                               "%s",
                               name, strerror(errno));
            break;
        }
    }
    if (src != -1) {
        close(src);
    }
    close(dst);
    return rc;
}

static rx_int_t
rx_ex_put_file(rx_ex_op_t *op, int dfd, rx_re_t(FileNode) * f)
{
    rx_ex_digest_t d;
    char           path[PATH_MAX];

    if (!rx_ex_name_ok(f->name)
        || rx_ex_digest_from_pb(&d, f->digest) != RX_OK) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "invalid input file \"%s\"", f->name);
    }
    if (!rx_ex_cas_has(&d)) {
        return rx_ex_op_missing(op, &d);
    }
    /* a hard link shares the CAS file: only when the action runs as
       another user than its owner, who could otherwise chmod it and
       write every later action's input (copy_file_range clones where
       the filesystem can) */
    if (!f->is_executable && !rx_ex_digest_empty(&d) && rx_ex.switch_user) {
        rx_ex_cas_path(&d, path, sizeof(path));
        if (linkat(AT_FDCWD, path, dfd, f->name, 0) == 0) {
            return RX_OK;
        }
        if (errno == EEXIST) {
            return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                                 "duplicate input \"%s\"", f->name);
        }
    }
    return rx_ex_copy_blob(op, &d, dfd, f->name, f->is_executable);
}

static rx_int_t
rx_ex_put_dir(rx_ex_op_t *op, int dfd, rx_re_t(DirectoryNode) * dn,
              rx_uint_t depth)
{
    rx_int_t rc;
    int      fd;

    if (!rx_ex_name_ok(dn->name)) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "invalid input directory \"%s\"", dn->name);
    }
    if (mkdirat(dfd, dn->name, 0755) == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot create input directory \"%s\": %s",
                             dn->name, strerror(errno));
    }
    if (rx_ex_chown_at(dfd, dn->name) != RX_OK) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "chown(\"%s\") failed",
                             dn->name);
    }
    fd = openat(dfd, dn->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "open(\"%s\") failed",
                             dn->name);
    }
    rc = rx_ex_materialize(op, fd, dn->digest, depth + 1);
    close(fd);
    return rc;
}

static rx_int_t
rx_ex_put_symlink(rx_ex_op_t *op, int dfd, rx_re_t(SymlinkNode) * sl,
                  rx_uint_t depth)
{
    if (!rx_ex_name_ok(sl->name) || !rx_ex_symlink_ok(sl->target, depth)) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "input symlink \"%s\" -> \"%s\" leaves the "
                             "input root",
                             sl->name, sl->target);
    }
    if (symlinkat(sl->target, dfd, sl->name) == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot create input symlink \"%s\": %s", sl->name,
                             strerror(errno));
    }
    if (rx_ex_chown_at(dfd, sl->name) != RX_OK) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "chown(\"%s\") failed",
                             sl->name);
    }
    return RX_OK;
}

static rx_int_t
rx_ex_put_entries(rx_ex_op_t *op, int dfd, rx_re_t(Directory) * dir,
                  rx_uint_t depth)
{
    rx_int_t rc = RX_OK;
    size_t   i;

    for (i = 0; i < dir->n_files && op->code != RX_GRPC_INVALID_ARGUMENT; i++) {
        rc |= rx_ex_put_file(op, dfd, dir->files[i]);
    }
    for (i = 0; i < dir->n_directories && op->code != RX_GRPC_INVALID_ARGUMENT;
         i++) {
        rc |= rx_ex_put_dir(op, dfd, dir->directories[i], depth);
    }
    for (i = 0; i < dir->n_symlinks && rc == RX_OK; i++) {
        rc = rx_ex_put_symlink(op, dfd, dir->symlinks[i], depth);
    }
    return rc == RX_OK ? RX_OK : RX_ERROR;
}

/*
 * The input tree, read before any of it is created.  The tree is a DAG:
 * 20 small Directory blobs that each name the next one twice stand for
 * 2^21 entries.  Each distinct Directory is read and unpacked once (an
 * index by digest, in a pool that lives while the tree is created) and
 * the entries are counted, the walk stopping as soon as the total passes
 * RX_EX_MAX_ENTRIES.  A missing or unreadable Directory is recorded as
 * such: the creation reports it.
 */
#define RX_EX_INTREE_BUCKETS 1024

typedef struct rx_ex_tdir_s rx_ex_tdir_t;
struct rx_ex_tdir_s {
    rx_ex_tdir_t  *next;
    rx_ex_digest_t d;
    rx_re_t(Directory) * dir; /* NULL: missing (rc) or unreadable */
    rx_int_t rc;              /* of rx_ex_cas_get() */
    uint64_t entries;         /* under it, itself excluded */
};

struct rx_ex_intree_s {
    rx_pool_t    *pool;
    rx_ex_tdir_t *bucket[RX_EX_INTREE_BUCKETS];
};

static rx_ex_tdir_t *
rx_ex_intree_find(rx_ex_intree_t *t, const rx_ex_digest_t *d,
                  rx_ex_tdir_t ***head)
{
    rx_ex_tdir_t *td;
    size_t        b, i;

    for (b = 0, i = 0; i < 8; i++) { /* the hash is uniform already */
        b = b * 33 + d->hex[i];
    }
    *head = &t->bucket[b % RX_EX_INTREE_BUCKETS];
    for (td = **head; td; td = td->next) {
        if (td->d.size == d->size
            && memcmp(td->d.hex, d->hex, sizeof(d->hex)) == 0) {
            return td;
        }
    }
    return NULL;
}

/* entries under @pb, reading what was not read yet; 0 for what the
   creation refuses anyway (depth, digest) */
static uint64_t
rx_ex_intree_load(rx_ex_intree_t *t, rx_re_t(Digest) * pb, rx_uint_t depth)
{
    rx_ex_tdir_t **head, *td;
    rx_ex_digest_t d;
    rx_str_t       data;
    size_t         i;

    if (depth > RX_EX_MAX_DEPTH || rx_ex_digest_from_pb(&d, pb) != RX_OK) {
        return 0;
    }
    if ((td = rx_ex_intree_find(t, &d, &head)) != NULL) {
        return td->entries;
    }
    td = rx_pcalloc(t->pool, sizeof(rx_ex_tdir_t));
    if (td == NULL) {
        return RX_EX_MAX_ENTRIES + 1; /* refused: out of memory */
    }
    td->d = d;
    td->rc = rx_ex_cas_get(t->pool, &d, RX_EX_MAX_PROTO, &data);
    td->dir = td->rc == RX_OK ? (void *) rx_pb_unpack(
                  t->pool, &rx_re_desc(directory), data.data, data.len)
                              : NULL;
    td->next = *head;
    *head = td;
    if (td->dir == NULL) {
        return 0;
    }
    td->entries =
        td->dir->n_files + td->dir->n_symlinks + td->dir->n_directories;
    for (i = 0; i < td->dir->n_directories && td->entries <= RX_EX_MAX_ENTRIES;
         i++) {
        td->entries +=
            rx_ex_intree_load(t, td->dir->directories[i]->digest, depth + 1);
    }
    return td->entries;
}

/* one Directory of the input tree, as read by rx_ex_intree_load() */
static rx_int_t
rx_ex_materialize(rx_ex_op_t *op, int dfd, rx_re_t(Digest) * pb,
                  rx_uint_t depth)
{
    rx_ex_tdir_t **head, *td;
    rx_ex_digest_t d;

    if (depth > RX_EX_MAX_DEPTH || rx_ex_digest_from_pb(&d, pb) != RX_OK
        || (td = rx_ex_intree_find(op->tree, &d, &head)) == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "invalid input tree");
    }
    if (td->rc == RX_DECLINED) {
        return rx_ex_op_missing(op, &d);
    }
    if (td->dir == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "unreadable input directory %s", (char *) d.hex);
    }
    return rx_ex_put_entries(op, dfd, td->dir, depth);
}

/* ---- preparing and starting ---- */

static rx_int_t
rx_ex_run_dirs(rx_ex_op_t *op)
{
    size_t n = strlen(rx_ex.work_dir) + 64;

    op->dir = rx_pnalloc(op->pool, n);
    op->exec_root = rx_pnalloc(op->pool, n + 2);
    if (op->dir == NULL || op->exec_root == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    snprintf(op->dir, n, "%s/%ld.%llu", rx_ex.work_dir, (long) getpid(),
             (unsigned long long) ++rx_ex_seq);
    snprintf(op->exec_root, n + 2, "%s/x", op->dir);
    if (mkdir(op->dir, 0711) == -1 || mkdir(op->exec_root, 0755) == -1) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                     "executor: mkdir(\"%s\") failed", op->exec_root);
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL,
                             "cannot create the work "
                             "directory");
    }
    if (rx_ex.switch_user && chown(op->exec_root, rx_ex.uid, rx_ex.gid) == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "chown() failed");
    }
    return RX_OK;
}

static rx_int_t
rx_ex_output_parent(rx_ex_op_t *op, int cwd, const char *path)
{
    int fd;

    if (!rx_ex_path_ok(path)) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "output path \"%s\" must be relative and stay "
                             "inside the input root",
                             path);
    }
    fd = rx_ex_mkdirs(cwd, path, 0);
    if (fd == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot create the parent of output \"%s\"", path);
    }
    close(fd);
    return RX_OK;
}

static rx_int_t
rx_ex_run_outputs(rx_ex_op_t *op, int root)
{
    rx_re_t(Command) *cmd = op->command;
    const char *wd = cmd->working_directory;
    rx_int_t    rc = RX_OK;
    size_t      i;
    int         cwd;

    if (wd[0] && !rx_ex_path_ok(wd)) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "working_directory \"%s\" leaves the input root",
                             wd);
    }
    cwd = wd[0] ? rx_ex_mkdirs(root, wd, 1) : dup(root);
    if (cwd == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                             "cannot create working_directory \"%s\"", wd);
    }
    for (i = 0; rc == RX_OK && i < cmd->n_output_paths; i++) {
        rc = rx_ex_output_parent(op, cwd, cmd->output_paths[i]);
    }
    for (i = 0; rc == RX_OK && i < cmd->n_output_files; i++) {
        rc = rx_ex_output_parent(op, cwd, cmd->output_files[i]);
    }
    for (i = 0; rc == RX_OK && i < cmd->n_output_directories; i++) {
        rc = rx_ex_output_parent(op, cwd, cmd->output_directories[i]);
    }
    close(cwd);
    op->cwd = rx_pnalloc(op->pool, strlen(op->exec_root) + strlen(wd) + 2);
    if (rc == RX_OK && op->cwd == NULL) {
        return rx_ex_op_fail(op, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (op->cwd) {
        sprintf(op->cwd, "%s%s%s", op->exec_root, wd[0] ? "/" : "", wd);
    }
    return rc;
}

rx_int_t
rx_ex_run_start(rx_ex_op_t *op)
{
    rx_ex_intree_t *tree;
    rx_pool_t      *pool;
    rx_int_t        rc;
    int             root;

    if (rx_ex.sandbox_missing) {
        return rx_ex_op_fail(op, RX_GRPC_FAILED_PRECONDITION,
                             "executor.sandbox \"%s\" is not installed",
                             rx_ex.cycle->conf->executor.sandbox.data);
    }
    (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_FETCH]);
    if (rx_ex_run_dirs(op) != RX_OK) {
        return RX_ERROR;
    }
    root = open(op->exec_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root == -1) {
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL,
                             "cannot open the input "
                             "root");
    }
    pool = rx_create_pool(16384, rx_ex.log);
    tree = pool ? rx_pcalloc(pool, sizeof(rx_ex_intree_t)) : NULL;
    if (tree == NULL) {
        close(root);
        if (pool) {
            rx_destroy_pool(pool);
        }
        return rx_ex_op_fail(op, RX_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    tree->pool = pool;
    if (rx_ex_intree_load(tree, op->action->input_root_digest, 0)
        > RX_EX_MAX_ENTRIES) {
        rc = rx_ex_op_fail(op, RX_GRPC_INVALID_ARGUMENT,
                           "input tree of more than %u entries",
                           (unsigned) RX_EX_MAX_ENTRIES);
    } else {
        op->tree = tree;
        rc = rx_ex_materialize(op, root, op->action->input_root_digest, 0);
        op->tree = NULL;
    }
    rx_destroy_pool(pool); /* the Directory messages */
    if (rc == RX_OK) {
        rc = rx_ex_run_outputs(op, root);
    }
    close(root);
    (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_FETCHED]);
    if (rc != RX_OK || op->code != RX_GRPC_OK) {
        return RX_ERROR;
    }
    return rx_ex_spawn(op);
}
