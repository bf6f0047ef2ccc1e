/*
 * Spec sections 2-3: normalization (delete Cf and variation selectors, NFKC, full case folding, NFKC)
 * and tokenization, streaming from UTF-8 bytes to the token byte buffer of the scratch.
 *
 * Fast paths, neither of which changes a result:
 *  - a text that is all ASCII is lowercased and split directly (NFKC is the identity on ASCII and
 *    case folding is lowercasing);
 *  - otherwise, code points that nl_ucd_is_stable() (and every ASCII byte) are copied through (ASCII
 *    lowercased). Such a code point is a starter that no context changes and that never composes
 *    with what precedes it, so normalize(X s Y) = normalize(X) s' normalize(Y); the only exception is
 *    that it may be the *first* element of a composition, so an unstable run is normalized by the
 *    slow path together with the stable code point just before it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nl_internal.h"
#include "nl_unicode.h"

#define S_ NL_CLASS_SEP
#define W_ NL_CLASS_WORD
#define O_ NL_CLASS_OTHER
const uint8_t nl__ascii_class[128] = {
    S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, /* 00-0F controls */
    S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, S_, /* 10-1F controls */
    S_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, /* space !"#$%&'()*+,-./ */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, O_, O_, /* 0-9 :;<=>? */
    O_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, /* @ A-O */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, O_, /* P-Z [\]^_ */
    O_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, /* ` a-o */
    W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, W_, O_, O_, O_, O_, S_  /* p-z {|}~ DEL */
};
#undef S_
#undef W_
#undef O_

/* Code points handed to the sink per call. */
#define NL_CHUNK 1024u
/* Longest expansion of one code point by decomposition (18) with Hangul syllables expanded (x3). */
#define NL_MAX_EXPANSION 54u

enum {
    SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7,
    LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT
};

void *nl__grow(void *buf, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 64;
    void *p;
    if (need <= *cap) return buf;
    while (n < need) {
        if (n > SIZE_MAX / 2) {
            n = need;
            break;
        }
        n *= 2;
    }
    if (n > SIZE_MAX / size) return buf;
    p = realloc(buf, n * size);
    if (!p) return buf;
    *cap = n;
    return p;
}

static uint32_t fast_fold(uint32_t c) { return (c - 'A' < 26u) ? c + 32u : c; }

/* An unstable run longer than this many code points is cut before a boundary code point, so that the
 * slow path's buffers stay small for any text (U+FDFA alone expands to 18 code points). */
#define NL_SEGMENT_SPLIT 256u

/* No normalization step lets c interact with what precedes it: ccc 0, not a mark (every second element
 * of a composition with ccc 0 is a mark, or a Hangul V/T jamo), not deleted. */
static int starter_boundary(uint32_t c)
{
    unsigned cls = nl_ucd_token_class(c);
    if (cls == NL_CLASS_MARK || cls == NL_CLASS_DELETE || nl_ucd_ccc(c) != 0) return 0;
    if ((c >= 0x1160 && c <= 0x11FF) || (c >= 0xD7B0 && c <= 0xD7FF)) return 0; /* Hangul V/T jamo */
    return 1;
}

int nl__is_boundary(uint32_t c)
{
    const uint32_t *d;
    int n;
    if (!starter_boundary(c)) return 0;
    n = nl_ucd_decompose(c, &d);
    return n <= 0 || starter_boundary(d[0]);
}

/* ------------------------------------------------------------------------------------------ slow path */

/* Append the full compatibility decomposition of cp to s->seg_b. */
static nl_status decompose_into(nl_scratch *s, uint32_t cp, size_t *n)
{
    const uint32_t *d;
    int m, i;
    uint32_t *o;
    if (*n + NL_MAX_EXPANSION > s->seg_b_cap && GROW(s->seg_b, s->seg_b_cap, *n + NL_MAX_EXPANSION))
        return NL_ERR_NO_MEMORY;
    o = s->seg_b;
    if (cp - SBASE < (uint32_t)SCOUNT) {
        uint32_t si = cp - SBASE, t = si % TCOUNT;
        o[(*n)++] = LBASE + si / NCOUNT;
        o[(*n)++] = VBASE + (si % NCOUNT) / TCOUNT;
        if (t) o[(*n)++] = TBASE + t;
        return NL_OK;
    }
    m = nl_ucd_decompose(cp, &d);
    if (m <= 0) {
        o[(*n)++] = cp;
        return NL_OK;
    }
    for (i = 0; i < m && i < 18; i++) {
        uint32_t c = d[i];
        if (c - SBASE < (uint32_t)SCOUNT) { /* defensive: the tables expand Hangul already */
            uint32_t si = c - SBASE, t = si % TCOUNT;
            o[(*n)++] = LBASE + si / NCOUNT;
            o[(*n)++] = VBASE + (si % NCOUNT) / TCOUNT;
            if (t) o[(*n)++] = TBASE + t;
        } else {
            o[(*n)++] = c;
        }
    }
    return NL_OK;
}

