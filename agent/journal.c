#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"

#define FRAME_HEADER 16

typedef struct segment {
    uint64_t first_seq, last_seq;   /* last_seq < first_seq: empty */
    uint64_t size;
} segment;

/* Where the next sequential journal_read continues, so draining a backlog
 * reads each frame once instead of rescanning its segment. */
typedef struct read_cursor {
    int fd;
    uint64_t first_seq;             /* segment the fd belongs to */
    uint64_t offset, next_seq;
} read_cursor;

struct journal {
    char dir[512];
    journal_limits limits;
    segment *segs;
    size_t nsegs, cap;
    int fd;                         /* newest segment, append-only */
    bool dir_dirty;                 /* a segment was created: fsync the dir */
    uint64_t head_seq, synced_seq, acked_seq, total_bytes;
    char head_hash[RECORD_HASH_HEX];
    read_cursor rc;
};

static void seg_path(const journal *j, uint64_t first_seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg-%020" PRIu64 ".log", j->dir, first_seq);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t frame_crc(const unsigned char *seq_le, const char *payload, size_t len)
{
    return crc32c(crc32c(0, seq_le, 8), payload, len);
}

/* Reads the frame at off. Returns 1 and fills seq/payload/len for a good
 * frame, 0 at a clean end of file, -1 for a torn or corrupt frame. */
static int read_frame(int fd, uint64_t off, uint64_t *seq, char *payload, size_t *len)
{
    unsigned char hdr[FRAME_HEADER];
    ssize_t got = pread(fd, hdr, sizeof hdr, (off_t)off);

    if (got == 0)
        return 0;
    if (got != FRAME_HEADER)
        return -1;
    uint32_t n = get_u32(hdr);
    if (n == 0 || n > JOURNAL_MAX_PAYLOAD)
        return -1;
    if (pread(fd, payload, n, (off_t)(off + FRAME_HEADER)) != (ssize_t)n)
        return -1;
    if (frame_crc(hdr + 8, payload, n) != get_u32(hdr + 4))
        return -1;
    *seq = get_u64(hdr + 8);
    *len = n;
    return 1;
}

static int push_segment(journal *j, uint64_t first_seq)
{
    if (j->nsegs == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 8;
        segment *s = realloc(j->segs, cap * sizeof *s);
        if (!s)
            return -1;
        j->segs = s;
        j->cap = cap;
    }
    j->segs[j->nsegs++] = (segment){first_seq, first_seq - 1, 0};
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists segment files sorted by first seq into j->segs (sizes unknown yet). */
static int list_segments(journal *j, char *err, size_t errlen)
{
    DIR *d = opendir(j->dir);
    uint64_t *firsts = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = -1;

    if (!d) {
        snprintf(err, errlen, "journal %s: cannot open: %s", j->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        unsigned long long first;
        char tail;
        if (sscanf(e->d_name, "seg-%20llu.lo%c", &first, &tail) != 2 || tail != 'g' ||
            strlen(e->d_name) != 28 || first == 0)
            continue;
        if (n == cap) {
            uint64_t *f = realloc(firsts, (cap = cap ? cap * 2 : 16) * sizeof *f);
            if (!f)
                goto cleanup;
            firsts = f;
        }
        firsts[n++] = first;
    }
    if (n > 0)
        qsort(firsts, n, sizeof *firsts, compare_u64);
    for (size_t i = 0; i < n; i++) {
        if (push_segment(j, firsts[i]) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    if (rc != 0)
        snprintf(err, errlen, "journal %s: out of memory listing segments", j->dir);
    free(firsts);
    closedir(d);
    return rc;
}

/* Scans one segment, checking every frame and seq continuity. The last good
 * frame's payload is left in last (its hash is the chain head); frames are
 * read into a scratch buffer first, so a torn frame cannot overwrite it. A
 * bad frame in the newest segment is a torn write: truncate it away. */
static int scan_segment(journal *j, size_t idx, char *last, size_t *last_len, char *err,
                        size_t errlen)
{
    char payload[JOURNAL_MAX_PAYLOAD];
    segment *s = &j->segs[idx];
    bool newest = idx + 1 == j->nsegs;
    char path[600];
    uint64_t off = 0, seq, expect = s->first_seq;
    size_t len;
    int fd, got, rc = -1;

    seg_path(j, s->first_seq, path, sizeof path);
    if ((fd = open(path, newest ? O_RDWR : O_RDONLY)) < 0) {
        snprintf(err, errlen, "journal %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while ((got = read_frame(fd, off, &seq, payload, &len)) == 1 && seq == expect) {
        off += FRAME_HEADER + len;
        s->last_seq = seq;
        memcpy(last, payload, len);
        *last_len = len;
        expect++;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto cleanup;
    if ((uint64_t)st.st_size != off) {
        if (!newest) {
            snprintf(err, errlen,
                     "journal %s: corrupt frame at offset %" PRIu64
                     " in a sealed segment; move the file aside to start (its records are lost)",
                     path, off);
            goto cleanup;
        }
        log_warn("journal torn tail truncated file=%s offset=%" PRIu64 " dropped_bytes=%" PRIu64,
                 path, off, (uint64_t)st.st_size - off);
        if (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
            snprintf(err, errlen, "journal %s: cannot truncate torn tail: %s", path,
                     strerror(errno));
            goto cleanup;
        }
    }
    s->size = off;
    rc = 0;
cleanup:
    close(fd);
    return rc;
}

static int read_acked(journal *j, char *err, size_t errlen)
{
    char path[600];
    unsigned long long v;
    FILE *f;

    snprintf(path, sizeof path, "%s/acked", j->dir);
    if (!(f = fopen(path, "r")))
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    if (!ok) {
        snprintf(err, errlen, "%s: not a number; delete it to resend everything unacked", path);
        return -1;
    }
    j->acked_seq = v;
    return 0;
}

static int recover(journal *j, char *err, size_t errlen)
{
    char *payload = malloc(JOURNAL_MAX_PAYLOAD);
    size_t last_len = 0;
    int rc = -1;

    if (!payload)
        return -1;
    for (size_t i = 0; i < j->nsegs; i++) {
        if (scan_segment(j, i, payload, &last_len, err, errlen) != 0)
            goto cleanup;
        if (i > 0 && j->segs[i].first_seq != j->segs[i - 1].last_seq + 1 &&
            j->segs[i].size > 0) {
            snprintf(err, errlen, "journal %s: segments not contiguous before seq %" PRIu64,
                     j->dir, j->segs[i].first_seq);
            goto cleanup;
        }
        j->total_bytes += j->segs[i].size;
    }
    /* A newest segment left empty by a torn first frame is removed; the one
     * before it is then the newest and was never deleted (see journal_ack). */
    if (j->nsegs > 0 && j->segs[j->nsegs - 1].size == 0) {
        char path[600];
        seg_path(j, j->segs[j->nsegs - 1].first_seq, path, sizeof path);
        unlink(path);
        j->nsegs--;
        if (j->nsegs > 0) {
            last_len = 0; /* rescan the new newest for its last payload */
            if (scan_segment(j, j->nsegs - 1, payload, &last_len, err, errlen) != 0)
                goto cleanup;
        }
    }
    if (j->nsegs > 0) {
        j->head_seq = j->segs[j->nsegs - 1].last_seq;
        record_sha256_hex(payload, last_len, j->head_hash);
    }
    rc = 0;
cleanup:
    free(payload);
    return rc;
}

int journal_open(const char *dir, const journal_limits *limits, journal **out, char *err,
                 size_t errlen)
{
    journal *j = calloc(1, sizeof *j);

    *out = NULL;
    if (!j)
        return -1;
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    j->limits = *limits;
    j->fd = -1;
    j->rc.fd = -1;
    memcpy(j->head_hash, RECORD_GENESIS_PREV, sizeof j->head_hash);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "journal %s: cannot create: %s", dir, strerror(errno));
        goto fail;
    }
    if (read_acked(j, err, errlen) != 0 || list_segments(j, err, errlen) != 0 ||
        recover(j, err, errlen) != 0)
        goto fail;
    if (j->nsegs > 0 && j->acked_seq > j->head_seq) {
        snprintf(err, errlen,
                 "journal %s: acked seq %" PRIu64 " is beyond the newest record %" PRIu64
                 "; the journal lost records: restore it from backup",
                 dir, j->acked_seq, j->head_seq);
        goto fail;
    }
    if (j->nsegs > 0) {
        char path[600];
        seg_path(j, j->segs[j->nsegs - 1].first_seq, path, sizeof path);
        if ((j->fd = open(path, O_WRONLY | O_APPEND)) < 0) {
            snprintf(err, errlen, "journal %s: cannot open for append: %s", path, strerror(errno));
            goto fail;
        }
    }
    j->synced_seq = j->head_seq;
    *out = j;
    return 0;
fail:
    journal_close(j);
    return -1;
}

void journal_close(journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    if (j->rc.fd >= 0)
        close(j->rc.fd);
    free(j->segs);
    free(j);
}

uint64_t journal_head_seq(const journal *j) { return j->head_seq; }
const char *journal_head_hash(const journal *j) { return j->head_hash; }
uint64_t journal_acked_seq(const journal *j) { return j->acked_seq; }
uint64_t journal_bytes(const journal *j) { return j->total_bytes; }

static int start_segment(journal *j, uint64_t first_seq, char *err, size_t errlen)
{
    char path[600];
    int fd;

    /* journal_sync only syncs the newest segment: records appended to this
     * one since the last sync must be made durable before leaving it. */
    if (j->fd >= 0 && j->synced_seq < j->head_seq) {
        if (fdatasync(j->fd) != 0) {
            snprintf(err, errlen, "journal %s: fdatasync before roll failed: %s", j->dir,
                     strerror(errno));
            return -1;
        }
        j->synced_seq = j->head_seq;
    }

    seg_path(j, first_seq, path, sizeof path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0600)) < 0) {
        snprintf(err, errlen, "journal %s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    if (push_segment(j, first_seq) != 0) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = fd;
    j->dir_dirty = true;
    return 0;
}

/* Leaves no partial frame behind for the next append to follow; a segment
 * created for this append is removed again, so the newest segment on disk
 * always holds the chain head. */
static void undo_append(journal *j)
{
    segment *s = &j->segs[j->nsegs - 1];
    char path[600];

    if (s->size > 0 || j->nsegs == 1) {
        if (ftruncate(j->fd, (off_t)s->size) != 0)
            log_error("journal cannot undo partial write error=%s", strerror(errno));
        return;
    }
    seg_path(j, s->first_seq, path, sizeof path);
    close(j->fd);
    unlink(path);
    j->nsegs--;
    seg_path(j, j->segs[j->nsegs - 1].first_seq, path, sizeof path);
    if ((j->fd = open(path, O_WRONLY | O_APPEND)) < 0)
        log_error("journal cannot reopen %s for append error=%s", path, strerror(errno));
}

int journal_append(journal *j, uint64_t seq, const char *payload, size_t len, char *err,
                   size_t errlen)
{
    unsigned char frame[FRAME_HEADER + JOURNAL_MAX_PAYLOAD];
    segment *s;

    if (seq != j->head_seq + 1 || len == 0 || len > JOURNAL_MAX_PAYLOAD) {
        snprintf(err, errlen, "journal: append of seq %" PRIu64 " (len %zu) after head %" PRIu64,
                 seq, len, j->head_seq);
        return -1;
    }
    if (j->total_bytes + FRAME_HEADER + len > j->limits.max_bytes)
        return 1;
    if (j->nsegs == 0 || j->segs[j->nsegs - 1].size >= j->limits.segment_bytes) {
        if (start_segment(j, seq, err, errlen) != 0)
            return -1;
    }
    s = &j->segs[j->nsegs - 1];
    put_u32(frame, (uint32_t)len);
    put_u64(frame + 8, seq);
    put_u32(frame + 4, frame_crc(frame + 8, payload, len));
    memcpy(frame + FRAME_HEADER, payload, len);

    ssize_t w = write(j->fd, frame, FRAME_HEADER + len);
    if (w != (ssize_t)(FRAME_HEADER + len)) {
        int e = w < 0 ? errno : ENOSPC;
        snprintf(err, errlen, "journal %s: write failed: %s", j->dir, strerror(e));
        undo_append(j);
        return -1;
    }
    s->size += FRAME_HEADER + len;
    s->last_seq = seq;
    j->total_bytes += FRAME_HEADER + len;
    j->head_seq = seq;
    record_sha256_hex(payload, len, j->head_hash);
    return 0;
}

int journal_sync(journal *j, char *err, size_t errlen)
{
    if (j->synced_seq == j->head_seq)
        return 0;
    if (fdatasync(j->fd) != 0) {
        snprintf(err, errlen, "journal %s: fdatasync failed: %s", j->dir, strerror(errno));
        return -1;
    }
    if (j->dir_dirty) {
        int dfd = open(j->dir, O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || fsync(dfd) != 0) {
            snprintf(err, errlen, "journal %s: directory fsync failed: %s", j->dir,
                     strerror(errno));
            if (dfd >= 0)
                close(dfd);
            return -1;
        }
        close(dfd);
        j->dir_dirty = false;
    }
    j->synced_seq = j->head_seq;
    return 0;
}

static const segment *find_segment(const journal *j, uint64_t seq)
{
    for (size_t i = 0; i < j->nsegs; i++) {
        if (seq >= j->segs[i].first_seq && seq <= j->segs[i].last_seq)
            return &j->segs[i];
    }
    return NULL;
}

/* Positions the cursor on from_seq, reusing it when it is already there. */
static int seek_cursor(journal *j, uint64_t from_seq, char *scratch, char *err, size_t errlen)
{
    const segment *s = find_segment(j, from_seq);
    char path[600];
    uint64_t seq;
    size_t len;

    if (!s) {
        snprintf(err, errlen, "journal %s: seq %" PRIu64 " is no longer kept", j->dir, from_seq);
        return -1;
    }
    if (j->rc.fd >= 0 && j->rc.first_seq == s->first_seq && j->rc.next_seq == from_seq)
        return 0;
    if (j->rc.fd >= 0)
        close(j->rc.fd);
    seg_path(j, s->first_seq, path, sizeof path);
    j->rc = (read_cursor){open(path, O_RDONLY), s->first_seq, 0, s->first_seq};
    if (j->rc.fd < 0) {
        snprintf(err, errlen, "journal %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while (j->rc.next_seq < from_seq) {
        if (read_frame(j->rc.fd, j->rc.offset, &seq, scratch, &len) != 1) {
            snprintf(err, errlen, "journal %s: unreadable frame at %" PRIu64, path, j->rc.offset);
            return -1;
        }
        j->rc.offset += FRAME_HEADER + len;
        j->rc.next_seq = seq + 1;
    }
    return 0;
}

int journal_read(journal *j, uint64_t from_seq, size_t max, journal_entry *out, size_t *n,
                 char *buf, size_t cap, char *err, size_t errlen)
{
    size_t used = 0;

    *n = 0;
    /* Only synced records leave: an unsynced one could vanish in a crash and
     * its seq be reused with other content, breaking the collector's chain. */
    while (*n < max && from_seq <= j->synced_seq && cap - used >= JOURNAL_MAX_PAYLOAD) {
        uint64_t seq;
        size_t len;
        if (seek_cursor(j, from_seq, buf + used, err, errlen) != 0)
            return -1;
        if (read_frame(j->rc.fd, j->rc.offset, &seq, buf + used, &len) != 1 || seq != from_seq) {
            snprintf(err, errlen, "journal %s: cannot read seq %" PRIu64, j->dir, from_seq);
            return -1;
        }
        out[*n] = (journal_entry){seq, buf + used, len};
        used += len;
        (*n)++;
        j->rc.offset += FRAME_HEADER + len;
        j->rc.next_seq = ++from_seq;
        /* Past the end of this segment the next read reopens the cursor. */
        if (from_seq > find_segment(j, seq)->last_seq)
            j->rc.next_seq = 0;
    }
    return 0;
}

static int write_acked(journal *j, uint64_t seq, char *err, size_t errlen)
{
    char path[600], tmp[610], text[32];
    int fd, n = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);

    snprintf(path, sizeof path, "%s/acked", j->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 || write(fd, text, n) != n ||
        fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "journal %s: cannot save acked seq: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int journal_ack(journal *j, uint64_t seq, char *err, size_t errlen)
{
    size_t keep = 0;

    if (seq <= j->acked_seq)
        return 0;
    if (seq > j->head_seq) {
        /* The collector claims records we never wrote (a database from
         * another incarnation of this device id?). Dropping our unacked
         * records on its word could lose them: keep them, say so. */
        log_error("ack beyond the journal's head ignored ack=%" PRIu64 " head=%" PRIu64
                  "; check that the collector's database belongs to this device",
                  seq, j->head_seq);
        return 0;
    }
    if (write_acked(j, seq, err, errlen) != 0)
        return -1;
    j->acked_seq = seq;
    /* Delete fully acked segments, never the newest one holding records:
     * it holds the chain head. */
    size_t head_seg = j->nsegs;
    while (head_seg > 0 && j->segs[head_seg - 1].size == 0)
        head_seg--;
    for (size_t i = 0; i < j->nsegs; i++) {
        segment *s = &j->segs[i];
        if (i + 1 < head_seg && s->last_seq <= seq) {
            char path[600];
            seg_path(j, s->first_seq, path, sizeof path);
            if (unlink(path) != 0)
                log_warn("journal cannot delete acked segment file=%s error=%s", path,
                         strerror(errno));
            if (j->rc.fd >= 0 && j->rc.first_seq == s->first_seq) {
                close(j->rc.fd);
                j->rc.fd = -1;
            }
            j->total_bytes -= s->size;
            continue;
        }
        j->segs[keep++] = *s;
    }
    j->nsegs = keep;
    return 0;
}
