/*
 * proto2 group <-> length-delimited transcoder.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_pb_group.h>

typedef struct {
    const u_char *start;    /* first byte of the tag */
    const u_char *body;     /* payload: after the length, or the group body */
    const u_char *body_end; /* end of the payload (a group's END_GROUP tag) */
    const u_char *end;      /* first byte after the whole field */
    uint32_t      number;
    uint32_t      type;
} rx_pb_field_t;

static const u_char *rx_pb_varint(const u_char *p, const u_char *end,
                                  uint64_t *v);
static const u_char *rx_pb_tag(const u_char *p, const u_char *end,
                               uint32_t *number, uint32_t *type);
static const u_char *rx_pb_skip_value(const u_char *p, const u_char *end,
                                      uint32_t type, const u_char **body);
static const u_char *rx_pb_skip_group(const u_char *p, const u_char *end,
                                      uint32_t number, rx_uint_t max,
                                      const u_char **body_end);
static const u_char *rx_pb_next_field(const u_char *p, const u_char *end,
                                      rx_uint_t max, rx_pb_field_t *f);
static rx_int_t      rx_pb_check_fields(const u_char *p, const u_char *end,
                                        rx_uint_t max);
static rx_uint_t     rx_pb_is_converted(const rx_pb_field_t *f, uint32_t field,
                                        rx_pb_group_dir_e dir);
static rx_int_t      rx_pb_field_size(const rx_pb_field_t *f, uint32_t field,
                                      rx_pb_group_dir_e dir, size_t *n);
static size_t        rx_pb_converted_size(const rx_pb_field_t *f,
                                          rx_pb_group_dir_e    dir);
static u_char       *rx_pb_write_converted(u_char *dst, const rx_pb_field_t *f,
                                           rx_pb_group_dir_e dir);
static rx_int_t rx_pb_transcode(rx_pool_t *pool, const u_char *in, size_t len,
                                uint32_t field, rx_pb_group_dir_e dir,
                                rx_str_t *out);


#define rx_pb_tag_value(number, type) (((uint64_t) (number) << 3) | (type))


rx_int_t
rx_pb_group_to_ld(rx_pool_t *pool, const u_char *in, size_t len, uint32_t field,
                  rx_str_t *out)
{
    return rx_pb_transcode(pool, in, len, field, RX_PB_GROUP_TO_LD, out);
}


rx_int_t
rx_pb_ld_to_group(rx_pool_t *pool, const u_char *in, size_t len, uint32_t field,
                  rx_str_t *out)
{
    return rx_pb_transcode(pool, in, len, field, RX_PB_LD_TO_GROUP, out);
}


static rx_int_t
rx_pb_transcode(rx_pool_t *pool, const u_char *in, size_t len, uint32_t field,
                rx_pb_group_dir_e dir, rx_str_t *out)
{
    size_t   size;
    u_char  *buf, *last;
    rx_int_t rc;

    rc = rx_pb_group_size(in, len, field, dir, &size);
    if (rc == RX_ERROR) {
        return RX_ERROR;
    }

    if (rc == RX_DECLINED) {
        out->len = len;
        out->data = (u_char *) in;
        return RX_OK;
    }

    buf = rx_pnalloc(pool, size);
    if (buf == NULL) {
        return RX_ERROR;
    }

    last = rx_pb_group_write(in, len, field, dir, buf);
    if (last == NULL || (size_t) (last - buf) != size) {
        return RX_ERROR;
    }

    out->len = size;
    out->data = buf;
    return RX_OK;
}


rx_int_t
rx_pb_group_size(const u_char *in, size_t len, uint32_t field,
                 rx_pb_group_dir_e dir, size_t *size)
{
    size_t        total, n;
    rx_int_t      rc;
    rx_uint_t     converted;
    const u_char *p, *end;
    rx_pb_field_t f;

    if (field == 0 || field > RX_PB_FIELD_MAX) {
        return RX_ERROR;
    }

    *size = 0;
    if (len == 0) {
        return RX_DECLINED;
    }

    total = 0;
    converted = 0;

    for (p = in, end = in + len; p < end; p = f.end) {
        if (rx_pb_next_field(p, end, RX_PB_GROUP_MAX_DEPTH, &f) == NULL) {
            return RX_ERROR;
        }

        rc = rx_pb_field_size(&f, field, dir, &n);
        if (rc == RX_ERROR) {
            return RX_ERROR;
        }
        if (rc == RX_OK) {
            converted++;
        }

        if (n > SIZE_MAX - total) {
            return RX_ERROR;
        }
        total += n;
    }

    *size = total;
    return converted ? RX_OK : RX_DECLINED;
}


