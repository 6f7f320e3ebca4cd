/*
 * Timers: a binary min-heap of events keyed by expiry time.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>

static void rx_heap_up(rx_uint_t i);
static void rx_heap_down(rx_uint_t i);

static rx_event_t **rx_heap;
static rx_uint_t    rx_heap_n;
static rx_uint_t    rx_heap_cap;

static void
rx_heap_set(rx_uint_t i, rx_event_t *ev)
{
    rx_heap[i] = ev;
    ev->heap_index = i;
}

static void
rx_heap_up(rx_uint_t i)
{
    rx_event_t *ev = rx_heap[i];
    rx_uint_t   parent;

    while (i > 0) {
        parent = (i - 1) / 2;
        if (rx_heap[parent]->timer <= ev->timer) {
            break;
        }
        rx_heap_set(i, rx_heap[parent]);
        i = parent;
    }
    rx_heap_set(i, ev);
}

static void
rx_heap_down(rx_uint_t i)
{
    rx_event_t *ev = rx_heap[i];
    rx_uint_t   child;

    for (;;) {
        child = 2 * i + 1;
        if (child >= rx_heap_n) {
            break;
        }
        if (child + 1 < rx_heap_n
            && rx_heap[child + 1]->timer < rx_heap[child]->timer) {
            child++;
        }
        if (ev->timer <= rx_heap[child]->timer) {
            break;
        }
        rx_heap_set(i, rx_heap[child]);
        i = child;
    }
    rx_heap_set(i, ev);
}

void
rx_event_add_timer(rx_event_t *ev, rx_msec_t timer)
{
    rx_event_t **h;
    rx_uint_t    cap;

    if (ev->timer_set) {
        rx_event_del_timer(ev);
    }
    if (rx_heap_n == rx_heap_cap) {
        cap = rx_heap_cap ? rx_heap_cap * 2 : 1024;
        h = realloc(rx_heap, cap * sizeof(rx_event_t *));
        if (h == NULL) {
            abort(); /* cannot keep a timer promise without memory */
        }
        rx_heap = h;
        rx_heap_cap = cap;
    }
    ev->timer = rx_current_msec + timer;
    ev->timer_set = 1;
    ev->timedout = 0;
    rx_heap_set(rx_heap_n++, ev);
    rx_heap_up(ev->heap_index);
}

void
rx_event_del_timer(rx_event_t *ev)
{
    rx_uint_t i;

    if (!ev->timer_set) {
        return;
    }
    ev->timer_set = 0;
    i = ev->heap_index;
    rx_heap_n--;
    if (i == rx_heap_n) {
        return;
    }
    rx_heap_set(i, rx_heap[rx_heap_n]);
    if (i > 0 && rx_heap[i]->timer < rx_heap[(i - 1) / 2]->timer) {
        rx_heap_up(i);
    } else {
        rx_heap_down(i);
    }
}

int
rx_event_find_timer(void)
{
    if (rx_heap_n == 0) {
        return -1;
    }
    if (rx_heap[0]->timer <= rx_current_msec) {
        return 0;
    }
    return (int) rx_min(rx_heap[0]->timer - rx_current_msec,
                        (rx_msec_t) INT_MAX);
}

void
rx_event_expire_timers(void)
{
    rx_event_t *ev;
    rx_uint_t   budget = 100000;

    while (rx_heap_n && rx_heap[0]->timer <= rx_current_msec && budget--) {
        ev = rx_heap[0];
        rx_event_del_timer(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

int
rx_event_no_timers_left(void)
{
    rx_uint_t i;

    for (i = 0; i < rx_heap_n; i++) {
        if (!rx_heap[i]->cancelable) {
            return 0;
        }
    }
    return 1;
}