/* Stable sort of a run of non-starters by canonical combining class. */
static nl_status sort_run(nl_scratch *s, uint32_t *a, size_t n)
{
    size_t i, j;
    if (n <= 32) {
        for (i = 1; i < n; i++) {
            uint32_t c = a[i];
            uint8_t cc = nl_ucd_ccc(c);
            for (j = i; j > 0 && nl_ucd_ccc(a[j - 1]) > cc; j--) a[j] = a[j - 1];
            a[j] = c;
        }
        return NL_OK;
    } else { /* counting sort: linear even for a megabyte of combining marks */
        size_t count[257];
        memset(count, 0, sizeof count);
        if (GROW(s->seg_t, s->seg_t_cap, n)) return NL_ERR_NO_MEMORY;
        for (i = 0; i < n; i++) count[nl_ucd_ccc(a[i]) + 1]++;
        for (i = 1; i < 257; i++) count[i] += count[i - 1];
        for (i = 0; i < n; i++) s->seg_t[count[nl_ucd_ccc(a[i])]++] = a[i];
        memcpy(a, s->seg_t, n * sizeof *a);
        return NL_OK;
    }
}

static nl_status canonical_order(nl_scratch *s, uint32_t *a, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j;
        if (nl_ucd_ccc(a[i]) == 0) {
            i++;
            continue;
        }
        j = i + 1;
        while (j < n && nl_ucd_ccc(a[j]) != 0) j++;
        if (j - i > 1 && sort_run(s, a + i, j - i)) return NL_ERR_NO_MEMORY;
        i = j;
    }
    return NL_OK;
}

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a - LBASE < (uint32_t)LCOUNT && b - VBASE < (uint32_t)VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a - SBASE < (uint32_t)SCOUNT && (a - SBASE) % TCOUNT == 0 && b - (TBASE + 1) < (uint32_t)(TCOUNT - 1))
        return a + (b - TBASE);
    return nl_ucd_compose(a, b);
}

