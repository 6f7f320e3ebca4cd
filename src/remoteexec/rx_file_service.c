/*
 * FileService: /s StoreFile and /l LookupFile (REMOTEEXEC.md §4) and the
 * LogService /sl SaveLog. StoreFile hashes each blob over the exact bytes
 * the client sent and refuses malformed or oversized blobs; LookupFile
 * copies stored bytes into the response without re-serializing.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_goma.h>
#include <rx_pb.h>
#include <rx_pb_group.h>
#include <rx_file_store.h>
#include "goma_log.pb-c.h"

#define RX_GOMA_MAX_BLOB (RX_GOMA_CHUNK_SIZE + 64 * 1024)


static rx_int_t rx_goma_store_rpc(rx_http_req_t *r, rx_str_t *in,
                                  rx_str_t *out);
static rx_int_t rx_goma_lookup_rpc(rx_http_req_t *r, rx_str_t *in,
                                   rx_str_t *out);
static rx_int_t rx_goma_save_log_rpc(rx_http_req_t *r, rx_str_t *in,
                                     rx_str_t *out);

static const u_char *
rx_pb_read_varint(const u_char *p, const u_char *end, uint64_t *v)
{
    rx_uint_t shift;

    *v = 0;
    for (shift = 0; p < end && shift < 64; shift += 7) {
        *v |= (uint64_t) (*p & 0x7f) << shift;
        if (!(*p++ & 0x80)) {
            return p;
        }
    }
    return NULL;
}

/* Collects the raw bytes of every length-delimited field @field at the top
 * level of @in, skipping (and checking) the other fields. */
rx_int_t
rx_goma_raw_fields(rx_pool_t *pool, rx_str_t *in, uint32_t field,
                   rx_array_t *out)
{
    const u_char  *p = in->data, *end = in->data + in->len;
    rx_goma_raw_t *raw;
    uint64_t       tag, len;

    while (p < end) {
        if ((p = rx_pb_read_varint(p, end, &tag)) == NULL) {
            return RX_ERROR;
        }
        switch (tag & 7) {
        case 0:
            p = rx_pb_read_varint(p, end, &len);
            break;
        case 1:
            p = (end - p >= 8) ? p + 8 : NULL;
            break;
        case 5:
            p = (end - p >= 4) ? p + 4 : NULL;
            break;
        case 2:
            p = rx_pb_read_varint(p, end, &len);
            if (p == NULL || len > (uint64_t) (end - p)) {
                return RX_ERROR;
            }
            if ((tag >> 3) == field) {
                raw = rx_array_push(out);
                if (raw == NULL) {
                    return RX_ERROR;
                }
                raw->data = p;
                raw->len = (size_t) len;
            }
            p += len;
            break;
        default:
            return RX_ERROR;
        }
        if (p == NULL) {
            return RX_ERROR;
        }
    }
    return RX_OK;
}

static const char *
rx_goma_blob_invalid(const DevtoolsGoma__FileBlob *b, size_t raw_len)
{
    if (raw_len > RX_GOMA_MAX_BLOB) {
        return "blob too large";
    }
    switch (b->blob_type) {
    case DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE:
        if (!b->has_content || b->has_offset || b->n_hash_key
            || !b->has_file_size || b->file_size != (int64_t) b->content.len
            || b->content.len > RX_GOMA_CHUNK_SIZE) {
            return "malformed FILE";
        }
        return NULL;
    case DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_CHUNK:
        if (!b->has_content || !b->has_offset || b->offset < 0 || b->n_hash_key
            || b->content.len > RX_GOMA_CHUNK_SIZE) {
            return "malformed FILE_CHUNK";
        }
        return NULL;
    case DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_META:
        return (b->has_content || b->has_offset || b->n_hash_key < 2)
                   ? "malformed FILE_META"
                   : NULL;
    case DEVTOOLS_GOMA__FILE_BLOB__BLOB_TYPE__FILE_REF:
        return (b->has_content || b->has_offset || b->n_hash_key != 1)
                   ? "malformed FILE_REF"
                   : NULL;
    default:
        return "invalid blob_type";
    }
}

/* Validates and stores one blob; its hash key (64 hex) goes to @key. */
static rx_int_t
rx_goma_store_one(rx_http_req_t *r, rx_goma_raw_t *raw, char **key)
{
    ProtobufCMessage *m;
    const char       *why;
    u_char            md[RX_SHA256_LEN];
    rx_int_t          rc;

    m = rx_pb_unpack(r->pool, &devtools_goma__file_blob__descriptor, raw->data,
                     raw->len);
    why = m ? rx_goma_blob_invalid((DevtoolsGoma__FileBlob *) m, raw->len)
            : "unparsable FileBlob";
    if (why) {
        rx_log_error(RX_LOG_INFO, &r->c->log, 0, "StoreFile: %s refused", why);
        return 400;
    }
    rx_sha256(raw->data, raw->len, md);
    rc = rx_file_store_put(md, raw->data, raw->len);
    if (rc == RX_ERROR) {
        return 500;
    }
    *key = rx_pnalloc(r->pool, RX_SHA256_HEX_LEN + 1);
    if (*key == NULL) {
        return 500;
    }
    rx_hex_dump((u_char *) *key, md, RX_SHA256_LEN);
    (*key)[RX_SHA256_HEX_LEN] = '\0';
    return RX_OK;
}

