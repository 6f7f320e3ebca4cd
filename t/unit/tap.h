/*
 * A tiny TAP producer for C unit tests (picotest style). Each unit test is
 * a program under t/unit/NAME.c built as $RX_OBJS/unit/NAME and run by
 * t/00-unit-NAME.t through prove.
 */

#ifndef _RX_TAP_H_INCLUDED_
#define _RX_TAP_H_INCLUDED_

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                          \
    do {                                                                       \
        int c_ = (cond) ? 1 : 0;                                               \
        tap_n++;                                                               \
        if (!c_) {                                                             \
            tap_failed++;                                                      \
        }                                                                      \
        printf("%sok %d - ", c_ ? "" : "not ", tap_n);                         \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
        if (!c_) {                                                             \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);          \
        }                                                                      \
        fflush(stdout);                                                        \
    } while (0)

#define is_int(got, exp, ...)                                                  \
    do {                                                                       \
        long long g_ = (long long) (got), e_ = (long long) (exp);              \
        ok(g_ == e_, __VA_ARGS__);                                             \
        if (g_ != e_) {                                                        \
            printf("#   got %lld, expected %lld\n", g_, e_);                   \
        }                                                                      \
    } while (0)

#define is_mem(got, glen, exp, elen, ...)                                      \
    ok((glen) == (elen) && memcmp((got), (exp), (elen)) == 0, __VA_ARGS__)

static inline int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* _RX_TAP_H_INCLUDED_ */
