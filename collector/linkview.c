#include "linkview.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "store_rules.h"
#include "textcopy.h"

/* What the view knows of one seq: whether a record is stored there (and
 * its link and time), which record of the message stored it, and what
 * quarantined_records holds there once asked. */
typedef struct lv_entry {
    uint64_t seq;
    bool stored;
    size_t born;           /* index in the message of the record that stored it;
                              BORN_BEFORE: stored before the message */
    signed char quar;      /* quarantined_records at seq: -1 not read yet, 0 none, 1 found */
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX], ts[RECORD_TS_LEN + 1];
    char qprev[RECORD_HASH_HEX], qhash[RECORD_HASH_HEX];
} lv_entry;

#define BORN_BEFORE SIZE_MAX
/* Seqs read at once above the message while the head moves. */
#define AHEAD 64
/* A message's segments read at most 2n + 10 seqs each (linkview_put)
 * for n <= MESSAGE_MAX_RECORDS records in all, at most 12 n: this never
 * runs out inside a message, and reads ahead make room by forgetting. */
#define LV_MAX (12 * MESSAGE_MAX_RECORDS + AHEAD + 2)

struct linkview {
    store *s;
    const char *device;
    /* Nothing of the device is stored above it (records or quarantined
     * ones) but what this view saw stored up to top_put (linkview_start). */
    uint64_t known_top, top_put;
    size_t at;             /* the record being checked (linkview_at) */
    size_t n;
    lv_entry e[LV_MAX];
};

linkview *linkview_new(void) { return calloc(1, sizeof(linkview)); }

void linkview_free(linkview *v) { free(v); }

void linkview_at(linkview *v, size_t i) { v->at = i; }

static lv_entry *find(linkview *v, uint64_t seq)
{
    /* Newest first: lookups mostly concern the segment just read. */
    for (size_t i = v->n; i-- > 0;)
        if (v->e[i].seq == seq)
            return &v->e[i];
    return NULL;
}

/* The entry of seq, added (nothing stored, born before) when new; NULL
 * when the view is full. */
static lv_entry *entry(linkview *v, uint64_t seq)
{
    lv_entry *e = find(v, seq);

    if (e || v->n == LV_MAX)
        return e;
    e = &v->e[v->n++];
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->born = BORN_BEFORE;
    e->quar = -1;
    return e;
}

static void take_link(void *ctx, const store_link *l)
{
    lv_entry *e = entry(ctx, l->seq);

    if (!e)
        return;
    if (l->quarantined) {
        e->quar = 1;
        memcpy(e->qprev, l->prev, sizeof e->qprev);
        memcpy(e->qhash, l->hash, sizeof e->qhash);
        return;
    }
    e->stored = true;
    memcpy(e->prev, l->prev, sizeof e->prev);
    memcpy(e->hash, l->hash, sizeof e->hash);
    memcpy(e->ts, l->ts, sizeof e->ts);
}

void linkview_start(linkview *v, store *s, const char *device, const device_view *view)
{
    v->s = s;
    v->device = device;
    v->known_top = view->top.seq > view->top_quarantined ? view->top.seq : view->top_quarantined;
    v->top_put = 0;
    v->at = LINKVIEW_ALL;
    v->n = 0;
    /* What a record quarantined alone at its seq holds stays unknown (read
     * when asked, linkview_chain_link): a stored record comes first. */
    if (view->top.seq > 0)
        take_link(v, &view->top);
}

/* Every seq of lo..hi becomes known, neither stored nor quarantined until
 * the store's read says otherwise (take_link). The caller made room for
 * hi - lo + 1 entries. */
static void know_range(linkview *v, uint64_t lo, uint64_t hi)
{
    for (uint64_t q = lo; q <= hi; q++) {
        lv_entry *e = entry(v, q);
        if (!e)
            break;   /* cannot happen: the caller made room */
        e->stored = false;
        e->quar = 0;
        if (q == UINT64_MAX)
            break;
    }
}

/* Reads lo..hi from the store: every seq in it becomes known, stored or
 * not. The caller made room for hi - lo + 1 entries. */
static int fill(linkview *v, uint64_t lo, uint64_t hi)
{
    know_range(v, lo, hi);
    return store_links(v->s, v->device, lo, hi, take_link, v);
}

/* Whether the view can tell what is stored at every seq of lo..hi: each
 * one it holds, or above both what was stored before the message and what
 * the message stored (an entry the view forgot may lie below that). No
 * record has seq 0, the genesis that a device's first record links to. */
static bool holds_range(linkview *v, uint64_t lo, uint64_t hi)
{
    for (uint64_t q = lo; q <= hi; q++) {
        if (q > 0 && !find(v, q) && (q <= v->known_top || q <= v->top_put))
            return false;
        if (q == UINT64_MAX)
            break;
    }
    return true;
}

/* store_put_records' judgement from the view: every seq of the items is
 * held (holds_range, after know_new). */
static void judge_held(linkview *v, store_put_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const lv_entry *e = find(v, items[i].r->seq);
        items[i].result = !e || !e->stored                     ? STORE_INSERTED
                          : strcmp(e->hash, items[i].hash) == 0 ? STORE_DUPLICATE
                                                                : STORE_CONFLICT;
    }
}

