/* monoclock: time for durations and timed waits, on CLOCK_MONOTONIC, so
 * that a backoff, a poll or a hold is not lengthened or cut short when the
 * wall clock is stepped (NTP, an operator). Condition variables waited on
 * with mono_deadline must be made with pthread_condattr_setclock(...,
 * CLOCK_MONOTONIC). */
#ifndef SMP_MONOCLOCK_H
#define SMP_MONOCLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (since an arbitrary start). */
int64_t mono_ms(void);

/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait. */
struct timespec mono_deadline(long ms);

#endif
