/*
 * SHA-256 over OpenSSL's EVP interface, and hex helpers for keys.
 */

#ifndef _RX_SHA256_H_INCLUDED_
#define _RX_SHA256_H_INCLUDED_

#define RX_SHA256_LEN     32
#define RX_SHA256_HEX_LEN 64

/** One-shot digest of @len bytes. */
void rx_sha256(const u_char *data, size_t len, u_char out[RX_SHA256_LEN]);
/** One-shot digest written as 64 lowercase hex chars (no NUL). */
void rx_sha256_hex(const u_char *data, size_t len, u_char *hex);
/** Parses a 64-char lowercase/uppercase hex key; RX_ERROR if malformed. */
rx_int_t rx_sha256_parse_hex(const u_char *hex, size_t len,
                             u_char out[RX_SHA256_LEN]);

#endif /* _RX_SHA256_H_INCLUDED_ */
