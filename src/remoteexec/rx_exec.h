/*
 * Exec (/e): ExecReq -> REAPI Action -> ExecResp (REMOTEEXEC.md §6), an
 * explicit table of asynchronous phases run per request in the worker's
 * event loop.
 */

#ifndef _RX_EXEC_H_INCLUDED_
#define _RX_EXEC_H_INCLUDED_

#include <rx_goma.h>
#include <rx_pb.h>
#include <rx_reapi_cas.h>

#define RX_EXEC_MAX_MISSING 100
#define RX_EXEC_MAX_RESP    (6 * 1024 * 1024)

typedef enum {
    RX_EXEC_INVENTORY = 0,
    RX_EXEC_INPUT_TREE,
    RX_EXEC_SETUP,
    RX_EXEC_CHECK_CACHE,
    RX_EXEC_CHECK_MISSING,
    RX_EXEC_UPLOAD_BLOBS,
    RX_EXEC_EXECUTE,
    RX_EXEC_RESPONSE,
    RX_EXEC_NPHASES
} rx_exec_phase_e;

/* a blob the action needs: where its bytes come from */
typedef struct {
    rx_reapi_digest_t d;
    rx_str_t          data;               /* in memory, or empty when ... */
    u_char            key[RX_SHA256_LEN]; /* ... it comes from the file
                                             store under this goma key */
    unsigned from_store : 1;
    unsigned present : 1; /* FindMissingBlobs said the CAS has it */
    rx_str_t filename;    /* client input name ("" if none) */
} rx_exec_blob_t;

typedef struct rx_exec_s rx_exec_t;

struct rx_exec_s {
    rx_http_req_t            *r;
    rx_pool_t                *pool;
    DevtoolsGoma__ExecReq    *req;
    DevtoolsGoma__ExecResp   *resp;
    DevtoolsGoma__ExecResult *result;
    rx_reapi_ctx_t            ctx;
    rx_reapi_req_t            rr;
    rx_exec_phase_e           phase;
    uint64_t                  phase_start;
    uint64_t                  start;
    uint64_t                  usec[RX_EXEC_NPHASES];
    rx_event_t                resume;
    rx_event_t                timer;
    rx_event_t                stage; /* per-stage timeout */
    rx_uint_t                 armed; /* phase + 1 the stage timer is for */
    rx_str_t                  id;    /* compiler_proxy_id#retry */

    rx_str_t          cwd;
    rx_str_t          root;
    rx_str_t          wrapper;   /* root-relative path */
    rx_array_t        env;       /* char * "NAME=value" */
    rx_array_t        out_files; /* rx_str_t client paths */
    rx_array_t        out_dirs;
    rx_array_t        blobs;   /* rx_exec_blob_t */
    rx_array_t        errors;  /* char * error_message */
    rx_array_t        missing; /* char * filenames */
    rx_array_t        reasons; /* char * missing_reason */
    void             *tree;    /* rx_exec_tree_t */
    rx_reapi_digest_t action;
    rx_reapi_digest_t input_root;
    Build__Bazel__Remote__Execution__V2__ActionResult *ar;
    rx_uint_t                                          cache_hit;
    rx_uint_t  status; /* HTTP status on failure */
    rx_uint_t  upload_next;
    rx_uint_t  out_next; /* response: next output */
    rx_str_t   out_dir_prefix;
    rx_array_t pending_outputs; /* rx_exec_output_t */

    rx_exec_phase_e           jump; /* next phase if not 0 */
    const rx_conf_platform_t *platform;
    rx_array_t                props;      /* rx_conf_kv_t, final */
    unsigned                  chroot : 1; /* nsjail mode (§7.5) */
    unsigned                  bad_request : 1;
    unsigned                  aborted : 1;
    unsigned                  done : 1;
    unsigned                  counted : 1; /* in the running gauge */
};

rx_int_t rx_goma_exec(rx_http_req_t *r);
rx_int_t rx_exec_platforms_init(rx_cycle_t *cycle);
rx_int_t rx_exec_set_prop(rx_exec_t *x, const rx_str_t *name,
                          const rx_str_t *value);
rx_int_t rx_exec_nsjail_setup(rx_exec_t *x, void *tree, const rx_str_t *wd);
rx_int_t rx_exec_instance(rx_exec_t *x, const rx_conf_platform_t *p,
                          rx_str_t *out);
const rx_conf_platform_t *rx_exec_select_platform(rx_exec_t *x, char **dims,
                                                  size_t n);

/* phases (rx_exec_*.c) */
rx_int_t rx_exec_inventory(rx_exec_t *x);
rx_int_t rx_exec_input_tree(rx_exec_t *x);
rx_int_t rx_exec_setup(rx_exec_t *x);
rx_int_t rx_exec_check_cache(rx_exec_t *x);
rx_int_t rx_exec_check_missing(rx_exec_t *x);
rx_int_t rx_exec_upload_blobs(rx_exec_t *x);
rx_int_t rx_exec_execute(rx_exec_t *x);
rx_int_t rx_exec_response(rx_exec_t *x);

/* rx_exec_metrics.c */
rx_int_t rx_exec_metrics_init_cycle(rx_cycle_t *cycle);
void     rx_exec_metrics_init_worker(rx_cycle_t *cycle);
void     rx_exec_metrics_start(rx_exec_t *x);
void     rx_exec_metrics_end(rx_exec_t *x, int answered, uint64_t total_usec);

/* helpers */
void rx_exec_next(rx_exec_t *x, rx_int_t rc);
void rx_exec_rr_done_public(rx_reapi_req_t *rr);
void rx_exec_error(rx_exec_t *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rx_exec_bad_request(rx_exec_t *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
rx_int_t        rx_exec_fail(rx_exec_t *x, rx_uint_t status, const char *why);
rx_exec_blob_t *rx_exec_add_blob(rx_exec_t *x, const u_char *data, size_t len);
rx_int_t rx_exec_load_input(rx_pool_t *pool, const u_char key[RX_SHA256_LEN],
                            rx_str_t *content);
char    *rx_exec_strdup(rx_pool_t *pool, const u_char *p, size_t len);

#endif /* _RX_EXEC_H_INCLUDED_ */
