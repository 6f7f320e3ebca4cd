/*
 * The nsjail chroot mode (REMOTEEXEC.md §7.5): a request whose input root
 * is "/" on a platform with has_nsjail runs through a wrapper that binds
 * the input root's entries under /tmp/goma_chroot and starts the command
 * in nsjail with a generated nsjail.cfg.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>
#include <rx_exec_tree.h>
#include <rx_exec_path.h>

static const char rx_exec_chroot_wrapper[] =
    "#!/bin/bash\n"
    "set -e\n"
    "if [[ -z \"$WORK_DIR\" ]]; then\n"
    "  echo \"WORK_DIR is not set\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "chroot_dir=/tmp/goma_chroot\n"
    "mkdir -p \"$chroot_dir\"\n"
    "for f in *; do\n"
    "  case \"$f\" in __action_home__*) continue ;; esac\n"
    "  if [[ -d \"$f\" ]]; then mkdir -p \"$chroot_dir/$f\";\n"
    "  else touch \"$chroot_dir/$f\"; fi\n"
    "  mount --bind \"$PWD/$f\" \"$chroot_dir/$f\"\n"
    "done\n"
    "for d in dev proc; do\n"
    "  [[ -e \"$d\" ]] || mkdir -p \"$chroot_dir/$d\"\n"
    "done\n"
    "touch \"$chroot_dir/dev/urandom\" \"$chroot_dir/dev/null\"\n"
    "exec nsjail --quiet --config \"$WORK_DIR/nsjail.cfg\" -- \"$@\"\n";

static int
rx_exec_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* text-format string: quotes and backslashes escaped */
static rx_int_t
rx_exec_cfg_str(rx_buf_t *b, const char *field, const char *v)
{
    if (rx_buf_printf(b, "%s: \"", field) != RX_OK) {
        return RX_ERROR;
    }
    for (; *v; v++) {
        if ((*v == '"' || *v == '\\') && rx_buf_append(b, "\\", 1) != RX_OK) {
            return RX_ERROR;
        }
        if (rx_buf_append(b, v, 1) != RX_OK) {
            return RX_ERROR;
        }
    }
    return rx_buf_append(b, "\"\n", 2);
}

/* PATH: the sorted unique directories of the toolchain files */
static char *
rx_exec_chroot_path(rx_exec_t *x)
{
    char   **dirs;
    rx_str_t p, d;
    rx_buf_t b;
    size_t   i, n = 0;

    dirs = rx_palloc(x->pool, (x->req->n_toolchain_specs + 1) * sizeof(char *));
    if (dirs == NULL || rx_buf_init(&b, x->pool, 256) != RX_OK) {
        return NULL;
    }
    for (i = 0; i < x->req->n_toolchain_specs; i++) {
        p.data = (u_char *) x->req->toolchain_specs[i]->path;
        p.len = p.data ? strlen((char *) p.data) : 0;
        if (p.len == 0 || rx_path_dir(x->pool, &p, &d) != RX_OK) {
            continue;
        }
        if (d.len && !(d.len == 1 && d.data[0] == '.')) {
            dirs[n++] = (char *) d.data;
        }
    }
    qsort(dirs, n, sizeof(char *), rx_exec_str_cmp);
    (void) rx_buf_append(&b, "PATH=", 5);
    for (i = 0; i < n; i++) {
        if (i && strcmp(dirs[i], dirs[i - 1]) == 0) {
            continue;
        }
        if (rx_buf_printf(&b, "%s%s", rx_buf_len(&b) > 5 ? ":" : "", dirs[i])
            != RX_OK) {
            return NULL;
        }
    }
    (void) rx_buf_append(&b, "", 1);
    return (char *) b.pos;
}

