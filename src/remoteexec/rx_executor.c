/*
 * The embedded local executor module. When no backend address is
 * configured (or executor.enabled is on) the master spawns this process
 * next to the workers; it serves REAPI v2 on executor.socket (the proxy's
 * gRPC client connects there) and optionally on a loopback TCP port, and
 * runs actions on this host.
 *
 * Privileges: the executor keeps the privileges it was started with. When
 * that is root it needs them to switch every action to executor.user
 * (default nobody) and to own its CAS; an action never runs as root.
 * When it is not root, actions run as the executor's own user (then
 * nothing but a sandbox separates them from the executor's files). The
 * executor root is created 0711, root/cas and root/ac 0700 (never
 * writable by actions), root/work 0711; only each action's own input
 * root belongs to executor.user.
 *
 * Sandbox: executor.sandbox bwrap wraps every command (the
 * whole file system read-only, the action's directory writable, private
 * /tmp, /dev, /proc, no network). When the configured tool is not
 * installed, the executor logs an error at start and answers every
 * action that would run with ExecuteResponse.status FAILED_PRECONDITION
 * (cache hits are still served); it never silently runs unsandboxed.
 *
 * Signals: QUIT (reload, graceful stop) closes the listeners, sends
 * GOAWAY and finishes queued and running actions and open streams within
 * shutdown_timeout; TERM kills the running actions and exits at once. On
 * reload the new generation binds the socket path anew and the old
 * process leaves the path alone when it exits.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <rx_process.h>
#include <dirent.h>
#include <pwd.h>
#if (RX_HAVE_PDEATHSIG)
#include <sys/prctl.h>
#endif

static rx_int_t  rx_executor_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static rx_uint_t rx_executor_wants(rx_cycle_t *cycle);
static void      rx_executor_process(rx_cycle_t *cycle, int channel);
static rx_int_t  rx_ex_init(rx_cycle_t *cycle, int channel);
static void      rx_ex_begin_quit(void);
static void      rx_ex_exit(int code);

const rx_module_t rx_executor_module = {
    .name = "executor",
    .init_cycle = rx_executor_init_cycle,
    .wants_process = rx_executor_wants,
    .process = rx_executor_process,
};

rx_ex_ctx_t rx_ex;

static rx_conn_t  *rx_ex_unix;
static rx_conn_t  *rx_ex_tcp;
static struct stat rx_ex_sock_st;
static rx_conn_t  *rx_ex_channel;
static rx_event_t  rx_ex_shutdown;

/* ---- master side ---- */

static rx_uint_t
rx_executor_wants(rx_cycle_t *cycle)
{
    return rx_executor_active(cycle->conf);
}

static rx_int_t
rx_ex_mkdir_p(rx_cycle_t *cycle, const char *path, mode_t mode)
{
    char buf[PATH_MAX], *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf)) {
        return RX_ERROR;
    }
    for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(buf, 0755) == -1 && errno != EEXIST) {
            goto failed;
        }
        *p = '/';
    }
    if (mkdir(buf, mode) == -1 && errno != EEXIST) {
        goto failed;
    }
    return RX_OK;

failed:
    rx_log_error(RX_LOG_EMERG, &cycle->log, errno,
                 "executor: mkdir(\"%s\") failed", buf);
    return RX_ERROR;
}

static rx_int_t
rx_ex_check_listen(rx_cycle_t *cycle)
{
    rx_conf_executor_t *ec = &cycle->conf->executor;
    rx_conf_listen_t    ls;
    struct sockaddr_in *sin;
    const char         *err;

    if (ec->listen.len == 0) {
        return RX_OK;
    }
    rx_memzero(&ls, sizeof(ls));
    err = rx_conf_parse_listen(cycle->pool, &ec->listen, &ls);
    sin = (struct sockaddr_in *) &ls.sockaddr;
    if (err == NULL && ls.sockaddr.ss_family == AF_INET
        && (ntohl(sin->sin_addr.s_addr) >> 24) == 127) {
        return RX_OK;
    }
    if (err == NULL && ls.sockaddr.ss_family == AF_INET6
        && IN6_IS_ADDR_LOOPBACK(
            &((struct sockaddr_in6 *) &ls.sockaddr)->sin6_addr)) {
        return RX_OK;
    }
    rx_log_error(RX_LOG_EMERG, &cycle->log, 0, "executor.listen \"%s\": %s",
                 ec->listen.data,
                 err ? err
                     : "must be a loopback address (the executor has "
                       "no authentication)");
    return RX_ERROR;
}

