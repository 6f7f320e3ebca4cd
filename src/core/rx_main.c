/*
 * remoteexec_proxy: command line, -t, -s and start-up.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>
#include <rx_process.h>
#include <rx_reapi.h>

#define RX_MAX_OVERRIDES 64

typedef struct {
    const char        *conf_file;
    const char        *prefix;
    const char        *signal;
    unsigned           test : 1;
    unsigned           version : 1;
    unsigned           help : 1;
    unsigned           preload : 1;
    unsigned           check_backend : 1;
    rx_conf_override_t ov[RX_MAX_OVERRIDES];
    rx_uint_t          nov;
} rx_options_t;

static int  rx_get_options(int argc, char **argv, rx_options_t *o);
static void rx_usage(FILE *f);
static int  rx_signal_process(rx_cycle_t *cycle, const char *name);

static void
rx_usage(FILE *f)
{
    fprintf(
        f,
        "Usage: " RX_PROGNAME " [-c FILE] [-p PREFIX] [-t] "
        "[-s reload|stop|quit|reopen] [-V] [-h] [--GO-FLAG[=VALUE] ...]\n\n"
        "Options:\n"
        "  -c FILE      configuration file (default: " RX_CONF_PATH ")\n"
        "  -p PREFIX    directory for relative paths (default: " RX_STATE_PATH
        ")\n"
        "  -t           test the configuration and exit\n"
        "  -s SIGNAL    send SIGNAL to the running master: reload, stop, "
        "quit, reopen\n"
        "  -V           print the version and exit\n"
        "  --check-backend  call GetCapabilities on the configured backend,\n"
        "               print what it supports, exit 0 if usable\n"
        "  -h           print this help and exit\n\n"
        "Flags of the Go remoteexec_proxy (override the YAML): --port, "
        "--remoteexec-addr,\n"
        "  --remote-instance-name, --platform-container-image, "
        "--allowed-users,\n"
        "  --insecure-remoteexec, --insecure-skip-verify, "
        "--additional-tls-certificate,\n"
        "  --exec-max-retry-count, --exec-config-file, "
        "--max-digest-cache-entries,\n"
        "  --service-account-json, --exec-{inventory,input-tree,setup,"
        "check-cache,\n"
        "  check-missing,upload-blobs,execute,response}-timeout; "
        "see remoteexec_proxy(8).\n");
}

static int
rx_go_flag(int argc, char **argv, int *i, rx_options_t *o)
{
    char    *name = argv[*i], *eq;
    rx_int_t kind;
    size_t   len;

    while (*name == '-') {
        name++;
    }
    eq = strchr(name, '=');
    len = eq ? (size_t) (eq - name) : strlen(name);
    if (o->nov == RX_MAX_OVERRIDES || len == 0 || len > 64) {
        return -1;
    }
    char flag[65];
    memcpy(flag, name, len);
    flag[len] = '\0';
    kind = rx_conf_flag_kind(flag);
    if (kind == RX_DECLINED) {
        fprintf(stderr, RX_PROGNAME ": unknown flag \"%s\"\n", argv[*i]);
        return -1;
    }
    o->ov[o->nov].name.data = (u_char *) name;
    o->ov[o->nov].name.len = len;
    if (eq) {
        o->ov[o->nov].value.data = (u_char *) eq + 1;
    } else if (kind == 0) {
        o->ov[o->nov].value.data = (u_char *) "true";
    } else if (*i + 1 < argc) {
        o->ov[o->nov].value.data = (u_char *) argv[++*i];
    } else {
        fprintf(stderr, RX_PROGNAME ": flag \"%s\" needs a value\n", flag);
        return -1;
    }
    o->ov[o->nov].value.len = strlen((char *) o->ov[o->nov].value.data);
    if (strcmp(flag, "preload") == 0) {
        o->preload = 1;
    }
    o->nov++;
    return 0;
}

static int
rx_get_options(int argc, char **argv, rx_options_t *o)
{
    int   i;
    char *a;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            fprintf(stderr, RX_PROGNAME ": invalid argument \"%s\"\n", a);
            return -1;
        }
        if (a[2] == '\0' && strchr("cpst", a[1])) {
            if (a[1] == 't') {
                o->test = 1;
                continue;
            }
            if (i + 1 == argc) {
                fprintf(stderr,
                        RX_PROGNAME ": option \"%s\" requires an "
                                    "argument\n",
                        a);
                return -1;
            }
            if (a[1] == 'c') {
                o->conf_file = argv[++i];
            } else if (a[1] == 'p') {
                o->prefix = argv[++i];
            } else {
                o->signal = argv[++i];
            }
        } else if (strcmp(a, "--check-backend") == 0) {
            o->check_backend = 1;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            o->version = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "-?") == 0
                   || strcmp(a, "--help") == 0) {
            o->help = 1;
        } else if (rx_go_flag(argc, argv, &i, o) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
rx_signal_process(rx_cycle_t *cycle, const char *name)
{
    static const struct {
        const char *name;
        int         signo;
    } sigs[] = {{"reload", SIGHUP},
                {"stop", SIGTERM},
                {"quit", SIGQUIT},
                {"reopen", SIGUSR1}};
    char    buf[32];
    ssize_t n;
    size_t  i;
    int     fd;
    long    pid;

    for (i = 0; i < rx_nelems(sigs) && strcmp(sigs[i].name, name) != 0; i++) {
        /* void */
    }
    if (i == rx_nelems(sigs)) {
        fprintf(stderr, RX_PROGNAME ": invalid signal \"%s\"\n", name);
        return 1;
    }
    fd = open((char *) cycle->pid_path.data, O_RDONLY | O_CLOEXEC);
    n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd != -1) {
        close(fd);
    }
    if (n <= 0) {
        fprintf(stderr, RX_PROGNAME ": cannot read pid file \"%s\": %s\n",
                cycle->pid_path.data, strerror(errno));
        return 1;
    }
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    if (pid <= 0 || kill((pid_t) pid, sigs[i].signo) == -1) {
        fprintf(stderr, RX_PROGNAME ": kill(%ld, %s) failed: %s\n", pid, name,
                pid <= 0 ? "invalid pid" : strerror(errno));
        return 1;
    }
    return 0;
}

