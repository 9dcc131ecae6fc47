#include "prepare.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_arena.h"

struct prepare_scratch {
    json_arena *arena;            /* the parse's cJSON tree */
    message_batch batch;
    split_rejects rejects;
    message_span spans[MESSAGE_MAX_RECORDS];
    char canon[MESSAGE_MAX_RECORDS][RECORD_CANON_MAX];
    /* record i's canonical bytes: inside the payload (when it came in
     * canonical form) or in canon[i] */
    const char *canon_at[MESSAGE_MAX_RECORDS];
    size_t canon_len[MESSAGE_MAX_RECORDS];
};

prepare_scratch *prepare_scratch_new(void)
{
    prepare_scratch *sc = malloc(sizeof *sc);

    if (sc && !(sc->arena = json_arena_new())) {
        free(sc);
        return NULL;
    }
    return sc;
}

void prepare_scratch_free(prepare_scratch *sc)
{
    if (!sc)
        return;
    json_arena_free(sc->arena);
    free(sc);
}

void prepared_free(prepared_msg *m) { free(m); }

/* Rounds n up so that what follows it in the block stays aligned. */
static size_t aligned(size_t n)
{
    const size_t a = _Alignof(max_align_t);
    return (n + a - 1) / a * a;
}

/* Copies the scratch's outcome into one block sized for this message (the
 * scratch holds 64 records with room for every field, about 200 kB),
 * each record only as far as it is used (a counter needs 0.9 kB of its
 * 3.3 kB): the prepared queue's byte bound then holds 3-4 times as many
 * messages, and the committer stores bigger groups. Hashes each record's
 * canonical bytes as they go in. */
static prepared_msg *compact(const prepare_scratch *sc, int rc, const record_error *err)
{
    size_t n = rc == 0 ? sc->batch.count : 0, nrej = rc == 0 ? sc->rejects.count : 0;
    size_t text = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        text += sc->canon_len[i] + 1;
        used += aligned(record_used_size(&sc->batch.records[i]));
    }
    size_t off_ptrs = aligned(sizeof(prepared_msg));
    size_t off_records = off_ptrs + aligned(n * sizeof(record *));
    size_t off_canon = off_records + used;
    size_t off_len = off_canon + aligned(n * sizeof(const char *));
    size_t off_hash = off_len + aligned(n * sizeof(size_t));
    size_t off_rejects = off_hash + aligned(n * RECORD_HASH_HEX);
    size_t off_text = off_rejects + aligned(nrej * sizeof(split_reject));
    size_t total = off_text + text;
    char *block = malloc(total);
    prepared_msg *m = (prepared_msg *)block;

    if (!block)
        return NULL;
    *m = (prepared_msg){.rc = rc, .count = n, .nrejects = nrej, .bytes = total};
    if (err)
        m->err = *err;
    m->records = (const record **)(block + off_ptrs);
    m->canon = (const char **)(block + off_canon);
    m->canon_len = (size_t *)(block + off_len);
    m->hash = (char (*)[RECORD_HASH_HEX])(block + off_hash);
    m->rejects = (split_reject *)(block + off_rejects);
    char *r = block + off_records;
    for (size_t i = 0; i < n; i++) {
        size_t size = record_used_size(&sc->batch.records[i]);
        memcpy(r, &sc->batch.records[i], size);
        m->records[i] = (const record *)r;
        r += aligned(size);
    }
    memcpy(m->rejects, sc->rejects.r, nrej * sizeof(split_reject));
    char *t = block + off_text;
    for (size_t i = 0; i < n; i++) {
        size_t len = sc->canon_len[i];
        memcpy(t, sc->canon_at[i], len);
        t[len] = '\0';
        m->canon[i] = t;
        m->canon_len[i] = len;
        record_sha256_hex(t, len, m->hash[i]);
        t += len + 1;
    }
    return m;
}

prepared_msg *prepare_message(prepare_scratch *sc, const char *device, const void *payload,
                              size_t len)
{
    record_error err = {0};
    bool parsed;

    sc->rejects.count = 0;
    /* An agent sends its records exactly as it hashed them: read so, their
     * bytes are their canonical form and nothing is written again. */
    if (message_parse_canonical(payload, len, device, &sc->batch, sc->spans) == 0) {
        for (size_t i = 0; i < sc->batch.count; i++) {
            sc->canon_at[i] = (const char *)payload + sc->spans[i].offset;
            sc->canon_len[i] = sc->spans[i].len;
        }
        return compact(sc, 0, NULL);
    }
    /* Anything else goes through the JSON parser, which names what is
     * wrong. Its tree lives only inside the parse: what it yields is copied
     * into the records, and rejects point into the payload. A message
     * with a bad record is split: the others are stored. */
    json_arena_begin(sc->arena);
    parsed = message_parse_batch(payload, len, device, &sc->batch, &err) == 0 ||
             (strncmp(err.field, "records[", 8) == 0 &&
              batch_split(payload, len, &sc->batch, &sc->rejects, &err) == 0);
    json_arena_end(sc->arena);
    if (!parsed)
        return compact(sc, -1, &err);
    for (size_t i = 0; i < sc->batch.count; i++) {
        int n = record_canonical(&sc->batch.records[i], sc->canon[i], RECORD_CANON_MAX);
        /* Cannot happen for a record that validated (every field is
         * bounded); refused whole rather than failing the store for ever. */
        if (n < 0) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "records[%zu].", i);
            record_fail(&err, REASON_OTHER, prefix, "", "canonical form longer than 4096 bytes");
            return compact(sc, -1, &err);
        }
        sc->canon_at[i] = sc->canon[i];
        sc->canon_len[i] = (size_t)n;
    }
    return compact(sc, 0, NULL);
}
