/*
 * Spec sections 5-6: the buckets of a token, the token cache, and the featurize calls.
 */
#include <stdlib.h>
#include <string.h>

#include "nl_internal.h"

/* n-grams of a wrapped token: at most sum over n = 1..16 of (34 - n + 1) = 424 */
#define NL_MAX_GRAMS 448u

/* ------------------------------------------------------------------------------------------ scratch */

nl_scratch *nl_scratch_create(const nl_featurizer *featurizer, size_t cache_entries)
{
    nl_scratch *s = (nl_scratch *)calloc(1, sizeof *s);
    if (!s) return NULL;
    if (featurizer && cache_entries) {
        size_t stride = sizeof(nl_cache_slot) + (size_t)featurizer->params.num_hashes * sizeof(int32_t);
        if ((uint64_t)cache_entries > UINT32_MAX) cache_entries = UINT32_MAX; /* the slot index is 32-bit */
        s->cache = (unsigned char *)calloc(cache_entries, stride);
        if (!s->cache) {
            free(s);
            return NULL;
        }
        s->cache_entries = cache_entries;
        s->slot_stride = stride;
        s->cache_params = featurizer->params;
    }
    return s;
}

void nl_scratch_free(nl_scratch *scratch)
{
    if (!scratch) return;
    free(scratch->tb);
    free(scratch->toff);
    free(scratch->chunk);
    free(scratch->seg_a);
    free(scratch->seg_b);
    free(scratch->seg_t);
    free(scratch->hash);
    free(scratch->cache);
    free(scratch);
}

/* ------------------------------------------------------------------------------------------ buckets */

static uint32_t reduce(const nl_featurizer *f, uint32_t v)
{
    return f->bucket_pow2 ? (v & f->bucket_mask) : (v % f->params.num_buckets);
}

/* The murmur3 of every n-gram of the wrapped token w (m code points at byte offsets off[0..m]) into
 * hs; returns their number. The n-grams starting at one code point share their full 4-byte blocks. */
static size_t ngram_hashes(const unsigned char *w, const unsigned char *off, size_t m, size_t nmin, size_t nmax,
                           uint32_t seed, uint32_t *hs)
{
    size_t nh = 0, st, top = nmax < m ? nmax : m;
    if (m <= nmin) {
        hs[0] = nl__murmur3(w, off[m], seed);
        return 1;
    }
    for (st = 0; st + nmin <= m; st++) {
        const unsigned char *p = w + off[st];
        size_t n, done = 0, end = top < m - st ? top : m - st;
        uint32_t h = seed;
        for (n = nmin; n <= end; n++) {
            size_t len = (size_t)(off[st + n] - off[st]);
            while (done + 4 <= len) {
                h = nl__mm_block(h, p + done);
                done += 4;
            }
            hs[nh++] = nl__mm_final(h, p + done, len - done, len);
        }
    }
    return nh;
}