static const char *
rx_default_conf_file(const rx_options_t *o)
{
    if (o->conf_file) {
        return o->conf_file;
    }
    /* like the Go server, run on built-in defaults and flags alone when
       the default configuration file is not installed */
    return access(RX_CONF_PATH, F_OK) == 0 ? RX_CONF_PATH : NULL;
}

int
main(int argc, char **argv)
{
    static rx_options_t o;
    rx_cycle_args_t     args;
    rx_cycle_t         *cycle;
    int                 rc;

    rx_pid = getpid();
    rx_time_update();
    if (rx_get_options(argc, argv, &o) != 0) {
        rx_usage(stderr);
        return 2;
    }
    if (o.help || o.version) {
        printf(RX_PROGNAME " version " RX_VERSION "\n");
        if (o.help) {
            rx_usage(stdout);
        }
        return 0;
    }
    rx_memzero(&args, sizeof(args));
    args.conf_file = rx_default_conf_file(&o);
    args.overrides = o.ov;
    args.noverrides = o.nov;
    args.prefix.data = (u_char *) (o.prefix ? o.prefix : RX_STATE_PATH);
    args.prefix.len = strlen((char *) args.prefix.data);
    args.test_only = o.test || o.signal != NULL || o.check_backend;
    if (!args.test_only) {
        (void) mkdir((char *) args.prefix.data, 0755);
    }
    cycle = rx_init_cycle(NULL, &args, &rx_log_stderr);
    if (o.test) {
        fprintf(stderr, RX_PROGNAME ": configuration %s %s\n",
                args.conf_file ? args.conf_file : "(built-in defaults)",
                cycle ? "test is successful" : "test failed");
        if (cycle) {
            rx_destroy_cycle(cycle);
        }
        return cycle ? 0 : 1;
    }
    if (cycle == NULL) {
        return 1;
    }
    if (o.signal || o.check_backend) {
        rc = o.signal ? rx_signal_process(cycle, o.signal)
                      : rx_reapi_check_backend(cycle);
        rx_destroy_cycle(cycle);
        return rc;
    }
    if (o.preload) {
        rx_log_error(RX_LOG_NOTICE, &cycle->log, 0, "preload done, exiting");
        rx_destroy_cycle(cycle);
        return 0;
    }
    if (rx_cycle_write_pid(cycle) != RX_OK) {
        rx_destroy_cycle(cycle);
        return 1;
    }
    rx_log_error(RX_LOG_NOTICE, &cycle->log, 0,
                 RX_PROGNAME "/" RX_VERSION " starting, %lu worker(s)",
                 (unsigned long) cycle->workers);
    rx_master_process_cycle(cycle, &args);
    return 0;
}
