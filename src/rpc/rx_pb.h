/*
 * protobuf-c glue: a pool allocator, packing into pool buffers, and the
 * Goma Exec messages whose groups need the transcoder (rx_pb_group.h).
 */

#ifndef _RX_PB_H_INCLUDED_
#define _RX_PB_H_INCLUDED_

#include <rx_config.h>
#include <rx_core.h>

#include <protobuf-c/protobuf-c.h>
#include "goma_data.pb-c.h"

/**
 * Fills @a with an allocator that takes memory from @pool and never frees
 * it: messages unpacked with it live as long as @pool, and
 * protobuf_c_message_free_unpacked() must not be called on them.
 */
void rx_pb_allocator_init(ProtobufCAllocator *a, rx_pool_t *pool);

/**
 * Packs @m into one buffer from @pool that starts with @prefix bytes left
 * for the caller (e.g. the 5-byte gRPC message header). On RX_OK
 * @out->data is the start of the buffer (prefix included) and @out->len is
 * @prefix plus the packed size. RX_ERROR on ENOMEM.
 */
rx_int_t rx_pb_pack(rx_pool_t *pool, const ProtobufCMessage *m, size_t prefix,
                    rx_str_t *out);

/**
 * Unpacks @in as a @d message with the pool allocator. Returns NULL if the
 * bytes are malformed, a required field is missing or @pool runs out
 * (logged at info level on pool->log).
 */
ProtobufCMessage *rx_pb_unpack(rx_pool_t                        *pool,
                               const ProtobufCMessageDescriptor *d,
                               const u_char *in, size_t len);

/**
 * Serializes @resp the way the Goma client expects it: ExecResult.Output
 * (field 10 of result) as proto2 groups (GOMA_PROTOCOL.md §10.1 step 3).
 * Borrows @resp; the bytes live in @pool. RX_ERROR on ENOMEM.
 */
rx_int_t rx_pb_exec_resp_pack(rx_pool_t                    *pool,
                              const DevtoolsGoma__ExecResp *resp,
                              rx_str_t                     *out);

/**
 * Parses an ExecReq sent by the Goma client (ExecReq.Input as groups, or
 * already length-delimited). The message lives in @pool and holds no
 * pointer into @in (protobuf-c copies strings and bytes). Returns NULL on
 * malformed input (answer 400) or ENOMEM; logged at info level.
 */
DevtoolsGoma__ExecReq *rx_pb_exec_req_unpack(rx_pool_t *pool, const u_char *in,
                                             size_t len);

#endif /* _RX_PB_H_INCLUDED_ */
