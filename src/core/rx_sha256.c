/*
 * SHA-256 helpers.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_sha256.h>
#include <openssl/evp.h>

void
rx_sha256(const u_char *data, size_t len, u_char out[RX_SHA256_LEN])
{
    unsigned int n = RX_SHA256_LEN;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1) {
        abort(); /* only fails on ENOMEM inside OpenSSL */
    }
}

void
rx_sha256_hex(const u_char *data, size_t len, u_char *hex)
{
    u_char md[RX_SHA256_LEN];

    rx_sha256(data, len, md);
    (void) rx_hex_dump(hex, md, RX_SHA256_LEN);
}

rx_int_t
rx_sha256_parse_hex(const u_char *hex, size_t len, u_char out[RX_SHA256_LEN])
{
    if (len != RX_SHA256_HEX_LEN) {
        return RX_ERROR;
    }
    return rx_hex_decode(out, hex, len);
}
