/*
 * Exec metrics (REMOTEEXEC.md §11) in a shared-memory zone, so that every
 * worker's /metrics answer covers the whole server: requests by result,
 * cache hits by kind, Exec requests running now (one slot per process, so
 * a worker that dies takes its count with it) and latency histograms per
 * stage and in total. Counters are relaxed atomics; the zone survives
 * reloads.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_exec.h>
#include <rx_process.h>

#define RX_EXEC_NBUCKETS 19
#define RX_EXEC_NSPANS   (RX_EXEC_NPHASES + 1) /* the stages and the total */

typedef enum {
    RX_EXEC_OK = 0,
    RX_EXEC_ERROR,          /* ExecResp with error_message */
    RX_EXEC_BAD_REQUEST,    /* ExecError BAD_REQUEST */
    RX_EXEC_MISSING_INPUTS, /* missing_input answered */
    RX_EXEC_FAILED,         /* an HTTP error status */
    RX_EXEC_CLIENT_CLOSED,  /* the client went away first */
    RX_EXEC_NRESULTS
} rx_exec_result_e;

typedef struct {
    uint64_t results[RX_EXEC_NRESULTS];
    uint64_t cache[3]; /* no hit, MEM_CACHE, STORAGE_CACHE */
    uint64_t retries;  /* requests with requester_info.retry > 0 */
    uint64_t running[RX_MAX_PROCESSES];
    uint64_t buckets[RX_EXEC_NSPANS][RX_EXEC_NBUCKETS]; /* not cumulative */
    uint64_t sum_usec[RX_EXEC_NSPANS];
    uint64_t count[RX_EXEC_NSPANS];
} rx_exec_metrics_t;

static void rx_exec_metrics_section(rx_buf_t *b);

/* upper bounds in microseconds; the last bucket is +Inf */
static const uint64_t rx_exec_bounds[RX_EXEC_NBUCKETS - 1] = {
    1000,     2500,     5000,     10000,     25000,     50000,
    100000,   250000,   500000,   1000000,   2500000,   5000000,
    10000000, 30000000, 60000000, 120000000, 300000000, 600000000};

static const char *rx_exec_results[RX_EXEC_NRESULTS] = {
    "ok", "error", "bad_request", "missing_inputs", "failed", "client_closed"};

static const char *rx_exec_spans[RX_EXEC_NSPANS] = {
    "inventory",    "input_tree", "setup",    "check_cache", "check_missing",
    "upload_blobs", "execute",    "response", "total"};

static rx_exec_metrics_t *rx_exec_m;

#define rx_exec_add(field, n)                                                  \
    (void) __atomic_fetch_add(&(field), (uint64_t) (n), __ATOMIC_RELAXED)
#define rx_exec_load(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* the zone's tag: what tells it among the cycle's zones */
static const char rx_exec_metrics_tag[] = "exec_metrics";

rx_int_t
rx_exec_metrics_init_cycle(rx_cycle_t *cycle)
{
    if (rx_shm_zone_add(cycle, "exec_metrics", sizeof(rx_exec_metrics_t), 0,
                        rx_exec_metrics_tag)
        == NULL) {
        return RX_ERROR;
    }
    rx_http_metrics_sections[0] = rx_exec_metrics_section;
    return RX_OK;
}

/* in a new worker: the zone of the worker's own cycle (a reload that
   failed or was abandoned may have added one since, and freed it), and
   its running slot starts from 0 whatever the previous owner left */
void
rx_exec_metrics_init_worker(rx_cycle_t *cycle)
{
    rx_shm_zone_t *z = cycle->zones.elts;
    rx_uint_t      i;

    rx_exec_m = NULL;
    for (i = 0; i < cycle->zones.nelts; i++) {
        if (z[i].tag == rx_exec_metrics_tag) {
            rx_exec_m = (rx_exec_metrics_t *) z[i].user;
        }
    }
    if (rx_exec_m && rx_process_slot >= 0
        && rx_process_slot < RX_MAX_PROCESSES) {
        __atomic_store_n(&rx_exec_m->running[rx_process_slot], 0,
                         __ATOMIC_RELAXED);
    }
}

void
rx_exec_metrics_start(rx_exec_t *x)
{
    DevtoolsGoma__RequesterInfo *ri = x->req->requester_info;

    if (rx_exec_m == NULL || rx_process_slot < 0
        || rx_process_slot >= RX_MAX_PROCESSES) {
        return;
    }
    rx_exec_add(rx_exec_m->running[rx_process_slot], 1);
    x->counted = 1;
    if (ri && ri->has_retry && ri->retry > 0) {
        rx_exec_add(rx_exec_m->retries, 1);
    }
}

static void
rx_exec_metrics_span(rx_uint_t span, uint64_t usec)
{
    rx_uint_t i;

    for (i = 0; i < RX_EXEC_NBUCKETS - 1 && usec > rx_exec_bounds[i]; i++) {
        /* the first bound that holds it */
    }
    rx_exec_add(rx_exec_m->buckets[span][i], 1);
    rx_exec_add(rx_exec_m->sum_usec[span], usec);
    rx_exec_add(rx_exec_m->count[span], 1);
}