/* The K buckets of a token (valid UTF-8) whose murmur3 is h. */
static void compute_buckets(const nl_featurizer *f, const unsigned char *tok, size_t len, uint32_t h, int32_t *out)
{
    const uint32_t K = f->params.num_hashes, W = f->params.word_hashes;
    const uint64_t *A = f->mix_a, *B = f->mix_b;
    uint32_t k;
    for (k = 0; k < W; k++) out[k] = (int32_t)reduce(f, (uint32_t)((A[k] * h + B[k]) >> 32));
    if (W < K) {
        unsigned char w[NL_MAX_NGRAM_CHARS * 4 + 2];
        unsigned char off[NL_MAX_NGRAM_CHARS + 3];
        uint32_t hs[NL_MAX_GRAMS];
        size_t i = 0, bytes = 0, ncp = 0, m, nh, g;
        /* wrapped = BOW + the first 32 code points + EOW; off[c] = byte offset of its code point c */
        w[0] = NL_BOW;
        off[0] = 0;
        while (i < len && ncp < NL_MAX_NGRAM_CHARS) {
            unsigned char b = tok[i];
            size_t l = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if (l > len - i) l = len - i; /* never for valid UTF-8 */
            off[++ncp] = (unsigned char)(1 + bytes);
            if (l == 1) {
                w[1 + bytes] = b;
            } else {
                memcpy(w + 1 + bytes, tok + i, l);
            }
            bytes += l;
            i += l;
        }
        w[1 + bytes] = NL_EOW;
        m = ncp + 2;
        off[m - 1] = (unsigned char)(1 + bytes);
        off[m] = (unsigned char)(2 + bytes);
        nh = ngram_hashes(w, off, m, f->params.ngram_min, f->params.ngram_max, f->params.seed, hs);
        /* MinHash: four mixing functions per sweep over the n-gram hashes */
        for (k = W; k + 4 <= K; k += 4) {
            const uint64_t a0 = A[k], a1 = A[k + 1], a2 = A[k + 2], a3 = A[k + 3];
            const uint64_t b0 = B[k], b1 = B[k + 1], b2 = B[k + 2], b3 = B[k + 3];
            uint32_t m0 = 0xFFFFFFFFu, m1 = 0xFFFFFFFFu, m2 = 0xFFFFFFFFu, m3 = 0xFFFFFFFFu;
            for (g = 0; g < nh; g++) {
                const uint64_t x = hs[g];
                const uint32_t v0 = (uint32_t)((a0 * x + b0) >> 32), v1 = (uint32_t)((a1 * x + b1) >> 32);
                const uint32_t v2 = (uint32_t)((a2 * x + b2) >> 32), v3 = (uint32_t)((a3 * x + b3) >> 32);
                m0 = v0 < m0 ? v0 : m0;
                m1 = v1 < m1 ? v1 : m1;
                m2 = v2 < m2 ? v2 : m2;
                m3 = v3 < m3 ? v3 : m3;
            }
            out[k] = (int32_t)reduce(f, m0);
            out[k + 1] = (int32_t)reduce(f, m1);
            out[k + 2] = (int32_t)reduce(f, m2);
            out[k + 3] = (int32_t)reduce(f, m3);
        }
        for (; k < K; k++) {
            const uint64_t a = A[k], b = B[k];
            uint32_t mn = 0xFFFFFFFFu;
            for (g = 0; g < nh; g++) {
                uint32_t v = (uint32_t)((a * hs[g] + b) >> 32);
                mn = v < mn ? v : mn;
            }
            out[k] = (int32_t)reduce(f, mn);
        }
    }
}

