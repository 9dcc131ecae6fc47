/* linkview: the links of one device's stored records around the message
 * being ingested: its top record's, which came with the device's view
 * (store_device_view), and otherwise one range read (store_links) instead
 * of a lookup per record and neighbour (ingest.c).
 *
 * Ingest stores a message's records several at a time (linkview_put)
 * yet checks each one as if the records had come one by one: while the
 * record at index i of the message is checked (linkview_at), a record the
 * message itself stored at a higher index is not seen, exactly as before
 * it was stored. Every read of a seq the view does not hold goes to the
 * store (which then holds nothing of the message past the current segment,
 * see linkview_put).
 *
 * One view per ingest, emptied per message (linkview_start); it borrows the
 * store and the device id until the next linkview_start. */
#ifndef SMP_LINKVIEW_H
#define SMP_LINKVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct linkview linkview;

/* NULL when out of memory. */
linkview *linkview_new(void);
void linkview_free(linkview *v);

/* Empties v for a message of device, whose view (store_device_view, read
 * under the device's lock) tells what lies at and above its top: no record
 * of the device, stored or quarantined alone, lies above both top seqs but
 * those the message stores. A segment of the message that starts right
 * above the top record, or lies above what the message stored before it, is
 * judged without reading the store. */
void linkview_start(linkview *v, store *s, const char *device, const device_view *view);

/* Stores items[0..n), the records at indexes first..first+n-1 of the
 * message, with ascending seqs (store_put_records, which sets each one's
 * result), reading the stored links from just below the lowest seq to just
 * above the highest in the same statement that tells which records are new
 * (when the seqs are close together; not at all when the view holds that
 * range or it lies above known_top: a message's later segments), and notes
 * which records the message stored itself. Only records of the message up to this segment are
 * stored: the caller stores the next segment after checking this one.
 * 0 or -1. */
int linkview_put(linkview *v, store_put_item *items, size_t n, size_t first,
                 const char *received_ts);

/* The record at index i of the message is being checked: records the
 * message stored at higher indexes are not seen. LINKVIEW_ALL: every
 * record is (the message's records are all checked). */
#define LINKVIEW_ALL SIZE_MAX
void linkview_at(linkview *v, size_t i);

/* store_get_link as of linkview_at: 1 found, 0 not, -1 on a store error.
 * ctx is the linkview (integrity_ctx.get_link). */
int linkview_link(void *ctx, uint64_t seq, char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX]);
/* store_record_ts as of linkview_at (rules_ctx.record_ts). */
int linkview_ts(void *ctx, uint64_t seq, char ts[RECORD_TS_LEN + 1]);

/* Once linkview_at(LINKVIEW_ALL): the link at seq of the stored record, or
 * else of a record quarantined alone (then *quarantined is set): 1 found, 0
 * neither, -1 on a store error. The store's reads of stored records bring
 * the quarantined ones along (store_links); a seq above the message is
 * read with the next 64 in one statement, so a head that moves over many
 * stored records costs one read per 64. */
/* The message's record at seq was just quarantined alone
 * (store_quarantine_record), with that prev and hash: so the view says. */
void linkview_quarantined(linkview *v, uint64_t seq, const char *prev, const char *hash);
int linkview_chain_link(linkview *v, uint64_t seq, char prev[RECORD_HASH_HEX],
                        char hash[RECORD_HASH_HEX], bool *quarantined);

#endif
