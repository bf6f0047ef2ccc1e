/*
 * Private declarations of the featurizer core (not installed, not part of the API).
 */
#ifndef NL_INTERNAL_H
#define NL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "neurolite_featurizer.h"

#define NL_MAX_NGRAM_CHARS 32u /* spec constant MAX_NGRAM_CHARS */
#define NL_BOW 0x02u
#define NL_EOW 0x03u
#define NL_MAX_K 1024u
#define NL_MAX_NGRAM 16u
/* Tokens of at most this many UTF-8 bytes are kept in the token cache (longer ones are recomputed). */
#define NL_CACHE_TOKEN_BYTES 40u

struct nl_featurizer {
    nl_featurizer_params params;
    uint32_t bucket_mask; /* F - 1 when F is a power of two, else 0 (then values are reduced with %) */
    int bucket_pow2;
    uint64_t *mix_a; /* K multipliers a_k (odd) */
    uint64_t *mix_b; /* K offsets b_k */
    char canonical[192];
    char digest[65];
};

/* A kept token: its UTF-8 bytes start at `off` in the scratch's token byte buffer; it ends where the
 * next one starts (the offsets array has one entry more than tokens). */
struct nl_scratch {
    /* token bytes of the materialized tokens, back to back */
    unsigned char *tb;
    size_t tb_len, tb_cap;
    size_t *toff; /* token start offsets into tb, plus the end */
    size_t toff_len, toff_cap;
    /* normalized code points waiting for the tokenizer */
    uint32_t *chunk;
    size_t chunk_cap;
    /* slow-path normalization buffers */
    uint32_t *seg_a, *seg_b, *seg_t;
    size_t seg_a_cap, seg_b_cap, seg_t_cap;
    /* murmur3 of the kept tokens (looked up in the cache after prefetching) */
    uint32_t *hash;
    size_t hash_cap;
    /* token cache: cache_entries slots of slot_stride bytes (nl_cache_slot followed by K int32) */
    unsigned char *cache;
    size_t cache_entries, slot_stride;
    nl_featurizer_params cache_params; /* the parameters the cached buckets were computed with */
};

typedef struct {
    uint32_t hash; /* murmur3 of the token with the config seed */
    uint32_t len;  /* 0: empty slot (tokens are never empty) */
    unsigned char bytes[NL_CACHE_TOKEN_BYTES];
} nl_cache_slot;

