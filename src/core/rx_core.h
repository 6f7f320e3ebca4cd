/*
 * remoteexec_proxy: core types, return codes and the core module headers.
 */

#ifndef _RX_CORE_H_INCLUDED_
#define _RX_CORE_H_INCLUDED_

#include <rx_config.h>

#define RX_OK       0
#define RX_ERROR    -1
#define RX_AGAIN    -2
#define RX_BUSY     -3
#define RX_DONE     -4
#define RX_DECLINED -5

#define RX_VERSION  "0.1.0"
#define RX_PROGNAME "remoteexec_proxy"

typedef struct rx_pool_s      rx_pool_t;
typedef struct rx_log_s       rx_log_t;
typedef struct rx_buf_s       rx_buf_t;
typedef struct rx_array_s     rx_array_t;
typedef struct rx_event_s     rx_event_t;
typedef struct rx_conn_s      rx_conn_t;
typedef struct rx_cycle_s     rx_cycle_t;
typedef struct rx_conf_s      rx_conf_t;
typedef struct rx_shm_zone_s  rx_shm_zone_t;
typedef struct rx_listening_s rx_listening_t;

#define rx_min(a, b)   ((a) < (b) ? (a) : (b))
#define rx_max(a, b)   ((a) > (b) ? (a) : (b))
#define rx_nelems(a)   (sizeof(a) / sizeof((a)[0]))
#define rx_align(d, a) (((d) + ((a) -1)) & ~((a) -1))

#define RX_LF   '\n'
#define RX_CR   '\r'
#define RX_CRLF "\r\n"

#include <rx_queue.h>
#include <rx_string.h>
#include <rx_palloc.h>
#include <rx_array.h>
#include <rx_buf.h>
#include <rx_log.h>
#include <rx_times.h>
#include <rx_sha256.h>

#endif /* _RX_CORE_H_INCLUDED_ */