/* Canonical composition in place (UAX #15), returns the new length. */
static size_t compose(uint32_t *a, size_t n)
{
    size_t i, out = 0, starter = 0;
    int have_starter = 0;
    unsigned last_ccc = 256;
    for (i = 0; i < n; i++) {
        uint32_t c = a[i];
        unsigned cc = nl_ucd_ccc(c);
        if (have_starter && (last_ccc == 0 || last_ccc < cc)) {
            uint32_t comp = compose_pair(a[starter], c);
            if (comp) {
                a[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            starter = out;
            have_starter = 1;
        }
        last_ccc = cc;
        a[out++] = c;
    }
    return out;
}

/* NFKC of s->seg_a[0..na) into s->seg_b; returns the length or (size_t)-1 when out of memory. */
static size_t nfkc_a_to_b(nl_scratch *s, size_t na)
{
    size_t i, nb = 0;
    for (i = 0; i < na; i++)
        if (decompose_into(s, s->seg_a[i], &nb)) return (size_t)-1;
    if (canonical_order(s, s->seg_b, nb)) return (size_t)-1;
    return compose(s->seg_b, nb);
}

/* Steps 2-4 on s->seg_a[0..na) (step 1 already applied); result in s->seg_b. */
static size_t slow_normalize(nl_scratch *s, size_t na)
{
    size_t i, nb = nfkc_a_to_b(s, na);
    if (nb == (size_t)-1) return nb;
    if (nb > SIZE_MAX / 3 || GROW(s->seg_a, s->seg_a_cap, 3 * nb + 1)) return (size_t)-1;
    na = 0;
    for (i = 0; i < nb; i++) {
        const uint32_t *f;
        uint32_t c = s->seg_b[i];
        int m = nl_ucd_casefold(c, &f), j;
        if (m <= 0) {
            s->seg_a[na++] = c;
        } else {
            for (j = 0; j < m && j < 3; j++) s->seg_a[na++] = f[j];
        }
    }
    return nfkc_a_to_b(s, na);
}

size_t nl__normalize_reference(nl_scratch *s, const uint32_t *cps, size_t n, uint32_t *out, size_t out_cap)
{
    size_t i, na = 0, nb;
    if (GROW(s->seg_a, s->seg_a_cap, n + 1)) return (size_t)-1;
    for (i = 0; i < n; i++)
        if (nl_ucd_token_class(cps[i]) != NL_CLASS_DELETE) s->seg_a[na++] = cps[i];
    nb = slow_normalize(s, na);
    if (nb == (size_t)-1) return nb;
    if (nb && out_cap) memcpy(out, s->seg_b, (nb < out_cap ? nb : out_cap) * sizeof *out);
    return nb;
}

/* Normalize the bytes text[from..to) by the slow path; result in s->seg_b. */
static size_t slow_segment(nl_scratch *s, const unsigned char *text, size_t from, size_t to)
{
    size_t na = 0, p = from;
    if (GROW(s->seg_a, s->seg_a_cap, to - from + 1)) return (size_t)-1;
    while (p < to) {
        uint32_t c = nl__utf8_next(text, to, &p);
        if (c < 0x80 || nl_ucd_token_class(c) != NL_CLASS_DELETE) s->seg_a[na++] = c;
    }
    return slow_normalize(s, na);
}

/* ------------------------------------------------------------------------------------------ stream */

nl_status nl__normalize_stream(nl_scratch *s, const unsigned char *text, size_t len, nl_cp_sink sink, void *ctx)
{
    size_t pos = 0, olen = 0, last_fast = 0;
    int have_fast = 0;
    nl_status st;
    uint32_t *out;
    if (GROW(s->chunk, s->chunk_cap, NL_CHUNK)) return NL_ERR_NO_MEMORY;
    out = s->chunk;
    while (pos < len) {
        size_t start = pos, from, nb;
        uint32_t c = text[pos];
        if (c < 0x80) {
            pos++;
        } else {
            c = nl__utf8_next(text, len, &pos);
            if (!nl_ucd_is_stable(c)) goto slow;
        }
        if (olen == NL_CHUNK) { /* keep the last one: a slow segment may take it back */
            if ((st = sink(ctx, out, olen - 1)) != NL_OK) return st;
            out[0] = out[olen - 1];
            olen = 1;
        }
        out[olen++] = fast_fold(c);
        last_fast = start;
        have_fast = 1;
        continue;
    slow:
        from = start;
        if (have_fast) { /* the stable code point before may compose with what follows */
            from = last_fast;
            olen--;
        }
        {
            size_t run = 1;
            while (pos < len) {
                size_t q = pos;
                uint32_t d = text[q];
                if (d < 0x80) break;
                d = nl__utf8_next(text, len, &pos);
                if (nl_ucd_is_stable(d) || (++run > NL_SEGMENT_SPLIT && nl__is_boundary(d))) {
                    pos = q;
                    break;
                }
            }
        }
        nb = slow_segment(s, text, from, pos);
        if (nb == (size_t)-1) return NL_ERR_NO_MEMORY;
        if (olen + nb > NL_CHUNK) {
            if (olen && (st = sink(ctx, out, olen)) != NL_OK) return st;
            olen = 0;
        }
        if (nb > NL_CHUNK) {
            if ((st = sink(ctx, s->seg_b, nb)) != NL_OK) return st;
        } else if (nb) {
            memcpy(out + olen, s->seg_b, nb * sizeof *out);
            olen += nb;
        }
        have_fast = 0;
    }
    if (olen && (st = sink(ctx, out, olen)) != NL_OK) return st;
    return NL_OK;
}

/* ------------------------------------------------------------------------------------------ tokenize */

typedef struct {
    nl_scratch *s;
    size_t keep, count;
    int stop_early;
    int state; /* 0: between tokens, 1: in a word (WORD/MARK run), 2: after an IDEO/OTHER (+ marks) */
    int mat;   /* the current token is materialized */
} tok_state;

static nl_status tok_start(tok_state *t, int state)
{
    nl_scratch *s = t->s;
    t->state = state;
    if (t->count >= t->keep) {
        t->mat = 0;
        t->count++;
        return (t->stop_early) ? NL__STOP : NL_OK;
    }
    t->count++;
    t->mat = 1;
    if (s->toff_len + 2 > s->toff_cap && GROW(s->toff, s->toff_cap, s->toff_len + 2)) return NL_ERR_NO_MEMORY;
    s->toff[s->toff_len++] = s->tb_len;
    return NL_OK;
}

static nl_status tok_sink(void *ctx, const uint32_t *cps, size_t n)
{
    tok_state *t = (tok_state *)ctx;
    nl_scratch *s = t->s;
    size_t i;
    nl_status st;
    for (i = 0; i < n; i++) {
        uint32_t c = cps[i];
        unsigned cls = c < 0x80 ? nl__ascii_class[c] : nl_ucd_token_class(c);
        switch (cls) {
        case NL_CLASS_WORD:
            if (t->state != 1 && (st = tok_start(t, 1)) != NL_OK) return st;
            break;
        case NL_CLASS_MARK:
            if (t->state == 0 && (st = tok_start(t, 1)) != NL_OK) return st;
            break;
        case NL_CLASS_IDEO:
        case NL_CLASS_OTHER:
            if ((st = tok_start(t, 2)) != NL_OK) return st;
            break;
        default: /* SEP, and DELETE which normalization removed (a separator if it ever remained) */
            t->state = 0;
            continue;
        }
        if (t->mat) {
            if (s->tb_len + 4 > s->tb_cap && GROW(s->tb, s->tb_cap, s->tb_len + 4)) return NL_ERR_NO_MEMORY;
            s->tb_len += nl__utf8_put(s->tb + s->tb_len, c);
        }
    }
    return NL_OK;
}

static nl_status tokenize_ascii(nl_scratch *s, const unsigned char *text, size_t len, size_t keep, int stop_early,
                                size_t *count)
{
    size_t i = 0, n = 0, room = len < keep ? len : keep;
    const uint8_t *cls = nl__ascii_class;
    if (len <= ((size_t)1 << 16) || (len <= s->tb_cap && room + 2 <= s->toff_cap)) {
        /* Everything kept fits in len bytes and min(len, keep) offsets: grow once, copy unchecked. */
        unsigned char *tb, *o;
        size_t *toff, nt = 0;
        if (GROW(s->tb, s->tb_cap, len) || GROW(s->toff, s->toff_cap, room + 2)) return NL_ERR_NO_MEMORY;
        tb = s->tb;
        o = tb;
        toff = s->toff;
        while (i < len) {
            unsigned c = text[i], k = cls[c];
            if (k == NL_CLASS_SEP) {
                i++;
                continue;
            }
            if (n++ >= keep) {
                if (stop_early) break;
                i++;
                if (k == NL_CLASS_WORD)
                    while (i < len && cls[text[i]] == NL_CLASS_WORD) i++;
                continue;
            }
            toff[nt++] = (size_t)(o - tb);
            if (k == NL_CLASS_WORD) {
                do {
                    *o++ = (unsigned char)fast_fold(c);
                    if (++i == len) break;
                    c = text[i];
                } while (cls[c] == NL_CLASS_WORD);
            } else {
                *o++ = (unsigned char)c;
                i++;
            }
        }
        s->tb_len = (size_t)(o - tb);
        s->toff_len = nt;
        *count = n;
        return NL_OK;
    }
    while (i < len) {
        unsigned k = cls[text[i]];
        size_t j = i + 1;
        if (k == NL_CLASS_SEP) {
            i++;
            continue;
        }
        if (k == NL_CLASS_WORD)
            while (j < len && cls[text[j]] == NL_CLASS_WORD) j++;
        if (n >= keep) {
            n++;
            if (stop_early) break;
        } else {
            size_t q;
            unsigned char *o;
            n++;
            if (s->toff_len + 2 > s->toff_cap && GROW(s->toff, s->toff_cap, s->toff_len + 2))
                return NL_ERR_NO_MEMORY;
            if (s->tb_len + (j - i) > s->tb_cap && GROW(s->tb, s->tb_cap, s->tb_len + (j - i)))
                return NL_ERR_NO_MEMORY;
            s->toff[s->toff_len++] = s->tb_len;
            o = s->tb + s->tb_len;
            for (q = i; q < j; q++) o[q - i] = (unsigned char)fast_fold(text[q]);
            s->tb_len += j - i;
        }
        i = j;
    }
    *count = n;
    return NL_OK;
}

nl_status nl__tokenize(nl_scratch *s, const unsigned char *text, size_t len, size_t keep, int stop_early,
                       size_t *count)
{
    nl_status st;
    s->tb_len = 0;
    s->toff_len = 0;
    if (GROW(s->toff, s->toff_cap, 1)) return NL_ERR_NO_MEMORY;
    if (nl__is_ascii(text, len)) {
        st = tokenize_ascii(s, text, len, keep, stop_early, count);
    } else {
        tok_state t;
        t.s = s;
        t.keep = keep;
        t.count = 0;
        t.stop_early = stop_early;
        t.state = 0;
        t.mat = 0;
        st = nl__normalize_stream(s, text, len, tok_sink, &t);
        if (st == NL__STOP) st = NL_OK;
        *count = t.count;
    }
    if (st != NL_OK) return st;
    s->toff[s->toff_len] = s->tb_len;
    return NL_OK;
}
