/*
 * libFuzzer harness: featurize arbitrary bytes under several configs and check the invariants.
 *   make fuzz-smoke   (clang-14 -fsanitize=fuzzer,address,undefined, with the core sources)
 * Invariants: every call succeeds (invalid UTF-8 is not an error); buckets lie in [0, F); length =
 * min(tokens, max_length), truncated = tokens > max_length, mask is 1 exactly on the kept rows and
 * padding rows are zero; the same rows with no cache, a tiny cache (collisions) and a large one, on a
 * first and a second (cached) pass; each row equals nl_token_buckets of its token; tokens are
 * non-empty valid UTF-8 without NUL; normalize is idempotent and tokenizing its output gives the same
 * tokens; a batch of pieces of the input equals featurizing each piece alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"

#define NCONFIGS 5
static const char *const CONFIGS[NCONFIGS] = {
    "{\"num_buckets\":4096,\"num_hashes\":8,\"word_hashes\":4,\"ngram_min\":3,\"ngram_max\":5,\"max_length\":64,"
    "\"seed\":0,\"version\":\"1.0\"}",
    "{\"num_buckets\":1000,\"num_hashes\":6,\"word_hashes\":2,\"ngram_min\":2,\"ngram_max\":4,\"max_length\":16,"
    "\"seed\":4294967295,\"version\":\"1.0\"}",
    "{\"num_buckets\":2147483648,\"num_hashes\":3,\"word_hashes\":0,\"ngram_min\":1,\"ngram_max\":2,"
    "\"max_length\":8,\"seed\":42,\"version\":\"1.0\"}",
    "{\"num_buckets\":97,\"num_hashes\":2,\"word_hashes\":2,\"ngram_min\":3,\"ngram_max\":5,\"max_length\":32,"
    "\"seed\":7,\"version\":\"1.0\"}",
    "{\"num_buckets\":1,\"num_hashes\":12,\"word_hashes\":1,\"ngram_min\":1,\"ngram_max\":16,\"max_length\":3,"
    "\"seed\":1,\"version\":\"1.0\"}"};

static nl_featurizer *F[NCONFIGS];
static nl_scratch *S_NONE[NCONFIGS], *S_TINY[NCONFIGS], *S_BIG[NCONFIGS];

#define REQUIRE(cond)                                                                                  \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);                      \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

static void init(void)
{
    int i;
    for (i = 0; i < NCONFIGS; i++) {
        nl_error e;
        REQUIRE(nl_featurizer_create(CONFIGS[i], strlen(CONFIGS[i]), &F[i], &e) == NL_OK);
        S_NONE[i] = nl_scratch_create(F[i], 0);
        S_TINY[i] = nl_scratch_create(F[i], 3);
        S_BIG[i] = nl_scratch_create(F[i], 4096);
        REQUIRE(S_NONE[i] && S_TINY[i] && S_BIG[i]);
    }
}

static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t l, k;
        uint32_t cp;
        if (b < 0x80) { i++; continue; }
        if (b >= 0xC2 && b <= 0xDF) { l = 2; cp = b & 0x1F; }
        else if (b >= 0xE0 && b <= 0xEF) { l = 3; cp = b & 0x0F; }
        else if (b >= 0xF0 && b <= 0xF4) { l = 4; cp = b & 0x07; }
        else return 0;
        if (i + l > n) return 0;
        for (k = 1; k < l; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((l == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += l;
    }
    return 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    REQUIRE(p != NULL);
    return p;
}

/* Featurize into rows [L][K]; checks the row invariants; returns the features (caller frees). */
static int32_t *featurize(int c, nl_scratch *s, const unsigned char *d, size_t n, uint32_t max_length, uint32_t L,
                          size_t expect_count)
{
    const nl_featurizer_params *p = nl_featurizer_get_params(F[c]);
    size_t K = p->num_hashes, l, k, limit = max_length ? max_length : p->max_length;
    int32_t *feat = (int32_t *)xmalloc(L * K * sizeof *feat), length = -1;
    float *mask = (float *)xmalloc(L * sizeof *mask);
    uint8_t trunc = 2;
    nl_error e;
    nl_status st = nl_featurize(F[c], s, (const char *)d, n, max_length, L, feat, L * K, mask, L, &length, &trunc, &e);
    REQUIRE(st == NL_OK);
    REQUIRE((size_t)length == (expect_count < limit ? expect_count : limit));
    REQUIRE(trunc == (expect_count > limit));
    for (l = 0; l < L; l++) {
        REQUIRE(mask[l] == (l < (size_t)length ? 1.0f : 0.0f));
        for (k = 0; k < K; k++) {
            int32_t v = feat[l * K + k];
            REQUIRE(v >= 0 && (uint32_t)v < p->num_buckets);
            if (l >= (size_t)length) REQUIRE(v == 0);
        }
    }
    free(mask);
    return feat;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    int c;
    size_t count = 0, need = 0, ntok = 0, i;
    char *tokens, *norm, *norm2, *tokens2;
    size_t nlen = 0, nlen2 = 0, need2 = 0, ntok2 = 0;
    nl_error e;
    if (!ready) {
        init();
        ready = 1;
    }
    /* tokens and normalization (config independent) */
    REQUIRE(nl_count_tokens(F[0], S_NONE[0], (const char *)data, size, &count, &e) == NL_OK);
    nl_tokenize(S_NONE[0], (const char *)data, size, NULL, 0, &need, &ntok, &e);
    REQUIRE(ntok == count);
    tokens = (char *)xmalloc(need);
    REQUIRE(nl_tokenize(S_NONE[0], (const char *)data, size, tokens, need, &need, &ntok, &e) == NL_OK);
    {
        size_t o = 0, t = 0;
        while (o < need) {
            size_t tl = strlen(tokens + o);
            REQUIRE(tl > 0 && valid_utf8((const unsigned char *)tokens + o, tl));
            o += tl + 1;
            t++;
        }
        REQUIRE(t == count);
    }
    nl_normalize(S_NONE[0], (const char *)data, size, NULL, 0, &nlen, &e);
    norm = (char *)xmalloc(nlen);
    REQUIRE(nl_normalize(S_NONE[0], (const char *)data, size, norm, nlen, &nlen, &e) == NL_OK);
    REQUIRE(valid_utf8((const unsigned char *)norm, nlen));
    norm2 = (char *)xmalloc(nlen);
    REQUIRE(nl_normalize(S_NONE[0], norm, nlen, norm2, nlen, &nlen2, &e) == NL_OK);
    REQUIRE(nlen2 == nlen && memcmp(norm, norm2, nlen) == 0);
    nl_tokenize(S_NONE[0], norm, nlen, NULL, 0, &need2, &ntok2, &e);
    tokens2 = (char *)xmalloc(need2);
    REQUIRE(nl_tokenize(S_NONE[0], norm, nlen, tokens2, need2, &need2, &ntok2, &e) == NL_OK);
    REQUIRE(need2 == need && ntok2 == ntok && memcmp(tokens, tokens2, need) == 0);

    for (c = 0; c < NCONFIGS; c++) {
        const nl_featurizer_params *p = nl_featurizer_get_params(F[c]);
        size_t K = p->num_hashes, kept = count < p->max_length ? count : p->max_length;
        uint32_t L = (uint32_t)(kept ? kept : 1), all = (uint32_t)(count ? count : 1);
        int32_t *base = featurize(c, S_NONE[c], data, size, 0, L, count), *other, *full, *one;
        int pass;
        other = featurize(c, S_TINY[c], data, size, 0, L, count);
        REQUIRE(memcmp(base, other, L * K * sizeof *base) == 0);
        free(other);
        for (pass = 0; pass < 2; pass++) { /* the second pass reads the cache */
            other = featurize(c, S_BIG[c], data, size, 0, L, count);
            REQUIRE(memcmp(base, other, L * K * sizeof *base) == 0);
            free(other);
        }
        /* a longer row: same first rows, zero padding */
        other = featurize(c, S_BIG[c], data, size, 0, L + 2, count);
        REQUIRE(memcmp(base, other, L * K * sizeof *base) == 0);
        free(other);
        /* all tokens: each row is the token's buckets */
        full = featurize(c, S_TINY[c], data, size, all, all, count);
        REQUIRE(memcmp(base, full, kept * K * sizeof *base) == 0);
        one = (int32_t *)xmalloc(K * sizeof *one);
        {
            size_t o = 0;
            for (i = 0; i < count && i < 64; i++) {
                size_t tl = strlen(tokens + o);
                REQUIRE(nl_token_buckets(F[c], tokens + o, tl, one, &e) == NL_OK);
                REQUIRE(memcmp(one, full + i * K, K * sizeof *one) == 0);
                o += tl + 1;
            }
        }
        free(one);
        free(full);
        free(base);
    }

    /* batch == single: the input cut in three at positions taken from its first bytes */
    {
        const char *texts[3];
        size_t lens[3], cut1 = size ? data[0] % (size + 1) : 0, cut2, counts[3];
        uint32_t L = 1, maxlen = 5;
        int32_t *bf, lengths[3];
        float *bm;
        uint8_t truncs[3];
        size_t K = nl_featurizer_get_params(F[1])->num_hashes;
        cut2 = size > 1 ? cut1 + data[1] % (size - cut1 + 1) : cut1;
        texts[0] = (const char *)data;
        lens[0] = cut1;
        texts[1] = (const char *)data + cut1;
        lens[1] = cut2 - cut1;
        texts[2] = (const char *)data + cut2;
        lens[2] = size - cut2;
        for (i = 0; i < 3; i++) {
            REQUIRE(nl_count_tokens(F[1], S_NONE[1], texts[i], lens[i], &counts[i], &e) == NL_OK);
            if (counts[i] > L) L = (uint32_t)(counts[i] < maxlen ? counts[i] : maxlen);
        }
        bf = (int32_t *)xmalloc(3 * L * K * sizeof *bf);
        bm = (float *)xmalloc(3 * L * sizeof *bm);
        REQUIRE(nl_featurize_batch(F[1], S_BIG[1], texts, lens, 3, maxlen, L, bf, 3 * L * K, bm, 3 * L, lengths, truncs,
                                   &e) == NL_OK);
        for (i = 0; i < 3; i++) {
            int32_t *row = featurize(1, S_NONE[1], (const unsigned char *)texts[i], lens[i], maxlen, L, counts[i]);
            REQUIRE(memcmp(row, bf + i * L * K, L * K * sizeof *row) == 0);
            REQUIRE((size_t)lengths[i] == (counts[i] < maxlen ? counts[i] : maxlen));
            REQUIRE(truncs[i] == (counts[i] > maxlen));
            free(row);
        }
        free(bf);
        free(bm);
    }
    free(tokens);
    free(tokens2);
    free(norm);
    free(norm2);
    return 0;
}