static int same_bytes(const unsigned char *a, const unsigned char *b, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    for (; i < len; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static nl_cache_slot *cache_slot(const nl_scratch *s, uint32_t h)
{
    size_t idx = (size_t)(((uint64_t)h * (uint64_t)s->cache_entries) >> 32);
    return (nl_cache_slot *)(s->cache + idx * s->slot_stride);
}

/* The buckets of a token whose murmur3 is h, through the cache. */
static void token_buckets(const nl_featurizer *f, nl_scratch *s, const unsigned char *tok, size_t len, uint32_t h,
                          int32_t *out)
{
    if (s->cache_entries && len <= NL_CACHE_TOKEN_BYTES) {
        nl_cache_slot *slot = cache_slot(s, h);
        int32_t *vals = (int32_t *)(slot + 1);
        size_t kbytes = (size_t)f->params.num_hashes * sizeof(int32_t);
        if (slot->len == len && slot->hash == h && same_bytes(slot->bytes, tok, len)) {
            memcpy(out, vals, kbytes);
            return;
        }
        compute_buckets(f, tok, len, h, out);
        slot->hash = h;
        slot->len = (uint32_t)len;
        memcpy(slot->bytes, tok, len);
        memcpy(vals, out, kbytes);
        return;
    }
    compute_buckets(f, tok, len, h, out);
}

#if defined(__GNUC__) || defined(__clang__)
#define NL_PREFETCH(p) __builtin_prefetch(p)
#else
#define NL_PREFETCH(p) ((void)0)
#endif

/* ------------------------------------------------------------------------------------------ calls */

static int cache_mismatch(const nl_featurizer *f, const nl_scratch *s)
{
    return s->cache_entries && memcmp(&s->cache_params, &f->params, sizeof f->params) != 0;
}

/* Multiply with overflow check. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* "texts[i]: " for a batch's text, "" for a single text. */
static const char *where_of(char *buf, const size_t *index)
{
    size_t n = 0, v, p = 6;
    char digits[24];
    if (!index) return "";
    v = *index;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(buf, "texts[", 6);
    while (n) buf[p++] = digits[--n];
    memcpy(buf + p, "]: ", 4);
    return buf;
}

/* One text into rows [row_length][K] (capacities already checked); index names a batch's text. */
static nl_status featurize_row(const nl_featurizer *f, nl_scratch *s, const char *utf8, size_t len, uint32_t limit,
                               uint32_t row_length, int32_t *features, float *mask, int32_t *length,
                               uint8_t *truncated, nl_error *err, const size_t *index)
{
    const size_t K = f->params.num_hashes;
    size_t count = 0, kept, l;
    nl_status st;
    char wbuf[40];
#define where where_of(wbuf, index)
    if (!utf8 && len) return nl__fail(err, NL_ERR_ARGUMENT, "%sutf8: NULL with length %lu", where, (unsigned long)len);
    if (len > NL_MAX_TEXT_BYTES)
        return nl__fail(err, NL_ERR_TOO_LONG, "%stext: %lu bytes, the limit is %lu", where, (unsigned long)len,
                        (unsigned long)NL_MAX_TEXT_BYTES);
    st = nl__tokenize(s, (const unsigned char *)(utf8 ? utf8 : ""), len, limit, 1, &count);
    if (st != NL_OK) return nl__fail(err, st, "%sscratch: out of memory", where);
    kept = count < limit ? count : limit;
    if (kept > row_length)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "%srow_length: %lu rows, the text keeps %lu tokens", where,
                        (unsigned long)row_length, (unsigned long)kept);
    if (s->cache_entries) {
        /* hash every kept token first and prefetch its cache slot: the lookups then overlap */
        if (GROW(s->hash, s->hash_cap, kept + 1)) return nl__fail(err, NL_ERR_NO_MEMORY, "%sscratch: out of memory", where);
        for (l = 0; l < kept; l++) {
            size_t a = s->toff[l], b = s->toff[l + 1];
            uint32_t h = nl__murmur3(s->tb + a, b - a, f->params.seed);
            const unsigned char *slot = (const unsigned char *)cache_slot(s, h);
            s->hash[l] = h;
            NL_PREFETCH(slot);
            if (s->slot_stride > 64) NL_PREFETCH(slot + 64);
        }
        for (l = 0; l < kept; l++) {
            size_t a = s->toff[l], b = s->toff[l + 1];
            token_buckets(f, s, s->tb + a, b - a, s->hash[l], features + l * K);
            mask[l] = 1.0f;
        }
    } else {
        for (l = 0; l < kept; l++) {
            size_t a = s->toff[l], b = s->toff[l + 1];
            compute_buckets(f, s->tb + a, b - a, nl__murmur3(s->tb + a, b - a, f->params.seed), features + l * K);
            mask[l] = 1.0f;
        }
    }
    if (row_length > kept) {
        memset(features + kept * K, 0, (row_length - kept) * K * sizeof *features);
        for (l = kept; l < row_length; l++) mask[l] = 0.0f;
    }
    if (length) *length = (int32_t)kept;
    if (truncated) *truncated = (uint8_t)(count > limit);
    return NL_OK;
#undef where
}

static nl_status check_common(const nl_featurizer *f, const nl_scratch *s, uint32_t *max_length, nl_error *err)
{
    if (!f) return nl__fail(err, NL_ERR_ARGUMENT, "featurizer: must not be NULL");
    if (!s) return nl__fail(err, NL_ERR_ARGUMENT, "scratch: must not be NULL");
    if (cache_mismatch(f, s))
        return nl__fail(err, NL_ERR_ARGUMENT,
                        "scratch: its token cache was created for a featurizer with other parameters");
    if (*max_length == 0) *max_length = f->params.max_length;
    if (*max_length > 2147483647u)
        return nl__fail(err, NL_ERR_ARGUMENT, "max_length: must be <= 2147483647, got %lu",
                        (unsigned long)*max_length);
    return NL_OK;
}

nl_status nl_featurize(const nl_featurizer *featurizer, nl_scratch *scratch, const char *utf8, size_t len,
                       uint32_t max_length, uint32_t row_length, int32_t *features, size_t features_cap,
                       float *mask, size_t mask_cap, int32_t *length, uint8_t *truncated, nl_error *err)
{
    size_t need;
    nl_status st;
    nl__ok(err);
    if ((st = check_common(featurizer, scratch, &max_length, err)) != NL_OK) return st;
    if (!mul_ok(row_length, featurizer->params.num_hashes, &need))
        return nl__fail(err, NL_ERR_ARGUMENT, "row_length: %lu rows overflow the address space", (unsigned long)row_length);
    if (row_length && (!features || !mask))
        return nl__fail(err, NL_ERR_ARGUMENT, "%s: must not be NULL", !features ? "features" : "mask");
    if (features_cap < need)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL,
                        "features: capacity %lu int32, needs %lu (row_length %lu x num_hashes %lu)",
                        (unsigned long)features_cap, (unsigned long)need, (unsigned long)row_length,
                        (unsigned long)featurizer->params.num_hashes);
    if (mask_cap < row_length)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "mask: capacity %lu floats, needs %lu (row_length)",
                        (unsigned long)mask_cap, (unsigned long)row_length);
    return featurize_row(featurizer, scratch, utf8, len, max_length, row_length, features, mask, length, truncated,
                         err, NULL);
}

