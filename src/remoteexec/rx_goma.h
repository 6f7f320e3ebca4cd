/*
 * The Goma HTTP frontend: body decoding and encoding around protobuf
 * handlers, authentication, and the /s /l /sl endpoints.
 */

#ifndef _RX_GOMA_H_INCLUDED_
#define _RX_GOMA_H_INCLUDED_

#include <rx_http.h>

#define RX_GOMA_CHUNK_SIZE (2 * 1024 * 1024)

/** A protobuf handler: @in is the decoded request body; on RX_OK @out is
 *  the serialized response (may be empty); otherwise an HTTP status. */
typedef rx_int_t (*rx_goma_rpc_pt)(rx_http_req_t *r, rx_str_t *in,
                                   rx_str_t *out);

typedef struct {
    rx_str_t token_hash; /* sha256 of the token, compared in constant
                            time */
    rx_str_t user;
    rx_str_t group;
} rx_goma_token_t;

typedef struct {
    rx_array_t tokens; /* rx_goma_token_t */
} rx_goma_conf_t;

extern const rx_module_t rx_goma_module;

typedef struct {
    const u_char *data;
    size_t        len;
} rx_goma_raw_t;

/** Collects the exact bytes of every length-delimited field @field at the
 *  top level of @in (rx_goma_raw_t into @out); RX_ERROR if malformed. */
rx_int_t rx_goma_raw_fields(rx_pool_t *pool, rx_str_t *in, uint32_t field,
                            rx_array_t *out);

/** Decodes the body, runs @h, encodes the answer (GOMA_PROTOCOL.md §4). */
rx_int_t rx_goma_rpc(rx_http_req_t *r, rx_goma_rpc_pt h);
/** Decodes the request body per Content-Encoding; RX_OK, or RX_DONE when
 *  an error answer (400/413) was set, or an HTTP status. */
rx_int_t rx_goma_decode(rx_http_req_t *r, rx_str_t *in);
/** Sets the 200 answer for a serialized message (compressed per
 *  Accept-Encoding). */
rx_int_t rx_goma_respond(rx_http_req_t *r, rx_str_t *out);
/** Checks the Authorization header per auth.mode (§5); RX_OK or 401. */
rx_int_t rx_goma_authenticate(rx_http_req_t *r);
/** Parses the tokens file at cycle init; RX_ERROR names file:line. */
rx_int_t rx_goma_load_tokens(rx_cycle_t *cycle, rx_goma_conf_t *gc);

rx_int_t rx_goma_store_file(rx_http_req_t *r);
rx_int_t rx_goma_lookup_file(rx_http_req_t *r);
rx_int_t rx_goma_save_log(rx_http_req_t *r);

#endif /* _RX_GOMA_H_INCLUDED_ */
