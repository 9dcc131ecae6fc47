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
#define LEN_BITS     24             /* word: payload length | event_id length << 24 */
#define LEN_MASK     ((1u << LEN_BITS) - 1)
#define ACKED_TEXT   86             /* "<20 digits> <64 hex or dashes>\n" */
#define IDS_MAGIC    "smp-agent event ids v1"

static const char NO_HASH[RECORD_HASH_HEX] =
    "----------------------------------------------------------------";

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

/* Where the frame of seq acked+1 starts (or will be written), so an ack
 * subtracts exactly the bytes it acks from unacked_bytes: each frame
 * header is read once, whatever the ack pattern. */
typedef struct ack_pos {
    uint64_t first_seq;             /* segment */
    uint64_t offset, seq;
} ack_pos;

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

    uint64_t unacked_bytes;         /* frames with seq > acked_seq */
    ack_pos ua;
    bool acked_saved;               /* DIR/acked holds acked_seq */
    bool acked_hash_saved;          /* ... and the hash of that record (it was the head) */
    bool acked_save_failing;        /* warned that it cannot be saved */
    bool nospace;                   /* the last append found no space: reclaim eagerly */
    bool tail_dirty;                /* a failed write was not undone: truncate first */
    id_window *ids;
    char acked_hash[RECORD_HASH_HEX]; /* from DIR/acked when it holds one */
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

/* Reads the frame at off. Returns 1 and fills seq/payload/len (and id, a
 * buffer of EVENT_ID_MAX + 1, when not NULL; "" when the frame has none)
 * and *size (the whole frame) for a good frame, 0 at a clean end of file,
 * -1 for a torn or corrupt frame. */
