/*
 * The read-only status page at "/": version, uptime, configuration
 * summary and per-worker counters read from the stats zone.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_http.h>
#include <rx_process.h>

static void
rx_http_status_html(rx_buf_t *b, const rx_str_t *s)
{
    size_t i;

    for (i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '<':
            (void) rx_buf_append(b, "&lt;", 4);
            break;
        case '>':
            (void) rx_buf_append(b, "&gt;", 4);
            break;
        case '&':
            (void) rx_buf_append(b, "&amp;", 5);
            break;
        case '"':
            (void) rx_buf_append(b, "&quot;", 6);
            break;
        default:
            (void) rx_buf_append(b, &s->data[i], 1);
        }
    }
}

static void
rx_http_status_row(rx_buf_t *b, const char *name, const rx_str_t *value)
{
    rx_str_t none = rx_string("(none)");

    (void) rx_buf_printf(b, "<tr><th>%s</th><td>", name);
    rx_http_status_html(b, value->len ? value : &none);
    (void) rx_buf_printf(b, "</td></tr>\n");
}

static void
rx_http_status_conf(rx_buf_t *b, rx_cycle_t *cycle)
{
    rx_conf_t        *conf = cycle->conf;
    rx_conf_listen_t *cl = conf->listen.elts;
    rx_str_t          s;
    rx_uint_t         i;
    u_char            tmp[64];

    (void) rx_buf_printf(b, "<h2>Configuration</h2>\n<table>\n");
    rx_http_status_row(b, "config file", &conf->file);
    for (i = 0; i < conf->listen.nelts; i++) {
        rx_http_status_row(b, cl[i].tls ? "listen (tls)" : "listen",
                           &cl[i].text);
    }
    s.data = tmp;
    s.len = (size_t) (rx_slprintf(tmp, tmp + sizeof(tmp), "%lu",
                                  (unsigned long) cycle->workers)
                      - tmp);
    rx_http_status_row(b, "workers", &s);
    rx_http_status_row(b, "remoteexec addr", &conf->backend.address);
    rx_http_status_row(b, "instance name", &conf->backend.instance_name);
    if (conf->auth.mode == RX_AUTH_NONE) {
        rx_str_set(&s, "none");
    } else {
        rx_str_set(&s, "static_tokens");
    }
    rx_http_status_row(b, "auth mode", &s);
    rx_http_status_row(b, "service account file",
                       &conf->backend.service_account_json);
    rx_http_status_row(b, "platform container image",
                       &conf->exec.platform_container_image);
    rx_http_status_row(b, "exec config file", &conf->exec.config_file);
    rx_http_status_row(b, "file store", &conf->file_store.path);
    (void) rx_buf_printf(b, "</table>\n");
}

static void
rx_http_status_workers(rx_buf_t *b, rx_stats_t *st)
{
    rx_stats_proc_t *p;
    rx_uint_t        i;

    (void) rx_buf_printf(
        b, "<h2>Workers</h2>\n<table>\n<tr><th>slot</th>"
           "<th>type</th><th>pid</th><th>generation</th><th>up (s)</th>"
           "<th>requests</th><th>active conns</th>"
           "<th>total conns</th><th>bytes in</th>"
           "<th>bytes out</th><th>2xx</th><th>4xx</th>"
           "<th>5xx</th></tr>\n");
    for (i = 0; i < RX_MAX_PROCESSES; i++) {
        p = &st->procs[i];
        if (p->pid == 0) {
            continue;
        }
        (void) rx_buf_printf(
            b,
            "<tr><td>%lu</td><td>%s</td><td>%d</td><td>%u</td><td>%lld</td>"
            "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
            "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td></tr>\n",
            (unsigned long) i, rx_process_name(p->type), (int) p->pid,
            (unsigned) p->generation, (long long) (rx_current_sec - p->started),
            (unsigned long long) __atomic_load_n(&p->requests,
                                                 __ATOMIC_RELAXED),
            (unsigned long long) p->conns_active,
            (unsigned long long) p->conns_total,
            (unsigned long long) p->bytes_in, (unsigned long long) p->bytes_out,
            (unsigned long long) p->status[2],
            (unsigned long long) p->status[4],
            (unsigned long long) p->status[5]);
    }
    (void) rx_buf_printf(b, "</table>\n");
}

/* pages of other modules (file store, caches) append themselves here */
rx_http_status_pt rx_http_status_sections[8];

rx_int_t
rx_http_status_page(rx_http_req_t *r)
{
    rx_stats_t *st = rx_cycle->stats;
    rx_buf_t    b;
    rx_str_t    body;
    rx_uint_t   i;

    if (rx_buf_init(&b, r->pool, 8192) != RX_OK) {
        return 500;
    }
    (void) rx_buf_printf(&b,
                         "<!DOCTYPE html>\n<html><head><title>" RX_PROGNAME
                         "</title></head><body>\n<h1>" RX_PROGNAME
                         " " RX_VERSION "</h1>\n<table>\n"
                         "<tr><th>master pid</th><td>%u</td></tr>\n"
                         "<tr><th>uptime (s)</th><td>%lld</td></tr>\n"
                         "<tr><th>generation</th><td>%u</td></tr>\n"
                         "<tr><th>reloads</th><td>%llu</td></tr>\n"
                         "<tr><th>this worker</th><td>%d</td></tr>\n"
                         "</table>\n",
                         (unsigned) st->master_pid,
                         (long long) (rx_current_sec - st->master_started),
                         (unsigned) st->generation,
                         (unsigned long long) st->reloads, (int) rx_pid);
    rx_http_status_conf(&b, rx_cycle);
    rx_http_status_workers(&b, st);
    for (i = 0; i < rx_nelems(rx_http_status_sections); i++) {
        if (rx_http_status_sections[i]) {
            rx_http_status_sections[i](&b);
        }
    }
    (void) rx_buf_printf(&b, "</body></html>\n");
    body.data = b.pos;
    body.len = rx_buf_len(&b);
    rx_http_set_body(r, 200, "text/html; charset=utf-8", &body);
    return RX_OK;
}
