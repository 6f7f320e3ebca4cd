/*
 * GET /metrics: the Prometheus text exposition format (version 0.0.4) of
 * the counters the processes keep in shared memory, so that any worker
 * answers for the whole server. Counters of exited processes are kept in
 * the stats zone's retired totals: no counter goes down on a reload or a
 * worker restart. Other modules (Exec, file store, digest cache) append
 * their families through rx_http_metrics_sections[].
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>

#define RX_METRIC_PREFIX "remoteexec_proxy_"

static void rx_http_metrics_core(rx_buf_t *b, rx_stats_t *st);
static void rx_http_metrics_http(rx_buf_t *b, rx_stats_t *st);

rx_http_status_pt rx_http_metrics_sections[8];

void
rx_http_metric_head(rx_buf_t *b, const char *name, const char *type,
                    const char *help)
{
    (void) rx_buf_printf(b,
                         "# HELP " RX_METRIC_PREFIX "%s %s\n"
                         "# TYPE " RX_METRIC_PREFIX "%s %s\n",
                         name, help, name, type);
}

void
rx_http_metric(rx_buf_t *b, const char *name, const char *labels,
               uint64_t value)
{
    (void) rx_buf_printf(b, RX_METRIC_PREFIX "%s%s%s%s %llu\n", name,
                         labels ? "{" : "", labels ? labels : "",
                         labels ? "}" : "", (unsigned long long) value);
}

static void
rx_http_metrics_core(rx_buf_t *b, rx_stats_t *st)
{
    rx_uint_t i, n[3] = {0, 0, 0};

    rx_http_metric_head(b, "build_info", "gauge",
                        "Version of the running binary.");
    (void) rx_buf_printf(b, RX_METRIC_PREFIX "build_info{version=\"" RX_VERSION
                                             "\"} 1\n");
    rx_http_metric_head(b, "start_time_seconds", "gauge",
                        "Unix time the master process started.");
    rx_http_metric(b, "start_time_seconds", NULL,
                   (uint64_t) st->master_started);
    rx_http_metric_head(b, "reloads_total", "counter",
                        "Configuration reloads since the start.");
    rx_http_metric(b, "reloads_total", NULL, st->reloads);
    rx_http_metric_head(b, "generation", "gauge",
                        "Configuration generation being served.");
    rx_http_metric(b, "generation", NULL, st->generation);
    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        if (st->procs[i].pid) {
            n[rx_min(st->procs[i].type, 2)]++;
        }
    }
    rx_http_metric_head(b, "processes", "gauge",
                        "Child processes of the master, by type.");
    rx_http_metric(b, "processes", "type=\"worker\"", n[RX_PROC_WORKER]);
    rx_http_metric(b, "processes", "type=\"manager\"", n[RX_PROC_MANAGER]);
    rx_http_metric(b, "processes", "type=\"module\"", n[RX_PROC_MODULE]);
}

static void
rx_http_metrics_http(rx_buf_t *b, rx_stats_t *st)
{
    static const char *classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    rx_stats_proc_t    sum = st->retired, *p;
    char               label[32];
    rx_uint_t          i, j;
    uint64_t           active = 0;

    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        p = &st->procs[i];
        if (p->pid == 0) {
            continue;
        }
        sum.requests += __atomic_load_n(&p->requests, __ATOMIC_RELAXED);
        sum.conns_total += p->conns_total;
        sum.bytes_in += p->bytes_in;
        sum.bytes_out += p->bytes_out;
        active += p->conns_active;
        for (j = 0; j < rx_nelems(p->status); j++) {
            sum.status[j] += __atomic_load_n(&p->status[j], __ATOMIC_RELAXED);
        }
    }
    rx_http_metric_head(b, "http_requests_total", "counter",
                        "HTTP requests answered, by status class.");
    for (j = 0; j < rx_nelems(classes); j++) {
        snprintf(label, sizeof(label), "code=\"%s\"", classes[j]);
        rx_http_metric(b, "http_requests_total", label, sum.status[j]);
    }
    rx_http_metric_head(b, "http_connections", "gauge",
                        "Client connections open now.");
    rx_http_metric(b, "http_connections", NULL, active);
    rx_http_metric_head(b, "http_connections_total", "counter",
                        "Client connections accepted.");
    rx_http_metric(b, "http_connections_total", NULL, sum.conns_total);
    rx_http_metric_head(b, "http_received_bytes_total", "counter",
                        "Bytes read from clients.");
    rx_http_metric(b, "http_received_bytes_total", NULL, sum.bytes_in);
    rx_http_metric_head(b, "http_sent_bytes_total", "counter",
                        "Bytes written to clients.");
    rx_http_metric(b, "http_sent_bytes_total", NULL, sum.bytes_out);
}

rx_int_t
rx_http_metrics_page(rx_http_req_t *r)
{
    rx_stats_t *st = rx_cycle->stats;
    rx_buf_t    b;
    rx_str_t    body;
    rx_uint_t   i;

    if (rx_buf_init(&b, r->pool, 16384) != RX_OK) {
        return 500;
    }
    rx_http_metrics_core(&b, st);
    rx_http_metrics_http(&b, st);
    for (i = 0; i < rx_nelems(rx_http_metrics_sections); i++) {
        if (rx_http_metrics_sections[i]) {
            rx_http_metrics_sections[i](&b);
        }
    }
    body.data = b.pos;
    body.len = rx_buf_len(&b);
    rx_http_set_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", &body);
    return RX_OK;
}
