/*
 * protobuf-c glue: pool allocator, packing, Goma ExecReq/ExecResp framing.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_pb_group.h>
#include <rx_pb.h>

static void *rx_pb_alloc(void *data, size_t size);
static void  rx_pb_free(void *data, void *p);
static void  rx_pb_log_malformed(rx_pool_t *pool, const char *name,
                                 const char *why);


void
rx_pb_allocator_init(ProtobufCAllocator *a, rx_pool_t *pool)
{
    a->alloc = rx_pb_alloc;
    a->free = rx_pb_free;
    a->allocator_data = pool;
}


static void *
rx_pb_alloc(void *data, size_t size)
{
    return rx_palloc(data, size);
}


static void
rx_pb_free(void *data, void *p)
{
    /* pool memory goes with the pool */
}


rx_int_t
rx_pb_pack(rx_pool_t *pool, const ProtobufCMessage *m, size_t prefix,
           rx_str_t *out)
{
    size_t  size;
    u_char *buf;

    size = protobuf_c_message_get_packed_size(m);
    if (size > SIZE_MAX - prefix) {
        return RX_ERROR;
    }

    buf = rx_pnalloc(pool, prefix + size);
    if (buf == NULL) {
        return RX_ERROR;
    }

    if (protobuf_c_message_pack(m, buf + prefix) != size) {
        return RX_ERROR;
    }

    out->data = buf;
    out->len = prefix + size;
    return RX_OK;
}


ProtobufCMessage *
rx_pb_unpack(rx_pool_t *pool, const ProtobufCMessageDescriptor *d,
             const u_char *in, size_t len)
{
    ProtobufCAllocator a;
    ProtobufCMessage  *m;

    rx_pb_allocator_init(&a, pool);

    m = protobuf_c_message_unpack(d, &a, len, in);
    if (m == NULL) {
        rx_pb_log_malformed(pool, d->short_name,
                            "bad field, missing required field or no memory");
    }

    return m;
}


/*
 * ExecResp = tag 1 (wire type 2) + length + ExecResult with its outputs as
 * groups, then the other ExecResp fields packed by protobuf-c.
 */
rx_int_t
rx_pb_exec_resp_pack(rx_pool_t *pool, const DevtoolsGoma__ExecResp *resp,
                     rx_str_t *out)
{
    size_t                 gsize, rsize, size;
    u_char                *buf, *p;
    rx_int_t               rc;
    rx_str_t               result;
    DevtoolsGoma__ExecResp rest;

    if (resp->result == NULL) {
        return rx_pb_pack(pool, &resp->base, 0, out);
    }

    if (rx_pb_pack(pool, &resp->result->base, 0, &result) != RX_OK) {
        return RX_ERROR;
    }

    rc = rx_pb_group_size(result.data, result.len, RX_PB_GOMA_GROUP_FIELD,
                          RX_PB_LD_TO_GROUP, &gsize);
    if (rc == RX_ERROR) {
        return RX_ERROR;
    }

    rest = *resp;
    rest.result = NULL;
    rsize = protobuf_c_message_get_packed_size(&rest.base);

    size = 1 + rx_pb_varint_size(gsize) + gsize + rsize;

    buf = rx_pnalloc(pool, size);
    if (buf == NULL) {
        return RX_ERROR;
    }

    p = rx_pb_varint_write(buf, (1 << 3) | RX_PB_WT_LEN);
    p = rx_pb_varint_write(p, gsize);
    p = rx_pb_group_write(result.data, result.len, RX_PB_GOMA_GROUP_FIELD,
                          RX_PB_LD_TO_GROUP, p);
    if (p == NULL || protobuf_c_message_pack(&rest.base, p) != rsize) {
        return RX_ERROR;
    }

    out->data = buf;
    out->len = size;
    return RX_OK;
}


DevtoolsGoma__ExecReq *
rx_pb_exec_req_unpack(rx_pool_t *pool, const u_char *in, size_t len)
{
    rx_int_t rc;
    rx_str_t ld;

    rc = rx_pb_group_to_ld(pool, in, len, RX_PB_GOMA_GROUP_FIELD, &ld);
    if (rc != RX_OK) {
        rx_pb_log_malformed(pool, "ExecReq", "bad wire format");
        return NULL;
    }

    return (DevtoolsGoma__ExecReq *) rx_pb_unpack(
        pool, &devtools_goma__exec_req__descriptor, ld.data, ld.len);
}


static void
rx_pb_log_malformed(rx_pool_t *pool, const char *name, const char *why)
{
    if (pool->log == NULL) {
        return;
    }

    rx_log_error(RX_LOG_INFO, pool->log, 0, "cannot unpack %s: %s", name, why);
}
