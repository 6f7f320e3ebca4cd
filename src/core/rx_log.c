/*
 * Error log.
 */

#include <rx_config.h>
#include <rx_core.h>

static rx_log_file_t rx_stderr_file = {rx_string("stderr"), STDERR_FILENO};

rx_log_t rx_log_stderr = {RX_LOG_NOTICE, &rx_stderr_file, NULL, NULL, NULL};

static const char *rx_log_levels[] = {
    "", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};

void
rx_log_error_core(rx_uint_t level, rx_log_t *log, rx_err_t err, const char *fmt,
                  ...)
{
    u_char  buf[RX_MAX_ERROR_STR], *p, *last;
    va_list args;

    last = buf + sizeof(buf) - 1;
    p = rx_cpymem(buf, rx_cached_err_log_time.data, rx_cached_err_log_time.len);
    p = rx_slprintf(p, last, " [%s] %d: ",
                    rx_log_levels[rx_min(level, (rx_uint_t) RX_LOG_DEBUG)],
                    (int) getpid());
    va_start(args, fmt);
    p = rx_vslprintf(p, last, fmt, args);
    va_end(args);
    if (err) {
        p = rx_slprintf(p, last, " (%d: %s)", err, strerror(err));
    }
    if (log->action && p < last) {
        p = rx_slprintf(p, last, " while %s", log->action);
    }
    if (log->handler && p < last) {
        p = log->handler(log, p, (size_t) (last - p));
    }
    *p++ = '\n';
    rx_log_write(log->file, buf, (size_t) (p - buf));
}

void
rx_log_write(rx_log_file_t *file, const u_char *buf, size_t len)
{
    ssize_t n;

    while (len) {
        n = write(file->fd, buf, len);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        buf += n;
        len -= (size_t) n;
    }
}

rx_int_t
rx_log_level_parse(const rx_str_t *name)
{
    rx_uint_t i;

    for (i = 1; i < rx_nelems(rx_log_levels); i++) {
        if (rx_str_eq_ci(name, rx_log_levels[i])) {
            return (rx_int_t) i;
        }
    }
    return RX_ERROR;
}

rx_int_t
rx_log_file_open(rx_log_file_t *file)
{
    if (file->name.len == 6 && memcmp(file->name.data, "stderr", 6) == 0) {
        file->fd = STDERR_FILENO;
        return RX_OK;
    }
    file->fd = open((char *) file->name.data,
                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return file->fd == -1 ? RX_ERROR : RX_OK;
}

rx_int_t
rx_log_file_reopen(rx_log_file_t *file, rx_log_t *log)
{
    int fd;

    if (file->fd == STDERR_FILENO) {
        return RX_OK;
    }
    fd = open((char *) file->name.data,
              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        rx_log_error(RX_LOG_ALERT, log, errno, "open(\"%s\") failed",
                     file->name.data);
        return RX_ERROR;
    }
    if (dup2(fd, file->fd) == -1) {
        rx_log_error(RX_LOG_ALERT, log, errno, "dup2() failed");
        close(fd);
        return RX_ERROR;
    }
    close(fd);
    return RX_OK;
}
