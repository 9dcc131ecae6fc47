/* test_journal: the agent's crash-safe outbox journal (agent/journal.c) and
 * outbox_submit (agent/outbox.c).
 *
 * Every test works in its own mkdtemp directory. Crashes are simulated on
 * the files themselves (truncating or flipping bytes in a copy of the
 * journal), a full disk with RLIMIT_FSIZE (SIGXFSZ ignored, so write()
 * fails with EFBIG or writes short), and fsync calls are observed by
 * interposing fsync/fdatasync in this binary (see the sync log below).
 *
 * Frame layout (journal.h): u32 length | u32 crc32c | u64 seq | payload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "outbox.h"
#include "record.h"

#define FRAME_HEADER 16
#define BIG_LIMITS {1u << 20, 1u << 30}
#define SMALL_SEGMENTS {256, 1u << 30}
#define READ_CAP ((size_t)64 * JOURNAL_MAX_PAYLOAD)

/* ---- observing fsync ------------------------------------------------------
 * The journal's durability promise cannot be seen without a crash, but which
 * files it fsyncs can: these definitions take the place of libc's for the
 * whole binary, note the file (device, inode) and make the real call. */

#define SYNC_LOG_MAX 4096
static struct {
    dev_t dev;
    ino_t ino;
} sync_log[SYNC_LOG_MAX];
static int sync_log_len;

static void note_sync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && sync_log_len < SYNC_LOG_MAX) {
        sync_log[sync_log_len].dev = st.st_dev;
        sync_log[sync_log_len].ino = st.st_ino;
        sync_log_len++;
    }
}

int fsync(int fd)
{
    note_sync(fd);
    return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
    note_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

static int was_synced(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    for (int i = 0; i < sync_log_len; i++) {
        if (sync_log[i].dev == st.st_dev && sync_log[i].ino == st.st_ino)
            return 1;
    }
    return 0;
}

/* ---- fixture and helpers ------------------------------------------------- */

typedef struct fixture {
    char root[64];      /* mkdtemp; everything below is removed afterwards */
    char dir[96];       /* root/j: the journal */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/test_journal.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof f->dir, "%s/j", f->root);
    *state = f;
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[800];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->root);
    free(f);
    return 0;
}

/* A deterministic payload for seq: distinct from its neighbours in the
 * first bytes, 16..75 bytes long. Returns the length. */
static size_t payload_for(uint64_t seq, char *buf)
{
    int n = snprintf(buf, 32, "rec-%06" PRIu64 "|", seq);
    size_t extra = (size_t)(seq * 37 % 60) + 5;
    for (size_t i = 0; i < extra; i++)
        buf[(size_t)n + i] = (char)('a' + (seq + i) % 26);
    buf[(size_t)n + extra] = '\0';
    return (size_t)n + extra;
}

static size_t frame_len(uint64_t seq)
{
    char p[128];
    return FRAME_HEADER + payload_for(seq, p);
}

static journal *open_ok(const char *dir, journal_limits limits)
{
    journal *j = NULL;
    char err[512];
    if (journal_open(dir, &limits, &j, err, sizeof err) != 0)
        fail_msg("journal_open %s: %s", dir, err);
    assert_non_null(j);
    return j;
}

/* Appends from..to (the payloads of payload_for), then syncs if asked. */
static void append_range(journal *j, uint64_t from, uint64_t to, int sync)
{
    char err[512], p[128];
    for (uint64_t s = from; s <= to; s++) {
        size_t len = payload_for(s, p);
        int rc = journal_append(j, s, p, len, err, sizeof err);
        if (rc != 0)
            fail_msg("append %" PRIu64 ": rc=%d %s", s, rc, err);
    }
    if (sync && journal_sync(j, err, sizeof err) != 0)
        fail_msg("sync: %s", err);
}

static void expect_head(const journal *j, uint64_t seq)
{
    char p[128], hex[RECORD_HASH_HEX];
    assert_int_equal(journal_head_seq(j), seq);
    if (seq == 0) {
        assert_string_equal(journal_head_hash(j), RECORD_GENESIS_PREV);
        return;
    }
    size_t len = payload_for(seq, p);
    record_sha256_hex(p, len, hex);
    assert_string_equal(journal_head_hash(j), hex);
}

/* Reads from..to in chunks of max and checks every payload. */
static void expect_read(journal *j, uint64_t from, uint64_t to, size_t max)
{
    journal_entry *e = calloc(64, sizeof *e);
    char *buf = malloc(READ_CAP), err[512], p[128];
    assert_non_null(e);
    assert_non_null(buf);
    assert_true(max <= 64);

    uint64_t next = from;
    while (next <= to) {
        size_t n = 0;
        if (journal_read(j, next, max, e, &n, buf, READ_CAP, err, sizeof err) != 0)
            fail_msg("read from %" PRIu64 ": %s", next, err);
        assert_true(n > 0);
        for (size_t i = 0; i < n && next <= to; i++, next++) {
            size_t len = payload_for(next, p);
            assert_int_equal(e[i].seq, next);
            assert_int_equal(e[i].len, len);
            assert_memory_equal(e[i].payload, p, len);
        }
    }
    free(buf);
    free(e);
}

static size_t read_count(journal *j, uint64_t from, size_t max)
{
    journal_entry e[64];
    char *buf = malloc(READ_CAP), err[512];
    size_t n = 99;
    assert_non_null(buf);
    if (journal_read(j, from, max, e, &n, buf, READ_CAP, err, sizeof err) != 0)
        fail_msg("read from %" PRIu64 ": %s", from, err);
    free(buf);
    return n;
}

static void seg_file(const char *dir, uint64_t first, char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg-%020" PRIu64 ".log", dir, first);
}

static off_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return st.st_size;
}

/* Segment files of dir, sorted by first seq; returns how many. */
static int list_segs(const char *dir, uint64_t *firsts, int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        unsigned long long first;
        if (strncmp(e->d_name, "seg-", 4) == 0 && sscanf(e->d_name, "seg-%llu.log", &first) == 1) {
            assert_true(n < max);
            firsts[n++] = first;
        }
    }
    closedir(d);
    for (int a = 0; a < n; a++) {
        for (int b = a + 1; b < n; b++) {
            if (firsts[b] < firsts[a]) {
                uint64_t t = firsts[a];
                firsts[a] = firsts[b];
                firsts[b] = t;
            }
        }
    }
    return n;
}

