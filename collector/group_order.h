/* group_order: the order a committing thread stores a group's messages in
 * where the store's locks are shared (PostgreSQL: other lanes, other
 * collectors; committer.h).
 *
 * A clinic's lock (store_lock_clinic) is held until the commit: taken at a
 * group's first grip, it would make every other transaction that needs it
 * wait for the whole group. So the group is stored in three stages, each
 * device's messages keeping their order:
 *   GROUP_WHOLE   first, the messages of the devices that log a
 *                 sterilization cycle or test in the group (rules that
 *                 write the clinic's state, rules_clinic_writes, and take
 *                 its lock whole), a device at a time;
 *   GROUP_FREE    then the messages of the other devices whose rules take
 *                 no clinic's lock, up to each one's first grip;
 *   GROUP_SHARED  last, from each one's first grip on, what takes the lock
 *                 shared (store_lock_clinic_shared: grips run beside other
 *                 transactions' grips).
 * Within a stage, arrival order (GROUP_WHOLE: by device, then arrival).
 * The group runs as it would have, had its devices' messages arrived
 * interleaved that way (each device's own order is kept, and the rules
 * that take the lock read no record of another device but of the types
 * that take it: rules_types_read); a load's cycle and the grips from it
 * that came in one group are judged cycle first.
 *
 * The committer stores each device's GROUP_WHOLE messages in a transaction
 * of their own (group_order_cut), which takes the clinic's lock whole at
 * its first message (ingest_group_clinic_whole); the rest of the group
 * follows in one more. So a transaction holds either one clinic's lock
 * whole and no other clinic lock, or clinic locks shared only, and never
 * asks for a lock whole that it holds shared: no two transactions can wait
 * on each other's clinic locks in a cycle. */
#ifndef SMP_GROUP_ORDER_H
#define SMP_GROUP_ORDER_H

#include <stdbool.h>
#include <stddef.h>

#include "inbox.h"

typedef enum { GROUP_WHOLE, GROUP_FREE, GROUP_SHARED } group_stage;

/* Reorders msgs[0..n) as above and sets stage[i] for each message in its
 * new place. A message not prepared (prepare.h: not events, or out of
 * memory) counts as taking no lock; a topic without a device is GROUP_FREE. */
void group_order(inbox_msg *msgs, size_t n, group_stage *stage);

/* Whether msgs[i] (i > first, the transaction's first) must start a new
 * transaction: where the stage goes from or to GROUP_WHOLE, and between
 * two devices' GROUP_WHOLE messages. */
bool group_order_cut(const inbox_msg *msgs, const group_stage *stage, size_t first, size_t i);

#endif