/* the request is answered (@answered) or its client went away */
void
rx_exec_metrics_end(rx_exec_t *x, int answered, uint64_t total_usec)
{
    rx_exec_result_e res;
    rx_uint_t        i;

    if (!x->counted) {
        return;
    }
    x->counted = 0;
    (void) __atomic_fetch_sub(&rx_exec_m->running[rx_process_slot], 1,
                              __ATOMIC_RELAXED);
    res = !answered          ? RX_EXEC_CLIENT_CLOSED
          : x->status        ? RX_EXEC_FAILED
          : x->missing.nelts ? RX_EXEC_MISSING_INPUTS
          : x->bad_request   ? RX_EXEC_BAD_REQUEST
          : x->errors.nelts  ? RX_EXEC_ERROR
                             : RX_EXEC_OK;
    rx_exec_add(rx_exec_m->results[res], 1);
    if (!answered) {
        return;
    }
    if (res == RX_EXEC_OK) {
        rx_exec_add(rx_exec_m->cache[rx_min(x->cache_hit, 2)], 1);
    }
    for (i = 0; i < RX_EXEC_NPHASES; i++) {
        if (x->usec[i]) { /* stages the request did not reach stay out */
            rx_exec_metrics_span(i, x->usec[i]);
        }
    }
    rx_exec_metrics_span(RX_EXEC_NPHASES, total_usec);
}

static void
rx_exec_metrics_histograms(rx_buf_t *b, rx_exec_metrics_t *m)
{
    rx_uint_t i, j;
    uint64_t  cum;

    rx_http_metric_head(b, "exec_duration_seconds", "histogram",
                        "Time of answered Exec requests, per stage and in "
                        "total.");
    for (i = 0; i < RX_EXEC_NSPANS; i++) {
        for (cum = 0, j = 0; j < RX_EXEC_NBUCKETS; j++) {
            cum += rx_exec_load(m->buckets[i][j]);
            if (j < RX_EXEC_NBUCKETS - 1) {
                (void) rx_buf_printf(
                    b,
                    "remoteexec_proxy_exec_duration_seconds_bucket{stage=\"%s\""
                    ",le=\"%g\"} %llu\n",
                    rx_exec_spans[i], (double) rx_exec_bounds[j] / 1e6,
                    (unsigned long long) cum);
            } else {
                (void) rx_buf_printf(
                    b,
                    "remoteexec_proxy_exec_duration_seconds_bucket{stage=\"%s\""
                    ",le=\"+Inf\"} %llu\n",
                    rx_exec_spans[i], (unsigned long long) cum);
            }
        }
        (void) rx_buf_printf(
            b,
            "remoteexec_proxy_exec_duration_seconds_sum{stage=\"%s\"} %.6f\n"
            "remoteexec_proxy_exec_duration_seconds_count{stage=\"%s\"} "
            "%llu\n",
            rx_exec_spans[i], (double) rx_exec_load(m->sum_usec[i]) / 1e6,
            rx_exec_spans[i], (unsigned long long) cum);
    }
}

static void
rx_exec_metrics_section(rx_buf_t *b)
{
    static const char *hits[] = {"none", "mem", "storage"};
    rx_exec_metrics_t *m = rx_exec_m; /* this worker's cycle */
    char               label[48];
    rx_uint_t          i;
    uint64_t           running = 0;

    if (m == NULL) {
        return;
    }
    rx_http_metric_head(b, "exec_requests_total", "counter",
                        "Exec requests finished, by result.");
    for (i = 0; i < RX_EXEC_NRESULTS; i++) {
        snprintf(label, sizeof(label), "result=\"%s\"", rx_exec_results[i]);
        rx_http_metric(b, "exec_requests_total", label,
                       rx_exec_load(m->results[i]));
    }
    rx_http_metric_head(b, "exec_cache_total", "counter",
                        "Successful Exec requests, by action cache hit.");
    for (i = 0; i < rx_nelems(hits); i++) {
        snprintf(label, sizeof(label), "hit=\"%s\"", hits[i]);
        rx_http_metric(b, "exec_cache_total", label, rx_exec_load(m->cache[i]));
    }
    rx_http_metric_head(b, "exec_client_retries_total", "counter",
                        "Exec requests that the client marked as a retry.");
    rx_http_metric(b, "exec_client_retries_total", NULL,
                   rx_exec_load(m->retries));
    for (i = 0; i < RX_MAX_PROCESSES; i++) { /* live processes only */
        if (rx_cycle->stats->procs[i].pid) {
            running += rx_exec_load(m->running[i]);
        }
    }
    rx_http_metric_head(b, "exec_running", "gauge",
                        "Exec requests in progress.");
    rx_http_metric(b, "exec_running", NULL, running);
    rx_exec_metrics_histograms(b, m);
}
