/*
 * The executor's content-addressable store and action cache on disk:
 *   root/cas/ab/<hash>   blobs, mode 0444, written through root/cas/tmp
 *                        and renamed into place after the digest check
 *   root/ac/ab/<hash>    serialized ActionResult per action digest
 * Both survive restarts; the size cap over both is kept by
 * rx_executor_lru.c.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_executor.h>
#include <openssl/evp.h>

static uint64_t rx_ex_tmp_seq;

/* ---- digests ---- */

rx_int_t
rx_ex_digest_from_pb(rx_ex_digest_t *d, const rx_re_t(Digest) * pb)
{
    size_t i;

    if (pb == NULL || pb->hash == NULL || pb->size_bytes < 0
        || strlen(pb->hash) != RX_SHA256_HEX_LEN) {
        return RX_ERROR;
    }
    for (i = 0; i < RX_SHA256_HEX_LEN; i++) {
        if (!((pb->hash[i] >= '0' && pb->hash[i] <= '9')
              || (pb->hash[i] >= 'a' && pb->hash[i] <= 'f'))) {
            return RX_ERROR;
        }
    }
    memcpy(d->hex, pb->hash, RX_SHA256_HEX_LEN + 1);
    d->size = pb->size_bytes;
    return RX_OK;
}

void
rx_ex_digest_to_pb(rx_re_t(Digest) * pb, rx_ex_digest_t *d)
{
    rx_re_t(Digest) init = RX_RE_INIT(DIGEST);

    *pb = init;
    pb->hash = (char *) d->hex;
    pb->size_bytes = d->size;
}

rx_re_t(Digest) * rx_ex_digest_pb(rx_pool_t *pool, const rx_ex_digest_t *d)
{
    rx_re_t(Digest) * pb;
    rx_ex_digest_t *copy;

    pb = rx_palloc(pool, sizeof(*pb));
    copy = rx_palloc(pool, sizeof(*copy));
    if (pb == NULL || copy == NULL) {
        return NULL;
    }
    *copy = *d;
    rx_ex_digest_to_pb(pb, copy);
    return pb;
}

void
rx_ex_digest_of(rx_ex_digest_t *d, const u_char *data, size_t len)
{
    rx_sha256_hex(data, len, d->hex);
    d->hex[RX_SHA256_HEX_LEN] = '\0';
    d->size = (int64_t) len;
}

int
rx_ex_digest_empty(const rx_ex_digest_t *d)
{
    return d->size == 0
           && strcmp((char *) d->hex, "e3b0c44298fc1c149afbf4c8996fb924"
                                      "27ae41e4649b934ca495991b7852b855")
                  == 0;
}

void
rx_ex_cas_path(const rx_ex_digest_t *d, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%c%c/%s", rx_ex.cas_dir, d->hex[0], d->hex[1],
             (char *) d->hex);
}

void
rx_ex_ac_path(const rx_ex_digest_t *d, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%c%c/%s", rx_ex.ac_dir, d->hex[0], d->hex[1],
             (char *) d->hex);
}

/* ---- blobs ---- */

int
rx_ex_cas_has(const rx_ex_digest_t *d)
{
    struct stat st;
    char        path[PATH_MAX];

    if (rx_ex_digest_empty(d)) {
        return 1;
    }
    rx_ex_cas_path(d, path, sizeof(path));
    if (stat(path, &st) == -1 || st.st_size != d->size) {
        return 0;
    }
    rx_ex_lru_touch(d, d->size, RX_EX_CAS);
    return 1;
}

int
rx_ex_cas_open(const rx_ex_digest_t *d)
{
    char        path[PATH_MAX];
    int         fd;
    struct stat st;

    rx_ex_cas_path(d, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }
    /* the size comes from the caller (a resource name): a blob is only
       what it is on disk, and only that size is ever counted */
    if (fstat(fd, &st) == -1 || st.st_size != d->size) {
        close(fd);
        errno = ENOENT;
        return -1;
    }
    rx_ex_lru_touch(d, d->size, RX_EX_CAS);
    return fd;
}

