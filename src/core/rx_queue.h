/*
 * Intrusive doubly-linked circular queues.
 */

#ifndef _RX_QUEUE_H_INCLUDED_
#define _RX_QUEUE_H_INCLUDED_

typedef struct rx_queue_s rx_queue_t;
struct rx_queue_s {
    rx_queue_t *prev;
    rx_queue_t *next;
};

#define rx_queue_init(q)                                                       \
    (q)->prev = (q);                                                           \
    (q)->next = (q)
#define rx_queue_empty(h)    ((h) == (h)->prev)
#define rx_queue_head(h)     (h)->next
#define rx_queue_last(h)     (h)->prev
#define rx_queue_sentinel(h) (h)
#define rx_queue_next(q)     (q)->next
#define rx_queue_insert_tail(h, x)                                             \
    (x)->prev = (h)->prev;                                                     \
    (x)->prev->next = (x);                                                     \
    (x)->next = (h);                                                           \
    (h)->prev = (x)
#define rx_queue_insert_head(h, x)                                             \
    (x)->next = (h)->next;                                                     \
    (x)->next->prev = (x);                                                     \
    (x)->prev = (h);                                                           \
    (h)->next = (x)
#define rx_queue_remove(x)                                                     \
    (x)->next->prev = (x)->prev;                                               \
    (x)->prev->next = (x)->next;                                               \
    (x)->prev = (x);                                                           \
    (x)->next = (x)
#define rx_queue_data(q, type, link)                                           \
    ((type *) ((u_char *) (q) -offsetof(type, link)))

#endif /* _RX_QUEUE_H_INCLUDED_ */