/* First and last seq of a segment file, parsed here independently of the
 * journal (headers only; lengths and seqs must chain). */
static void seg_range(const char *path, uint64_t *first, uint64_t *last)
{
    unsigned char hdr[FRAME_HEADER];
    int fd = open(path, O_RDONLY);
    off_t off = 0;

    assert_true(fd >= 0);
    *first = *last = 0;
    while (pread(fd, hdr, sizeof hdr, off) == (ssize_t)sizeof hdr) {
        uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                       (uint32_t)hdr[3] << 24;
        uint64_t seq = 0;
        for (int i = 7; i >= 0; i--)
            seq = seq << 8 | hdr[8 + i];
        if (!*first)
            *first = seq;
        else
            assert_int_equal(seq, *last + 1);
        *last = seq;
        off += FRAME_HEADER + (off_t)len;
    }
    assert_int_equal(off, file_size(path));
    close(fd);
}

static uint64_t total_seg_bytes(const char *dir)
{
    uint64_t firsts[256], sum = 0;
    char path[160];
    int n = list_segs(dir, firsts, 256);
    for (int i = 0; i < n; i++) {
        seg_file(dir, firsts[i], path, sizeof path);
        sum += (uint64_t)file_size(path);
    }
    return sum;
}

static void copy_file(const char *from, const char *to, off_t len)
{
    char buf[4096];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    off_t done = 0;

    assert_true(in >= 0);
    assert_true(out >= 0);
    while (done < len) {
        size_t want = (size_t)(len - done) < sizeof buf ? (size_t)(len - done) : sizeof buf;
        ssize_t got = read(in, buf, want);
        assert_true(got > 0);
        assert_int_equal(write(out, buf, (size_t)got), got);
        done += got;
    }
    close(in);
    close(out);
}

/* Copies every file of dir into a new directory to; the segment file
 * named cut_name is copied only up to cut_len bytes. */
static void copy_journal(const char *dir, const char *to, const char *cut_name, off_t cut_len)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    assert_int_equal(mkdir(to, 0700), 0);
    while ((e = readdir(d)) != NULL) {
        char src[600], dst[600];
        if (e->d_name[0] == '.')
            continue;
        snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
        off_t len = file_size(src);
        if (cut_name && strcmp(e->d_name, cut_name) == 0)
            len = cut_len;
        copy_file(src, dst, len);
    }
    closedir(d);
}

static void flip_byte(const char *path, off_t at)
{
    unsigned char c;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x01;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

/* ---- basics ------------------------------------------------------------- */

static void test_empty_journal(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);

    expect_head(j, 0);
    assert_int_equal(journal_acked_seq(j), 0);
    assert_int_equal(journal_bytes(j), 0);
    assert_int_equal(read_count(j, 1, 64), 0);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 0);
    append_range(j, 1, 1, 1);
    expect_head(j, 1);
    journal_close(j);
}

static void test_append_sync_reopen(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    uint64_t bytes = 0;

    append_range(j, 1, 10, 1);
    for (uint64_t s = 1; s <= 10; s++)
        bytes += frame_len(s);
    expect_head(j, 10);
    assert_int_equal(journal_bytes(j), bytes);
    assert_int_equal(total_seg_bytes(f->dir), bytes);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 10);
    assert_int_equal(journal_bytes(j), bytes);
    assert_int_equal(journal_acked_seq(j), 0);
    expect_read(j, 1, 10, 64);
    append_range(j, 11, 12, 1);
    expect_head(j, 12);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 12);
    expect_read(j, 1, 12, 5);
    journal_close(j);
}

static void test_read_across_segments(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    uint64_t firsts[64];
    char path[160];

    append_range(j, 1, 60, 1);
    int nsegs = list_segs(f->dir, firsts, 64);
    assert_true(nsegs >= 10);
    /* segments chain and roll only past segment_bytes */
    uint64_t expect_first = 1;
    for (int i = 0; i < nsegs; i++) {
        uint64_t a, b;
        seg_file(f->dir, firsts[i], path, sizeof path);
        seg_range(path, &a, &b);
        assert_int_equal(a, firsts[i]);
        assert_int_equal(a, expect_first);
        if (i + 1 < nsegs)
            assert_true(file_size(path) >= 256);
        assert_true(file_size(path) - (off_t)frame_len(b) < 256);
        expect_first = b + 1;
    }
    assert_int_equal(expect_first, 61);

    expect_read(j, 1, 60, 64);   /* all at once */
    expect_read(j, 1, 60, 1);    /* one by one: the cursor crosses every boundary */
    for (uint64_t from = 1; from <= 60; from += 3)
        expect_read(j, from, from + 6 > 60 ? 60 : from + 6, 4);
    expect_read(j, 37, 37, 1);   /* random access backwards */
    expect_read(j, 2, 9, 7);
    assert_int_equal(read_count(j, 61, 64), 0);
    assert_int_equal(read_count(j, 1000, 64), 0);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 60);
    expect_read(j, 1, 60, 13);
    journal_close(j);
}

static void test_read_never_returns_unsynced(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    char err[256];

    uint64_t firsts[32];
    append_range(j, 1, 5, 1);
    append_range(j, 6, 20, 0);   /* rolls segments, not synced */
    expect_head(j, 20);
    /* A roll makes the segment it leaves durable; the records in the newest
     * segment are not synced and must not be read. */
    size_t nsegs = list_segs(f->dir, firsts, 32);
    assert_true(nsegs > 1);
    uint64_t unsynced_from = firsts[nsegs - 1];
    assert_true(unsynced_from > 6 && unsynced_from <= 20);
    assert_int_equal(read_count(j, 1, 64), unsynced_from - 1);
    assert_int_equal(read_count(j, unsynced_from, 64), 0);
    assert_int_equal(read_count(j, 5, 64), unsynced_from - 5);
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    assert_int_equal(read_count(j, 6, 64), 15);
    expect_read(j, 1, 20, 64);
    journal_close(j);
}

/* Restart in the middle of a segment: the reopened journal appends to the
 * same segment and the sequence continues without a gap. */
