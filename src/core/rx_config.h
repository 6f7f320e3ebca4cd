/*
 * remoteexec_proxy: system headers and the configure-generated settings.
 * Every .c file includes this first, then rx_core.h.
 */

#ifndef _RX_CONFIG_H_INCLUDED_
#define _RX_CONFIG_H_INCLUDED_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <rx_auto_config.h>

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <assert.h>
#include <ctype.h>

typedef unsigned char u_char;
typedef intptr_t      rx_int_t;
typedef uintptr_t     rx_uint_t;
typedef int           rx_fd_t;
typedef int           rx_err_t;
typedef uint64_t      rx_msec_t;

#define RX_INVALID_FILE -1

#endif /* _RX_CONFIG_H_INCLUDED_ */