u_char *
rx_pb_group_write(const u_char *in, size_t len, uint32_t field,
                  rx_pb_group_dir_e dir, u_char *dst)
{
    const u_char *p, *end;
    rx_pb_field_t f;

    if (len == 0) {
        return dst;
    }

    for (p = in, end = in + len; p < end; p = f.end) {
        if (rx_pb_next_field(p, end, RX_PB_GROUP_MAX_DEPTH, &f) == NULL) {
            return NULL;
        }

        if (rx_pb_is_converted(&f, field, dir)) {
            dst = rx_pb_write_converted(dst, &f, dir);
        } else {
            dst = rx_cpymem(dst, f.start, (size_t) (f.end - f.start));
        }
    }

    return dst;
}


static rx_uint_t
rx_pb_is_converted(const rx_pb_field_t *f, uint32_t field,
                   rx_pb_group_dir_e dir)
{
    uint32_t from;

    from = (dir == RX_PB_GROUP_TO_LD) ? RX_PB_WT_START_GROUP : RX_PB_WT_LEN;

    return f->number == field && f->type == from;
}


/*
 * Output size of one field: RX_OK if it is rewritten, RX_DECLINED if it is
 * copied, RX_ERROR if the payload to turn into a group is malformed.
 */
static rx_int_t
rx_pb_field_size(const rx_pb_field_t *f, uint32_t field, rx_pb_group_dir_e dir,
                 size_t *n)
{
    if (!rx_pb_is_converted(f, field, dir)) {
        *n = (size_t) (f->end - f->start);
        return RX_DECLINED;
    }

    if (dir == RX_PB_LD_TO_GROUP
        && rx_pb_check_fields(f->body, f->body_end, RX_PB_GROUP_MAX_DEPTH - 1)
               != RX_OK) {
        return RX_ERROR;
    }

    *n = rx_pb_converted_size(f, dir);
    return RX_OK;
}


/* Output size of a field that rx_pb_is_converted() selected. */
static size_t
rx_pb_converted_size(const rx_pb_field_t *f, rx_pb_group_dir_e dir)
{
    size_t   blen;
    uint64_t tag;

    blen = (size_t) (f->body_end - f->body);

    if (dir == RX_PB_GROUP_TO_LD) {
        tag = rx_pb_tag_value(f->number, RX_PB_WT_LEN);
        return rx_pb_varint_size(tag) + rx_pb_varint_size(blen) + blen;
    }

    tag = rx_pb_tag_value(f->number, RX_PB_WT_START_GROUP);
    return 2 * rx_pb_varint_size(tag) + blen;
}


static u_char *
rx_pb_write_converted(u_char *dst, const rx_pb_field_t *f,
                      rx_pb_group_dir_e dir)
{
    size_t blen;

    blen = (size_t) (f->body_end - f->body);

    if (dir == RX_PB_GROUP_TO_LD) {
        dst = rx_pb_varint_write(dst, rx_pb_tag_value(f->number, RX_PB_WT_LEN));
        dst = rx_pb_varint_write(dst, blen);
        return rx_cpymem(dst, f->body, blen);
    }

    dst = rx_pb_varint_write(dst,
                             rx_pb_tag_value(f->number, RX_PB_WT_START_GROUP));
    dst = rx_cpymem(dst, f->body, blen);
    return rx_pb_varint_write(dst,
                              rx_pb_tag_value(f->number, RX_PB_WT_END_GROUP));
}


/*
 * A well-formed run of fields, with no END_GROUP left unmatched and groups
 * nested at most @max deep.
 */
static rx_int_t
rx_pb_check_fields(const u_char *p, const u_char *end, rx_uint_t max)
{
    rx_pb_field_t f;

    for (/* void */; p < end; p = f.end) {
        if (rx_pb_next_field(p, end, max, &f) == NULL) {
            return RX_ERROR;
        }
    }

    return RX_OK;
}


