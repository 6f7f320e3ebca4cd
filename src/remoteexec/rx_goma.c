/*
 * The Goma frontend module: routes, the protobuf RPC envelope with goma's
 * compression rules (GOMA_PROTOCOL.md §3-§4) and the error statuses.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_goma.h>
#include <rx_zlib.h>
#include <rx_file_store.h>
#include <rx_exec.h>

static rx_int_t rx_goma_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old);
static rx_int_t rx_goma_init_worker(rx_cycle_t *cycle);
static void     rx_goma_metrics(rx_buf_t *b);
rx_int_t        rx_goma_exec(rx_http_req_t *r);
static void     rx_goma_status(rx_buf_t *b);

const rx_module_t rx_goma_module = {
    .name = "goma",
    .init_cycle = rx_goma_init_cycle,
    .init_worker = rx_goma_init_worker,
};

static const rx_http_route_t rx_goma_routes[] = {
    {RX_HTTP_PREFIX "/s", RX_HTTP_POST, rx_goma_store_file, 1},
    {RX_HTTP_PREFIX "/l", RX_HTTP_POST, rx_goma_lookup_file, 1},
    {RX_HTTP_PREFIX "/sl", RX_HTTP_POST, rx_goma_save_log, 1},
    {RX_HTTP_PREFIX "/e", RX_HTTP_POST, rx_goma_exec, 1},
};

static rx_int_t
rx_goma_init_cycle(rx_cycle_t *cycle, rx_cycle_t *old)
{
    rx_goma_conf_t *gc;
    rx_uint_t       i;

    gc = rx_pcalloc(cycle->pool, sizeof(rx_goma_conf_t));
    if (gc == NULL || rx_goma_load_tokens(cycle, gc) != RX_OK) {
        return RX_ERROR;
    }
    cycle->modules[2] = gc;
    if (rx_exec_platforms_init(cycle) != RX_OK) {
        return RX_ERROR;
    }
    for (i = 0; i < rx_nelems(rx_goma_routes); i++) {
        if (rx_http_add_route(&rx_goma_routes[i]) != RX_OK) {
            return RX_ERROR;
        }
    }
    rx_http_authenticate = rx_goma_authenticate;
    rx_http_status_sections[0] = rx_goma_status;
    rx_http_metrics_sections[1] = rx_goma_metrics;
    return rx_exec_metrics_init_cycle(cycle);
}

static rx_int_t
rx_goma_init_worker(rx_cycle_t *cycle)
{
    rx_exec_metrics_init_worker(cycle);
    return RX_OK;
}

static void
rx_goma_metrics(rx_buf_t *b)
{
    rx_file_store_stats_t st;

    rx_file_store_get_stats(&st);
    rx_http_metric_head(b, "file_store_entries", "gauge",
                        "Blobs in the file store.");
    rx_http_metric(b, "file_store_entries", NULL, st.entries);
    rx_http_metric_head(b, "file_store_bytes", "gauge",
                        "Bytes of the blobs in the file store.");
    rx_http_metric(b, "file_store_bytes", NULL, st.bytes);
    rx_http_metric_head(b, "file_store_max_bytes", "gauge",
                        "file_store.max_size.");
    rx_http_metric(b, "file_store_max_bytes", NULL, st.max_bytes);
    rx_http_metric_head(b, "file_store_stores_total", "counter",
                        "Blobs stored by StoreFile and outputs, by result.");
    rx_http_metric(b, "file_store_stores_total", "result=\"ok\"", st.stores);
    rx_http_metric(b, "file_store_stores_total", "result=\"error\"",
                   st.store_errors);
    rx_http_metric_head(b, "file_store_lookups_total", "counter",
                        "Blob lookups, by result.");
    rx_http_metric(b, "file_store_lookups_total", "result=\"hit\"", st.hits);
    rx_http_metric(b, "file_store_lookups_total", "result=\"miss\"", st.misses);
    rx_http_metric_head(b, "file_store_corrupt_total", "counter",
                        "Damaged blobs found and dropped.");
    rx_http_metric(b, "file_store_corrupt_total", NULL, st.corrupt);
    rx_http_metric_head(b, "file_store_evictions_total", "counter",
                        "Blobs evicted above file_store.max_size.");
    rx_http_metric(b, "file_store_evictions_total", NULL, st.evictions);
}

static void
rx_goma_status(rx_buf_t *b)
{
    rx_file_store_stats_t st;

    rx_file_store_get_stats(&st);
    (void) rx_buf_printf(
        b,
        "<h2>File store</h2>\n<table>\n"
        "<tr><th>entries</th><td>%llu</td></tr>\n"
        "<tr><th>bytes</th><td>%llu</td></tr>\n"
        "<tr><th>max bytes</th><td>%llu</td></tr>\n"
        "<tr><th>stores</th><td>%llu</td></tr>\n"
        "<tr><th>store errors</th><td>%llu</td></tr>\n"
        "<tr><th>lookup hits</th><td>%llu</td></tr>\n"
        "<tr><th>lookup misses</th><td>%llu</td></tr>\n"
        "<tr><th>corrupt blobs dropped</th><td>%llu</td></tr>\n"
        "<tr><th>evictions</th><td>%llu</td></tr>\n"
        "<tr><th>index loaded</th><td>%s</td></tr>\n</table>\n",
        (unsigned long long) st.entries, (unsigned long long) st.bytes,
        (unsigned long long) st.max_bytes, (unsigned long long) st.stores,
        (unsigned long long) st.store_errors, (unsigned long long) st.hits,
        (unsigned long long) st.misses, (unsigned long long) st.corrupt,
        (unsigned long long) st.evictions, st.loaded ? "yes" : "no");
}

rx_int_t
rx_goma_respond(rx_http_req_t *r, rx_str_t *out)
{
    rx_encoding_e enc;
    rx_str_t      body;

    (void) rx_http_add_header(r, "Accept-Encoding",
                              rx_zlib_accept_header(&r->accept_encoding));
    if (out->len == 0) { /* empty messages go as 0 bytes, unlabeled */
        rx_http_set_body(r, 200, "binary/x-protocol-buffer", out);
        return RX_OK;
    }
    enc = rx_zlib_response_encoding(&r->accept_encoding);
    if (rx_zlib_encode(r->pool, enc, 1, out->data, out->len, &body) != RX_OK) {
        return 500;
    }
    (void) rx_http_add_header(r, "Content-Encoding",
                              rx_zlib_encoding_name(enc));
    rx_http_set_body(r, 200, "binary/x-protocol-buffer", &body);
    return RX_OK;
}

