/*
 * The worker event loop on epoll.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>

#define RX_EVENT_BATCH      512
#define RX_BEFORE_SLEEP_MAX 8

typedef struct {
    rx_before_sleep_pt handler;
    void              *data;
} rx_before_sleep_t;

static void rx_event_dispatch(struct epoll_event *ee);

static int                 rx_epfd = -1;
static struct epoll_event *rx_event_list;
static rx_queue_t          rx_posted_events;
static rx_before_sleep_t   rx_before_sleep[RX_BEFORE_SLEEP_MAX];
static rx_uint_t           rx_nbefore_sleep;
static rx_log_t           *rx_event_log;

const sigset_t *rx_event_sigmask;

extern rx_int_t rx_connections_init(rx_uint_t n, rx_log_t *log);
extern void     rx_connections_done(void);

rx_int_t
rx_event_init(rx_uint_t max_connections, rx_log_t *log)
{
    rx_event_log = log;
    rx_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rx_epfd == -1) {
        rx_log_error(RX_LOG_EMERG, log, errno, "epoll_create1() failed");
        return RX_ERROR;
    }
    rx_event_list = calloc(RX_EVENT_BATCH, sizeof(struct epoll_event));
    if (rx_event_list == NULL) {
        return RX_ERROR;
    }
    rx_queue_init(&rx_posted_events);
    rx_nbefore_sleep = 0;
    return rx_connections_init(max_connections, log);
}

void
rx_event_done(void)
{
    rx_connections_done();
    free(rx_event_list);
    rx_event_list = NULL;
    if (rx_epfd != -1) {
        close(rx_epfd);
        rx_epfd = -1;
    }
}

rx_int_t
rx_event_add_before_sleep(rx_before_sleep_pt h, void *data)
{
    if (rx_nbefore_sleep == RX_BEFORE_SLEEP_MAX) {
        return RX_ERROR;
    }
    rx_before_sleep[rx_nbefore_sleep].handler = h;
    rx_before_sleep[rx_nbefore_sleep].data = data;
    rx_nbefore_sleep++;
    return RX_OK;
}

static rx_int_t
rx_event_ctl(rx_conn_t *c, int op, uint32_t events)
{
    struct epoll_event ee;

    ee.events = events;
    ee.data.ptr = (void *) ((uintptr_t) c | c->instance);
    if (epoll_ctl(rx_epfd, op, c->fd, &ee) == -1) {
        rx_log_error(RX_LOG_ALERT, &c->log, errno, "epoll_ctl(%d, %d) failed",
                     op, c->fd);
        return RX_ERROR;
    }
    c->read->active = 1;
    c->write->active = (events & EPOLLOUT) ? 1 : 0;
    return RX_OK;
}

rx_int_t
rx_event_add_conn(rx_conn_t *c)
{
    return rx_event_ctl(c, EPOLL_CTL_ADD,
                        EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP);
}

rx_int_t
rx_event_add_listen(rx_conn_t *c)
{
    uint32_t events = EPOLLIN;

#if (RX_HAVE_EPOLLEXCLUSIVE)
    events |= EPOLLEXCLUSIVE;
#endif
    return rx_event_ctl(c, EPOLL_CTL_ADD, events);
}

rx_int_t
rx_event_del_conn(rx_conn_t *c)
{
    struct epoll_event ee;

    if (!c->read->active) {
        return RX_OK;
    }
    c->read->active = 0;
    c->write->active = 0;
    if (epoll_ctl(rx_epfd, EPOLL_CTL_DEL, c->fd, &ee) == -1) {
        rx_log_error(RX_LOG_ALERT, &c->log, errno, "epoll_ctl(DEL, %d) failed",
                     c->fd);
        return RX_ERROR;
    }
    return RX_OK;
}

void
rx_event_process(void)
{
    rx_uint_t i;
    int       n, timeout;

    for (i = 0; i < rx_nbefore_sleep; i++) {
        rx_before_sleep[i].handler(rx_before_sleep[i].data);
    }
    timeout = rx_queue_empty(&rx_posted_events) ? rx_event_find_timer() : 0;
    n = epoll_pwait(rx_epfd, rx_event_list, RX_EVENT_BATCH, timeout,
                    rx_event_sigmask);
    rx_time_update();
    if (n == -1) {
        if (errno != EINTR) {
            rx_log_error(RX_LOG_ALERT, rx_event_log, errno,
                         "epoll_wait() failed");
        }
        n = 0;
    }
    for (i = 0; i < (rx_uint_t) n; i++) {
        rx_event_dispatch(&rx_event_list[i]);
    }
    rx_event_expire_timers();
    rx_event_process_posted();
}

static void
rx_event_dispatch(struct epoll_event *ee)
{
    rx_conn_t *c;
    uintptr_t  instance;
    uint32_t   revents;

    instance = (uintptr_t) ee->data.ptr & 1;
    c = (rx_conn_t *) ((uintptr_t) ee->data.ptr & ~(uintptr_t) 1);
    if (c->fd == -1 || c->instance != instance) {
        return; /* stale event of a closed or reused connection */
    }
    revents = ee->events;
    if (revents & (EPOLLERR | EPOLLHUP)) {
        revents |= EPOLLIN | EPOLLOUT;
    }
    if ((revents & EPOLLIN) && c->read->active) {
        c->read->ready = 1;
        if (revents & EPOLLRDHUP) {
            c->read->eof = 1;
        }
        c->read->handler(c->read);
    }
    if ((revents & EPOLLOUT) && c->write->active && c->fd != -1
        && c->instance == instance) {
        c->write->ready = 1;
        c->write->handler(c->write);
    }
}

void
rx_event_post(rx_event_t *ev)
{
    if (ev->posted) {
        return;
    }
    ev->posted = 1;
    rx_queue_insert_tail(&rx_posted_events, &ev->queue);
}

void
rx_event_delete_posted(rx_event_t *ev)
{
    if (!ev->posted) {
        return;
    }
    ev->posted = 0;
    rx_queue_remove(&ev->queue);
}

void
rx_event_process_posted(void)
{
    rx_queue_t  done, *q;
    rx_event_t *ev;

    /* events posted while running go to the next turn: no starvation */
    if (rx_queue_empty(&rx_posted_events)) {
        return;
    }
    done.next = rx_posted_events.next;
    done.prev = rx_posted_events.prev;
    done.next->prev = &done;
    done.prev->next = &done;
    rx_queue_init(&rx_posted_events);
    while (!rx_queue_empty(&done)) {
        q = rx_queue_head(&done);
        ev = rx_queue_data(q, rx_event_t, queue);
        rx_queue_remove(q);
        ev->posted = 0;
        ev->handler(ev);
    }
}