/* nsjail.cfg, fields in field-number order */
static rx_int_t
rx_exec_nsjail_cfg(rx_exec_t *x, rx_str_t *out)
{
    rx_buf_t b;
    char    *path = rx_exec_chroot_path(x);
    size_t   i;
    rx_int_t rc;

    if (path == NULL || rx_buf_init(&b, x->pool, 1024) != RX_OK) {
        return RX_ERROR;
    }
    rc = rx_exec_cfg_str(&b, "cwd", (char *) x->cwd.data);
    rc |= rx_buf_printf(&b, "log_level: WARNING\n");
    rc |= rx_exec_cfg_str(&b, "envar", path);
    rc |= rx_exec_cfg_str(&b, "envar", "HOME=/");
    for (i = 0; i < x->req->n_env; i++) {
        rc |= rx_exec_cfg_str(&b, "envar", x->req->env[i]);
    }
    rc |= rx_buf_printf(
        &b, "rlimit_as_type: INF\n"
            "rlimit_fsize_type: INF\n"
            "uidmap {\n  inside_id: \"nobody\"\n  outside_id: \"nobody\"\n}\n"
            "gidmap {\n  inside_id: \"nogroup\"\n  outside_id: \"nogroup\"\n}\n"
            "mount_proc: true\n"
            "mount {\n  src: \"/tmp/goma_chroot\"\n  dst: \"/\"\n"
            "  is_bind: true\n  rw: true\n  is_dir: true\n}\n"
            "mount {\n  src: \"/dev/null\"\n  dst: \"/dev/null\"\n"
            "  is_bind: true\n  rw: true\n}\n"
            "mount {\n  src: \"/dev/urandom\"\n  dst: \"/dev/urandom\"\n"
            "  is_bind: true\n}\n");
    out->data = b.pos;
    out->len = rx_buf_len(&b);
    return rc == RX_OK ? RX_OK : RX_ERROR;
}

static rx_int_t
rx_exec_chroot_file(rx_exec_t *x, rx_exec_tree_t *t, const char *name,
                    const u_char *data, size_t len, int executable,
                    rx_str_t *rel)
{
    rx_str_t        n, full;
    rx_exec_blob_t *b;
    const char     *err;

    n.data = (u_char *) name;
    n.len = strlen(name);
    if (rx_path_join(x->pool, &x->cwd, &n, &full) != RX_OK
        || rx_exec_root_rel(x->pool, &x->root, &x->cwd, &full, rel) != RX_OK
        || (b = rx_exec_add_blob(x, data, len)) == NULL
        || rx_exec_tree_add_file(t, rel, &b->d, executable, &err) != RX_OK) {
        return RX_ERROR;
    }
    return RX_OK;
}

rx_int_t
rx_exec_nsjail_setup(rx_exec_t *x, void *tree, const rx_str_t *wd)
{
    rx_exec_tree_t *t = tree;
    rx_str_t        cfg, rel, on = rx_string("true"), name;
    char          **slot;

    slot = rx_array_push(&x->env); /* WORK_DIR only: the rest is in cfg */
    if (slot == NULL
        || (*slot = rx_exec_strdup(x->pool, (u_char *) "WORK_DIR=", 9)) == NULL
        || rx_exec_nsjail_cfg(x, &cfg) != RX_OK
        || rx_exec_chroot_file(x, t, "nsjail.cfg", cfg.data, cfg.len, 0, &rel)
               != RX_OK
        || rx_exec_chroot_file(
               x, t, "run.sh", (u_char *) rx_exec_chroot_wrapper,
               sizeof(rx_exec_chroot_wrapper) - 1, 1, &x->wrapper)
               != RX_OK) {
        return rx_exec_fail(x, 500, "nsjail wrapper");
    }
    *slot = rx_pnalloc(x->pool, wd->len + 16);
    if (*slot == NULL) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    snprintf(*slot, wd->len + 16, "WORK_DIR=%.*s", (int) wd->len, wd->data);
    rx_str_set(&name, "dockerPrivileged");
    if (rx_exec_set_prop(x, &name, &on) != RX_OK) {
        return rx_exec_fail(x, 500, "out of memory");
    }
    rx_str_set(&name, "dockerRunAsRoot");
    return rx_exec_set_prop(x, &name, &on) == RX_OK
               ? RX_OK
               : rx_exec_fail(x, 500, "out of memory");
}
