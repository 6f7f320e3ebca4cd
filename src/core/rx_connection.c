/*
 * Connection slots of a worker, plain and TLS socket I/O.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <openssl/err.h>

static rx_conn_t  *rx_conns;
static rx_event_t *rx_read_events;
static rx_event_t *rx_write_events;
static rx_conn_t  *rx_free_conns;
static rx_uint_t   rx_nconns;
static rx_uint_t   rx_nfree;
static uint64_t    rx_conn_number;

rx_int_t rx_connections_init(rx_uint_t n, rx_log_t *log);
void     rx_connections_done(void);

rx_int_t
rx_connections_init(rx_uint_t n, rx_log_t *log)
{
    rx_uint_t i;

    rx_conns = calloc(n, sizeof(rx_conn_t));
    rx_read_events = calloc(n, sizeof(rx_event_t));
    rx_write_events = calloc(n, sizeof(rx_event_t));
    if (!rx_conns || !rx_read_events || !rx_write_events) {
        rx_log_error(RX_LOG_EMERG, log, errno,
                     "cannot allocate %lu "
                     "connections",
                     (unsigned long) n);
        return RX_ERROR;
    }
    rx_free_conns = NULL;
    for (i = n; i-- > 0;) {
        rx_conns[i].fd = -1;
        rx_conns[i].instance = 1;
        rx_conns[i].data = rx_free_conns;
        rx_conns[i].read = &rx_read_events[i];
        rx_conns[i].write = &rx_write_events[i];
        rx_free_conns = &rx_conns[i];
    }
    rx_nconns = n;
    rx_nfree = n;
    return RX_OK;
}

void
rx_connections_done(void)
{
    free(rx_conns);
    free(rx_read_events);
    free(rx_write_events);
    rx_conns = NULL;
    rx_read_events = rx_write_events = NULL;
}

rx_conn_t *
rx_get_connection(int fd, rx_log_t *log)
{
    rx_conn_t  *c;
    rx_event_t *rev, *wev;
    unsigned    instance;

    c = rx_free_conns;
    if (c == NULL) {
        rx_log_error(RX_LOG_WARN, log, 0,
                     "%lu worker connections are not "
                     "enough",
                     (unsigned long) rx_nconns);
        return NULL;
    }
    rx_free_conns = c->data;
    rx_nfree--;
    rev = c->read;
    wev = c->write;
    instance = c->instance;
    rx_memzero(c, sizeof(rx_conn_t));
    rx_memzero(rev, sizeof(rx_event_t));
    rx_memzero(wev, sizeof(rx_event_t));
    c->read = rev;
    c->write = wev;
    c->fd = fd;
    c->instance = !instance;
    c->log = *log;
    c->recv = rx_unix_recv;
    c->send = rx_unix_send;
    c->number = ++rx_conn_number;
    rx_queue_init(&c->queue);
    rev->data = c;
    wev->data = c;
    wev->write = 1;
    rev->log = wev->log = &c->log;
    return c;
}

static void
rx_free_connection(rx_conn_t *c)
{
    c->fd = -1;
    c->data = rx_free_conns;
    rx_free_conns = c;
    rx_nfree++;
}

void
rx_close_connection(rx_conn_t *c)
{
    int fd;

    if (c->fd == -1) {
        return;
    }
    rx_event_del_timer(c->read);
    rx_event_del_timer(c->write);
    rx_event_delete_posted(c->read);
    rx_event_delete_posted(c->write);
    if (!rx_queue_empty(&c->queue)) {
        rx_queue_remove(&c->queue);
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->shared) {
        /* the file stays open elsewhere (listeners): closing our fd would
           not remove it from this epoll set */
        (void) rx_event_del_conn(c);
    }
    c->read->active = 0;
    c->write->active = 0;
    fd = c->fd;
    rx_free_connection(c);
    if (close(fd) == -1) {
        rx_log_error(RX_LOG_ALERT, &c->log, errno, "close(%d) failed", fd);
    }
}