nl_status nl_featurize_batch(const nl_featurizer *featurizer, nl_scratch *scratch, const char *const *texts,
                             const size_t *lens, size_t count, uint32_t max_length, uint32_t row_length,
                             int32_t *features, size_t features_cap, float *mask, size_t mask_cap,
                             int32_t *lengths, uint8_t *truncated, nl_error *err)
{
    size_t row, need_f, need_m, i;
    nl_status st;
    nl__ok(err);
    if ((st = check_common(featurizer, scratch, &max_length, err)) != NL_OK) return st;
    if (count && (!texts || !lens))
        return nl__fail(err, NL_ERR_ARGUMENT, "%s: must not be NULL", !texts ? "texts" : "lens");
    if (!mul_ok(row_length, featurizer->params.num_hashes, &row) || !mul_ok(count, row, &need_f) ||
        !mul_ok(count, row_length, &need_m))
        return nl__fail(err, NL_ERR_ARGUMENT, "count x row_length: %lu x %lu rows overflow the address space",
                        (unsigned long)count, (unsigned long)row_length);
    if (need_f && (!features || !mask))
        return nl__fail(err, NL_ERR_ARGUMENT, "%s: must not be NULL", !features ? "features" : "mask");
    if (features_cap < need_f)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL,
                        "features: capacity %lu int32, needs %lu (count %lu x row_length %lu x num_hashes %lu)",
                        (unsigned long)features_cap, (unsigned long)need_f, (unsigned long)count,
                        (unsigned long)row_length, (unsigned long)featurizer->params.num_hashes);
    if (mask_cap < need_m)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "mask: capacity %lu floats, needs %lu (count x row_length)",
                        (unsigned long)mask_cap, (unsigned long)need_m);
    for (i = 0; i < count; i++) {
        int32_t len_i = 0;
        uint8_t trunc_i = 0;
        st = featurize_row(featurizer, scratch, texts[i], lens[i], max_length, row_length,
                           features ? features + i * row : NULL, mask ? mask + i * (size_t)row_length : NULL,
                           &len_i, &trunc_i, err, &i);
        if (st != NL_OK) return st;
        if (lengths) lengths[i] = len_i;
        if (truncated) truncated[i] = trunc_i;
    }
    return NL_OK;
}