static void test_restart_mid_segment(void **state)
{
    fixture *f = *state;
    uint64_t firsts[8];
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);

    append_range(j, 1, 5, 1);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 5);
    append_range(j, 6, 10, 1);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 10);
    append_range(j, 11, 11, 1);
    expect_read(j, 1, 11, 3);
    assert_int_equal(list_segs(f->dir, firsts, 8), 1);
    journal_close(j);

    /* the same with small segments: reopen between rolls */
    remove_tree(f->dir);
    for (uint64_t s = 1; s <= 30; s += 4) {
        j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
        expect_head(j, s - 1);
        append_range(j, s, s + 3, 1);
        journal_close(j);
    }
    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 32);
    expect_read(j, 1, 32, 64);
    journal_close(j);
}

static void test_wrong_seq_and_length(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    char err[256], p[128];
    char *big = calloc(1, JOURNAL_MAX_PAYLOAD + 1);
    size_t len = payload_for(1, p);

    assert_non_null(big);
    assert_int_equal(journal_append(j, 0, p, len, err, sizeof err), -1);
    assert_int_equal(journal_append(j, 2, p, len, err, sizeof err), -1);
    append_range(j, 1, 3, 1);
    uint64_t bytes = journal_bytes(j);
    assert_int_equal(journal_append(j, 3, p, len, err, sizeof err), -1);   /* reuse */
    assert_int_equal(journal_append(j, 5, p, len, err, sizeof err), -1);   /* gap */
    assert_int_equal(journal_append(j, 1, p, len, err, sizeof err), -1);
    assert_int_equal(journal_append(j, 4, p, 0, err, sizeof err), -1);     /* empty */
    memset(big, 'x', JOURNAL_MAX_PAYLOAD + 1);
    assert_int_equal(journal_append(j, 4, big, JOURNAL_MAX_PAYLOAD + 1, err, sizeof err), -1);
    expect_head(j, 3);
    assert_int_equal(journal_bytes(j), bytes);
    assert_int_equal(total_seg_bytes(f->dir), bytes);
    /* the largest payload is fine */
    assert_int_equal(journal_append(j, 4, big, JOURNAL_MAX_PAYLOAD, err, sizeof err), 0);
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    assert_int_equal(journal_head_seq(j), 4);
    free(big);
    journal_close(j);
}

/* ---- acks --------------------------------------------------------------- */

static void test_ack_deletes_acked_segments(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    uint64_t firsts[64], before[64];
    char err[256], path[160];

    append_range(j, 1, 50, 1);
    int nbefore = list_segs(f->dir, before, 64);
    assert_true(nbefore >= 8);

    assert_int_equal(journal_ack(j, 20, err, sizeof err), 0);
    assert_int_equal(journal_acked_seq(j), 20);
    int n = list_segs(f->dir, firsts, 64);
    assert_true(n < nbefore);
    /* exactly the segments whose last record is <= 20 are gone */
    for (int i = 0; i < nbefore; i++) {
        uint64_t last = i + 1 < nbefore ? before[i + 1] - 1 : 50;
        seg_file(f->dir, before[i], path, sizeof path);
        assert_int_equal(file_size(path) >= 0, last > 20);
    }
    assert_int_equal(journal_bytes(j), total_seg_bytes(f->dir));
    expect_read(j, 21, 50, 64);

    /* acked seq is persisted */
    snprintf(path, sizeof path, "%s/acked", f->dir);
    FILE *fp = fopen(path, "r");
    unsigned long long v = 0;
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%llu", &v), 1);
    fclose(fp);
    assert_int_equal(v, 20);

    /* older or equal acks are ignored */
    assert_int_equal(journal_ack(j, 10, err, sizeof err), 0);
    assert_int_equal(journal_ack(j, 20, err, sizeof err), 0);
    assert_int_equal(journal_acked_seq(j), 20);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    assert_int_equal(journal_acked_seq(j), 20);
    expect_head(j, 50);
    expect_read(j, 21, 50, 7);
    assert_int_equal(journal_bytes(j), total_seg_bytes(f->dir));
    journal_close(j);
}

/* Everything acked: the newest segment stays, so the head seq and hash
 * survive a restart and the chain continues. */
static void test_ack_all_keeps_head(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    uint64_t firsts[64];
    char err[256], path[160];

    append_range(j, 1, 40, 1);
    assert_int_equal(journal_ack(j, 40, err, sizeof err), 0);
    assert_int_equal(list_segs(f->dir, firsts, 64), 1);
    seg_file(f->dir, firsts[0], path, sizeof path);
    uint64_t a, b;
    seg_range(path, &a, &b);
    assert_int_equal(b, 40);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 40);
    assert_int_equal(journal_acked_seq(j), 40);
    assert_int_equal(read_count(j, 41, 64), 0);
    append_range(j, 41, 45, 1);
    expect_read(j, 41, 45, 64);
    /* an ack beyond the head is ignored: unacked records are kept */
    assert_int_equal(journal_ack(j, 1000, err, sizeof err), 0);
    assert_int_equal(journal_acked_seq(j), 40);
    expect_read(j, 41, 45, 64);
    assert_int_equal(journal_ack(j, 45, err, sizeof err), 0);
    assert_int_equal(journal_acked_seq(j), 45);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 45);
    assert_int_equal(journal_acked_seq(j), 45);
    append_range(j, 46, 46, 1);
    journal_close(j);
}

/* The acked file is checked on open: garbage, or an ack beyond the newest
 * record (the journal lost records), stops the agent with a clear error. */
