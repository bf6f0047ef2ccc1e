/*
 * WebAssembly export layer of the NeuroLite featurizer core (native/include/neurolite_featurizer.h).
 *
 * Built by native/wasm/Makefile into native/js/neurolite_featurizer.wasm, a reactor module with NO
 * imports (no WASI: nothing here or in the core touches stdio, files, clocks or the environment), so
 * it instantiates identically in browsers and node. native/js/featurizer.mjs is its only intended
 * caller; the ABI below is private to that pair and may change with it.
 *
 * The module is single-threaded (one JS thread per instance), so the last error lives in one static
 * nl_error. A handle owns a featurizer, its scratch (with the optional token cache) and the output
 * buffers of its calls, which are grown only when a call needs more and reused otherwise: JS copies
 * the results out before the next call. No formatted printing here (snprintf pulls stdio into the
 * link); messages are assembled with the small helpers below.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"

#define NLW_EXPORT(name) __attribute__((export_name(#name))) name

typedef struct {
    nl_featurizer *featurizer;
    nl_scratch *scratch;
    uint32_t k;
    int32_t *features; /* elements */
    size_t features_cap;
    float *mask;
    size_t mask_cap;
    int32_t *lengths;
    uint8_t *truncated;
    size_t count_cap;
    char *text;        /* tokenize / normalize output */
    size_t text_cap;
    /* Result of the last call, read by JS:
     * featurize: [features, mask, lengths, truncated, row length L, count]
     * tokenize:  [text, bytes, token count]   normalize: [text, bytes] */
    uint32_t result[6];
    char digest[65];
} nlw_handle;

static nl_error last_error;

/* ----------------------------------------------------------------------------------------- messages */
typedef struct {
    char *out;
    size_t len;
} msg_builder;

static void msg_start(msg_builder *m, nl_status code) {
    last_error.code = code;
    m->out = last_error.message;
    m->len = 0;
    m->out[0] = 0;
}

static void msg_str(msg_builder *m, const char *s) {
    while (*s && m->len + 1 < sizeof last_error.message) m->out[m->len++] = *s++;
    m->out[m->len] = 0;
}

static void msg_u64(msg_builder *m, uint64_t v) {
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && m->len + 1 < sizeof last_error.message) m->out[m->len++] = digits[--n];
    m->out[m->len] = 0;
}

/* Prefix the core's message in last_error with "texts[i]: " (it names no index for a single text). */
static void prefix_text_index(size_t index) {
    char core[sizeof last_error.message];
    memcpy(core, last_error.message, sizeof core);
    core[sizeof core - 1] = 0;
    msg_builder m;
    msg_start(&m, last_error.code);
    msg_str(&m, "texts[");
    msg_u64(&m, index);
    msg_str(&m, "]: ");
    msg_str(&m, core);
}

static nl_status fail_no_memory(const char *what, uint64_t bytes) {
    msg_builder m;
    msg_start(&m, NL_ERR_NO_MEMORY);
    msg_str(&m, what);
    msg_str(&m, ": out of memory allocating ");
    msg_u64(&m, bytes);
    msg_str(&m, " bytes");
    return NL_ERR_NO_MEMORY;
}

static void clear_error(void) {
    last_error.code = NL_OK;
    last_error.message[0] = 0;
}

/* ------------------------------------------------------------------------------------------ buffers */
/* Make *buf hold at least `needed` elements of `size` bytes; keep_contents chooses realloc over
 * free+malloc. Capacity grows by at least half, so a growing workload reallocates O(log n) times. */
static nl_status reserve(void **buf, size_t *cap, uint64_t needed, size_t size, int keep_contents, const char *what) {
    if (needed <= *cap) return NL_OK;
    uint64_t grown = (uint64_t)*cap + *cap / 2;
    uint64_t want = needed > grown ? needed : grown;
    if (want < 64) want = 64;
    /* wasm32: a buffer must stay below 2 GiB (and size_t is 32 bits). */
    if (want * size > (uint64_t)INT32_MAX) want = needed;
    if (needed * size > (uint64_t)INT32_MAX) {
        msg_builder m;
        msg_start(&m, NL_ERR_NO_MEMORY);
        msg_str(&m, what);
        msg_str(&m, ": ");
        msg_u64(&m, needed * size);
        msg_str(&m, " bytes, more than one buffer can hold in wasm32 memory (2 GiB)");
        return NL_ERR_NO_MEMORY;
    }
    void *p;
    if (keep_contents) {
        p = realloc(*buf, (size_t)(want * size));
    } else {
        free(*buf);
        *buf = NULL;
        *cap = 0;
        p = malloc((size_t)(want * size));
    }
    if (!p) return fail_no_memory(what, want * size);
    *buf = p;
    *cap = (size_t)want;
    return NL_OK;
}

static nl_status reserve_counts(nlw_handle *h, size_t count) {
    if (count <= h->count_cap) return NL_OK;
    size_t cap = h->count_cap, cap2 = h->count_cap;
    nl_status st = reserve((void **)&h->lengths, &cap, count, sizeof(int32_t), 0, "lengths");
    if (st) return st;
    st = reserve((void **)&h->truncated, &cap2, count, 1, 0, "truncated");
    if (st) return st;
    h->count_cap = cap < cap2 ? cap : cap2;
    return NL_OK;
}