nl_status nl_count_tokens(const nl_featurizer *featurizer, nl_scratch *scratch, const char *utf8, size_t len,
                          size_t *count, nl_error *err)
{
    nl_status st;
    size_t n = 0;
    nl__ok(err);
    (void)featurizer;
    if (!scratch) return nl__fail(err, NL_ERR_ARGUMENT, "scratch: must not be NULL");
    if (!count) return nl__fail(err, NL_ERR_ARGUMENT, "count: must not be NULL");
    if (!utf8 && len) return nl__fail(err, NL_ERR_ARGUMENT, "utf8: NULL with length %lu", (unsigned long)len);
    if (len > NL_MAX_TEXT_BYTES)
        return nl__fail(err, NL_ERR_TOO_LONG, "text: %lu bytes, the limit is %lu", (unsigned long)len,
                        (unsigned long)NL_MAX_TEXT_BYTES);
    st = nl__tokenize(scratch, (const unsigned char *)(utf8 ? utf8 : ""), len, 0, 0, &n);
    if (st != NL_OK) return nl__fail(err, st, "scratch: out of memory");
    *count = n;
    return NL_OK;
}

/* ------------------------------------------------------------------------------------------ spec steps */

typedef struct {
    nl_scratch *s;
} utf8_sink_ctx;

static nl_status utf8_sink(void *ctx, const uint32_t *cps, size_t n)
{
    nl_scratch *s = ((utf8_sink_ctx *)ctx)->s;
    size_t i;
    if (n > (SIZE_MAX - s->tb_len) / 4 || GROW(s->tb, s->tb_cap, s->tb_len + 4 * n)) return NL_ERR_NO_MEMORY;
    for (i = 0; i < n; i++) s->tb_len += nl__utf8_put(s->tb + s->tb_len, cps[i]);
    return NL_OK;
}

nl_status nl_normalize(nl_scratch *scratch, const char *utf8, size_t len, char *out, size_t out_cap,
                       size_t *needed, nl_error *err)
{
    const unsigned char *text = (const unsigned char *)(utf8 ? utf8 : "");
    size_t n;
    nl__ok(err);
    if (needed) *needed = 0;
    if (!scratch) return nl__fail(err, NL_ERR_ARGUMENT, "scratch: must not be NULL");
    if (!utf8 && len) return nl__fail(err, NL_ERR_ARGUMENT, "utf8: NULL with length %lu", (unsigned long)len);
    if (!out && out_cap) return nl__fail(err, NL_ERR_ARGUMENT, "out: NULL with capacity %lu", (unsigned long)out_cap);
    if (len > NL_MAX_TEXT_BYTES)
        return nl__fail(err, NL_ERR_TOO_LONG, "text: %lu bytes, the limit is %lu", (unsigned long)len,
                        (unsigned long)NL_MAX_TEXT_BYTES);
    if (nl__is_ascii(text, len)) {
        size_t i;
        if (needed) *needed = len;
        if (out_cap < len)
            return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "out: capacity %lu bytes, needs %lu",
                            (unsigned long)out_cap, (unsigned long)len);
        for (i = 0; i < len; i++) out[i] = (char)((unsigned)(text[i] - 'A') < 26u ? text[i] + 32 : text[i]);
        if (out_cap > len) out[len] = '\0';
        return NL_OK;
    } else {
        utf8_sink_ctx ctx;
        nl_status st;
        ctx.s = scratch;
        scratch->tb_len = 0;
        st = nl__normalize_stream(scratch, text, len, utf8_sink, &ctx);
        if (st != NL_OK) return nl__fail(err, st, "scratch: out of memory");
        n = scratch->tb_len;
        if (needed) *needed = n;
        if (out_cap < n)
            return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "out: capacity %lu bytes, needs %lu",
                            (unsigned long)out_cap, (unsigned long)n);
        if (n) memcpy(out, scratch->tb, n);
        if (out_cap > n) out[n] = '\0';
        return NL_OK;
    }
}