static void test_acked_file_checks(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    char err[512], path[160];
    FILE *fp;

    append_range(j, 1, 10, 1);
    journal_close(j);
    snprintf(path, sizeof path, "%s/acked", f->dir);

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("100\n", fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(journal_open(f->dir, &(journal_limits)BIG_LIMITS, &j, err, sizeof err), -1);
    assert_non_null(strstr(err, "acked seq 100 is beyond the newest record 10"));

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("garbage\n", fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(journal_open(f->dir, &(journal_limits)BIG_LIMITS, &j, err, sizeof err), -1);
    assert_non_null(strstr(err, "acked: not a number"));

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("7\n", fp);
    fclose(fp);
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    assert_int_equal(journal_acked_seq(j), 7);
    expect_read(j, 8, 10, 64);
    journal_close(j);
}

/* A full journal refuses (1) and changes nothing; acks make room again. */
static void test_full_journal(void **state)
{
    fixture *f = *state;
    journal_limits limits = {256, 1200};
    journal *j = open_ok(f->dir, limits);
    char err[256], p[128];
    uint64_t seq = 0;
    int rc;

    do {
        seq++;
        size_t len = payload_for(seq, p);
        rc = journal_append(j, seq, p, len, err, sizeof err);
    } while (rc == 0 && seq < 1000);
    assert_int_equal(rc, 1);
    uint64_t head = seq - 1;
    uint64_t bytes = journal_bytes(j);
    assert_true(head > 5);
    assert_true(bytes <= 1200);
    assert_true(bytes + frame_len(seq) > 1200);
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    assert_int_equal(total_seg_bytes(f->dir), bytes);

    /* again: still full, nothing changed */
    size_t len = payload_for(seq, p);
    assert_int_equal(journal_append(j, seq, p, len, err, sizeof err), 1);
    expect_head(j, head);
    assert_int_equal(journal_bytes(j), bytes);
    assert_int_equal(total_seg_bytes(f->dir), bytes);
    expect_read(j, 1, head, 64);

    /* the collector acks: sealed segments go, room again */
    assert_int_equal(journal_ack(j, head, err, sizeof err), 0);
    assert_true(journal_bytes(j) < bytes);
    assert_int_equal(journal_append(j, seq, p, len, err, sizeof err), 0);
    expect_head(j, seq);
    journal_close(j);
}

/* ---- crashes -------------------------------------------------------------- */

/* Builds a journal of n records in f->dir (closed), returns the name and
 * size of the newest segment file and where its last frame starts. */
static void build_for_tear(fixture *f, journal_limits limits, uint64_t n, char *name,
                           size_t namecap, off_t *size, off_t *last_start)
{
    uint64_t firsts[256];
    char path[160];

    remove_tree(f->dir);
    journal *j = open_ok(f->dir, limits);
    append_range(j, 1, n, 1);
    journal_close(j);
    int segs = list_segs(f->dir, firsts, 256);
    assert_true(segs >= 1);
    snprintf(name, namecap, "seg-%020" PRIu64 ".log", firsts[segs - 1]);
    seg_file(f->dir, firsts[segs - 1], path, sizeof path);
    *size = file_size(path);
    *last_start = *size - (off_t)frame_len(n);
    assert_true(*last_start >= 0);
}

/* Torn write at every byte offset of the last record: the record was never
 * confirmed, so the journal must come back with head n-1, the file cut back
 * to the end of record n-1, and seq n must be appendable again. */
static void tear_every_offset(fixture *f, journal_limits limits, uint64_t n,
                              int last_is_first_in_segment)
{
    char name[64], base[128];
    off_t size, last_start;

    build_for_tear(f, limits, n, name, sizeof name, &size, &last_start);
    assert_int_equal(last_start == 0, last_is_first_in_segment);
    snprintf(base, sizeof base, "%s/base", f->root);
    assert_int_equal(rename(f->dir, base), 0);

    for (off_t cut = last_start; cut < size; cut++) {
        char path[256];
        copy_journal(base, f->dir, name, cut);
        snprintf(path, sizeof path, "%s/%s", f->dir, name);

        journal *j = open_ok(f->dir, limits);
        if (journal_head_seq(j) != n - 1)
            fail_msg("cut at %lld of %lld: head %" PRIu64 ", want %" PRIu64, (long long)cut,
                     (long long)size, journal_head_seq(j), n - 1);
        /* torn bytes gone: the file ends at record n-1 (or is removed) */
        off_t now = file_size(path);
        if (last_is_first_in_segment)
            assert_true(now == -1 || now == 0);
        else
            assert_int_equal(now, last_start);
        expect_read(j, 1, n - 1, 64);
        append_range(j, n, n, 1);
        expect_head(j, n);
        journal_close(j);

        j = open_ok(f->dir, limits);
        expect_head(j, n);
        expect_read(j, 1, n, 64);
        journal_close(j);
        remove_tree(f->dir);
    }
    remove_tree(base);
}

static void test_torn_write_every_offset(void **state)
{
    fixture *f = *state;
    tear_every_offset(f, (journal_limits)BIG_LIMITS, 12, 0);
}

/* The last record is the first one of a freshly rolled segment. */
static void test_torn_write_every_offset_new_segment(void **state)
{
    fixture *f = *state;
    journal_limits limits = SMALL_SEGMENTS;
    uint64_t n;
    char path[160];

    /* find an n whose record starts a new segment */
    for (n = 2; n < 100; n++) {
        seg_file(f->dir, n, path, sizeof path);
        remove_tree(f->dir);
        journal *j = open_ok(f->dir, limits);
        append_range(j, 1, n, 1);
        journal_close(j);
        if (file_size(path) == (off_t)frame_len(n))
            break;
    }
    assert_true(n < 100);
    tear_every_offset(f, limits, n, 1);
}

/* A flipped byte in the last record's payload fails its checksum: the tail
 * is dropped like a torn write. */
static void test_flipped_byte_in_last_record(void **state)
{
    fixture *f = *state;
    char name[64], path[256];
    off_t size, last_start;

    build_for_tear(f, (journal_limits)BIG_LIMITS, 9, name, sizeof name, &size, &last_start);
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    flip_byte(path, last_start + FRAME_HEADER + 3);

    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    assert_int_equal(journal_head_seq(j), 8);
    assert_int_equal(file_size(path), last_start);
    expect_read(j, 1, 8, 64);
    append_range(j, 9, 10, 1);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 10);
    expect_read(j, 1, 10, 64);
    journal_close(j);
}

/* A corrupt frame in an older, sealed segment is not a torn write: it
 * holds confirmed records, so opening fails and names the file. */
static void test_corrupt_sealed_segment(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    uint64_t firsts[64];
    char path[160], err[512];

    append_range(j, 1, 30, 1);
    journal_close(j);
    assert_true(list_segs(f->dir, firsts, 64) >= 3);
    seg_file(f->dir, firsts[0], path, sizeof path);
    flip_byte(path, (off_t)frame_len(1) + FRAME_HEADER + 2); /* payload of seq 2 */

    j = (journal *)0x1;
    err[0] = '\0';
    assert_int_equal(journal_open(f->dir, &(journal_limits)SMALL_SEGMENTS, &j, err, sizeof err),
                     -1);
    assert_null(j);
    assert_non_null(strstr(err, "seg-00000000000000000001.log"));
    assert_non_null(strstr(err, "sealed"));
    /* nothing was truncated or deleted */
    assert_int_equal(list_segs(f->dir, firsts, 64) >= 3, 1);

    /* a sealed segment cut short is just as fatal */
    flip_byte(path, (off_t)frame_len(1) + FRAME_HEADER + 2); /* repair */
    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 30);
    journal_close(j);
    seg_file(f->dir, firsts[1], path, sizeof path);
    assert_int_equal(truncate(path, file_size(path) - 1), 0);
    err[0] = '\0';
    assert_int_equal(journal_open(f->dir, &(journal_limits)SMALL_SEGMENTS, &j, err, sizeof err),
                     -1);
    char name[40];
    snprintf(name, sizeof name, "seg-%020" PRIu64 ".log", firsts[1]);
    assert_non_null(strstr(err, name));
}

