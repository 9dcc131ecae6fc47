#include "intake.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void intake_init(intake *in)
{
    memset(in, 0, sizeof *in);
}

const char *intake_state_name(intake_state s)
{
    switch (s) {
    case INTAKE_JOURNAL_FULL:
        return "journal-full";
    case INTAKE_DISK_FULL:
        return "disk-full";
    case INTAKE_WRITE_ERROR:
        return "write-error";
    default:
        return "accepting";
    }
}

static const char *what_to_do(intake_state s)
{
    return s == INTAKE_JOURNAL_FULL
               ? "the collector has not acked journal_max_mb of records: check the uplink "
                 "(smp-agent --status: connected, connect_error)"
               : "free space in data_dir; acks from the collector free it too, and the agent "
                 "resumes by itself";
}

bool intake_refused(intake *in, intake_state why, const char *reason, bool count, int64_t now_ms)
{
    bool new_episode = in->state != why;

    in->state = why;
    snprintf(in->reason, sizeof in->reason, "%s", reason);
    if (count) {
        in->refused++;
        in->unlogged++;
    }
    if (!new_episode && now_ms - in->logged_ms < INTAKE_LOG_EVERY_MS)
        return false;
    if (new_episode)
        log_error("refusing events intake=%s reason=%s; %s", intake_state_name(why), reason,
                  what_to_do(why));
    else
        log_error("still refusing events intake=%s refused=%" PRIu64 " in the last %d s (total %" PRIu64
                  ") reason=%s",
                  intake_state_name(why), in->unlogged, INTAKE_LOG_EVERY_MS / 1000, in->refused,
                  reason);
    in->logged_ms = now_ms;
    in->unlogged = 0;
    return true;
}

void intake_accepted(intake *in, int64_t now_ms)
{
    (void)now_ms;
    if (in->state == INTAKE_ACCEPTING)
        return;
    log_info("accepting events again after intake=%s refused_total=%" PRIu64,
             intake_state_name(in->state), in->refused);
    in->state = INTAKE_ACCEPTING;
    in->reason[0] = '\0';
    in->unlogged = 0;
}