rx_uint_t
rx_connections_free(void)
{
    return rx_nfree;
}

rx_uint_t
rx_connections_used(void)
{
    return rx_nconns - rx_nfree;
}

rx_int_t
rx_nonblocking(int fd)
{
    int flags;

    flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        return RX_ERROR;
    }
    return RX_OK;
}

ssize_t
rx_unix_recv(rx_conn_t *c, u_char *buf, size_t size)
{
    ssize_t n;

    for (;;) {
        n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            c->received += (size_t) n;
            return n;
        }
        if (n == 0) {
            c->read->ready = 0;
            c->read->eof = 1;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->read->ready = 0;
            return RX_AGAIN;
        }
        c->read->error = 1;
        rx_log_error(RX_LOG_INFO, &c->log, errno, "recv() failed");
        return RX_ERROR;
    }
}

ssize_t
rx_unix_send(rx_conn_t *c, const u_char *buf, size_t size)
{
    ssize_t n;

    for (;;) {
        n = send(c->fd, buf, size, MSG_NOSIGNAL);
        if (n >= 0) {
            c->sent += (size_t) n;
            if ((size_t) n < size) {
                c->write->ready = 0;
            }
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->write->ready = 0;
            return RX_AGAIN;
        }
        c->write->error = 1;
        rx_log_error(RX_LOG_INFO, &c->log, errno, "send() failed");
        return RX_ERROR;
    }
}

static ssize_t
rx_ssl_error(rx_conn_t *c, int n, int write)
{
    int err = SSL_get_error(c->ssl, n);

    if (err == SSL_ERROR_WANT_READ) {
        c->read->ready = 0;
        return RX_AGAIN;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->write->ready = 0;
        return RX_AGAIN;
    }
    if (err == SSL_ERROR_ZERO_RETURN && !write) {
        c->read->eof = 1;
        return 0;
    }
    if (write) {
        c->write->error = 1;
    } else {
        c->read->error = 1;
    }
    rx_log_error(RX_LOG_INFO, &c->log, 0, "SSL_%s() failed (SSL: %d, %s)",
                 write ? "write" : "read", err,
                 ERR_reason_error_string(ERR_peek_last_error())
                     ? ERR_reason_error_string(ERR_peek_last_error())
                     : "-");
    ERR_clear_error();
    return RX_ERROR;
}

ssize_t
rx_ssl_recv(rx_conn_t *c, u_char *buf, size_t size)
{
    int n;

    ERR_clear_error();
    n = SSL_read(c->ssl, buf, (int) rx_min(size, (size_t) INT_MAX));
    if (n > 0) {
        c->received += (size_t) n;
        return n;
    }
    return rx_ssl_error(c, n, 0);
}

ssize_t
rx_ssl_send(rx_conn_t *c, const u_char *buf, size_t size)
{
    int n;

    if (size == 0) {
        return 0;
    }
    ERR_clear_error();
    n = SSL_write(c->ssl, buf, (int) rx_min(size, (size_t) INT_MAX));
    if (n > 0) {
        c->sent += (size_t) n;
        return n;
    }
    return rx_ssl_error(c, n, 1);
}

rx_int_t
rx_ssl_handshake(rx_conn_t *c)
{
    int n;

    ERR_clear_error();
    n = SSL_do_handshake(c->ssl);
    if (n == 1) {
        c->ssl_handshaked = 1;
        c->recv = rx_ssl_recv;
        c->send = rx_ssl_send;
        return RX_OK;
    }
    n = (int) rx_ssl_error(c, n, 0);
    return n == RX_AGAIN ? RX_AGAIN : RX_ERROR;
}

void
rx_ssl_shutdown(rx_conn_t *c)
{
    if (c->ssl && c->ssl_handshaked) {
        SSL_set_quiet_shutdown(c->ssl, 1);
        (void) SSL_shutdown(c->ssl);
    }
}