/* ---- full disk ------------------------------------------------------------ */

static struct rlimit saved_fsize;

static void limit_file_size(rlim_t max)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
    rl = saved_fsize;
    rl.rlim_cur = max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* No cmocka output may happen while the limit is on: stdout may be a file. */
static void unlimit_file_size(void)
{
    if (setrlimit(RLIMIT_FSIZE, &saved_fsize) != 0)
        abort();
    signal(SIGXFSZ, SIG_DFL);
}

/* A write that fails (EFBIG) or is short leaves the journal as it was and
 * is a refusal (JOURNAL_NOSPACE: the agent answers an error and runs on),
 * not a fatal error; it reopens with every earlier record intact. */
static void test_full_disk(void **state)
{
    fixture *f = *state;
    char err[256], p[128], path[160];
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);

    append_range(j, 1, 5, 1);
    seg_file(f->dir, 1, path, sizeof path);
    off_t size = file_size(path);
    uint64_t bytes = journal_bytes(j);
    size_t len = payload_for(6, p);

    limit_file_size(0);                 /* every write fails: EFBIG */
    int rc_fail = journal_append(j, 6, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc_fail, JOURNAL_NOSPACE);
    expect_head(j, 5);
    assert_int_equal(journal_bytes(j), bytes);
    assert_int_equal(file_size(path), size);

    limit_file_size((rlim_t)size + 10); /* a short write: 10 of the frame's bytes */
    int rc_short = journal_append(j, 6, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc_short, JOURNAL_NOSPACE);
    expect_head(j, 5);
    assert_int_equal(file_size(path), size); /* partial frame undone */
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 5);
    expect_read(j, 1, 5, 64);
    append_range(j, 6, 8, 1);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 8);
    expect_read(j, 1, 8, 64);
    journal_close(j);
}

/* The disk fills up exactly when a new segment is started. */
static void test_full_disk_at_segment_roll(void **state)
{
    fixture *f = *state;
    journal_limits limits = SMALL_SEGMENTS;
    char err[256], p[128];
    uint64_t firsts[64];
    journal *j = open_ok(f->dir, limits);
    uint64_t n = 0;
    int segs;

    /* append until the next append would start a new segment */
    do {
        n++;
        append_range(j, n, n, 1);
        segs = list_segs(f->dir, firsts, 64);
    } while (segs < 2 && n < 100);
    /* n started segment 2; fill segment 2 until it is at its limit */
    char path[160];
    seg_file(f->dir, n, path, sizeof path);
    while (file_size(path) < 256) {
        n++;
        append_range(j, n, n, 1);
    }
    size_t len = payload_for(n + 1, p);
    limit_file_size(0);
    int rc = journal_append(j, n + 1, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc, JOURNAL_NOSPACE);
    expect_head(j, n);
    journal_close(j);

    j = open_ok(f->dir, limits);
    expect_head(j, n);
    expect_read(j, 1, n, 64);
    append_range(j, n + 1, n + 2, 1);
    journal_close(j);
    j = open_ok(f->dir, limits);
    expect_head(j, n + 2);
    expect_read(j, 1, n + 2, 64);

    /* the same failure, then a retry in the same process once space is back */
    seg_file(f->dir, n + 1, path, sizeof path);
    n += 2;
    while (file_size(path) < 256) {
        n++;
        append_range(j, n, n, 1);
    }
    len = payload_for(n + 1, p);
    limit_file_size(0);
    rc = journal_append(j, n + 1, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc, JOURNAL_NOSPACE);
    append_range(j, n + 1, n + 3, 1);
    expect_read(j, 1, n + 3, 64);
    journal_close(j);
    j = open_ok(f->dir, limits);
    expect_head(j, n + 3);
    expect_read(j, 1, n + 3, 64);
    journal_close(j);
}

/* ---- known bugs (failing tests) ------------------------------------------ */

/* Regression (was a bug in agent/journal.c recover / read_frame): the head
 * hash after recovery is computed over the shared payload buffer, which the
 * failed read of the torn/corrupt last frame has already overwritten with
 * its partial payload. So after a torn write the head seq is right (n-1)
 * but head_hash is not sha256(payload n-1): the next record's prev breaks
 * the chain (an integrity alert at the collector). Checked at every cut
 * point inside the last frame and for a flipped checksum byte. */
