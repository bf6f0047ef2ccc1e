/*
 * Single-thread throughput of the featurizer core on SST-2 train (the sentence column of a TSV with
 * a header line), default config, in the shapes of benchmarks/featurizer_throughput.py:
 *
 *   bench [TSV] [--passes N] [--batch B] [--only MODE-SUBSTRING]
 *
 * A pass featurizes every sentence in batches of B (1024) with nl_featurize_batch, rows padded to the
 * longest kept text of the batch (found with nl_count_tokens first, so each text is tokenized twice,
 * as a binding producing [B, L, K] arrays would) -- and, as "fixed L", into rows of max_length (64)
 * without the counting pass. Modes:
 *   warm      one scratch with a 65,536-slot token cache, after a warm-up pass
 *   cold      a fresh scratch (and cache) per pass
 *   no cache  a scratch without a token cache: every token hashed
 *   batch 1   warm cache, one sentence per nl_featurize call (row_length 64)
 * Prints the median (and min/max) of N passes (default 7) as tokens/s, by wall clock and by process
 * CPU time (robust when other processes share the core).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "neurolite_featurizer.h"

static const char CONFIG[] = "{\"num_buckets\":4096,\"num_hashes\":8,\"word_hashes\":4,\"ngram_min\":3,"
                             "\"ngram_max\":5,\"max_length\":64,\"seed\":0,\"version\":\"1.0\"}";

static nl_featurizer *F;
static const char **texts;
static size_t *lens, ntexts, batch = 1024;
static int32_t *feat;
static float *mask;
static int32_t *lengths;
static uint8_t *truncs;
static size_t *counts;
static const char *only; /* --only SUBSTRING: run the modes whose name contains it */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const nl_error *e)
{
    fprintf(stderr, "%s: %s\n", what, e ? e->message : "");
    exit(1);
}

/* One pass; returns the number of kept tokens. mode: 0 padded to the batch's longest, 1 fixed L = 64,
 * 2 one text per call. */
