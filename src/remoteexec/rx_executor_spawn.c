/*
 * Starting one action. The executor forks a supervisor per action, which
 * starts a session of its own, forks the action into a new process group
 * and waits for it. On SIGTERM (the executor's timeout) or when the
 * executor dies (parent-death signal) the supervisor kills the whole
 * group; when the action ends it kills what the action left behind in its
 * group, and, being a child subreaper, every descendant that left the
 * group (setsid, double fork) and so came back to it as an orphan; then
 * it exits the way the action did, so that the executor's
 * waitpid() sees the action's own status. The action child switches to
 * executor.user (setgroups, setgid, setuid), sets resource limits
 * (RLIMIT_CPU from the timeout, RLIMIT_FSIZE, RLIMIT_NOFILE, no core
 * files) and execs the command, through bwrap or nsjail when configured,
 * with exactly the Command's environment.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <dirent.h>
#include <grp.h>
#include <sys/resource.h>
#if (RX_HAVE_PDEATHSIG)
#include <sys/prctl.h>
#endif

static void rx_ex_shim(rx_ex_op_t *op, char **argv, char **envp, int out,
                       int err, pid_t parent);
static void rx_ex_action(rx_ex_op_t *op, char **argv, char **envp);

static volatile sig_atomic_t rx_ex_shim_term;
static volatile pid_t        rx_ex_shim_child;

static char **
rx_ex_argv(rx_ex_op_t *op)
{
    static const char *bwrap[] = {"--unshare-all",
                                  "--die-with-parent",
                                  "--ro-bind",
                                  "/",
                                  "/",
                                  "--dev",
                                  "/dev",
                                  "--proc",
                                  "/proc",
                                  "--tmpfs",
                                  "/tmp",
                                  NULL};
    rx_re_t(Command) *cmd = op->command;
    rx_conf_t   *conf = rx_ex.cycle->conf;
    const char **pre, **argv;
    size_t       n = 0, i;

    pre = rx_ex.sandbox_kind == RX_EX_SANDBOX_BWRAP ? bwrap : NULL;
    argv = rx_palloc(op->pool, (cmd->n_arguments + 32) * sizeof(char *));
    if (argv == NULL) {
        return NULL;
    }
    if (pre) {
        argv[n++] = rx_ex.sandbox;
        for (i = 0; pre[i]; i++) {
            argv[n++] = pre[i];
        }
        /* of the server's own files the action sees only its input root:
           not the CAS, the action cache, other actions' directories, the
           executor's socket (UpdateActionResult) or the file store */
        argv[n++] = "--tmpfs";
        argv[n++] = (char *) rx_ex.root.data;
        if (conf->executor.socket.len) {
            argv[n++] = "--ro-bind";
            argv[n++] = "/dev/null";
            argv[n++] = (char *) conf->executor.socket.data;
        }
        if (conf->file_store.path.len) {
            argv[n++] = "--tmpfs";
            argv[n++] = (char *) conf->file_store.path.data;
        }
        argv[n++] = "--bind";
        argv[n++] = op->exec_root;
        argv[n++] = op->exec_root;
        argv[n++] = "--chdir";
        argv[n++] = op->cwd;
        argv[n++] = "--";
    }
    for (i = 0; i < cmd->n_arguments; i++) {
        argv[n++] = cmd->arguments[i];
    }
    argv[n] = NULL;
    return (char **) argv;
}

static char **
rx_ex_envp(rx_ex_op_t *op)
{
    rx_re_t(Command) *cmd = op->command;
    char **envp;
    size_t i, n;

    envp = rx_palloc(op->pool,
                     (cmd->n_environment_variables + 1) * sizeof(char *));
    for (i = 0; envp && i < cmd->n_environment_variables; i++) {
        n = strlen(cmd->environment_variables[i]->name)
            + strlen(cmd->environment_variables[i]->value) + 2;
        envp[i] = rx_pnalloc(op->pool, n);
        if (envp[i] == NULL) {
            return NULL;
        }
        snprintf(envp[i], n, "%s=%s", cmd->environment_variables[i]->name,
                 cmd->environment_variables[i]->value);
    }
    if (envp) {
        envp[i] = NULL;
    }
    return envp;
}