rx_int_t
rx_goma_decode(rx_http_req_t *r, rx_str_t *in)
{
    rx_encoding_e enc;
    size_t        max = rx_cycle->conf->limits.body_size;
    rx_int_t      rc;

    if (rx_zlib_request_encoding(&r->content_encoding, &enc) != RX_OK) {
        return rx_http_set_text(r, 400, "bad request") == RX_OK ? RX_DONE : 500;
    }
    /* bounded memory per request: the body, its decoded form, messages */
    r->pool->limit = r->pool->total + 4 * max + 64 * 1024 * 1024;
    rc = rx_zlib_decode(r->pool, enc, r->body.data, r->body.len, max, in);
    if (rc == RX_DECLINED) {
        return rx_http_set_text(r, 413, "Request Entity Too Large") == RX_OK
                   ? RX_DONE
                   : 500;
    }
    if (rc != RX_OK) {
        return rx_http_set_text(r, 400, "bad request") == RX_OK ? RX_DONE : 500;
    }
    return RX_OK;
}

rx_int_t
rx_goma_rpc(rx_http_req_t *r, rx_goma_rpc_pt h)
{
    rx_str_t in, out;
    rx_int_t rc;

    rc = rx_goma_decode(r, &in);
    if (rc != RX_OK) {
        return rc == RX_DONE ? RX_OK : rc;
    }
    out.len = 0;
    out.data = NULL;
    rc = h(r, &in, &out);
    if (rc == 400) {
        return rx_http_set_text(r, 400, "bad request");
    }
    if (rc != RX_OK) {
        return rc;
    }
    return rx_goma_respond(r, &out);
}