static void test_torn_tail_keeps_head_hash(void **state)
{
    fixture *f = *state;
    char name[64], base[128], want[RECORD_HASH_HEX], p[128];
    off_t size, last_start;
    int wrong = 0, first_wrong = -1, total = 0;

    record_sha256_hex(p, payload_for(11, p), want);
    build_for_tear(f, (journal_limits)BIG_LIMITS, 12, name, sizeof name, &size, &last_start);
    snprintf(base, sizeof base, "%s/base", f->root);
    assert_int_equal(rename(f->dir, base), 0);

    for (off_t cut = last_start; cut <= size; cut++) {
        char path[256];
        copy_journal(base, f->dir, name, cut == size ? size : cut);
        snprintf(path, sizeof path, "%s/%s", f->dir, name);
        if (cut == size) /* not a cut: the checksum case */
            flip_byte(path, last_start + FRAME_HEADER + 20);
        journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
        assert_int_equal(journal_head_seq(j), 11);
        total++;
        if (strcmp(journal_head_hash(j), want) != 0) {
            wrong++;
            if (first_wrong < 0)
                first_wrong = (int)(cut - last_start);
        }
        journal_close(j);
        remove_tree(f->dir);
    }
    remove_tree(base);
    if (wrong)
        fail_msg("head hash wrong after recovery in %d of %d cases (first at byte %d of the "
                 "last frame)",
                 wrong, total, first_wrong);
}

/* Regression (was a bug in agent/journal.c start_segment / journal_sync):
 * when a segment rolls, the previous segment's fd is closed without an
 * fdatasync, and journal_sync only syncs the new newest segment. Records
 * appended to the old segment since the last sync (the agent appends up to
 * 512 events per sync) are reported durable but never reached the disk.
 * Expected: by the end of journal_sync, the rolled-over segment was synced. */
static void test_roll_syncs_previous_segment(void **state)
{
    fixture *f = *state;
    journal_limits limits = SMALL_SEGMENTS;
    char err[256], first[160], second[160];
    uint64_t firsts[8];
    journal *j = open_ok(f->dir, limits);

    append_range(j, 1, 1, 1);     /* segment 1 exists and is synced */
    sync_log_len = 0;
    uint64_t n = 1;
    do {                          /* fill segment 1 and roll, no sync */
        n++;
        append_range(j, n, n, 0);
    } while (list_segs(f->dir, firsts, 8) < 2);
    assert_int_equal(journal_sync(j, err, sizeof err), 0);

    seg_file(f->dir, 1, first, sizeof first);
    seg_file(f->dir, n, second, sizeof second);
    assert_true(was_synced(second)); /* the interposition works */
    journal_close(j);
    if (!was_synced(first))
        fail_msg("records 2..%" PRIu64 " in %s were never fsynced", n - 1, first);
}

/* Regression (found as a bug): a failed append at a segment roll left an
 * empty newest segment, journal_ack then deleted every older segment, and
 * on restart the head was lost (seq 1 would be reused). Now the failed
 * append removes the segment it created, and an ack never deletes the
 * newest segment holding records. */
static void test_failed_roll_then_ack_keeps_head(void **state)
{
    fixture *f = *state;
    journal_limits limits = SMALL_SEGMENTS;
    char err[512], p[128], path[160];
    uint64_t firsts[64];
    journal *j = open_ok(f->dir, limits);
    uint64_t n = 0;

    seg_file(f->dir, 1, path, sizeof path);
    do {
        n++;
        append_range(j, n, n, 1);
    } while (file_size(path) < 256);
    size_t len = payload_for(n + 1, p);
    limit_file_size(0);
    int rc = journal_append(j, n + 1, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc, JOURNAL_NOSPACE);
    assert_int_equal(list_segs(f->dir, firsts, 64), 1); /* the new segment was removed */
    assert_int_equal(journal_ack(j, n, err, sizeof err), 0);
    journal_close(j);

    j = NULL;
    rc = journal_open(f->dir, &limits, &j, err, sizeof err);
    if (rc == 0) {
        uint64_t head = journal_head_seq(j);
        if (head != n) {
            journal_close(j);
            fail_msg("after restart head seq is %" PRIu64 ", want %" PRIu64
                     " (acked %" PRIu64 "): seq would be reused",
                     head, n, n);
        }
        expect_head(j, n); /* and the chain hash of record n */
        journal_close(j);
    }
}


/* ---- "never stall, never crash, never lie" -------------------------------- */

/* journal_max_mb counts unacked bytes only: with a segment larger than the
 * limit (journal_max_mb = 1, segment_kb = 4096) the newest segment is never
 * deleted, and its acked bytes used to count, so events were refused forever
 * although the collector had acked everything. */
static void test_limit_counts_unacked_only(void **state)
{
    fixture *f = *state;
    journal_limits limits = {4096u * 1024, 1u << 20};
    journal *j = open_ok(f->dir, limits);
    char err[256], p[128];
    uint64_t seq = 0;

    /* 3 MiB through a 1 MiB limit, acked as it goes: never refused */
    while (journal_bytes(j) < 3u << 20) {
        seq++;
        size_t len = payload_for(seq, p);
        int rc = journal_append(j, seq, p, len, err, sizeof err);
        if (rc != 0)
            fail_msg("seq %" PRIu64 " refused (rc=%d) with journal_bytes=%" PRIu64
                     " unacked=%" PRIu64 " acked=%" PRIu64,
                     seq, rc, journal_bytes(j), journal_unacked_bytes(j), journal_acked_seq(j));
        if (seq % 1000 == 0) {
            assert_int_equal(journal_sync(j, err, sizeof err), 0);
            assert_int_equal(journal_ack(j, seq, err, sizeof err), 0);
            assert_int_equal(journal_unacked_bytes(j), 0);
        }
    }
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    uint64_t unacked = 0;
    for (uint64_t s = journal_acked_seq(j) + 1; s <= seq; s++)
        unacked += frame_len(s);
    assert_int_equal(journal_unacked_bytes(j), unacked);
    journal_close(j);

    /* the count survives a restart, also for a partly acked segment */
    j = open_ok(f->dir, limits);
    assert_int_equal(journal_unacked_bytes(j), unacked);
    assert_int_equal(journal_ack(j, seq - 3, err, sizeof err), 0);
    assert_int_equal(journal_unacked_bytes(j), frame_len(seq - 2) + frame_len(seq - 1) + frame_len(seq));
    journal_close(j);

    /* unacked bytes still stop the journal at the limit */
    remove_tree(f->dir);
    j = open_ok(f->dir, limits);
    int rc;
    seq = 0;
    do {
        seq++;
        size_t len = payload_for(seq, p);
        rc = journal_append(j, seq, p, len, err, sizeof err);
    } while (rc == 0 && seq < 100000);
    assert_int_equal(rc, JOURNAL_FULL);
    assert_true(journal_unacked_bytes(j) <= 1u << 20);
    assert_true(journal_unacked_bytes(j) + frame_len(seq) > 1u << 20);
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    assert_int_equal(journal_ack(j, 10, err, sizeof err), 0);
    size_t len = payload_for(seq, p);
    assert_int_equal(journal_append(j, seq, p, len, err, sizeof err), 0);
    journal_close(j);
}

