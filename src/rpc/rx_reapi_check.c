/*
 * --check-backend: connect with the current config, call GetCapabilities
 * on the configured instance, print what the backend supports and the
 * round-trip time. The first thing to run when wiring a new backend.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_reapi.h>

#define RX_CHECK_TIMEOUT 10000

static rx_uint_t rx_check_done;

static void
rx_check_on_done(rx_reapi_op_t *op)
{
    rx_check_done = 1;
}

static const char *
rx_check_digest_name(int v)
{
    static const char *names[] = {"UNKNOWN",    "SHA256", "SHA1",   "MD5",
                                  "VSO",        "SHA384", "SHA512", "MURMUR3",
                                  "SHA256TREE", "BLAKE3", "GITSHA1"};

    return v >= 0 && (size_t) v < rx_nelems(names) ? names[v] : "?";
}

static void
rx_check_print_semver(const char *what, Build__Bazel__Semver__SemVer *v)
{
    if (v) {
        printf("  %s: %d.%d.%d%s%s\n", what, v->major, v->minor, v->patch,
               v->prerelease[0] ? "-" : "", v->prerelease);
    }
}

static int
rx_check_print(Build__Bazel__Remote__Execution__V2__ServerCapabilities *sc)
{
    Build__Bazel__Remote__Execution__V2__CacheCapabilities     *cc;
    Build__Bazel__Remote__Execution__V2__ExecutionCapabilities *ec;
    size_t                                                      i;
    int                                                         sha = 0;

    rx_check_print_semver("low API version", sc->low_api_version);
    rx_check_print_semver("high API version", sc->high_api_version);
    cc = sc->cache_capabilities;
    if (cc) {
        printf("  cache digest functions:");
        for (i = 0; i < cc->n_digest_functions; i++) {
            printf(" %s", rx_check_digest_name(cc->digest_functions[i]));
            sha |= cc->digest_functions[i] == 1;
        }
        printf("\n  max batch total size: %lld bytes%s\n",
               (long long) cc->max_batch_total_size_bytes,
               cc->max_batch_total_size_bytes ? "" : " (0: 4 MiB is used)");
        printf("  absolute symlinks: %s\n",
               cc->symlink_absolute_path_strategy == 2   ? "allowed"
               : cc->symlink_absolute_path_strategy == 1 ? "disallowed"
                                                         : "unknown");
        printf("  action cache updates: %s\n",
               cc->action_cache_update_capabilities
                       && cc->action_cache_update_capabilities->update_enabled
                   ? "enabled"
                   : "disabled");
    } else {
        printf("  no cache capabilities\n");
    }
    ec = sc->execution_capabilities;
    printf("  remote execution: %s (digest function %s)\n",
           ec && ec->exec_enabled ? "enabled" : "disabled",
           ec ? rx_check_digest_name(ec->digest_function) : "-");
    if (cc && !sha && cc->n_digest_functions) {
        printf("error: the backend does not support SHA256\n");
        return 1;
    }
    if (ec == NULL || !ec->exec_enabled) {
        printf("warning: this backend cannot execute actions\n");
    }
    return 0;
}

/* releases everything the check used (sanitizer-clean exit) */
static int
rx_check_done_all(rx_reapi_op_t *op, int rc)
{
    rx_grpc_backend_t *b = rx_grpc_backend();

    rx_reapi_cancel(op);
    if (b) {
        rx_grpc_backend_close(b);
    }
    rx_destroy_pool(op->pool);
    rx_event_done();
    return rc;
}

int
rx_reapi_check_backend(rx_cycle_t *cycle)
{
    Build__Bazel__Remote__Execution__V2__GetCapabilitiesRequest req =
        BUILD__BAZEL__REMOTE__EXECUTION__V2__GET_CAPABILITIES_REQUEST__INIT;
    Build__Bazel__Remote__Execution__V2__ServerCapabilities *sc;
    rx_reapi_op_t                                            op;
    uint64_t                                                 start, us;
    rx_uint_t                                                i;

    if (cycle->conf->backend.address.len == 0) {
        fprintf(stderr, RX_PROGNAME ": no backend configured "
                                    "(backend.address or --remoteexec-addr)\n");
        return 1;
    }
    rx_cycle = cycle;
    rx_time_update();
    if (rx_event_init(64, &cycle->log) != RX_OK
        || rx_grpc_module.init_worker(cycle) != RX_OK) {
        return 1;
    }
    rx_memzero(&op, sizeof(op));
    op.pool = rx_create_pool(16384, &cycle->log);
    op.path = RX_REAPI_CAPABILITIES;
    op.timeout = RX_CHECK_TIMEOUT;
    op.max_attempts = 1;
    op.done = rx_check_on_done;
    req.instance_name = (char *) cycle->conf->backend.instance_name.data;
    if (req.instance_name == NULL) {
        req.instance_name = "";
    }
    if (op.pool == NULL || rx_reapi_pack(&op, &req.base) != RX_OK) {
        return rx_check_done_all(&op, 1);
    }
    printf("backend %s (instance \"%s\", %s)\n",
           cycle->conf->backend.address.data, req.instance_name,
           cycle->conf->backend.insecure ? "plaintext h2c" : "TLS");
    start = rx_time_usec();
    rx_reapi_start(&op);
    for (i = 0; !rx_check_done && i < 100000; i++) {
        rx_event_process();
    }
    us = rx_time_usec() - start;
    if (op.status.code != RX_GRPC_OK) {
        printf("GetCapabilities failed after %.1f ms: %s: %.*s\n", us / 1000.0,
               rx_grpc_code_name(op.status.code), (int) op.status.message.len,
               op.status.message.data);
        return rx_check_done_all(&op, 1);
    }
    sc = (Build__Bazel__Remote__Execution__V2__ServerCapabilities *)
        rx_reapi_unpack(
            &op,
            &build__bazel__remote__execution__v2__server_capabilities__descriptor);
    if (sc == NULL) {
        printf("GetCapabilities returned an unparsable message\n");
        return rx_check_done_all(&op, 1);
    }
    printf("GetCapabilities OK, round trip %.1f ms (connect included)\n",
           us / 1000.0);
    return rx_check_done_all(&op, rx_check_print(sc));
}