/* Seqs of lo..hi the view does not hold become known as nothing stored
 * there (holds_range said so); those it holds keep what it knows. */
static void know_new(linkview *v, uint64_t lo, uint64_t hi)
{
    for (uint64_t q = lo; q <= hi; q++) {
        lv_entry *e;
        if (!find(v, q) && (e = entry(v, q)) != NULL)
            e->quar = 0;
        if (q == UINT64_MAX)
            break;
    }
}

int linkview_put(linkview *v, store_put_item *items, size_t n, size_t first,
                 const char *received_ts)
{
    uint64_t lo, hi;
    bool close;

    if (n == 0)
        return 0;
    lo = items[0].r->seq > 0 ? items[0].r->seq - 1 : 0;
    hi = items[n - 1].r->seq < UINT64_MAX ? items[n - 1].r->seq + 1 : UINT64_MAX;
    /* Close together (the usual message: consecutive seqs), the store's
     * one read before inserting answers every link the checks ask for;
     * far apart, they ask the store one by one. */
    close = hi - lo <= 2 * n + 8 && v->n + (hi - lo + 1) + n <= LV_MAX;
    if (close && holds_range(v, lo, hi)) {
        /* A message's later segments, above everything stored before it:
         * nothing to read (a round trip on PostgreSQL). */
        know_new(v, lo, hi);
        judge_held(v, items, n);
        if (store_insert_records(v->s, v->device, items, n, received_ts) != 0)
            return -1;
    } else {
        if (close)
            know_range(v, lo, hi);
        if (store_put_records(v->s, v->device, items, n, received_ts,
                              close ? &(store_range){lo, hi} : NULL, close ? take_link : NULL,
                              v) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        lv_entry *e;
        if (items[i].result != STORE_INSERTED)
            continue;
        if (!(e = entry(v, items[i].r->seq)))
            return -1;   /* cannot happen: LV_MAX covers a message */
        e->stored = true;
        e->born = first + i;
        if (items[i].r->seq > v->top_put)
            v->top_put = items[i].r->seq;
        memcpy(e->prev, items[i].r->prev, sizeof e->prev);
        memcpy(e->hash, items[i].hash, sizeof e->hash);
        memcpy(e->ts, items[i].r->ts, sizeof e->ts);
    }
    return 0;
}

/* A stored record the record being checked may see. */
static bool visible(const linkview *v, const lv_entry *e)
{
    return e->stored && (e->born == BORN_BEFORE || e->born <= v->at);
}

int linkview_link(void *ctx, uint64_t seq, char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX])
{
    linkview *v = ctx;
    const lv_entry *e = find(v, seq);

    if (!e)
        return store_get_link(v->s, v->device, seq, prev, hash);
    if (!visible(v, e))
        return 0;
    memcpy(prev, e->prev, RECORD_HASH_HEX);
    memcpy(hash, e->hash, RECORD_HASH_HEX);
    return 1;
}

int linkview_ts(void *ctx, uint64_t seq, char ts[RECORD_TS_LEN + 1])
{
    linkview *v = ctx;
    const lv_entry *e = find(v, seq);

    if (!e)
        return store_record_ts(v->s, v->device, seq, ts);
    if (!visible(v, e))
        return 0;
    memcpy(ts, e->ts, RECORD_TS_LEN + 1);
    return 1;
}

void linkview_quarantined(linkview *v, uint64_t seq, const char *prev, const char *hash)
{
    lv_entry *e = find(v, seq);

    /* Not known yet: linkview_chain_link reads it from the store. */
    if (!e)
        return;
    e->quar = 1;
    text_copy(e->qprev, sizeof e->qprev, prev);
    text_copy(e->qhash, sizeof e->qhash, hash);
}

int linkview_chain_link(linkview *v, uint64_t seq, char prev[RECORD_HASH_HEX],
                        char hash[RECORD_HASH_HEX], bool *quarantined)
{
    lv_entry *e = find(v, seq);
    uint64_t hi = seq <= UINT64_MAX - (AHEAD - 1) ? seq + (AHEAD - 1) : UINT64_MAX;
    int found;

    *quarantined = false;
    if (!e) {
        /* Every record is checked: forgetting loses nothing but reads. */
        if (v->n + AHEAD > LV_MAX)
            v->n = 0;
        if (fill(v, seq, hi) != 0 || !(e = find(v, seq)))
            return -1;
    }
    if (e->stored) {
        memcpy(prev, e->prev, RECORD_HASH_HEX);
        memcpy(hash, e->hash, RECORD_HASH_HEX);
        return 1;
    }
    if (e->quar < 0) {
        if ((found = store_get_quarantined_link(v->s, v->device, seq, e->qprev, e->qhash)) < 0)
            return -1;
        e->quar = (signed char)found;
    }
    if (!e->quar)
        return 0;
    *quarantined = true;
    memcpy(prev, e->qprev, RECORD_HASH_HEX);
    memcpy(hash, e->qhash, RECORD_HASH_HEX);
    return 1;
}