/*
 * Parses the field at @p; a group is skipped up to its END_GROUP, with at
 * most @max groups nested (itself included).
 */
static const u_char *
rx_pb_next_field(const u_char *p, const u_char *end, rx_uint_t max,
                 rx_pb_field_t *f)
{
    f->start = p;

    p = rx_pb_tag(p, end, &f->number, &f->type);
    if (p == NULL || f->type == RX_PB_WT_END_GROUP) {
        return NULL;
    }

    if (f->type == RX_PB_WT_START_GROUP) {
        f->body = p;
        f->end = rx_pb_skip_group(p, end, f->number, max, &f->body_end);
        return f->end;
    }

    f->end = rx_pb_skip_value(p, end, f->type, &f->body);
    f->body_end = f->end;
    return f->end;
}


/*
 * @p is just after START_GROUP(@number). Returns the byte after the
 * matching END_GROUP and stores where that END_GROUP tag starts.
 */
static const u_char *
rx_pb_skip_group(const u_char *p, const u_char *end, uint32_t number,
                 rx_uint_t max, const u_char **body_end)
{
    uint32_t      stack[RX_PB_GROUP_MAX_DEPTH];
    uint32_t      n, type;
    rx_uint_t     depth;
    const u_char *tag, *body;

    if (max == 0 || max > RX_PB_GROUP_MAX_DEPTH) {
        return NULL;
    }

    stack[0] = number;
    depth = 1;

    while (p < end) {
        tag = p;
        p = rx_pb_tag(p, end, &n, &type);
        if (p == NULL) {
            return NULL;
        }

        if (type == RX_PB_WT_END_GROUP) {
            if (n != stack[depth - 1]) {
                return NULL;
            }
            if (--depth == 0) {
                *body_end = tag;
                return p;
            }
            continue;
        }

        if (type == RX_PB_WT_START_GROUP) {
            if (depth >= max) {
                return NULL;
            }
            stack[depth++] = n;
            continue;
        }

        p = rx_pb_skip_value(p, end, type, &body);
        if (p == NULL) {
            return NULL;
        }
    }

    return NULL;
}


/* Skips a varint, fixed or length-delimited value starting at @p. */
static const u_char *
rx_pb_skip_value(const u_char *p, const u_char *end, uint32_t type,
                 const u_char **body)
{
    uint64_t v;

    *body = p;

    switch (type) {

    case RX_PB_WT_VARINT:
        return rx_pb_varint(p, end, &v);

    case RX_PB_WT_FIXED64:
        return (end - p >= 8) ? p + 8 : NULL;

    case RX_PB_WT_FIXED32:
        return (end - p >= 4) ? p + 4 : NULL;

    case RX_PB_WT_LEN:
        p = rx_pb_varint(p, end, &v);
        if (p == NULL || v > (uint64_t) (end - p)) {
            return NULL;
        }
        *body = p;
        return p + v;
    }

    return NULL;
}


static const u_char *
rx_pb_tag(const u_char *p, const u_char *end, uint32_t *number, uint32_t *type)
{
    uint64_t v;

    p = rx_pb_varint(p, end, &v);
    if (p == NULL || v > UINT32_MAX) {
        return NULL;
    }

    *number = (uint32_t) (v >> 3);
    *type = (uint32_t) (v & 7);

    if (*number == 0 || *type > RX_PB_WT_FIXED32) {
        return NULL;
    }

    return p;
}


/* At most 10 bytes; NULL if truncated or longer. */
static const u_char *
rx_pb_varint(const u_char *p, const u_char *end, uint64_t *v)
{
    rx_uint_t i;
    uint64_t  r;
    u_char    b;

    r = 0;

    for (i = 0; i < 10 && p < end; i++) {
        b = *p++;
        r |= (uint64_t) (b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = r;
            return p;
        }
    }

    return NULL;
}


size_t
rx_pb_varint_size(uint64_t v)
{
    size_t n;

    for (n = 1; v >= 0x80; n++) {
        v >>= 7;
    }

    return n;
}


u_char *
rx_pb_varint_write(u_char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (u_char) (v | 0x80);
        v >>= 7;
    }

    *p++ = (u_char) v;
    return p;
}