static rx_int_t
rx_ex_check_user(rx_cycle_t *cycle)
{
    rx_conf_executor_t *ec = &cycle->conf->executor;
    struct passwd      *pw;

    if (geteuid() != 0) {
        return RX_OK;
    }
    pw = getpwnam((char *) ec->user.data);
    if (pw == NULL || pw->pw_uid == 0) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0, "executor.user \"%s\" %s",
                     ec->user.data, pw ? "must not be root" : "does not exist");
        return RX_ERROR;
    }
    return RX_OK;
}

static rx_int_t
rx_executor_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_conf_executor_t *ec = &cycle->conf->executor;
    char                path[PATH_MAX];

    if (!rx_executor_active(cycle->conf)) {
        ec->enabled = 0;
        return RX_OK;
    }
    /* "auto" resolved now: the grpc module fills in backend.address with
       the executor's socket next */
    ec->enabled = 1;
    if (ec->root.len > RX_EX_DIR_LEN - 64) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "executor.root \"%s\" is too long", ec->root.data);
        return RX_ERROR;
    }
    if (ec->socket.len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
        rx_log_error(RX_LOG_EMERG, &cycle->log, 0,
                     "executor.socket \"%s\" is too long", ec->socket.data);
        return RX_ERROR;
    }
    if (rx_ex_check_listen(cycle) != RX_OK
        || rx_ex_check_user(cycle) != RX_OK) {
        return RX_ERROR;
    }
    if (cycle->test_only) {
        return RX_OK; /* -t changes nothing on disk */
    }
    if (rx_ex_mkdir_p(cycle, (char *) ec->root.data, 0711) != RX_OK) {
        return RX_ERROR;
    }
    snprintf(path, sizeof(path), "%s/cas", ec->root.data);
    if (rx_ex_mkdir_p(cycle, path, 0700) != RX_OK) {
        return RX_ERROR;
    }
    snprintf(path, sizeof(path), "%s/cas/tmp", ec->root.data);
    if (rx_ex_mkdir_p(cycle, path, 0700) != RX_OK) {
        return RX_ERROR;
    }
    snprintf(path, sizeof(path), "%s/ac", ec->root.data);
    if (rx_ex_mkdir_p(cycle, path, 0700) != RX_OK) {
        return RX_ERROR;
    }
    snprintf(path, sizeof(path), "%s/work", ec->root.data);
    if (rx_ex_mkdir_p(cycle, path, 0711) != RX_OK) {
        return RX_ERROR;
    }
    (void) chmod(path, 0711); /* actions must reach their own directory */
    return RX_OK;
}

/* ---- the process ---- */

static void
rx_ex_reap(void)
{
    pid_t pid;
    int   status;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid == -1 && errno == EINTR) {
            continue;
        }
        if (pid <= 0) {
            return;
        }
        rx_ex_ops_reaped(pid, status);
    }
}

static void
rx_executor_process(rx_cycle_t *cycle, int channel)
{
    rx_cycle = cycle;
    if (rx_ex_init(cycle, channel) != RX_OK || write(channel, "R", 1) != 1) {
        exit(2);
    }
    rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0,
                 "executor: serving on %s%s%s, %lu job(s), actions run as %s",
                 cycle->conf->executor.socket.data, rx_ex_tcp ? " and " : "",
                 rx_ex_tcp ? (char *) cycle->conf->executor.listen.data : "",
                 (unsigned long) rx_ex.jobs,
                 rx_ex.switch_user ? (char *) cycle->conf->executor.user.data
                                   : "the executor's user");
    for (;;) {
        rx_event_process();
        if (rx_reap) {
            rx_reap = 0;
            rx_ex_reap();
        }
        if (rx_terminate) {
            rx_ex_ops_kill_all();
            rx_ex_exit(0);
        }
        if (rx_quit && !rx_ex.quitting) {
            rx_ex_begin_quit();
        }
        if (rx_ex.quitting && rx_ex_ops_busy() + rx_ex_h2_busy() == 0) {
            rx_ex_exit(0);
        }
        if (rx_reopen) {
            rx_reopen = 0;
            (void) rx_cycle_reopen_logs(cycle);
        }
    }
}

