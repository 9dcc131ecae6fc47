/* gen_load: the ingest benchmark's load, written once, published later.
 *
 *   gen_load --out DIR --devices N --records R --pki DIR [--prefix P]
 *            [--start-days-ago D] [--batch B]... [--no-checkpoints]
 *
 * For each of N devices (ids P000, P001, ...; their keys in PKI/devices/)
 * makes R records exactly as the agent journals them: the simulator's
 * clinic days, seq 1..R, prev = SHA-256 of the previous canonical bytes,
 * a signed checkpoint every 100 records (bench/chain.c). For each --batch B
 * it writes DIR/b<B>/<device>.txt: one events payload per line
 * (message_encode_batch, B records per message, the last one shorter),
 * which bench/pub_load publishes to smp/v1/dev/<device>/events and
 * mosquitto_pub -l can send as they are. Canonical JSON has no newline, so a
 * line is a message. DIR/devices.txt lists the device ids.
 * --no-checkpoints leaves the signed checkpoints out (an experiment: what
 * ingest costs without verifying them; the agent always writes them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chain.h"
#include "message.h"

#define MAX_BATCHES 4

static void usage(void)
{
    fprintf(stderr, "usage: gen_load --out DIR --devices N --records R --pki DIR [--prefix P]\n"
                    "                [--start-days-ago D] [--batch B]... [--no-checkpoints]\n");
    exit(2);
}

typedef struct out_file {
    int batch;
    FILE *f;
    size_t n;                                  /* records buffered */
    char *canon[MESSAGE_MAX_RECORDS];
    size_t lens[MESSAGE_MAX_RECORDS];
} out_file;

static char payload[MESSAGE_MAX_BYTES + 1];

static int flush_batch(out_file *o, const char *device)
{
    if (o->n == 0)
        return 0;
    int len = message_encode_batch(device, (const char *const *)o->canon, o->lens, o->n, payload,
                                   sizeof payload);
    if (len < 0) {
        fprintf(stderr, "gen_load: %s: batch of %zu too large\n", device, o->n);
        return -1;
    }
    if (memchr(payload, '\n', (size_t)len)) {
        fprintf(stderr, "gen_load: %s: payload holds a newline\n", device);
        return -1;
    }
    fwrite(payload, 1, (size_t)len, o->f);
    fputc('\n', o->f);
    o->n = 0;
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *pki = NULL, *prefix = "bench-";
    long devices = 0, records = 0, days_ago = 30;
    out_file outs[MAX_BATCHES];
    int nout = 0, checkpoints = 1;
    char path[4096], err[512];

    memset(outs, 0, sizeof outs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-checkpoints")) {
            checkpoints = 0;
            continue;
        }
        if (!v)
            usage();
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--pki")) pki = v;
        else if (!strcmp(a, "--prefix")) prefix = v;
        else if (!strcmp(a, "--devices")) devices = atol(v);
        else if (!strcmp(a, "--records")) records = atol(v);
        else if (!strcmp(a, "--start-days-ago")) days_ago = atol(v);
        else if (!strcmp(a, "--batch") && nout < MAX_BATCHES) {
            outs[nout].batch = atoi(v);
            if (outs[nout].batch < 1 || outs[nout].batch > MESSAGE_MAX_RECORDS)
                usage();
            nout++;
        } else
            usage();
        i++;
    }
    if (!out || !pki || devices < 1 || devices > 1000 || records < 1 || nout == 0 || days_ago < 1)
        usage();

    /* Simulated days start days_ago days back at 00:00 UTC, so every ts is
     * in the past (no R10 clock alert, no future-skew rejection). About 650
     * records a clinic day: enough days for R records. */
    int64_t start_ms = ((int64_t)time(NULL) / 86400 - days_ago) * 86400 * 1000;
    int days = (int)(records / 300 + 2);
    if (days > days_ago) {
        fprintf(stderr, "gen_load: %ld records need up to %d days; raise --start-days-ago\n", records,
                days);
        return 2;
    }

    mkdir(out, 0755);
    snprintf(path, sizeof path, "%s/devices.txt", out);
    FILE *list = fopen(path, "w");
    if (!list) {
        fprintf(stderr, "gen_load: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (int k = 0; k < nout; k++) {
        snprintf(path, sizeof path, "%s/b%d", out, outs[k].batch);
        mkdir(path, 0755);
        for (int m = 0; m < MESSAGE_MAX_RECORDS; m++)
            outs[k].canon[m] = malloc(RECORD_CANON_MAX);
    }

    char canon[RECORD_CANON_MAX];
    for (long d = 0; d < devices; d++) {
        char dev[IDS_DEVICE_ID_MAX + 1], key[4096];
        chain c;
        snprintf(dev, sizeof dev, "%s%03ld", prefix, d);
        snprintf(key, sizeof key, "%s/devices/%s.key", pki, dev);
        /* One clinic: its first machine also logs the autoclave. */
        if (chain_open(&c, dev, 1000 + (uint64_t)d, start_ms, days,
                       d == 0 ? SIM_ROLE_BOTH : SIM_ROLE_MACHINE, checkpoints ? key : NULL, err,
                       sizeof err) != 0) {
            fprintf(stderr, "gen_load: %s\n", err);
            return 1;
        }
        for (int k = 0; k < nout; k++) {
            snprintf(path, sizeof path, "%s/b%d/%s.txt", out, outs[k].batch, dev);
            if (!(outs[k].f = fopen(path, "w"))) {
                fprintf(stderr, "gen_load: %s: %s\n", path, strerror(errno));
                return 1;
            }
        }
        for (long r = 0; r < records; r++) {
            int len, got = chain_next(&c, canon, sizeof canon, &len, NULL, err, sizeof err);
            if (got <= 0) {
                fprintf(stderr, "gen_load: %s: %s\n", dev, got < 0 ? err : "simulation ended early");
                return 1;
            }
            for (int k = 0; k < nout; k++) {
                out_file *o = &outs[k];
                memcpy(o->canon[o->n], canon, (size_t)len + 1);
                o->lens[o->n++] = (size_t)len;
                if ((int)o->n == o->batch && flush_batch(o, dev) != 0)
                    return 1;
            }
        }
        for (int k = 0; k < nout; k++) {
            if (flush_batch(&outs[k], dev) != 0)
                return 1;
            if (fclose(outs[k].f) != 0) {
                fprintf(stderr, "gen_load: write failed: %s\n", strerror(errno));
                return 1;
            }
        }
        chain_close(&c);
        fprintf(list, "%s\n", dev);
    }
    fclose(list);
    return 0;
}
