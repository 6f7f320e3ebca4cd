/*
 * Typed REAPI operations used by Exec: capabilities (cached per worker),
 * FindMissingBlobs (batched), blob upload (BatchUpdateBlobs split by the
 * advertised byte limit and 1000 blobs, ByteStream.Write above it), blob
 * download (ByteStream.Read, size and hash verified), GetActionResult and
 * Execute with WaitExecution reconnects.
 */

#ifndef _RX_REAPI_CAS_H_INCLUDED_
#define _RX_REAPI_CAS_H_INCLUDED_

#include <rx_reapi.h>

#define RX_REAPI_DEFAULT_BATCH   (4 * 1024 * 1024)
#define RX_REAPI_MAX_BATCH_BLOBS 1000
#define RX_REAPI_FIND_BATCH      10000
#define RX_REAPI_WRITE_CHUNK     (2 * 1024 * 1024)

typedef struct {
    char    hash[RX_SHA256_HEX_LEN + 1];
    int64_t size;
} rx_reapi_digest_t;

typedef struct {
    rx_pool_t *pool; /* request lifetime */
    rx_str_t   instance;
    rx_str_t   metadata; /* serialized RequestMetadata */
    rx_msec_t  deadline; /* absolute; 0: none */
} rx_reapi_ctx_t;

typedef struct {
    int64_t   max_batch; /* bytes; the default when the server says 0 */
    rx_uint_t symlinks_allowed;
    rx_uint_t exec_enabled;
    rx_uint_t known;
} rx_reapi_caps_t;

typedef struct rx_reapi_batch_s rx_reapi_batch_t;

typedef struct {
    rx_reapi_digest_t d;
    rx_str_t          data;
    rx_grpc_code_e    code; /* per-blob result */
} rx_reapi_blob_t;

/* one typed request: the caller fills the inputs, gets done() once */
typedef struct rx_reapi_req_s rx_reapi_req_t;
typedef void (*rx_reapi_req_done_pt)(rx_reapi_req_t *req);

struct rx_reapi_req_s {
    rx_reapi_ctx_t      *ctx;
    rx_reapi_req_done_pt done;
    void                *data;
    rx_grpc_status_t     status;

    /* FindMissingBlobs: in digests/n, out missing/nmissing */
    rx_reapi_digest_t *digests;
    rx_uint_t          n;
    rx_reapi_digest_t *missing;
    rx_uint_t          nmissing;

    /* upload: in blobs/nblobs (code set per blob) */
    rx_reapi_blob_t *blobs;
    rx_uint_t        nblobs;

    /* read: in digests[0], out out */
    rx_str_t out;

    /* GetActionResult / Execute */
    rx_reapi_digest_t                                     action;
    rx_uint_t                                             skip_cache_lookup;
    rx_uint_t                                             max_attempts;
    rx_msec_t                                             stream_timeout;
    Build__Bazel__Remote__Execution__V2__ActionResult    *result;
    Build__Bazel__Remote__Execution__V2__ExecuteResponse *response;
    rx_str_t                                              operation;

    /* private */
    rx_reapi_op_t *_ops;
    rx_uint_t      _nops;
    rx_uint_t      _pending;
    rx_uint_t      _cancelled;
    rx_uint_t     *_idx;
    rx_event_t     _retry;
    rx_uint_t      _attempt;
};

void rx_reapi_capabilities(rx_reapi_req_t *req, rx_reapi_caps_t *caps);
const rx_reapi_caps_t *rx_reapi_caps(void);
void                   rx_reapi_find_missing(rx_reapi_req_t *req);
void                   rx_reapi_upload(rx_reapi_req_t *req);
void                   rx_reapi_read(rx_reapi_req_t *req);
void                   rx_reapi_get_action_result(rx_reapi_req_t *req);
void                   rx_reapi_execute(rx_reapi_req_t *req);
/** Cancels every RPC of @req; done() is not called afterwards. */
void rx_reapi_req_cancel(rx_reapi_req_t *req);

/* internal to rx_reapi_*.c */
rx_reapi_op_t *rx_reapi_ops(rx_reapi_req_t *req, rx_uint_t n);
void rx_reapi_op_setup(rx_reapi_req_t *req, rx_reapi_op_t *op, const char *path,
                       rx_reapi_done_pt done, rx_uint_t flags);

/** hex hash + size from a protobuf Digest; RX_ERROR if malformed. */
rx_int_t
     rx_reapi_digest_from_pb(rx_reapi_digest_t                                 *d,
                             const Build__Bazel__Remote__Execution__V2__Digest *pb);
void rx_reapi_digest_of(rx_reapi_digest_t *d, const u_char *data, size_t len);

#endif /* _RX_REAPI_CAS_H_INCLUDED_ */