static void
rx_ex_channel_handler(rx_event_t *ev)
{
    rx_conn_t *c = ev->data;
    u_char     buf[16];
    ssize_t    n;

    if (ev->write) {
        return;
    }
    do {
        n = c->recv(c, buf, sizeof(buf));
    } while (n > 0);
    if (n == 0 || n == RX_ERROR) {
        rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0,
                     "executor: master channel closed, shutting down");
        rx_close_connection(c);
        rx_ex_channel = NULL;
        rx_quit = 1;
    }
}

static rx_int_t
rx_ex_listen_fd(int fd, rx_conn_t **out)
{
    rx_conn_t *c;

    if (listen(fd, 511) == -1) {
        close(fd);
        return RX_ERROR;
    }
    c = rx_get_connection(fd, rx_ex.log);
    if (c == NULL) {
        close(fd);
        return RX_ERROR;
    }
    *out = c;
    return rx_ex_h2_listen(c);
}

static rx_int_t
rx_ex_listen_unix(rx_conf_executor_t *ec)
{
    struct sockaddr_un sun;
    int                fd;

    rx_memzero(&sun, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, ec->socket.data, ec->socket.len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return RX_ERROR;
    }
    (void) unlink(sun.sun_path); /* a previous generation's */
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1
        || chmod(sun.sun_path, 0600) == -1
        || stat(sun.sun_path, &rx_ex_sock_st) == -1) {
        rx_log_error(RX_LOG_EMERG, rx_ex.log, errno,
                     "executor: bind() to %s failed", sun.sun_path);
        close(fd);
        return RX_ERROR;
    }
    return rx_ex_listen_fd(fd, &rx_ex_unix);
}

static rx_int_t
rx_ex_listen_tcp(rx_cycle_t *cycle)
{
    rx_conf_executor_t *ec = &cycle->conf->executor;
    rx_conf_listen_t    ls;
    int                 fd, one = 1;

    if (ec->listen.len == 0) {
        return RX_OK;
    }
    rx_memzero(&ls, sizeof(ls));
    if (rx_conf_parse_listen(cycle->pool, &ec->listen, &ls) != NULL) {
        return RX_ERROR;
    }
    fd = socket(ls.sockaddr.ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return RX_ERROR;
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *) &ls.sockaddr, ls.socklen) == -1) {
        rx_log_error(RX_LOG_EMERG, rx_ex.log, errno,
                     "executor: bind() to %s failed", ec->listen.data);
        close(fd);
        return RX_ERROR;
    }
    return rx_ex_listen_fd(fd, &rx_ex_tcp);
}

static void
rx_ex_find_sandbox(rx_conf_executor_t *ec)
{
    static const char *dirs[] = {"/usr/bin", "/bin", "/usr/local/bin",
                                 "/usr/sbin", "/sbin"};
    rx_uint_t          i;

    if (!rx_str_eq_ci(&ec->sandbox, "bwrap")) {
        return;
    }
    rx_ex.sandbox_kind = RX_EX_SANDBOX_BWRAP;
    if (ec->sandbox_program.len) {
        snprintf(rx_ex.sandbox, sizeof(rx_ex.sandbox), "%s",
                 (char *) ec->sandbox_program.data);
        if (access(rx_ex.sandbox, X_OK) == 0) {
            return;
        }
    } else {
        for (i = 0; i < rx_nelems(dirs); i++) {
            snprintf(rx_ex.sandbox, sizeof(rx_ex.sandbox), "%s/bwrap", dirs[i]);
            if (access(rx_ex.sandbox, X_OK) == 0) {
                return;
            }
        }
        snprintf(rx_ex.sandbox, sizeof(rx_ex.sandbox), "bwrap");
    }
    rx_ex.sandbox_missing = 1;
    rx_log_error(RX_LOG_ERR, rx_ex.log, 0,
                 "executor: executor.sandbox is \"bwrap\" but %s is not "
                 "installed (Debian package bubblewrap); actions are "
                 "refused (FAILED_PRECONDITION)",
                 rx_ex.sandbox);
}