/* Rows of `count` texts laid out with a row length of `rows` tokens. */
static nl_status reserve_rows(nlw_handle *h, uint64_t count, uint64_t rows, int keep_contents) {
    nl_status st = reserve((void **)&h->features, &h->features_cap, count * rows * h->k, sizeof(int32_t),
                           keep_contents, "features");
    if (st) return st;
    return reserve((void **)&h->mask, &h->mask_cap, count * rows, sizeof(float), keep_contents, "mask");
}

/* ------------------------------------------------------------------------------------------ exports */
void *NLW_EXPORT(nlw_malloc)(size_t size) { return malloc(size ? size : 1); }
void NLW_EXPORT(nlw_free)(void *p) { free(p); }
const char *NLW_EXPORT(nlw_version)(void) { return nl_version_string(); }
const char *NLW_EXPORT(nlw_status_name)(int code) { return nl_status_name((nl_status)code); }
int NLW_EXPORT(nlw_error_code)(void) { return (int)last_error.code; }
const char *NLW_EXPORT(nlw_error_message)(void) { return last_error.message; }

nlw_handle *NLW_EXPORT(nlw_create)(const char *json, size_t json_len, size_t cache_entries) {
    clear_error();
    nl_featurizer *f = NULL;
    if (nl_featurizer_create(json, json_len, &f, &last_error) != NL_OK) return NULL;
    nlw_handle *h = calloc(1, sizeof *h);
    nl_scratch *s = h ? nl_scratch_create(f, cache_entries) : NULL;
    if (!s) {
        free(h);
        nl_featurizer_free(f);
        fail_no_memory("create", (uint64_t)cache_entries * 80 + sizeof *h);
        return NULL;
    }
    h->featurizer = f;
    h->scratch = s;
    h->k = nl_featurizer_get_params(f)->num_hashes;
    nl_featurizer_digest(f, h->digest);
    h->digest[64] = 0;
    return h;
}

void NLW_EXPORT(nlw_destroy)(nlw_handle *h) {
    if (!h) return;
    nl_scratch_free(h->scratch);
    nl_featurizer_free(h->featurizer);
    free(h->features);
    free(h->mask);
    free(h->lengths);
    free(h->truncated);
    free(h->text);
    free(h);
}

/* Seven uint32: num_buckets, num_hashes, word_hashes, ngram_min, ngram_max, max_length, seed. */
const nl_featurizer_params *NLW_EXPORT(nlw_params)(const nlw_handle *h) {
    return nl_featurizer_get_params(h->featurizer);
}
const char *NLW_EXPORT(nlw_digest)(const nlw_handle *h) { return h->digest; }
const uint32_t *NLW_EXPORT(nlw_result)(const nlw_handle *h) { return h->result; }

/* Widen the rows of texts [0, done) from `from` to `to` tokens in place (back to front), padding
 * the new tail of each row with zeros. */
static void widen_rows(nlw_handle *h, size_t done, uint32_t from, uint32_t to) {
    const size_t k = h->k;
    for (size_t j = done; j-- > 0;) {
        memmove(h->features + j * to * k, h->features + j * from * k, (size_t)from * k * sizeof(int32_t));
        memset(h->features + (j * to + from) * k, 0, (size_t)(to - from) * k * sizeof(int32_t));
        memmove(h->mask + j * to, h->mask + j * from, (size_t)from * sizeof(float));
        memset(h->mask + j * to + from, 0, (size_t)(to - from) * sizeof(float));
    }
}

/* Narrow rows of texts [0, count) from `from` to `to` tokens in place (front to back); the dropped
 * tails are padding. */
static void narrow_rows(nlw_handle *h, size_t count, uint32_t from, uint32_t to) {
    const size_t k = h->k;
    for (size_t j = 1; j < count; j++) {
        memmove(h->features + j * to * k, h->features + j * from * k, (size_t)to * k * sizeof(int32_t));
        memmove(h->mask + j * to, h->mask + j * from, (size_t)to * sizeof(float));
    }
}

static nl_status kept_tokens(nlw_handle *h, const char *text, size_t len, uint32_t max_length, size_t index,
                             uint32_t *kept) {
    size_t n = 0;
    if (nl_count_tokens(h->featurizer, h->scratch, text, len, &n, &last_error) != NL_OK) {
        prefix_text_index(index);
        return last_error.code;
    }
    *kept = n < max_length ? (uint32_t)n : max_length;
    return NL_OK;
}

/* Spec section 6 over `count` texts packed in one UTF-8 buffer: text i is base[offsets[i] ..
 * offsets[i + 1]). max_length 0 = the config's; pad_to 0 = L is max(1, longest kept), else L = pad_to
 * (which must hold the longest kept text). On NL_OK, result = [features, mask, lengths, truncated, L,
 * count], laid out [count][L][K], [count][L], [count], [count]. */
