/*
 * libFuzzer harness for the group transcoder and ExecReq unpacking.
 * Not part of `make check`: `make fuzz` builds it with clang and runs it
 * (`make fuzz FUZZ=pb_group FUZZ_TIME=600` for a longer run of this one).
 *
 * Besides "no crash, no over-read" it checks that accepted input is fully
 * rewritten (transcoding the output again changes nothing) and that what
 * the reverse direction makes of it is accepted again.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_pb_group.h>
#include <rx_pb.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
rx_fuzz_check(rx_pool_t *pool, const u_char *in, size_t len)
{
    rx_str_t out, again, back;

    if (rx_pb_group_to_ld(pool, in, len, RX_PB_GOMA_GROUP_FIELD, &out)
        != RX_OK) {
        return;
    }

    /* accepted input is fully rewritten */
    if (rx_pb_group_to_ld(pool, out.data, out.len, RX_PB_GOMA_GROUP_FIELD,
                          &again)
            != RX_OK
        || again.data != out.data) {
        abort();
    }

    /* what the reverse direction produces is accepted again */
    if (rx_pb_ld_to_group(pool, out.data, out.len, RX_PB_GOMA_GROUP_FIELD,
                          &back)
            == RX_OK
        && rx_pb_group_to_ld(pool, back.data, back.len, RX_PB_GOMA_GROUP_FIELD,
                             &again)
               != RX_OK) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rx_pool_t *pool;
    u_char    *in;

    pool = rx_create_pool(4096, &rx_log_stderr);
    if (pool == NULL) {
        return 0;
    }
    pool->limit = 64 * 1024 * 1024;

    in = malloc(size ? size : 1);
    if (in == NULL) {
        rx_destroy_pool(pool);
        return 0;
    }
    memcpy(in, data, size);

    rx_fuzz_check(pool, in, size);
    (void) rx_pb_exec_req_unpack(pool, in, size);

    free(in);
    rx_destroy_pool(pool);
    return 0;
}