/* actions run as executor.user: absolute paths to their own directory
   (getcwd() + "cd .", a sandbox's bind mounts) need every parent to be
   searchable by that user */
static void
rx_ex_check_reach(void)
{
    struct stat st;
    char        path[RX_EX_DIR_LEN], *p;

    snprintf(path, sizeof(path), "%s", rx_ex.work_dir);
    for (;;) {
        if (stat(path[0] ? path : "/", &st) == 0 && !(st.st_mode & S_IXOTH)
            && st.st_uid != rx_ex.uid) {
            rx_log_error(RX_LOG_WARN, rx_ex.log, 0,
                         "executor: \"%s\" is not searchable by "
                         "executor.user: actions cannot use absolute paths "
                         "to their directory (chmod o+x it)",
                         path[0] ? path : "/");
            return;
        }
        p = strrchr(path, '/');
        if (p == NULL) {
            return;
        }
        *p = '\0';
    }
}

static rx_int_t
rx_ex_init_ctx(rx_cycle_t *cycle)
{
    rx_conf_executor_t *ec = &cycle->conf->executor;
    struct passwd      *pw;
    char                host[64];
    long                n;

    rx_ex.cycle = cycle;
    rx_ex.log = &cycle->log;
    rx_ex.root = ec->root;
    snprintf(rx_ex.cas_dir, sizeof(rx_ex.cas_dir), "%s/cas", ec->root.data);
    snprintf(rx_ex.tmp_dir, sizeof(rx_ex.tmp_dir), "%s/cas/tmp", ec->root.data);
    snprintf(rx_ex.ac_dir, sizeof(rx_ex.ac_dir), "%s/ac", ec->root.data);
    snprintf(rx_ex.work_dir, sizeof(rx_ex.work_dir), "%s/work", ec->root.data);
    if (gethostname(host, sizeof(host)) == -1) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(rx_ex.worker, sizeof(rx_ex.worker), "remoteexec_proxy-executor@%s",
             host);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    rx_ex.jobs =
        ec->jobs > 0 ? (rx_uint_t) ec->jobs : (rx_uint_t) (n > 0 ? n : 1);
    rx_ex.action_timeout = ec->action_timeout ? ec->action_timeout : 900000;
    if (geteuid() == 0) {
        pw = getpwnam((char *) ec->user.data);
        if (pw == NULL || pw->pw_uid == 0) {
            return RX_ERROR;
        }
        rx_ex.uid = pw->pw_uid;
        rx_ex.gid = pw->pw_gid;
        rx_ex.switch_user = 1;
    }
    rx_ex_find_sandbox(ec);
    if (rx_ex.switch_user) {
        rx_ex_check_reach();
    }
    return RX_OK;
}

/* work directories of executors that are gone */
static void
rx_ex_clean_work(void)
{
    struct dirent *de;
    char           path[PATH_MAX];
    DIR           *dir;
    long           pid;

    dir = opendir(rx_ex.work_dir);
    if (dir == NULL) {
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || pid == (long) getpid()
            || (kill((pid_t) pid, 0) == 0 || errno != ESRCH)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", rx_ex.work_dir, de->d_name);
        rx_ex_remove_async(path);
    }
    closedir(dir);
}

