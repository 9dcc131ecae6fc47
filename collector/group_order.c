#include "group_order.h"

#include <string.h>

#include "committer.h"
#include "message.h"
#include "prepare.h"
#include "rules.h"

/* What a message's rules take of its clinic's lock (none when it is not
 * prepared). */
static rules_clinic_lock takes_of(const inbox_msg *m)
{
    return m->prepared ? rules_clinic_lock_of((const record *const *)m->prepared->records,
                                              m->prepared->count)
                       : RULES_CLINIC_NONE;
}

/* Per committing thread: a group is at most COMMITTER_GROUP_MAX. */
typedef struct device_seen {
    char id[IDS_DEVICE_ID_MAX + 1];
    bool whole;                   /* logs a cycle or test in the group */
    bool shared;                  /* a grip came: the rest of it is GROUP_SHARED */
} device_seen;

static size_t find_device(device_seen *d, size_t *n, const char *id)
{
    size_t i = 0;

    while (i < *n && strcmp(d[i].id, id) != 0)
        i++;
    if (i == *n) {
        memcpy(d[i].id, id, sizeof d[i].id);
        d[i].whole = d[i].shared = false;
        (*n)++;
    }
    return i;
}

void group_order(inbox_msg *msgs, size_t n, group_stage *stage)
{
    static _Thread_local inbox_msg sorted[COMMITTER_GROUP_MAX];
    static _Thread_local device_seen devices[COMMITTER_GROUP_MAX];
    size_t of[COMMITTER_GROUP_MAX];           /* msgs[i]'s device; n: none */
    group_stage at[COMMITTER_GROUP_MAX];
    size_t ndevices = 0, k = 0;

    for (size_t i = 0; i < n; i++) {
        char id[IDS_DEVICE_ID_MAX + 1];
        of[i] = n;
        if (message_topic_device(msgs[i].topic, id)) {
            of[i] = find_device(devices, &ndevices, id);
            devices[of[i]].whole |= takes_of(&msgs[i]) == RULES_CLINIC_WHOLE;
        }
    }
    for (size_t i = 0; i < n; i++) {
        device_seen *d = of[i] < n ? &devices[of[i]] : NULL;
        if (d && d->whole)
            at[i] = GROUP_WHOLE;
        else if (d && (d->shared || takes_of(&msgs[i]) == RULES_CLINIC_SHARED))
            at[i] = GROUP_SHARED, d->shared = true;
        else
            at[i] = GROUP_FREE;
    }
    /* GROUP_WHOLE a device at a time, in the order they first came. */
    for (size_t d = 0; d < ndevices; d++)
        for (size_t i = 0; i < n; i++)
            if (at[i] == GROUP_WHOLE && of[i] == d)
                stage[k] = GROUP_WHOLE, sorted[k++] = msgs[i];
    for (size_t i = 0; i < n; i++)
        if (at[i] == GROUP_FREE)
            stage[k] = GROUP_FREE, sorted[k++] = msgs[i];
    for (size_t i = 0; i < n; i++)
        if (at[i] == GROUP_SHARED)
            stage[k] = GROUP_SHARED, sorted[k++] = msgs[i];
    memcpy(msgs, sorted, n * sizeof *msgs);
}

bool group_order_cut(const inbox_msg *msgs, const group_stage *stage, size_t first, size_t i)
{
    char a[IDS_DEVICE_ID_MAX + 1], b[IDS_DEVICE_ID_MAX + 1];

    if (i == first || (stage[i] != GROUP_WHOLE && stage[i - 1] != GROUP_WHOLE))
        return false;
    if (stage[i] != stage[i - 1])
        return true;
    return !message_topic_device(msgs[i - 1].topic, a) || !message_topic_device(msgs[i].topic, b) ||
           strcmp(a, b) != 0;
}
