/* intake: whether the agent is taking new events, and every refusal made
 * visible (docs/agent.md, "Refusals"): a counter and state for the status
 * file, and a log line that is rate-limited — the first refusal of an
 * episode at once, then at most one line per INTAKE_LOG_EVERY_MS saying
 * how many more were refused — so a producer retrying in a loop cannot
 * flood the log, and an operator still sees it. Time is passed in. */
#ifndef SMP_INTAKE_H
#define SMP_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#define INTAKE_LOG_EVERY_MS 60000

typedef enum {
    INTAKE_ACCEPTING,
    INTAKE_JOURNAL_FULL,   /* journal_max_mb of unacked records */
    INTAKE_DISK_FULL,      /* the disk refused the write (ENOSPC, EDQUOT, EFBIG) */
    INTAKE_WRITE_ERROR     /* the disk refused it for another reason */
} intake_state;

typedef struct intake {
    intake_state state;
    uint64_t refused;           /* events refused since start */
    uint64_t unlogged;          /* refused since the last log line */
    int64_t logged_ms;          /* when the last refusal line was written */
    char reason[256];           /* why, while not accepting */
} intake;

void intake_init(intake *in);
/* An event could not be journaled. count: a producer's event was refused
 * (false for the simulator, which waits and retries the same event).
 * Returns true when a log line was written. */
bool intake_refused(intake *in, intake_state why, const char *reason, bool count, int64_t now_ms);
/* An event was journaled: accepting again (logged once when it was not). */
void intake_accepted(intake *in, int64_t now_ms);
/* "accepting", "journal-full", "disk-full", "write-error". */
const char *intake_state_name(intake_state s);

#endif
