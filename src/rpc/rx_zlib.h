/*
 * HTTP body compression for the goma protocol (GOMA_PROTOCOL.md §3.2, §4):
 * header decisions, size-bounded decoding of request bodies and level-1
 * encoding of response bodies.
 *
 * goma's "deflate" is NOT RFC 7230 deflate: the client sends a raw RFC 1951
 * stream (a zlib stream whose 2-byte header was stripped, Adler-32 trailer
 * kept) and expects a raw RFC 1951 stream back.
 */

#ifndef _RX_ZLIB_H_INCLUDED_
#define _RX_ZLIB_H_INCLUDED_

#include <rx_config.h>
#include <rx_core.h>

typedef enum {
    RX_ENC_IDENTITY = 0,
    RX_ENC_GZIP,
    RX_ENC_DEFLATE /* goma's raw RFC 1951 deflate */
} rx_encoding_e;

/*
 * Request Content-Encoding value -> encoding. Case-sensitive substring
 * tests in the Go server's order: "gzip", "deflate", then empty or
 * "identity"; anything else is RX_ERROR (-> 400). @hdr may be NULL.
 */
rx_int_t rx_zlib_request_encoding(const rx_str_t *hdr, rx_encoding_e *enc);

/*
 * Request Accept-Encoding -> response body encoding: "gzip" -> gzip, else
 * "deflate" -> deflate, else (NULL, empty, identity, lzma2, ...) identity.
 */
rx_encoding_e rx_zlib_response_encoding(const rx_str_t *accept);

/*
 * Value of the response Accept-Encoding header: "gzip, deflate" if @accept
 * contains "gzip", else "deflate". Static string.
 */
const char *rx_zlib_accept_header(const rx_str_t *accept);

/* "gzip", "deflate" or "identity" (Content-Encoding values). Static. */
const char *rx_zlib_encoding_name(rx_encoding_e enc);

/*
 * Decodes a request body of @len bytes at @in (borrowed).
 *
 * Returns RX_OK with the result in @out, RX_DECLINED when the decoded size
 * would exceed @max (-> 413; decoding stops as soon as the bound is passed,
 * so at most @max + 1 bytes of output are allocated), RX_ERROR for
 * malformed, truncated or empty compressed data (-> 400) and on allocation
 * failure (logged).
 *
 * identity: nothing is copied, @out points into @in.
 * deflate:  raw inflate up to the final block; trailing bytes (goma's
 *           Adler-32 trailer) are ignored. [C-DEVIATION] A body starting
 *           with a valid zlib header is decoded as zlib (checksum verified,
 *           trailing bytes after it ignored).
 * gzip:     one or more concatenated members, CRC and length verified.
 *           Bytes after a member that do not form another complete gzip
 *           member are RX_ERROR, as in Go's gzip reader.
 *
 * The result lives in @pool, in one buffer of at most @max + 1 bytes that
 * may be larger than out->len; pool->limit applies too. zlib's own state
 * is malloc'ed and kept per process for reuse (see rx_zlib_cleanup()).
 */
rx_int_t rx_zlib_decode(rx_pool_t *pool, rx_encoding_e enc, const u_char *in,
                        size_t len, size_t max, rx_str_t *out);

/*
 * Encodes a response body at @level (1 = Go's best speed): a gzip stream,
 * or a RAW deflate stream (no zlib header, no Adler-32 trailer). identity
 * returns @in unchanged without a copy. The result lives in @pool, in a
 * buffer of deflateBound(@len) bytes. RX_ERROR on allocation failure or a
 * bad @level (logged).
 */
rx_int_t rx_zlib_encode(rx_pool_t *pool, rx_encoding_e enc, int level,
                        const u_char *in, size_t len, rx_str_t *out);

/* Frees the per-process zlib streams (worker exit; harmless if unused). */
void rx_zlib_cleanup(void);

#endif /* _RX_ZLIB_H_INCLUDED_ */