/* ---- errors (nl_error.c) */
nl_status nl__fail(nl_error *err, nl_status code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void nl__ok(nl_error *err);
/* Append `s` (len bytes) to buf as a Python-like repr body (printable, one line, at most max_cp code
 * points, then "..."); returns the new string length. */
size_t nl__quote(char *buf, size_t cap, size_t used, const char *s, size_t len, size_t max_cp);

/* ---- hashing (nl_hash.c) */
uint64_t nl__splitmix64_next(uint64_t *state);
typedef struct {
    uint32_t h[8];
    uint64_t total;
    unsigned char block[64];
    size_t fill;
} nl_sha256;
void nl__sha256_init(nl_sha256 *s);
void nl__sha256_update(nl_sha256 *s, const void *data, size_t len);
void nl__sha256_final(nl_sha256 *s, unsigned char out[32]);
void nl__sha256_hex(const void *data, size_t len, char out_hex[65]);

static inline uint32_t nl__rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline uint32_t nl__load32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* MurmurHash3_x86_32 (Austin Appleby's reference), inlined for the hot paths, in two steps so that
 * strings sharing a prefix can share its 4-byte blocks: nl__mm_block per full block, nl__mm_final on
 * the tail (0..3 bytes) with the total length. */
static inline uint32_t nl__mm_block(uint32_t h, const unsigned char *p)
{
    uint32_t k = nl__load32le(p);
    k *= 0xcc9e2d51u;
    k = nl__rotl32(k, 15);
    k *= 0x1b873593u;
    h ^= k;
    h = nl__rotl32(h, 13);
    return h * 5u + 0xe6546b64u;
}

static inline uint32_t nl__mm_final(uint32_t h, const unsigned char *tail, size_t tail_len, size_t len)
{
    uint32_t k = 0;
    switch (tail_len) {
    case 3: k = (uint32_t)tail[2] << 16 | (uint32_t)tail[1] << 8 | tail[0]; break;
    case 2: k = (uint32_t)tail[1] << 8 | tail[0]; break;
    case 1: k = tail[0]; break;
    default: break;
    }
    if (tail_len) {
        k *= 0xcc9e2d51u;
        k = nl__rotl32(k, 15);
        k *= 0x1b873593u;
        h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline uint32_t nl__murmur3(const unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t h = seed;
    size_t i, nblocks = len / 4;
    for (i = 0; i < nblocks; i++) h = nl__mm_block(h, p + 4 * i);
    return nl__mm_final(h, p + 4 * nblocks, len & 3u, len);
}

/* ---- UTF-8 (nl_utf8.c and inline) */
/* Decode one unit at *pos (< len): a valid scalar value, or U+FFFD for one maximal invalid subpart
 * (WHATWG / Unicode 'maximal subpart' rule, as Python's decode('utf-8', 'replace')). Advances *pos. */
static inline uint32_t nl__utf8_next(const unsigned char *s, size_t len, size_t *pos)
{
    size_t p = *pos;
    uint32_t b = s[p++], cp;
    unsigned need, lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
        *pos = p;
        return b;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *pos = p;
        return 0xFFFD;
    }
    while (need--) {
        uint32_t c;
        if (p >= len) {
            *pos = p;
            return 0xFFFD;
        }
        c = s[p];
        if (c < lo || c > hi) {
            *pos = p; /* this byte starts the next unit */
            return 0xFFFD;
        }
        cp = (cp << 6) | (c & 0x3F);
        lo = 0x80;
        hi = 0xBF;
        p++;
    }
    *pos = p;
    return cp;
}

/* Encode a scalar value; returns the byte count (1..4). */
static inline size_t nl__utf8_put(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 1 when s[0..len) is ASCII only. */
int nl__is_ascii(const unsigned char *s, size_t len);
/* Offset of the first invalid UTF-8 byte, or len when valid. */
size_t nl__utf8_validate(const unsigned char *s, size_t len);

/* ---- normalization and tokenization (nl_normalize.c) */
/* Token class of an ASCII byte (NL_CLASS_SEP / WORD / OTHER), identical to nl_ucd_token_class. */
extern const uint8_t nl__ascii_class[128];

/* Receives normalized code points in chunks. Returns NL_OK or an error status to stop. */
typedef nl_status (*nl_cp_sink)(void *ctx, const uint32_t *cps, size_t n);

/* Grow buf (elements of `size` bytes) to hold at least `need` elements: returns the new buffer and
 * updates *cap, or returns buf unchanged (and *cap < need) when out of memory. */
void *nl__grow(void *buf, size_t *cap, size_t need, size_t size);
/* GROW(p, cap, need): nonzero when out of memory. */
#define GROW(ptr, cap, need) ((ptr) = nl__grow((ptr), &(cap), (need), sizeof *(ptr)), (cap) < (need))

/* 1 when normalize(X c Y) = normalize(X) normalize(c Y) for every X, Y (a starter that never combines
 * or reorders backward, and neither does its decomposition's first code point). Used to cut long
 * unstable runs; tests/test_normalize.c checks it for every code point. */
int nl__is_boundary(uint32_t c);
/* Normalize (spec section 2) UTF-8 bytes into the sink. */
nl_status nl__normalize_stream(nl_scratch *s, const unsigned char *text, size_t len, nl_cp_sink sink, void *ctx);
/* The normalization of a code point sequence by the slow path only (no fast paths): for tests.
 * Writes at most out_cap code points, returns the full count, or (size_t)-1 when out of memory. */
size_t nl__normalize_reference(nl_scratch *s, const uint32_t *cps, size_t n, uint32_t *out, size_t out_cap);

/* Tokenize (spec sections 2-3): the first `keep` tokens are written to s->tb / s->toff (s->toff_len of
 * them, s->toff[s->toff_len] is the end), the tokens are counted into *count. With stop_early the
 * scan stops at token keep + 1, so *count is min(tokens, keep + 1): enough to tell truncation. */
nl_status nl__tokenize(nl_scratch *s, const unsigned char *text, size_t len, size_t keep, int stop_early,
                       size_t *count);
/* Internal status: a sink asks the stream to stop (never returned by the API). */
#define NL__STOP ((nl_status)99)

#endif