static rx_int_t
rx_ex_read_all(int fd, u_char *p, size_t len)
{
    ssize_t n;

    while (len) {
        n = read(fd, p, len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return RX_ERROR;
        }
        p += n;
        len -= (size_t) n;
    }
    return RX_OK;
}

rx_int_t
rx_ex_cas_get(rx_pool_t *pool, const rx_ex_digest_t *d, size_t max,
              rx_str_t *out)
{
    int fd;

    out->len = 0;
    out->data = (u_char *) "";
    if (rx_ex_digest_empty(d)) {
        return RX_OK;
    }
    if ((uint64_t) d->size > max) {
        return RX_ERROR;
    }
    fd = rx_ex_cas_open(d); /* of the size asked for, or ENOENT */
    if (fd == -1) {
        return errno == ENOENT ? RX_DECLINED : RX_ERROR;
    }
    out->data = rx_pnalloc(pool, (size_t) d->size + 1);
    if (out->data == NULL
        || rx_ex_read_all(fd, out->data, (size_t) d->size) != RX_OK) {
        close(fd);
        return RX_ERROR;
    }
    close(fd);
    out->len = (size_t) d->size;
    return RX_OK;
}

rx_int_t
rx_ex_writer_open(rx_ex_writer_t *w)
{
    w->size = 0;
    w->md = EVP_MD_CTX_new();
    snprintf(w->path, sizeof(w->path), "%s/%ld.%llu", rx_ex.tmp_dir,
             (long) getpid(), (unsigned long long) ++rx_ex_tmp_seq);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (w->md == NULL || w->fd == -1
        || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                     "executor: cannot create \"%s\"", w->path);
        rx_ex_writer_abort(w);
        return RX_ERROR;
    }
    return RX_OK;
}

rx_int_t
rx_ex_writer_add(rx_ex_writer_t *w, const u_char *data, size_t len)
{
    ssize_t n;

    if (EVP_DigestUpdate(w->md, data, len) != 1) {
        return RX_ERROR;
    }
    w->size += (int64_t) len;
    while (len) {
        n = write(w->fd, data, len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                         "executor: write(\"%s\") failed", w->path);
            return RX_ERROR;
        }
        data += n;
        len -= (size_t) n;
    }
    return RX_OK;
}

void
rx_ex_writer_abort(rx_ex_writer_t *w)
{
    if (w->fd != -1) {
        close(w->fd);
        (void) unlink(w->path);
        w->fd = -1;
    }
    EVP_MD_CTX_free(w->md);
    w->md = NULL;
}

rx_int_t
rx_ex_writer_commit(rx_ex_writer_t *w, const rx_ex_digest_t *expect,
                    rx_ex_digest_t *d)
{
    u_char       md[EVP_MAX_MD_SIZE];
    char         path[PATH_MAX];
    unsigned int mdlen;

    if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1) {
        rx_ex_writer_abort(w);
        return RX_ERROR;
    }
    if (close(w->fd) == -1) {
        w->fd = -1;
        (void) unlink(w->path);
        rx_ex_writer_abort(w);
        return RX_ERROR;
    }
    w->fd = -1;
    (void) rx_hex_dump(d->hex, md, RX_SHA256_LEN);
    d->hex[RX_SHA256_HEX_LEN] = '\0';
    d->size = w->size;
    if (expect
        && (expect->size != d->size
            || memcmp(expect->hex, d->hex, RX_SHA256_HEX_LEN) != 0)) {
        (void) unlink(w->path);
        rx_ex_writer_abort(w);
        return RX_DECLINED;
    }
    rx_ex_cas_path(d, path, sizeof(path));
    if (rename(w->path, path) == -1) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                     "executor: rename(\"%s\", \"%s\") failed", w->path, path);
        (void) unlink(w->path);
        rx_ex_writer_abort(w);
        return RX_ERROR;
    }
    rx_ex_writer_abort(w);
    rx_ex_lru_touch(d, d->size, RX_EX_CAS);
    return RX_OK;
}

