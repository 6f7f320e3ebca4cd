/*
 * REAPI v2 calls over rx_grpc: one operation = one RPC with the retry
 * policy of REMOTEEXEC.md §9 (which codes, back-off with jitter, attempt
 * budget, RetryInfo), unary or server-streaming; typed helpers build the
 * requests with protobuf-c.
 */

#ifndef _RX_REAPI_H_INCLUDED_
#define _RX_REAPI_H_INCLUDED_

#include <rx_grpc.h>
#include "remote_execution.pb-c.h"
#include "bytestream.pb-c.h"
#include "longrunning.pb-c.h"
#include "rpc_status.pb-c.h"

#define RX_REAPI_PKG          "/build.bazel.remote.execution.v2."
#define RX_REAPI_CAPABILITIES RX_REAPI_PKG "Capabilities/GetCapabilities"
#define RX_REAPI_FIND_MISSING                                                  \
    RX_REAPI_PKG "ContentAddressableStorage/FindMissingBlobs"
#define RX_REAPI_BATCH_UPDATE                                                  \
    RX_REAPI_PKG "ContentAddressableStorage/BatchUpdateBlobs"
#define RX_REAPI_BATCH_READ                                                    \
    RX_REAPI_PKG "ContentAddressableStorage/BatchReadBlobs"
#define RX_REAPI_GET_ACTION_RESULT RX_REAPI_PKG "ActionCache/GetActionResult"
#define RX_REAPI_EXECUTE           RX_REAPI_PKG "Execution/Execute"
#define RX_REAPI_WAIT_EXECUTION    RX_REAPI_PKG "Execution/WaitExecution"
#define RX_BYTESTREAM_READ         "/google.bytestream.ByteStream/Read"
#define RX_BYTESTREAM_WRITE        "/google.bytestream.ByteStream/Write"

#define RX_REAPI_RETRY_CAS 0x1 /* INTERNAL is retried as UNAVAILABLE */

typedef struct rx_reapi_op_s rx_reapi_op_t;
typedef void (*rx_reapi_done_pt)(rx_reapi_op_t *op);
typedef void (*rx_reapi_msg_pt)(rx_reapi_op_t *op, u_char *msg, size_t len);

struct rx_reapi_op_s {
    rx_pool_t       *pool;
    const char      *path;
    rx_str_t         request;      /* framed (rx_reapi_pack) */
    rx_str_t         metadata;     /* RequestMetadata bytes, optional */
    rx_msec_t        timeout;      /* per attempt, 0: none */
    rx_msec_t        deadline;     /* absolute (rx_current_msec), 0: none */
    rx_uint_t        max_attempts; /* 0: unlimited (bounded by deadline) */
    rx_uint_t        flags;
    rx_reapi_msg_pt  on_message; /* NULL: keep the last message */
    rx_reapi_done_pt done;
    void            *data;

    /* results */
    rx_grpc_status_t status;
    rx_str_t         response; /* last message (unary result) */
    rx_uint_t        nmessages;
    rx_uint_t        attempts;

    /* for the caller's bookkeeping */
    rx_uint_t first;
    rx_uint_t count;

    /* private */
    rx_grpc_call_t _call;
    rx_event_t     _backoff;
    rx_msec_t      _delay;
    unsigned       _running : 1;
};

/** Packs @m with the 5-byte gRPC prefix into op->request. */
rx_int_t rx_reapi_pack(rx_reapi_op_t *op, const ProtobufCMessage *m);
/** Runs the operation (with retries); op->done is called once. */
void rx_reapi_start(rx_reapi_op_t *op);
/** Cancels it; op->done is not called. */
void rx_reapi_cancel(rx_reapi_op_t *op);
/** 1 if @st is retriable under REMOTEEXEC.md §9 for @flags. */
rx_int_t rx_reapi_retriable(const rx_grpc_status_t *st, rx_uint_t flags,
                            rx_uint_t attempt);
/** Unpacks op->response as @d into op->pool; NULL if malformed. */
ProtobufCMessage *rx_reapi_unpack(rx_reapi_op_t                    *op,
                                  const ProtobufCMessageDescriptor *d);

/** `remoteexec_proxy --check-backend`: prints what the backend supports,
 *  exit status 0/1. */
int rx_reapi_check_backend(rx_cycle_t *cycle);

#endif /* _RX_REAPI_H_INCLUDED_ */