static int
rx_ex_open_log(rx_ex_op_t *op, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", op->dir, name);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

rx_int_t
rx_ex_spawn(rx_ex_op_t *op)
{
    char **argv, **envp;
    pid_t  pid, parent = getpid();
    int    out, err;

    argv = rx_ex_argv(op);
    envp = rx_ex_envp(op);
    out = rx_ex_open_log(op, "stdout");
    err = rx_ex_open_log(op, "stderr");
    if (argv == NULL || envp == NULL || out == -1 || err == -1) {
        pid = -1;
    } else {
        (void) clock_gettime(CLOCK_REALTIME, &op->ts[RX_EX_TS_EXEC]);
        pid = fork();
        if (pid == 0) {
            rx_ex_shim(op, argv, envp, out, err, parent);
        }
    }
    if (out != -1) {
        close(out);
    }
    if (err != -1) {
        close(err);
    }
    if (pid == -1) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                     "executor: cannot start the action");
        return rx_ex_op_fail(op, RX_GRPC_INTERNAL, "cannot start the action");
    }
    op->pid = pid;
    return RX_OK;
}

/* ---- in the supervisor and the action (after fork) ---- */

static void
rx_ex_shim_signal(int signo)
{
    rx_ex_shim_term = 1;
    if (rx_ex_shim_child > 0) {
        (void) kill(-rx_ex_shim_child, SIGKILL);
    }
}

static void
rx_ex_default_signals(void)
{
    int signo;

    for (signo = 1; signo < NSIG; signo++) {
        if (signo != SIGKILL && signo != SIGSTOP) {
            (void) signal(signo, SIG_DFL);
        }
    }
}

static void
rx_ex_shim_mirror(int status)
{
    struct rlimit no = {0, 0};
    sigset_t      set;
    int           signo;

    if (WIFEXITED(status)) {
        _exit(WEXITSTATUS(status));
    }
    signo = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    (void) setrlimit(RLIMIT_CORE, &no);
    (void) signal(signo, SIG_DFL);
    sigemptyset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);
    (void) kill(getpid(), signo);
    _exit(128 + signo);
}

#if (RX_HAVE_PDEATHSIG)
#define RX_EX_SWEEP_BATCH 256

/* kills the children of this process, found in /proc; returns how many,
   their pids (up to RX_EX_SWEEP_BATCH) in @pids */
static rx_uint_t
rx_ex_shim_kill_children(pid_t self, pid_t *pids)
{
    struct dirent *de;
    char           path[64], buf[512], *p;
    rx_uint_t      n = 0;
    ssize_t        len;
    pid_t          pid;
    DIR           *d;
    int            fd;

    d = opendir("/proc");
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        pid = (pid_t) atoi(de->d_name);
        if (pid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            continue;
        }
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0) {
            continue;
        }
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold anything but the
           last ')' */
        p = strrchr(buf, ')');
        if (p && strlen(p) > 4 && atoi(p + 4) == (int) self) {
            (void) kill(pid, SIGKILL);
            if (n < RX_EX_SWEEP_BATCH) {
                pids[n] = pid;
            }
            n++;
        }
    }
    closedir(d);
    return n;
}

/* the orphans of the action: each round kills the children there are and
   reaps them (only those: a waitpid(-1) could wait for one that came
   after the scan), whose own children then come to us; bounded */
static void
rx_ex_shim_sweep(void)
{
    pid_t     self = getpid(), pids[RX_EX_SWEEP_BATCH];
    rx_uint_t round, n, i;

    for (round = 0; round < 64; round++) {
        n = rx_ex_shim_kill_children(self, pids);
        if (n == 0) {
            break;
        }
        for (i = 0; i < rx_min(n, (rx_uint_t) RX_EX_SWEEP_BATCH); i++) {
            while (waitpid(pids[i], NULL, 0) == -1 && errno == EINTR) {
                /* SIGKILLed: it goes */
            }
        }
    }
}
#endif