/* An ack must be applied even when the disk has no room to record it: the
 * agent used to exit ("cannot save acked seq") and could not start again
 * on a full disk. The ack stays in memory, fully acked segments are still
 * deleted (freeing space), and on restart the acked seq is taken from the
 * oldest segment left. */
static void test_ack_without_space(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    uint64_t firsts[64];
    char err[256];

    append_range(j, 1, 50, 1);
    int before = list_segs(f->dir, firsts, 64);
    limit_file_size(0);                 /* no file can grow: the acked file neither */
    int rc = journal_ack(j, 30, err, sizeof err);
    unlimit_file_size();
    if (rc != 0)
        fail_msg("journal_ack failed without space: %s", err);
    assert_int_equal(journal_acked_seq(j), 30);
    assert_true(list_segs(f->dir, firsts, 64) < before);
    assert_int_equal(journal_bytes(j), total_seg_bytes(f->dir));
    expect_read(j, 31, 50, 64);
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    expect_head(j, 50);
    /* at least what the deleted segments held counts as acked */
    assert_true(journal_acked_seq(j) >= firsts[0] - 1);
    assert_true(journal_acked_seq(j) <= 30);
    expect_read(j, journal_acked_seq(j) + 1, 50, 64);
    assert_int_equal(journal_ack(j, 40, err, sizeof err), 0);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    assert_int_equal(journal_acked_seq(j), 40);
    journal_close(j);
}

/* Disk full with everything acked in one segment (segment_kb larger than
 * the disk): the newest segment is the only thing to free. Its head seq and
 * hash go to the acked file, the segment is deleted and the append retried:
 * the agent resumes by itself. The chain continues across a restart. */
static void test_full_disk_reclaims_acked_newest(void **state)
{
    fixture *f = *state;
    journal_limits limits = BIG_LIMITS;
    char err[256], p[128], path[160];
    uint64_t firsts[8];
    journal *j = open_ok(f->dir, limits);
    uint64_t n = 0;

    seg_file(f->dir, 1, path, sizeof path);
    do {
        n++;
        append_range(j, n, n, 1);
    } while (file_size(path) < 2000);
    assert_int_equal(journal_ack(j, n, err, sizeof err), 0);
    assert_int_equal(list_segs(f->dir, firsts, 8), 1); /* kept: it holds the head */

    size_t len = payload_for(n + 1, p);
    limit_file_size((rlim_t)file_size(path) + 10); /* this segment cannot grow */
    int rc = journal_append(j, n + 1, p, len, err, sizeof err);
    int rc2 = rc == 0 ? journal_sync(j, err, sizeof err) : -9;
    unlimit_file_size();
    if (rc != 0)
        fail_msg("append after the acked segment could be freed: rc=%d %s", rc, err);
    assert_int_equal(rc2, 0);
    expect_head(j, n + 1);
    assert_int_equal(list_segs(f->dir, firsts, 8), 1);
    assert_int_equal(firsts[0], n + 1);
    expect_read(j, n + 1, n + 1, 64);
    journal_close(j);

    j = open_ok(f->dir, limits);
    expect_head(j, n + 1);
    assert_int_equal(journal_acked_seq(j), n);
    expect_read(j, n + 1, n + 1, 64);
    assert_int_equal(journal_ack(j, n + 1, err, sizeof err), 0);
    append_range(j, n + 2, n + 3, 1);
    journal_close(j);
    j = open_ok(f->dir, limits);
    expect_head(j, n + 3);
    journal_close(j);
}

/* After the newest segment was reclaimed and nothing was appended since,
 * the head comes from the acked file alone. */
static void test_reclaimed_head_survives_restart(void **state)
{
    fixture *f = *state;
    journal_limits limits = BIG_LIMITS;
    char err[256], p[128], path[160];
    uint64_t firsts[8];
    journal *j = open_ok(f->dir, limits);

    append_range(j, 1, 30, 1);
    assert_int_equal(journal_ack(j, 30, err, sizeof err), 0);
    seg_file(f->dir, 1, path, sizeof path);
    size_t len = payload_for(31, p);
    limit_file_size(0);                 /* nothing can be written: no new segment either */
    int rc = journal_append(j, 31, p, len, err, sizeof err);
    unlimit_file_size();
    assert_int_equal(rc, JOURNAL_NOSPACE);
    expect_head(j, 30);
    journal_close(j);

    j = open_ok(f->dir, limits);
    expect_head(j, 30);
    assert_int_equal(journal_acked_seq(j), 30);
    assert_int_equal(read_count(j, 31, 64), 0);
    append_range(j, 31, 32, 1);
    (void)firsts;
    journal_close(j);
    j = open_ok(f->dir, limits);
    expect_head(j, 32);
    expect_read(j, 31, 32, 64);
    journal_close(j);
}

/* event_id: a producer's idempotency key, kept in the record's frame (not in
 * the published payload) so it is exactly as durable as the record. */
static void test_event_id_durable(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    char err[256], p[128], id[32];

    for (uint64_t s = 1; s <= 40; s++) {
        size_t len = payload_for(s, p);
        snprintf(id, sizeof id, "ev-%" PRIu64, s);
        assert_int_equal(journal_append_id(j, s, p, len, s % 3 ? id : NULL, err, sizeof err), 0);
    }
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    assert_int_equal(journal_find_event_id(j, "ev-1"), 1);
    assert_int_equal(journal_find_event_id(j, "ev-40"), 40);
    assert_int_equal(journal_find_event_id(j, "ev-3"), 0);   /* sent without an id */
    assert_int_equal(journal_find_event_id(j, "nope"), 0);
    expect_read(j, 1, 40, 64);                               /* payloads unchanged */
    journal_close(j);

    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    assert_int_equal(journal_find_event_id(j, "ev-1"), 1);
    assert_int_equal(journal_find_event_id(j, "ev-38"), 38);
    /* acked segments are deleted; their ids are kept in the window file */
    assert_int_equal(journal_ack(j, 40, err, sizeof err), 0);
    journal_close(j);
    j = open_ok(f->dir, (journal_limits)SMALL_SEGMENTS);
    assert_int_equal(journal_find_event_id(j, "ev-1"), 1);
    assert_int_equal(journal_find_event_id(j, "ev-20"), 20);
    assert_int_equal(journal_find_event_id(j, "ev-40"), 40);
    expect_head(j, 40);
    journal_close(j);
}

