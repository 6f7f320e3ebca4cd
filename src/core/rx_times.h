/*
 * Cached time, updated once per event-loop turn.
 */

#ifndef _RX_TIMES_H_INCLUDED_
#define _RX_TIMES_H_INCLUDED_

extern volatile rx_msec_t rx_current_msec; /* monotonic, milliseconds */
extern volatile time_t    rx_current_sec;  /* wall clock seconds */
extern rx_str_t           rx_cached_err_log_time;
extern rx_str_t           rx_cached_http_log_time;

void rx_time_update(void);
/** Monotonic time in microseconds, not cached. */
uint64_t rx_time_usec(void);

#endif /* _RX_TIMES_H_INCLUDED_ */
