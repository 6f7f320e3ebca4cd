/*
 * Error log: levels, errno text, a context handler. Debug logging compiles
 * away without --with-debug.
 */

#ifndef _RX_LOG_H_INCLUDED_
#define _RX_LOG_H_INCLUDED_

#define RX_LOG_STDERR 0
#define RX_LOG_EMERG  1
#define RX_LOG_ALERT  2
#define RX_LOG_CRIT   3
#define RX_LOG_ERR    4
#define RX_LOG_WARN   5
#define RX_LOG_NOTICE 6
#define RX_LOG_INFO   7
#define RX_LOG_DEBUG  8

#define RX_MAX_ERROR_STR 2048

typedef u_char *(*rx_log_handler_pt)(rx_log_t *log, u_char *buf, size_t len);

typedef struct {
    rx_str_t name; /* path, or "stderr" */
    int      fd;
} rx_log_file_t;

struct rx_log_s {
    rx_uint_t         log_level;
    rx_log_file_t    *file;
    const char       *action;  /* "while reading request", ... */
    rx_log_handler_pt handler; /* appends context */
    void             *data;
};

extern rx_log_t rx_log_stderr; /* used before the config is read */

void rx_log_error_core(rx_uint_t level, rx_log_t *log, rx_err_t err,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define rx_log_error(level, log, ...)                                          \
    do {                                                                       \
        if ((log)->log_level >= (level)) {                                     \
            rx_log_error_core(level, log, __VA_ARGS__);                        \
        }                                                                      \
    } while (0)

#if (RX_DEBUG)
#define rx_log_debug(log, ...) rx_log_error(RX_LOG_DEBUG, log, 0, __VA_ARGS__)
#else
#define rx_log_debug(log, ...)
#endif

/** Level name to number; RX_ERROR if unknown. */
rx_int_t rx_log_level_parse(const rx_str_t *name);
/** Opens (O_APPEND|O_CREAT) or maps "stderr"; RX_ERROR with errno set. */
rx_int_t rx_log_file_open(rx_log_file_t *file);
/** Reopens by name; keeps the old fd if the open fails. */
rx_int_t rx_log_file_reopen(rx_log_file_t *file, rx_log_t *log);
/** Writes raw bytes to a log file (access log lines). */
void rx_log_write(rx_log_file_t *file, const u_char *buf, size_t len);

#endif /* _RX_LOG_H_INCLUDED_ */