static int read_frame(int fd, uint64_t off, uint64_t *seq, char *payload, size_t *len, char *id,
                      uint64_t *size)
{
    unsigned char hdr[FRAME_HEADER];
    char idbuf[EVENT_ID_MAX + 1];
    ssize_t got = pread(fd, hdr, sizeof hdr, (off_t)off);

    if (got == 0)
        return 0;
    if (got != FRAME_HEADER)
        return -1;
    uint32_t word = get_u32(hdr), n = word & LEN_MASK, idn = word >> LEN_BITS;
    if (n == 0 || n > JOURNAL_MAX_PAYLOAD || idn > EVENT_ID_MAX)
        return -1;
    if (pread(fd, payload, n, (off_t)(off + FRAME_HEADER)) != (ssize_t)n)
        return -1;
    if (idn && pread(fd, idbuf, idn, (off_t)(off + FRAME_HEADER + n)) != (ssize_t)idn)
        return -1;
    if (crc32c(frame_crc(hdr + 8, payload, n), idbuf, idn) != get_u32(hdr + 4))
        return -1;
    idbuf[idn] = '\0';
    if (id)
        memcpy(id, idbuf, idn + 1);
    *seq = get_u64(hdr + 8);
    *len = n;
    *size = FRAME_HEADER + n + idn;
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
 * bad frame in the newest segment is a torn write: truncate it away. With
 * account, good frames' event_ids join the window and unacked frames are
 * counted (a rescan only looks for the last payload). */
static int scan_segment(journal *j, size_t idx, bool account, char *last, size_t *last_len,
                        char *err, size_t errlen)
{
    char payload[JOURNAL_MAX_PAYLOAD], id[EVENT_ID_MAX + 1];
    segment *s = &j->segs[idx];
    bool newest = idx + 1 == j->nsegs;
    char path[600];
    uint64_t off = 0, seq, size, expect = s->first_seq;
    size_t len;
    int fd, got, rc = -1;

    seg_path(j, s->first_seq, path, sizeof path);
    if ((fd = open(path, newest ? O_RDWR : O_RDONLY)) < 0) {
        snprintf(err, errlen, "journal %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    while ((got = read_frame(fd, off, &seq, payload, &len, id, &size)) == 1 && seq == expect) {
        if (account && id[0])
            id_window_add(j->ids, seq, id);
        if (account && seq > j->acked_seq)
            j->unacked_bytes += size;
        if (account && seq == j->acked_seq + 1)
            j->ua = (ack_pos){s->first_seq, off, seq};
        off += size;
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

/* DIR/acked: "<seq> <hash of record seq, or dashes>\n" (older agents wrote
 * "<seq>\n"; both read the number first). */
static int read_acked(journal *j, char *err, size_t errlen)
{
    char path[600], hash[RECORD_HASH_HEX + 1] = "";
    unsigned long long v;
    FILE *f;

    snprintf(path, sizeof path, "%s/acked", j->dir);
    if (!(f = fopen(path, "r")))
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
    int got = fscanf(f, "%llu %65s", &v, hash);
    fclose(f);
    if (got < 1) {
        snprintf(err, errlen, "%s: not a number; delete it to resend everything unacked", path);
        return -1;
    }
    j->acked_seq = v;
    j->acked_saved = true;
    if (got == 2 && strlen(hash) == RECORD_HASH_HEX - 1 && strspn(hash, "0123456789abcdef") ==
                                                             RECORD_HASH_HEX - 1) {
        memcpy(j->acked_hash, hash, RECORD_HASH_HEX);
        j->acked_hash_saved = true;
    }
    return 0;
}

/* Writes DIR/acked. Normally a new file, fsynced and renamed over the old
 * one (atomic). When there is no room for a new file (disk full) the old
 * one is overwritten in place: the text has a fixed length inside the
 * file's first block, so that needs no new space, and one sector is not
 * torn by a power cut. */
static int write_acked(journal *j, uint64_t seq, const char *hash, char *err, size_t errlen)
{
    char path[600], tmp[610], text[ACKED_TEXT + 1];
    int fd, e, n = snprintf(text, sizeof text, "%020" PRIu64 " %s\n", seq, hash ? hash : NO_HASH);

    snprintf(path, sizeof path, "%s/acked", j->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
        bool ok = write(fd, text, n) == n && fsync(fd) == 0;
        e = errno;
        if (close(fd) == 0 && ok && rename(tmp, path) == 0)
            return 0;
        e = ok ? errno : e;
        unlink(tmp);
    } else {
        e = errno;
    }
    if ((fd = open(path, O_WRONLY)) >= 0) {
        bool ok = pwrite(fd, text, n, 0) == n && fdatasync(fd) == 0;
        close(fd);
        if (ok) {
            log_debug("journal acked seq saved in place acked=%" PRIu64 " (%s)", seq, strerror(e));
            return 0;
        }
    }
    snprintf(err, errlen, "journal %s: cannot save acked seq: %s", path, strerror(e));
    return -1;
}

static void note_acked_saved(journal *j, const char *hash)
{
    j->acked_saved = true;
    j->acked_hash_saved = hash != NULL;
    if (hash)
        memcpy(j->acked_hash, hash, RECORD_HASH_HEX);
}

/* Saves acked_seq (with the head hash when it is the head). Failures are
 * logged once per episode: the ack is applied in memory and saved later. */
static bool save_acked(journal *j)
{
    const char *hash = j->acked_seq == j->head_seq && j->head_seq > 0 ? j->head_hash : NULL;
    char err[700];

    if (write_acked(j, j->acked_seq, hash, err, sizeof err) == 0) {
        if (j->acked_save_failing)
            log_info("journal acked seq saved again acked=%" PRIu64, j->acked_seq);
        j->acked_save_failing = false;
        note_acked_saved(j, hash);
        return true;
    }
    if (!j->acked_save_failing)
        log_warn("%s; the ack is applied and saved with a later one (until then a restart "
                 "resends what it acked; the collector stores it once)", err);
    j->acked_save_failing = true;
    j->acked_saved = j->acked_hash_saved = false;
    return false;
}

/* ---- the event_id window file ---------------------------------------------
 * DIR/ids holds the window's entries whose records were deleted with their
 * segments ("<seq> <event_id>" lines, oldest first), rewritten (temp file,
 * fsync, rename, directory fsync) before segments holding window entries
 * are deleted. On open it is read before the segments are scanned, so the
 * window is rebuilt in seq order. */

static int save_ids(journal *j, uint64_t below, char *err, size_t errlen)
{
    char path[600], tmp[610];
    size_t n = id_window_count(j->ids);
    FILE *f;
    int dfd;

    snprintf(path, sizeof path, "%s/ids", j->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        goto fail;
    fprintf(f, "%s\n", IDS_MAGIC);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        const char *id;
        id_window_get(j->ids, i, &seq, &id);
        if (seq >= below)
            break;
        fprintf(f, "%" PRIu64 " %s\n", seq, id);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        unlink(tmp);
        errno = e;
        goto fail;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        goto fail;
    }
    if ((dfd = open(j->dir, O_RDONLY | O_DIRECTORY)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    snprintf(err, errlen, "journal %s: cannot save the event_id window: %s", path,
             strerror(errno));
    return -1;
}

/* True when the window holds an id of a record in [from, below). */
static bool window_has(const journal *j, uint64_t from, uint64_t below)
{
    size_t n = id_window_count(j->ids);
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        const char *id;
        id_window_get(j->ids, i, &seq, &id);
        if (seq >= below)
            return false;
        if (seq >= from)
            return true;
    }
    return false;
}

static void load_ids(journal *j, uint64_t below)
{
    char path[600], line[128], id[EVENT_ID_MAX + 2];
    unsigned long long seq, last = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/ids", j->dir);
    if (!(f = fopen(path, "r")))
        return;
    if (!fgets(line, sizeof line, f) || strncmp(line, IDS_MAGIC "\n", sizeof IDS_MAGIC) != 0) {
        log_warn("journal %s: not an event_id window file; ignored (retries of older event_ids "
                 "may be stored again)", path);
        fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%llu %65s", &seq, id) != 2 || seq <= last || !event_id_valid(id)) {
            log_warn("journal %s: bad line after seq %llu; the rest is ignored", path, last);
            break;
        }
        if (seq >= below)
            break;
        id_window_add(j->ids, seq, id);
        last = seq;
    }
    fclose(f);
}

static int recover(journal *j, char *err, size_t errlen)
{
    char *payload = malloc(JOURNAL_MAX_PAYLOAD);
    size_t last_len = 0;
    int rc = -1;

    if (!payload)
        return -1;
    for (size_t i = 0; i < j->nsegs; i++) {
        if (scan_segment(j, i, true, payload, &last_len, err, errlen) != 0)
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
     * before it is then the newest and was never deleted (see journal_ack),
     * or there is none and DIR/acked holds the head (reclaim_newest). */
    if (j->nsegs > 0 && j->segs[j->nsegs - 1].size == 0) {
        char path[600];
        seg_path(j, j->segs[j->nsegs - 1].first_seq, path, sizeof path);
        unlink(path);
        j->nsegs--;
        if (j->nsegs > 0) {
            last_len = 0; /* rescan the new newest for its last payload */
            if (scan_segment(j, j->nsegs - 1, false, payload, &last_len, err, errlen) != 0)
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
    if (!(j->ids = id_window_new(JOURNAL_IDS_WINDOW))) {
        snprintf(err, errlen, "journal %s: out of memory", dir);
        goto fail;
    }
    if (read_acked(j, err, errlen) != 0 || list_segments(j, err, errlen) != 0)
        goto fail;
    /* Segments are deleted only once acked; if the ack could not be saved
     * (disk full) the oldest segment left says how far it went. */
    if (j->nsegs > 0 && j->segs[0].first_seq > j->acked_seq + 1) {
        log_warn("journal acked seq taken from the oldest segment acked=%" PRIu64 " (file said %" PRIu64
                 "): its ack was not saved",
                 j->segs[0].first_seq - 1, j->acked_seq);
        j->acked_seq = j->segs[0].first_seq - 1;
        j->acked_saved = j->acked_hash_saved = false;
    }
    load_ids(j, j->nsegs > 0 ? j->segs[0].first_seq : j->acked_seq + 1);
    if (recover(j, err, errlen) != 0)
        goto fail;
    if (j->nsegs == 0 && j->acked_seq > 0) {
        /* Every segment was acked and deleted to make room: the head is the
         * acked record, whose hash was saved before the deletion. */
        if (!j->acked_hash_saved) {
            snprintf(err, errlen,
                     "journal %s: acked seq %" PRIu64 " but no segment and no head hash; the "
                     "journal lost its records: restore it from backup",
                     dir, j->acked_seq);
            goto fail;
        }
        j->head_seq = j->acked_seq;
        memcpy(j->head_hash, j->acked_hash, RECORD_HASH_HEX);
    }
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
    if (j->acked_seq >= j->head_seq) {
        j->ua = (ack_pos){j->nsegs ? j->segs[j->nsegs - 1].first_seq : 0,
                          j->nsegs ? j->segs[j->nsegs - 1].size : 0, j->head_seq + 1};
    }
    /* An acked file that exists can be updated in place on a full disk. */
    if (!j->acked_saved && !save_acked(j))
        log_warn("journal %s: no acked file yet and none can be written", dir);
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
    id_window_free(j->ids);
    free(j);
}

uint64_t journal_head_seq(const journal *j) { return j->head_seq; }
const char *journal_head_hash(const journal *j) { return j->head_hash; }
uint64_t journal_acked_seq(const journal *j) { return j->acked_seq; }
uint64_t journal_bytes(const journal *j) { return j->total_bytes; }
uint64_t journal_unacked_bytes(const journal *j) { return j->unacked_bytes; }

uint64_t journal_find_event_id(const journal *j, const char *event_id)
{
    return event_id && event_id[0] ? id_window_find(j->ids, event_id) : 0;
}

/* Returns 0, JOURNAL_NOSPACE when the file cannot be created (err says
 * why; nothing changed), or -1. */
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
        return JOURNAL_NOSPACE;
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
 * always holds the chain head (or, when there is none, DIR/acked does). A
 * truncation that fails is retried before the next append (tail_dirty):
 * appending after a partial frame would make recovery cut off confirmed
 * records as a torn tail. */
static void undo_append(journal *j)
{
    segment *s = &j->segs[j->nsegs - 1];
    char path[600];

    if (s->size > 0) {
        if (ftruncate(j->fd, (off_t)s->size) != 0) {
            log_error("journal cannot undo partial write error=%s", strerror(errno));
            j->tail_dirty = true;
        }
        return;
    }
    seg_path(j, s->first_seq, path, sizeof path);
    close(j->fd);
    j->fd = -1;
    unlink(path);
    j->nsegs--;
    if (j->nsegs == 0)
        return;
    seg_path(j, j->segs[j->nsegs - 1].first_seq, path, sizeof path);
    if ((j->fd = open(path, O_WRONLY | O_APPEND)) < 0)
        log_error("journal cannot reopen %s for append error=%s", path, strerror(errno));
}

/* Appends one frame, rolling to a new segment when the newest is full.
 * Returns 0, JOURNAL_NOSPACE (undone; err says why) or -1. */
static int write_frame(journal *j, uint64_t seq, const unsigned char *frame, size_t size,
                       char *err, size_t errlen)
{
    if (j->tail_dirty) {
        if (ftruncate(j->fd, (off_t)j->segs[j->nsegs - 1].size) != 0) {
            snprintf(err, errlen, "journal %s: cannot remove a partial write: %s", j->dir,
                     strerror(errno));
            return JOURNAL_NOSPACE;
        }
        j->tail_dirty = false;
    }
    if (j->nsegs == 0 || j->segs[j->nsegs - 1].size >= j->limits.segment_bytes) {
        int rc = start_segment(j, seq, err, errlen);
        if (rc != 0)
            return rc;
    }
    ssize_t w = j->fd >= 0 ? write(j->fd, frame, size) : -1;
    if (w != (ssize_t)size) {
        int e = j->fd < 0 ? EBADF : w < 0 ? errno : ENOSPC;
        snprintf(err, errlen, "journal %s: write failed: %s", j->dir, strerror(e));
        undo_append(j);
        return JOURNAL_NOSPACE;
    }
    return 0;
}

/* Deletes fully acked segments: never the one holding the newest synced
 * record (the chain head a restart recovers), never the newest holding
 * records. The event_ids of their records are saved first (DIR/ids); when
 * that fails for lack of space the segments go anyway — space comes first —
 * and saving is retried once they are gone. */
static void delete_acked_segments(journal *j)
{
    size_t head_seg = j->nsegs, ndel = 0;
    char err[700];

    while (head_seg > 0 && j->segs[head_seg - 1].size == 0)
        head_seg--;
    while (ndel + 1 < head_seg && j->segs[ndel].last_seq <= j->acked_seq &&
           j->segs[ndel].last_seq < j->synced_seq)
        ndel++;
    if (ndel == 0)
        return;
    uint64_t from = j->segs[0].first_seq, below = j->segs[ndel].first_seq;
    bool ids_pending = window_has(j, from, below) && save_ids(j, below, err, sizeof err) != 0;
    for (size_t i = 0; i < ndel; i++) {
        segment *s = &j->segs[i];
        char path[600];
        seg_path(j, s->first_seq, path, sizeof path);
        if (unlink(path) != 0)
            log_warn("journal cannot delete acked segment file=%s error=%s", path, strerror(errno));
        if (j->rc.fd >= 0 && j->rc.first_seq == s->first_seq) {
            close(j->rc.fd);
            j->rc.fd = -1;
        }
        j->total_bytes -= s->size;
    }
    memmove(j->segs, j->segs + ndel, (j->nsegs - ndel) * sizeof *j->segs);
    j->nsegs -= ndel;
    if (ids_pending && save_ids(j, below, err, sizeof err) != 0)
        log_warn("%s; event_ids of records up to seq %" PRIu64 " are forgotten at the next restart",
                 err, below - 1);
}

/* Disk full and every record acked, the newest segment included: it is
 * the only space left to free. Its head seq and hash go to DIR/acked (in
 * place if need be), then it is deleted; the next append starts a new
 * segment after it. Returns true when space was freed. */
static bool reclaim_newest(journal *j)
{
    char err[700], path[600];

    delete_acked_segments(j);
    if (j->nsegs != 1 || j->head_seq == 0 || j->acked_seq != j->head_seq ||
        j->synced_seq != j->head_seq || j->segs[0].size == 0)
        return false;
    if (!(j->acked_saved && j->acked_hash_saved && j->acked_seq == j->head_seq)) {
        if (write_acked(j, j->head_seq, j->head_hash, err, sizeof err) != 0) {
            log_warn("%s; cannot free the acked newest segment", err);
            return false;
        }
        note_acked_saved(j, j->head_hash);
    }
    uint64_t below = j->head_seq + 1;
    bool ids_pending = window_has(j, j->segs[0].first_seq, below) &&
                       save_ids(j, below, err, sizeof err) != 0;
    seg_path(j, j->segs[0].first_seq, path, sizeof path);
    if (unlink(path) != 0) {
        log_warn("journal cannot delete acked segment file=%s error=%s", path, strerror(errno));
        return false;
    }
    log_info("journal disk full: deleted the acked newest segment file=%s bytes=%" PRIu64
             " (head seq and hash kept in the acked file)",
             path, j->segs[0].size);
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->rc.fd >= 0) {
        close(j->rc.fd);
        j->rc.fd = -1;
    }
    j->total_bytes = 0;
    j->nsegs = 0;
    j->ua = (ack_pos){0, 0, j->head_seq + 1};
    if (ids_pending && save_ids(j, below, err, sizeof err) != 0)
        log_warn("%s; event_ids of records up to seq %" PRIu64 " are forgotten at the next restart",
                 err, below - 1);
    return true;
}

int journal_append(journal *j, uint64_t seq, const char *payload, size_t len, char *err,
                   size_t errlen)
{
    return journal_append_id(j, seq, payload, len, NULL, err, errlen);
}

int journal_append_id(journal *j, uint64_t seq, const char *payload, size_t len,
                      const char *event_id, char *err, size_t errlen)
{
    unsigned char frame[FRAME_HEADER + JOURNAL_MAX_PAYLOAD + EVENT_ID_MAX];
    size_t idn = event_id ? strlen(event_id) : 0;
    segment *s;

    if (seq != j->head_seq + 1 || len == 0 || len > JOURNAL_MAX_PAYLOAD ||
        (idn && !event_id_valid(event_id))) {
        snprintf(err, errlen, "journal: append of seq %" PRIu64 " (len %zu) after head %" PRIu64,
                 seq, len, j->head_seq);
        return -1;
    }
    size_t size = FRAME_HEADER + len + idn;
    /* Only unacked bytes count: acked records still on disk (the newest
     * segment is kept for its chain head) must not refuse events forever. */
    if (j->unacked_bytes + size > j->limits.max_bytes)
        return JOURNAL_FULL;
    put_u32(frame, (uint32_t)len | (uint32_t)idn << LEN_BITS);
    put_u64(frame + 8, seq);
    memcpy(frame + FRAME_HEADER, payload, len);
    memcpy(frame + FRAME_HEADER + len, event_id ? event_id : "", idn);
    put_u32(frame + 4, crc32c(frame_crc(frame + 8, payload, len), event_id ? event_id : "", idn));

    int rc = write_frame(j, seq, frame, size, err, errlen);
    if (rc == JOURNAL_NOSPACE && reclaim_newest(j))
        rc = write_frame(j, seq, frame, size, err, errlen);
    if (rc != 0) {
        j->nospace = rc == JOURNAL_NOSPACE;
        return rc;
    }
    j->nospace = false;
    s = &j->segs[j->nsegs - 1];
    if (seq == j->acked_seq + 1)
        j->ua = (ack_pos){s->first_seq, s->size, seq};
    s->size += size;
    s->last_seq = seq;
    j->total_bytes += size;
    j->unacked_bytes += size;
    j->head_seq = seq;
    record_sha256_hex(payload, len, j->head_hash);
    if (idn)
        id_window_add(j->ids, seq, event_id);
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
        uint64_t size;
        if (read_frame(j->rc.fd, j->rc.offset, &seq, scratch, &len, NULL, &size) != 1) {
            snprintf(err, errlen, "journal %s: unreadable frame at %" PRIu64, path, j->rc.offset);
            return -1;
        }
        j->rc.offset += size;
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
        uint64_t seq, size;
        size_t len;
        if (seek_cursor(j, from_seq, buf + used, err, errlen) != 0)
            return -1;
        if (read_frame(j->rc.fd, j->rc.offset, &seq, buf + used, &len, NULL, &size) != 1 ||
            seq != from_seq) {
            snprintf(err, errlen, "journal %s: cannot read seq %" PRIu64, j->dir, from_seq);
            return -1;
        }
        out[*n] = (journal_entry){seq, buf + used, len};
        used += len;
        (*n)++;
        j->rc.offset += size;
        j->rc.next_seq = ++from_seq;
        /* Past the end of this segment the next read reopens the cursor. */
        if (from_seq > find_segment(j, seq)->last_seq)
            j->rc.next_seq = 0;
    }
    return 0;
}

/* Moves ua to seq to + 1, subtracting the size of every frame it passes. */
static void advance_ack(journal *j, uint64_t to)
{
    const segment *s = NULL;
    char path[600];
    int fd = -1;

    if (to >= j->head_seq) {
        /* Everything acked: nothing to read. */
        j->unacked_bytes = 0;
        j->ua = (ack_pos){j->nsegs ? j->segs[j->nsegs - 1].first_seq : 0,
                          j->nsegs ? j->segs[j->nsegs - 1].size : 0, j->head_seq + 1};
        return;
    }
    while (j->ua.seq <= to) {
        unsigned char hdr[FRAME_HEADER];
        if (!s || j->ua.seq > s->last_seq) {
            if (!(s = find_segment(j, j->ua.seq)))
                break;
            if (s->first_seq != j->ua.first_seq)
                j->ua = (ack_pos){s->first_seq, 0, s->first_seq};
            if (fd >= 0)
                close(fd);
            seg_path(j, s->first_seq, path, sizeof path);
            if ((fd = open(path, O_RDONLY)) < 0)
                break;
        }
        if (pread(fd, hdr, sizeof hdr, (off_t)j->ua.offset) != (ssize_t)sizeof hdr ||
            get_u64(hdr + 8) != j->ua.seq)
            break;
        uint32_t word = get_u32(hdr);
        uint64_t size = FRAME_HEADER + (word & LEN_MASK) + (word >> LEN_BITS);
        j->unacked_bytes -= size < j->unacked_bytes ? size : j->unacked_bytes;
        j->ua.offset += size;
        j->ua.seq++;
    }
    if (j->ua.seq <= to)
        log_warn("journal cannot count acked bytes at seq %" PRIu64 "; the size limit may be "
                 "reached early until restart", j->ua.seq);
    if (fd >= 0)
        close(fd);
}

int journal_ack(journal *j, uint64_t seq, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
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
    advance_ack(j, seq);
    j->acked_seq = seq;
    /* Saved before segments go, so a restart never resends what they held.
     * If it cannot be saved (disk full), the segments still go: space comes
     * first, and a restart takes the acked seq from the oldest segment left. */
    bool saved = save_acked(j);
    delete_acked_segments(j);
    if (!saved)
        save_acked(j);
    if (j->nospace)
        reclaim_newest(j);
    return 0;
}