static rx_int_t
rx_goma_store_rpc(rx_http_req_t *r, rx_str_t *in, rx_str_t *out)
{
    DevtoolsGoma__StoreFileResp resp = DEVTOOLS_GOMA__STORE_FILE_RESP__INIT;
    rx_array_t                  blobs;
    rx_goma_raw_t              *raw;
    rx_uint_t                   i;
    rx_int_t                    rc;

    if (rx_array_init(&blobs, r->pool, 16, sizeof(rx_goma_raw_t)) != RX_OK
        || rx_goma_raw_fields(r->pool, in, 1, &blobs) != RX_OK) {
        return 400;
    }
    raw = blobs.elts;
    resp.n_hash_key = blobs.nelts;
    resp.hash_key = rx_pcalloc(r->pool, (blobs.nelts + 1) * sizeof(char *));
    if (resp.hash_key == NULL) {
        return 500;
    }
    for (i = 0; i < blobs.nelts; i++) {
        resp.hash_key[i] = "";
        rc = rx_goma_store_one(r, &raw[i], &resp.hash_key[i]);
        if (rc != RX_OK && blobs.nelts == 1) {
            return rc; /* a single failed blob fails the request (Go) */
        }
    }
    return rx_pb_pack(r->pool, &resp.base, 0, out) == RX_OK ? RX_OK : 500;
}

rx_int_t
rx_goma_store_file(rx_http_req_t *r)
{
    return rx_goma_rpc(r, rx_goma_store_rpc);
}

/* LookupFileResp: every blob found is read first, then the answer is laid
   out in one buffer of its final size (no growth copies of 2 MiB blobs) */
static rx_int_t
rx_goma_lookup_rpc(rx_http_req_t *r, rx_str_t *in, rx_str_t *out)
{
    static const u_char          missing[] = {0x12, 0x02, 0x08, 0x00};
    DevtoolsGoma__LookupFileReq *req;
    rx_str_t                    *blobs;
    u_char                       key[RX_SHA256_LEN], *p;
    size_t                       i, size = 0;

    req = (DevtoolsGoma__LookupFileReq *) rx_pb_unpack(
        r->pool, &devtools_goma__lookup_file_req__descriptor, in->data,
        in->len);
    if (req == NULL) {
        return 400;
    }
    blobs = rx_pcalloc(r->pool, (req->n_hash_key + 1) * sizeof(rx_str_t));
    if (blobs == NULL) {
        return 500;
    }
    for (i = 0; i < req->n_hash_key; i++) {
        if (rx_sha256_parse_hex((u_char *) req->hash_key[i],
                                strlen(req->hash_key[i]), key)
                != RX_OK
            || rx_file_store_get(r->pool, key, &blobs[i]) != RX_OK) {
            blobs[i].data = NULL; /* FILE_UNSPECIFIED: not found */
            size += sizeof(missing);
            continue;
        }
        size += 1 + rx_pb_varint_size(blobs[i].len) + blobs[i].len;
    }
    out->data = rx_pnalloc(r->pool, size + 1);
    if (out->data == NULL) {
        return 500;
    }
    for (p = out->data, i = 0; i < req->n_hash_key; i++) {
        if (blobs[i].data == NULL) {
            p = rx_cpymem(p, missing, sizeof(missing));
            continue;
        }
        *p++ = 0x12; /* field 2, length-delimited: the stored bytes */
        p = rx_pb_varint_write(p, blobs[i].len);
        p = rx_cpymem(p, blobs[i].data, blobs[i].len);
    }
    out->len = (size_t) (p - out->data);
    return RX_OK;
}

rx_int_t
rx_goma_lookup_file(rx_http_req_t *r)
{
    return rx_goma_rpc(r, rx_goma_lookup_rpc);
}

static rx_int_t
rx_goma_save_log_rpc(rx_http_req_t *r, rx_str_t *in, rx_str_t *out)
{
    /* parsed only to answer 400 on garbage, as the Go server does */
    if (rx_pb_unpack(r->pool, &devtools_goma__save_log_req__descriptor,
                     in->data, in->len)
        == NULL) {
        return 400;
    }
    return RX_OK;
}

rx_int_t
rx_goma_save_log(rx_http_req_t *r)
{
    return rx_goma_rpc(r, rx_goma_save_log_rpc);
}