static void
rx_ex_init_stats(rx_cycle_t *cycle)
{
    rx_stats_proc_t *st;
    rx_uint_t        i;

    if (cycle->stats == NULL || rx_process_slot < 0) {
        return;
    }
    st = &cycle->stats->procs[rx_process_slot];
    /* zeroed by the master when the slot's last process exited */
    st->pid = (int32_t) getpid();
    st->generation = (uint32_t) cycle->generation;
    st->started = (int64_t) time(NULL);
    for (i = 0; rx_modules[i]; i++) {
        if (rx_modules[i] == &rx_executor_module) {
            st->type = (uint32_t) (RX_PROC_MODULE + i);
        }
    }
}

static rx_int_t
rx_ex_init_channel(int channel)
{
    rx_ex_channel = rx_get_connection(channel, rx_ex.log);
    if (rx_ex_channel == NULL || rx_nonblocking(channel) != RX_OK) {
        return RX_ERROR;
    }
    rx_ex_channel->read->handler = rx_ex_channel_handler;
    rx_ex_channel->write->handler = rx_ex_channel_handler;
    return rx_event_add_conn(rx_ex_channel);
}

static rx_int_t
rx_ex_init(rx_cycle_t *cycle, int channel)
{
    (void) signal(SIGHUP, SIG_IGN);
#if (RX_HAVE_PDEATHSIG)
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    rx_reap = 0;
    rx_time_update();
    rx_event_sigmask = &rx_wait_sigmask;
    if (rx_event_init(cycle->conf->limits.max_connections + 64, &cycle->log)
            != RX_OK
        || rx_ex_init_ctx(cycle) != RX_OK || rx_ex_h2_init() != RX_OK
        || rx_ex_cas_init(cycle) != RX_OK
        || rx_ex_listen_unix(&cycle->conf->executor) != RX_OK
        || rx_ex_listen_tcp(cycle) != RX_OK
        || rx_ex_init_channel(channel) != RX_OK) {
        return RX_ERROR;
    }
    rx_ex_init_stats(cycle);
    rx_ex_clean_work();
    return RX_OK;
}

/* ---- stopping ---- */

static void
rx_ex_close_listener(rx_conn_t **c)
{
    if (*c) {
        (void) rx_event_del_conn(*c);
        rx_close_connection(*c);
        *c = NULL;
    }
}

/* only our own socket file: a newer generation may have replaced it */
static void
rx_ex_unlink_socket(void)
{
    rx_str_t   *path = &rx_ex.cycle->conf->executor.socket;
    struct stat st;

    if (rx_ex_sock_st.st_ino && stat((char *) path->data, &st) == 0
        && st.st_ino == rx_ex_sock_st.st_ino
        && st.st_dev == rx_ex_sock_st.st_dev
        && st.st_ctim.tv_sec == rx_ex_sock_st.st_ctim.tv_sec
        && st.st_ctim.tv_nsec == rx_ex_sock_st.st_ctim.tv_nsec) {
        (void) unlink((char *) path->data);
    }
    rx_ex_sock_st.st_ino = 0;
}

static void
rx_ex_shutdown_handler(rx_event_t *ev)
{
    rx_log_error(RX_LOG_WARN, rx_ex.log, 0,
                 "executor: shutdown timeout, killing %lu action(s)",
                 (unsigned long) rx_ex_ops_busy());
    rx_ex_ops_kill_all();
    rx_ex_exit(0);
}

static void
rx_ex_begin_quit(void)
{
    rx_ex.quitting = 1;
    rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0,
                 "executor: gracefully shutting down, %lu action(s) and "
                 "%lu stream(s) left",
                 (unsigned long) rx_ex_ops_busy(),
                 (unsigned long) rx_ex_h2_busy());
    rx_ex_close_listener(&rx_ex_unix);
    rx_ex_close_listener(&rx_ex_tcp);
    rx_ex_h2_quit();
    rx_ex_shutdown.handler = rx_ex_shutdown_handler;
    rx_ex_shutdown.log = rx_ex.log;
    rx_event_add_timer(&rx_ex_shutdown, rx_ex.cycle->conf->shutdown_timeout);
}

static void
rx_ex_exit(int code)
{
    rx_ex_unlink_socket();
    rx_log_error(RX_LOG_NOTICE, rx_ex.log, 0, "executor: exit");
    exit(code);
}