static void
rx_ex_shim(rx_ex_op_t *op, char **argv, char **envp, int out, int err,
           pid_t parent)
{
    struct sigaction sa;
    siginfo_t        info;
    sigset_t         set;
    pid_t            a;
    int              status = 0, null;

    (void) setsid();
    rx_ex_default_signals();
    rx_memzero(&sa, sizeof(sa));
    sa.sa_handler = rx_ex_shim_signal;
    (void) sigaction(SIGTERM, &sa, NULL);
#if (RX_HAVE_PDEATHSIG)
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
    (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
    if (getppid() != parent) {
        _exit(125);
    }
    null = open("/dev/null", O_RDONLY);
    if (null == -1 || dup2(null, 0) == -1 || dup2(out, 1) == -1
        || dup2(err, 2) == -1) {
        _exit(125);
    }
    (void) close_range(3, ~0U, 0);
    sigfillset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);
    a = fork();
    if (a == 0) {
        rx_ex_action(op, argv, envp);
    }
    if (a == -1) {
        dprintf(2, "executor: fork() failed: %s\n", strerror(errno));
        _exit(125);
    }
    (void) setpgid(a, a);
    rx_ex_shim_child = a;
    sigemptyset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);
    while (waitid(P_PID, (id_t) a, &info, WEXITED | WNOWAIT) == -1
           && errno == EINTR) {
        /* SIGTERM: the handler has killed the group */
    }
    (void) kill(-a, SIGKILL); /* what the action left running */
    while (waitpid(a, &status, 0) == -1 && errno == EINTR) {
    }
#if (RX_HAVE_PDEATHSIG)
    rx_ex_shim_sweep(); /* and what left its group */
#endif
    rx_ex_shim_mirror(status);
}

static void
rx_ex_limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl;

    if (getrlimit(resource, &rl) == 0) {
        rl.rlim_cur = rx_min(soft, rl.rlim_max);
        rl.rlim_max = rx_min(hard, rl.rlim_max);
        (void) setrlimit(resource, &rl);
    }
}

static void
rx_ex_execvpe(char **argv, char **envp)
{
    const char *path = "/usr/local/bin:/usr/bin:/bin", *p, *e;
    char        buf[PATH_MAX];
    size_t      i;
    int         saved = ENOENT;

    if (strchr(argv[0], '/')) {
        execve(argv[0], argv, envp);
        return;
    }
    for (i = 0; envp[i]; i++) {
        if (strncmp(envp[i], "PATH=", 5) == 0) {
            path = envp[i] + 5;
        }
    }
    for (p = path;; p = e + 1) {
        e = strchr(p, ':');
        e = e ? e : p + strlen(p);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int) (e - p), p,
                 e > p ? "/" : "", argv[0]);
        execve(buf, argv, envp);
        if (errno == EACCES) {
            saved = EACCES;
        } else if (errno != ENOENT && errno != ENOTDIR) {
            return;
        }
        if (*e == '\0') {
            break;
        }
    }
    errno = saved;
}

static void
rx_ex_action(rx_ex_op_t *op, char **argv, char **envp)
{
    sigset_t set;
    rlim_t   cpu = (rlim_t) (op->timeout / 1000 + 1);

    (void) setpgid(0, 0);
    rx_ex_default_signals();
    rx_ex_limit(RLIMIT_CPU, cpu, cpu + 1);
    rx_ex_limit(RLIMIT_FSIZE, RX_EX_FSIZE_LIMIT, RX_EX_FSIZE_LIMIT);
    rx_ex_limit(RLIMIT_NOFILE, RX_EX_NOFILE, RX_EX_NOFILE);
    rx_ex_limit(RLIMIT_CORE, 0, 0);
    umask(022);
    if (chdir(op->cwd) == -1) {
        dprintf(2, "executor: chdir(\"%s\") failed: %s\n", op->cwd,
                strerror(errno));
        _exit(127);
    }
    if (rx_ex.switch_user
        && (setgroups(1, &rx_ex.gid) == -1 || setgid(rx_ex.gid) == -1
            || setuid(rx_ex.uid) == -1 || getuid() != rx_ex.uid)) {
        dprintf(2, "executor: cannot switch to uid %d: %s\n", (int) rx_ex.uid,
                strerror(errno));
        _exit(127);
    }
#if (RX_HAVE_PDEATHSIG)
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    sigemptyset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);
    if (rx_ex.sandbox_kind != RX_EX_SANDBOX_NONE) {
        execve(argv[0], argv, envp);
    } else {
        rx_ex_execvpe(argv, envp);
    }
    dprintf(2, "executor: cannot run \"%s\": %s\n", op->command->arguments[0],
            strerror(errno));
    _exit(127);
}