int NLW_EXPORT(nlw_featurize)(nlw_handle *h, const char *base, const uint32_t *offsets, size_t count,
                               uint32_t max_length, uint32_t pad_to) {
    clear_error();
    const size_t k = h->k;
    const uint32_t limit = max_length ? max_length : nl_featurizer_get_params(h->featurizer)->max_length;
    nl_status st = reserve_counts(h, count);
    if (st) return st;
    /* Row length used while writing: pad_to, or a running bound on the longest kept text that grows
     * geometrically (rows already written are widened in place) and is narrowed to the exact L at the
     * end, so each text is featurized once, plus one token count for a text that outgrows the bound. */
    uint32_t rows = pad_to ? pad_to : 1, longest = 0;
    st = reserve_rows(h, count, rows, 0);
    if (st) return st;
    for (size_t i = 0; i < count; i++) {
        const char *text = base + offsets[i];
        const size_t len = offsets[i + 1] - offsets[i];
        for (;;) {
            st = nl_featurize(h->featurizer, h->scratch, text, len, limit, rows, h->features + i * rows * k,
                              (size_t)rows * k, h->mask + i * rows, rows, &h->lengths[i], &h->truncated[i],
                              &last_error);
            if (st != NL_ERR_BUFFER_TOO_SMALL) break;
            uint32_t kept = 0;
            st = kept_tokens(h, text, len, limit, i, &kept);
            if (st) return st;
            if (pad_to || kept <= rows) { /* pad_to too small (or a core inconsistency): refuse */
                msg_builder m;
                msg_start(&m, NL_ERR_ARGUMENT);
                msg_str(&m, "padTo: must be an integer >= the longest kept text (texts[");
                msg_u64(&m, i);
                msg_str(&m, "] keeps ");
                msg_u64(&m, kept);
                msg_str(&m, " tokens), got ");
                msg_u64(&m, rows);
                return NL_ERR_ARGUMENT;
            }
            uint64_t doubled = (uint64_t)rows * 2;
            uint32_t wider = doubled < limit ? (uint32_t)doubled : limit;
            if (wider < kept) wider = kept;
            st = reserve_rows(h, count, wider, 1);
            if (st) return st;
            widen_rows(h, i, rows, wider);
            rows = wider;
        }
        if (st) {
            prefix_text_index(i);
            return st;
        }
        if ((uint32_t)h->lengths[i] > longest) longest = (uint32_t)h->lengths[i];
    }
    uint32_t final_rows = rows;
    if (!pad_to) {
        final_rows = longest > 1 ? longest : 1;
        if (final_rows < rows) narrow_rows(h, count, rows, final_rows);
    }
    h->result[0] = (uint32_t)(uintptr_t)h->features;
    h->result[1] = (uint32_t)(uintptr_t)h->mask;
    h->result[2] = (uint32_t)(uintptr_t)h->lengths;
    h->result[3] = (uint32_t)(uintptr_t)h->truncated;
    h->result[4] = final_rows;
    h->result[5] = (uint32_t)count;
    return NL_OK;
}

/* Run a text-producing core call into h->text, growing it to the size the core asks for. */
typedef nl_status (*text_call)(nlw_handle *h, const char *utf8, size_t len, size_t *needed, size_t *tokens);

static nl_status call_tokenize(nlw_handle *h, const char *utf8, size_t len, size_t *needed, size_t *tokens) {
    return nl_tokenize(h->scratch, utf8, len, h->text, h->text_cap, needed, tokens, &last_error);
}

static nl_status call_normalize(nlw_handle *h, const char *utf8, size_t len, size_t *needed, size_t *tokens) {
    *tokens = 0;
    return nl_normalize(h->scratch, utf8, len, h->text, h->text_cap, needed, &last_error);
}

static nl_status text_output(nlw_handle *h, const char *utf8, size_t len, text_call call, const char *what) {
    clear_error();
    nl_status st = reserve((void **)&h->text, &h->text_cap, 256, 1, 0, what);
    for (int attempt = 0; st == NL_OK && attempt < 3; attempt++) {
        size_t needed = 0, tokens = 0;
        st = call(h, utf8, len, &needed, &tokens);
        if (st == NL_OK) {
            h->result[0] = (uint32_t)(uintptr_t)h->text;
            h->result[1] = (uint32_t)needed;
            h->result[2] = (uint32_t)tokens;
            return NL_OK;
        }
        if (st != NL_ERR_BUFFER_TOO_SMALL || needed <= h->text_cap) return st;
        st = reserve((void **)&h->text, &h->text_cap, needed, 1, 0, what);
    }
    return st;
}

/* Tokens of one text, UTF-8, each followed by a 0x00 byte: result = [text, bytes, token count]. */
int NLW_EXPORT(nlw_tokenize)(nlw_handle *h, const char *utf8, size_t len) {
    return text_output(h, utf8, len, call_tokenize, "tokens");
}

/* normalize(text) as UTF-8: result = [text, bytes]. */
int NLW_EXPORT(nlw_normalize)(nlw_handle *h, const char *utf8, size_t len) {
    return text_output(h, utf8, len, call_normalize, "normalized text");
}