static size_t one_pass(nl_scratch *s, int mode)
{
    size_t start, i, tokens = 0;
    const size_t K = 8, maxlen = 64;
    nl_error e;
    if (mode == 2) {
        for (i = 0; i < ntexts; i++) {
            int32_t len = 0;
            if (nl_featurize(F, s, texts[i], lens[i], 0, (uint32_t)maxlen, feat, maxlen * K, mask, maxlen, &len, NULL,
                             &e) != NL_OK)
                die("featurize", &e);
            tokens += (size_t)len;
        }
        return tokens;
    }
    for (start = 0; start < ntexts; start += batch) {
        size_t n = ntexts - start < batch ? ntexts - start : batch, L = maxlen;
        if (mode == 0) {
            L = 1;
            for (i = 0; i < n; i++) {
                if (nl_count_tokens(F, s, texts[start + i], lens[start + i], &counts[i], &e) != NL_OK)
                    die("count", &e);
                if (counts[i] > L) L = counts[i] < maxlen ? counts[i] : maxlen;
            }
        }
        if (nl_featurize_batch(F, s, texts + start, lens + start, n, 0, (uint32_t)L, feat, n * L * K, mask, n * L,
                               lengths, truncs, &e) != NL_OK)
            die("featurize_batch", &e);
        for (i = 0; i < n; i++) tokens += (size_t)lengths[i];
    }
    return tokens;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* cache: -1 none, 0 fresh cache per pass, else one warm cache of that many slots */
static void measure(const char *name, int passes, long cache, int mode)
{
    double wall[64], cpus[64];
    size_t tokens = 0;
    int p;
    nl_scratch *warm = NULL;
    if (only && !strstr(name, only)) return;
    if (cache > 0) {
        warm = nl_scratch_create(F, (size_t)cache);
        if (!warm) die("scratch", NULL);
        one_pass(warm, mode);
    }
    for (p = 0; p < passes; p++) {
        nl_scratch *s = warm;
        double w0, c0;
        w0 = now();
        c0 = cpu();
        if (!s) s = nl_scratch_create(F, cache < 0 ? 0 : 65536);
        tokens = one_pass(s, mode);
        if (!warm) nl_scratch_free(s);
        wall[p] = now() - w0;
        cpus[p] = cpu() - c0;
    }
    qsort(wall, (size_t)passes, sizeof wall[0], cmp_double);
    qsort(cpus, (size_t)passes, sizeof cpus[0], cmp_double);
    printf("%-22s %8lu tok | wall median %7.2f ms (min %7.2f, max %7.2f) %12.0f tok/s | CPU median %7.2f ms %12.0f tok/s\n",
           name, (unsigned long)tokens, wall[passes / 2] * 1e3, wall[0] * 1e3, wall[passes - 1] * 1e3,
           (double)tokens / wall[passes / 2], cpus[passes / 2] * 1e3, (double)tokens / cpus[passes / 2]);
    nl_scratch_free(warm);
}

int main(int argc, char **argv)
{
    const char *path = "/work/shared/data/sst2/train.tsv";
    int passes = 7, i;
    FILE *f;
    char *data, *p, *end;
    long size;
    nl_error e;
    size_t cap = 0, total_tokens = 0, max_tokens = 0;
    nl_scratch *s;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) passes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else path = argv[i];
    }
    if (passes < 1) passes = 1;
    if (passes > 64) passes = 64;
    if (batch < 1) batch = 1;
    f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    data = (char *)malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) return 1;
    fclose(f);
    data[size] = '\0';
    /* lines; skip the header and blank lines; the sentence is the first column */
    p = strchr(data, '\n');
    p = p ? p + 1 : data + size;
    end = data + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *tab, *q;
        int blank = 1;
        if (!nl) nl = end;
        for (q = p; q < nl; q++)
            if (*q != ' ' && *q != '\t' && *q != '\r') blank = 0;
        if (!blank) {
            tab = memchr(p, '\t', (size_t)(nl - p));
            if (ntexts == cap) {
                cap = cap ? 2 * cap : 1024;
                texts = (const char **)realloc((void *)texts, cap * sizeof *texts);
                lens = (size_t *)realloc(lens, cap * sizeof *lens);
                if (!texts || !lens) return 1;
            }
            texts[ntexts] = p;
            lens[ntexts] = (size_t)((tab ? tab : nl) - p);
            ntexts++;
        }
        p = nl + 1;
    }
    if (nl_featurizer_create(CONFIG, strlen(CONFIG), &F, &e) != NL_OK) die("config", &e);
    feat = (int32_t *)malloc(batch * 64 * 8 * sizeof *feat);
    mask = (float *)malloc(batch * 64 * sizeof *mask);
    lengths = (int32_t *)malloc(batch * sizeof *lengths);
    truncs = (uint8_t *)malloc(batch);
    counts = (size_t *)malloc(batch * sizeof *counts);
    if (!feat || !mask || !lengths || !truncs || !counts) return 1;
    s = nl_scratch_create(F, 0);
    for (i = 0; (size_t)i < ntexts; i++) {
        size_t n = 0;
        nl_count_tokens(F, s, texts[i], lens[i], &n, NULL);
        total_tokens += n;
        if (n > max_tokens) max_tokens = n;
    }
    nl_scratch_free(s);
    printf("%s\n%s: %lu sentences, %lu tokens (longest %lu); batch %lu, %d passes, 1 thread\n", nl_version_string(),
           path, (unsigned long)ntexts, (unsigned long)total_tokens, (unsigned long)max_tokens, (unsigned long)batch,
           passes);
    measure("warm (cache 65536)", passes, 65536, 0);
    measure("cold (fresh cache)", passes, 0, 0);
    measure("no cache", passes, -1, 0);
    measure("warm, fixed L=64", passes, 65536, 1);
    measure("no cache, fixed L=64", passes, -1, 1);
    measure("batch 1 warm (L=64)", passes, 65536, 2);
    measure("batch 1 no cache", passes, -1, 2);
    nl_featurizer_free(F);
    free(feat);
    free(mask);
    free(lengths);
    free(truncs);
    free(counts);
    free((void *)texts);
    free(lens);
    free(data);
    return 0;
}
