/*
 * Cached time.
 */

#include <rx_config.h>
#include <rx_core.h>

volatile rx_msec_t rx_current_msec;
volatile time_t    rx_current_sec;

static u_char rx_err_log_time[sizeof("1970/09/28 12:00:00")];
static u_char rx_http_log_time[sizeof("28/Sep/1970:12:00:00 +0000")];

rx_str_t rx_cached_err_log_time = {sizeof(rx_err_log_time) - 1,
                                   rx_err_log_time};
rx_str_t rx_cached_http_log_time = {sizeof(rx_http_log_time) - 1,
                                    rx_http_log_time};

static time_t rx_last_sec = -1;

uint64_t
rx_time_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

void
rx_time_update(void)
{
    struct timespec ts;
    struct tm       tm;
    time_t          now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    rx_current_msec = (rx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    now = time(NULL);
    rx_current_sec = now;
    if (now == rx_last_sec) {
        return;
    }
    rx_last_sec = now;
    localtime_r(&now, &tm);
    strftime((char *) rx_err_log_time, sizeof(rx_err_log_time),
             "%Y/%m/%d %H:%M:%S", &tm);
    strftime((char *) rx_http_log_time, sizeof(rx_http_log_time),
             "%d/%b/%Y:%H:%M:%S %z", &tm);
}