rx_int_t
rx_ex_cas_put(const rx_ex_digest_t *d, const u_char *data, size_t len)
{
    rx_ex_digest_t got;
    rx_ex_writer_t w;

    if ((int64_t) len != d->size) {
        return RX_DECLINED;
    }
    rx_ex_digest_of(&got, data, len);
    if (memcmp(got.hex, d->hex, RX_SHA256_HEX_LEN) != 0) {
        return RX_DECLINED;
    }
    if (rx_ex_cas_has(d)) {
        return RX_OK;
    }
    if (rx_ex_writer_open(&w) != RX_OK) {
        return RX_ERROR;
    }
    if (rx_ex_writer_add(&w, data, len) != RX_OK) {
        rx_ex_writer_abort(&w);
        return RX_ERROR;
    }
    return rx_ex_writer_commit(&w, d, &got);
}

rx_int_t
rx_ex_cas_put_fd(int fd, rx_ex_digest_t *d)
{
    rx_ex_writer_t w;
    u_char         buf[65536];
    ssize_t        n;

    if (rx_ex_writer_open(&w) != RX_OK) {
        return RX_ERROR;
    }
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            break;
        }
        if (n == -1 || rx_ex_writer_add(&w, buf, (size_t) n) != RX_OK) {
            rx_ex_writer_abort(&w);
            return RX_ERROR;
        }
    }
    return rx_ex_writer_commit(&w, NULL, d);
}

/* ---- action cache ---- */

rx_int_t
rx_ex_ac_get(rx_pool_t *pool, const rx_ex_digest_t *action, rx_str_t *out)
{
    struct stat st;
    char        path[PATH_MAX];
    int         fd;

    rx_ex_ac_path(action, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return errno == ENOENT ? RX_DECLINED : RX_ERROR;
    }
    if (fstat(fd, &st) == -1 || st.st_size > RX_EX_MAX_PROTO) {
        close(fd);
        return RX_ERROR;
    }
    rx_ex_lru_touch(action, (int64_t) st.st_size, RX_EX_AC);
    out->len = (size_t) st.st_size;
    out->data = rx_pnalloc(pool, out->len + 1);
    if (out->data == NULL || rx_ex_read_all(fd, out->data, out->len) != RX_OK) {
        close(fd);
        return RX_ERROR;
    }
    close(fd);
    return RX_OK;
}

rx_int_t
rx_ex_ac_put(const rx_ex_digest_t *action, const rx_str_t *data)
{
    rx_ex_writer_t w;
    char           path[PATH_MAX];

    if (rx_ex_writer_open(&w) != RX_OK) {
        return RX_ERROR;
    }
    if (rx_ex_writer_add(&w, data->data, data->len) != RX_OK
        || close(w.fd) == -1) {
        rx_ex_writer_abort(&w);
        return RX_ERROR;
    }
    w.fd = -1;
    rx_ex_ac_path(action, path, sizeof(path));
    if (rename(w.path, path) == -1) {
        rx_log_error(RX_LOG_ERR, rx_ex.log, errno,
                     "executor: rename(\"%s\", \"%s\") failed", w.path, path);
        (void) unlink(w.path);
        rx_ex_writer_abort(&w);
        return RX_ERROR;
    }
    rx_ex_writer_abort(&w);
    rx_ex_lru_touch(action, (int64_t) data->len, RX_EX_AC);
    return RX_OK;
}

void
rx_ex_ac_del(const rx_ex_digest_t *action)
{
    char path[PATH_MAX];

    rx_ex_ac_path(action, path, sizeof(path));
    (void) unlink(path);
    rx_ex_lru_forget(action, RX_EX_AC);
}