nl_status nl_tokenize(nl_scratch *scratch, const char *utf8, size_t len, char *out, size_t out_cap, size_t *needed,
                      size_t *token_count, nl_error *err)
{
    size_t count = 0, need, i, o = 0;
    nl_status st;
    nl__ok(err);
    if (needed) *needed = 0;
    if (token_count) *token_count = 0;
    if (!scratch) return nl__fail(err, NL_ERR_ARGUMENT, "scratch: must not be NULL");
    if (!utf8 && len) return nl__fail(err, NL_ERR_ARGUMENT, "utf8: NULL with length %lu", (unsigned long)len);
    if (!out && out_cap) return nl__fail(err, NL_ERR_ARGUMENT, "out: NULL with capacity %lu", (unsigned long)out_cap);
    if (len > NL_MAX_TEXT_BYTES)
        return nl__fail(err, NL_ERR_TOO_LONG, "text: %lu bytes, the limit is %lu", (unsigned long)len,
                        (unsigned long)NL_MAX_TEXT_BYTES);
    st = nl__tokenize(scratch, (const unsigned char *)(utf8 ? utf8 : ""), len, SIZE_MAX, 0, &count);
    if (st != NL_OK) return nl__fail(err, st, "scratch: out of memory");
    need = scratch->tb_len + count;
    if (needed) *needed = need;
    if (token_count) *token_count = count;
    if (out_cap < need)
        return nl__fail(err, NL_ERR_BUFFER_TOO_SMALL, "out: capacity %lu bytes, needs %lu", (unsigned long)out_cap,
                        (unsigned long)need);
    for (i = 0; i < count; i++) {
        size_t a = scratch->toff[i], b = scratch->toff[i + 1];
        memcpy(out + o, scratch->tb + a, b - a);
        o += b - a;
        out[o++] = '\0';
    }
    return NL_OK;
}

nl_status nl_token_buckets(const nl_featurizer *featurizer, const char *token_utf8, size_t len, int32_t *out_k,
                           nl_error *err)
{
    const unsigned char *tok = (const unsigned char *)(token_utf8 ? token_utf8 : "");
    size_t bad;
    nl__ok(err);
    if (!featurizer) return nl__fail(err, NL_ERR_ARGUMENT, "featurizer: must not be NULL");
    if (!out_k) return nl__fail(err, NL_ERR_ARGUMENT, "out_k: must not be NULL");
    if (!token_utf8 && len) return nl__fail(err, NL_ERR_ARGUMENT, "token_utf8: NULL with length %lu", (unsigned long)len);
    if (len > NL_MAX_TEXT_BYTES)
        return nl__fail(err, NL_ERR_TOO_LONG, "token: %lu bytes, the limit is %lu", (unsigned long)len,
                        (unsigned long)NL_MAX_TEXT_BYTES);
    bad = nl__utf8_validate(tok, len);
    if (bad != len) return nl__fail(err, NL_ERR_ARGUMENT, "token: invalid UTF-8 at byte %lu", (unsigned long)bad);
    compute_buckets(featurizer, tok, len, nl__murmur3(tok, len, featurizer->params.seed), out_k);
    return NL_OK;
}