/* A torn frame's id is not remembered (the event was never confirmed), and
 * a flipped byte in the id is caught by the frame checksum. */
static void test_event_id_torn(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    char err[256], p[128], path[160];

    for (uint64_t s = 1; s <= 3; s++) {
        size_t len = payload_for(s, p);
        assert_int_equal(journal_append_id(j, s, p, len, s == 1 ? "a" : s == 2 ? "b" : "c:3", err,
                                           sizeof err), 0);
    }
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    journal_close(j);
    seg_file(f->dir, 1, path, sizeof path);
    flip_byte(path, file_size(path) - 1);    /* last byte of the last id */
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    expect_head(j, 2);
    assert_int_equal(journal_find_event_id(j, "b"), 2);
    assert_int_equal(journal_find_event_id(j, "c:3"), 0);
    journal_close(j);
}

/* The window is bounded: the most recent JOURNAL_IDS_WINDOW ids, also
 * across a restart. */
static void test_event_id_window(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    char err[256], p[128], id[32];
    uint64_t total = JOURNAL_IDS_WINDOW + 10;

    for (uint64_t s = 1; s <= total; s++) {
        size_t len = payload_for(s, p);
        snprintf(id, sizeof id, "w%" PRIu64, s);
        assert_int_equal(journal_append_id(j, s, p, len, id, err, sizeof err), 0);
    }
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(journal_find_event_id(j, "w10"), 0);
        assert_int_equal(journal_find_event_id(j, "w11"), 11);
        assert_int_equal(journal_find_event_id(j, "w8202"), 8202);
        journal_close(j);
        j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    }
    journal_close(j);
}

/* ---- outbox ------------------------------------------------------------- */

static void test_outbox_submit_chain(void **state)
{
    fixture *f = *state;
    journal *j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    char err[256], canon[3][RECORD_CANON_MAX], hex[RECORD_HASH_HEX];
    record r[3];

    record_init(&r[0], RT_SESSION_START);
    record_set_str(&r[0], "session_id", "S1");
    record_set_str(&r[0], "operator_id", "op-1");
    record_set_str(&r[0], "client_ref", "c-1");
    record_set_int(&r[0], "treatment_no", 1);
    record_init(&r[1], RT_GRIP_ASSIGN);
    record_set_str(&r[1], "grip_id", "g1");
    record_set_str(&r[1], "load_id", "L1");
    record_set_str(&r[1], "session_id", "S1");
    snprintf(r[1].ts, sizeof r[1].ts, "2020-01-01T00:00:00.000Z"); /* producer's own ts */
    record_init(&r[2], RT_SESSION_END);
    record_set_str(&r[2], "session_id", "S1");
    record_set_int(&r[2], "run_s", 5);
    record_set_int(&r[2], "strokes", 6);

    for (int i = 0; i < 3; i++) {
        const char *prev = i ? hex : RECORD_GENESIS_PREV;
        assert_int_equal(outbox_submit(j, &r[i], 1772356500250LL + i, err, sizeof err), 0);
        assert_int_equal(r[i].seq, (uint64_t)i + 1);
        assert_string_equal(r[i].prev, prev);
        int n = record_canonical(&r[i], canon[i], sizeof canon[i]);
        assert_true(n > 0);
        record_sha256_hex(canon[i], (size_t)n, hex);
        assert_string_equal(journal_head_hash(j), hex);
    }
    assert_string_equal(r[0].ts, "2026-03-01T09:15:00.250Z");
    assert_string_equal(r[1].ts, "2020-01-01T00:00:00.000Z");
    assert_string_equal(r[2].ts, "2026-03-01T09:15:00.252Z");
    assert_int_equal(journal_sync(j, err, sizeof err), 0);

    /* the journal holds exactly the canonical bytes */
    journal_entry e[8];
    size_t n;
    char *buf = malloc(READ_CAP);
    assert_non_null(buf);
    assert_int_equal(journal_read(j, 1, 8, e, &n, buf, READ_CAP, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(e[i].len, strlen(canon[i]));
        assert_memory_equal(e[i].payload, canon[i], e[i].len);
    }
    free(buf);
    journal_close(j);

    /* after a restart the chain continues from the stored head */
    j = open_ok(f->dir, (journal_limits)BIG_LIMITS);
    record next = r[2];
    next.ts[0] = '\0';
    assert_int_equal(outbox_submit(j, &next, 0, err, sizeof err), 0);
    assert_int_equal(next.seq, 4);
    assert_string_equal(next.prev, hex);
    journal_close(j);
}

static void test_outbox_full(void **state)
{
    fixture *f = *state;
    journal_limits limits = {1u << 20, 300};
    journal *j = open_ok(f->dir, limits);
    char err[256];
    record r;
    int rc, count = 0;

    do {
        record_init(&r, RT_SESSION_END);
        record_set_str(&r, "session_id", "S1");
        record_set_int(&r, "run_s", 5);
        record_set_int(&r, "strokes", 6);
        rc = outbox_submit(j, &r, 1772356500000LL, err, sizeof err);
        count += rc == 0;
    } while (rc == 0 && count < 100);
    assert_int_equal(rc, 1);
    assert_true(count >= 1);
    assert_int_equal(journal_head_seq(j), (uint64_t)count);
    journal_close(j);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_sync_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_never_returns_unsynced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_seq_and_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_deletes_acked_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_all_keeps_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acked_file_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write_every_offset_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_in_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_sealed_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_at_segment_roll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_submit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_keeps_head_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_syncs_previous_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_roll_then_ack_keeps_head, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limit_counts_unacked_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_without_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_reclaims_acked_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaimed_head_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_id_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_id_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_id_window, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
