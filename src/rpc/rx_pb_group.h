/*
 * proto2 group <-> length-delimited transcoder (GOMA_PROTOCOL.md §10.1).
 *
 * The Goma client encodes ExecReq.Input and ExecResult.Output (field 10) as
 * proto2 groups: START_GROUP(10), body, END_GROUP(10). protobuf-c cannot
 * parse or produce groups, so our .proto declares those bodies as ordinary
 * nested messages (tag 10, wire type 2, varint length, body). The body bytes
 * are identical in both forms; only the framing of the top-level field
 * changes. Everything else is copied byte for byte.
 *
 * The input is fully validated while it is walked: truncated fields,
 * varints longer than 10 bytes, wire types 6 and 7, tags with field number 0
 * or above 2^32, END_GROUP without its START_GROUP, END_GROUP of another
 * field, lengths past the end and group nesting deeper than
 * RX_PB_GROUP_MAX_DEPTH all give RX_ERROR. The transcoder never descends
 * into length-delimited fields.
 */

#ifndef _RX_PB_GROUP_H_INCLUDED_
#define _RX_PB_GROUP_H_INCLUDED_

#include <rx_config.h>
#include <rx_core.h>

/* Groups nested inside each other, the outermost one included. */
#define RX_PB_GROUP_MAX_DEPTH 32
#define RX_PB_FIELD_MAX       0x1fffffff

#define RX_PB_WT_VARINT      0
#define RX_PB_WT_FIXED64     1
#define RX_PB_WT_LEN         2
#define RX_PB_WT_START_GROUP 3
#define RX_PB_WT_END_GROUP   4
#define RX_PB_WT_FIXED32     5

/* Field number of ExecReq.Input and ExecResult.Output. */
#define RX_PB_GOMA_GROUP_FIELD 10

typedef enum {
    RX_PB_GROUP_TO_LD = 0, /* START_GROUP ... END_GROUP -> length-delimited */
    RX_PB_LD_TO_GROUP      /* length-delimited -> START_GROUP ... END_GROUP */
} rx_pb_group_dir_e;

/**
 * Rewrites every top-level field @field encoded as a group into a
 * length-delimited field. Other fields, including @field already sent as
 * wire type 2, are copied verbatim. The result lives in @pool; when nothing
 * needs rewriting @out points into @in (zero copy) and must not be written
 * to. Returns RX_OK, or RX_ERROR on malformed input, a bad @field or
 * ENOMEM.
 */
rx_int_t rx_pb_group_to_ld(rx_pool_t *pool, const u_char *in, size_t len,
                           uint32_t field, rx_str_t *out);

/**
 * The reverse: every top-level field @field with wire type 2 becomes
 * START_GROUP + payload + END_GROUP. The payload must itself be a well-formed
 * sequence of fields. Same ownership and return codes as rx_pb_group_to_ld().
 */
rx_int_t rx_pb_ld_to_group(rx_pool_t *pool, const u_char *in, size_t len,
                           uint32_t field, rx_str_t *out);

/**
 * Lower level, for callers that assemble a larger buffer themselves:
 * validates @in and stores the exact size of its transcoding in @size.
 * Returns RX_OK if at least one field is rewritten, RX_DECLINED if the
 * output equals the input, RX_ERROR on malformed input or a bad @field.
 */
rx_int_t rx_pb_group_size(const u_char *in, size_t len, uint32_t field,
                          rx_pb_group_dir_e dir, size_t *size);

/**
 * Writes the transcoding of @in, which rx_pb_group_size() accepted, to @dst
 * (which has room for the size it reported). Returns the end of the written
 * bytes, or NULL if @in turns out to be malformed.
 */
u_char *rx_pb_group_write(const u_char *in, size_t len, uint32_t field,
                          rx_pb_group_dir_e dir, u_char *dst);

/** Number of bytes of the base-128 varint encoding of @v (1..10). */
size_t rx_pb_varint_size(uint64_t v);
/** Writes @v as a varint at @p; returns the byte after it. */
u_char *rx_pb_varint_write(u_char *p, uint64_t v);

#endif /* _RX_PB_GROUP_H_INCLUDED_ */
