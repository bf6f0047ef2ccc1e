/*
 * Internal consistency of the fast paths, over all of Unicode:
 *  - the UTF-8 decoder against a literal transcription of the WHATWG decoder (all 1-, 2- and 3-byte
 *    inputs, the 4-byte ones around every boundary, random byte strings);
 *  - the ASCII token class table against nl_ucd_token_class;
 *  - the streaming normalizer (ASCII and stable-run fast paths, chunking) against the slow path alone
 *    (nl__normalize_reference), for every code point in several contexts and for random strings of
 *    marks, Hangul jamo and stable code points;
 *  - the tokenizer's ASCII path against its general path.
 *   test_normalize [--stride N]   (N > 1 checks every Nth code point: the sanitizer build)
 * Ends with "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl_internal.h"
#include "nl_unicode.h"

static long passed, failed;

static void fail_line(const char *what, uint32_t cp)
{
    failed++;
    if (failed <= 30) printf("FAIL %s at U+%04lX\n", what, (unsigned long)cp);
}

/* ------------------------------------------------------------------------------------------ decoder */

/* WHATWG Encoding Standard, UTF-8 decoder, literally (with "prepend the byte" as a re-loop). */
static size_t whatwg_decode(const unsigned char *s, size_t len, uint32_t *out)
{
    uint32_t cp = 0;
    unsigned needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned b = s[i];
        if (needed == 0) {
            i++;
            if (b <= 0x7F) out[n++] = b;
            else if (b >= 0xC2 && b <= 0xDF) { needed = 1; cp = b & 0x1F; }
            else if (b >= 0xE0 && b <= 0xEF) {
                if (b == 0xE0) lower = 0xA0;
                if (b == 0xED) upper = 0x9F;
                needed = 2;
                cp = b & 0xF;
            } else if (b >= 0xF0 && b <= 0xF4) {
                if (b == 0xF0) lower = 0x90;
                if (b == 0xF4) upper = 0x8F;
                needed = 3;
                cp = b & 0x7;
            } else out[n++] = 0xFFFD;
            continue;
        }
        if (b < lower || b > upper) { /* error; the byte is processed again */
            cp = needed = seen = 0;
            lower = 0x80;
            upper = 0xBF;
            out[n++] = 0xFFFD;
            continue;
        }
        i++;
        lower = 0x80;
        upper = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
        if (++seen == needed) {
            out[n++] = cp;
            cp = needed = seen = 0;
        }
    }
    if (needed) out[n++] = 0xFFFD;
    return n;
}

static size_t core_decode(const unsigned char *s, size_t len, uint32_t *out)
{
    size_t p = 0, n = 0;
    while (p < len) out[n++] = nl__utf8_next(s, len, &p);
    return n;
}

static void compare_decode(const unsigned char *s, size_t len)
{
    uint32_t a[64], b[64];
    size_t na = whatwg_decode(s, len, a), nb = core_decode(s, len, b);
    if (na != nb || memcmp(a, b, na * sizeof *a) != 0) {
        fail_line("decoder differs from WHATWG", s[0] << 16 | (len > 1 ? s[1] << 8 : 0) | (len > 2 ? s[2] : 0));
    } else {
        passed++;
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void test_decoder(void)
{
    unsigned char s[16];
    unsigned a, b, c, i, j;
    for (a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        compare_decode(s, 1);
        for (b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            compare_decode(s, 2);
            if (a >= 0xC0)
                for (c = 0; c < 256; c++) {
                    s[2] = (unsigned char)c;
                    compare_decode(s, 3);
                }
        }
    }
    for (a = 0xF0; a < 0x100; a++) {
        static const unsigned char edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
        for (i = 0; i < sizeof edges; i++)
            for (j = 0; j < sizeof edges; j++)
                for (c = 0; c < sizeof edges; c++) {
                    s[0] = (unsigned char)a;
                    s[1] = edges[i];
                    s[2] = edges[j];
                    s[3] = edges[c];
                    compare_decode(s, 4);
                }
    }
    for (i = 0; i < 200000; i++) {
        size_t n = 1 + rnd() % 16, k;
        for (k = 0; k < n; k++) {
            uint32_t r = rnd();
            s[k] = (unsigned char)((r & 3) == 0 ? 0x80 | (r >> 8 & 0x3F) : r >> 8);
        }
        compare_decode(s, n);
    }
}

/* ------------------------------------------------------------------------------------------ normalizer */

static nl_scratch *S, *R;

static size_t put_all(unsigned char *o, const uint32_t *cps, size_t n)
{
    size_t i, len = 0;
    for (i = 0; i < n; i++) len += nl__utf8_put(o + len, cps[i]);
    return len;
}

/* nl_normalize (all fast paths) must equal the slow path on the same code points. */
static void compare_normalize(const uint32_t *cps, size_t n, const char *what)
{
    unsigned char in[4 * 64], want[4 * 64 * 18], got[4 * 64 * 18];
    uint32_t ref[64 * 18];
    size_t len = put_all(in, cps, n), m, wl, gl = 0;
    nl_error e;
    m = nl__normalize_reference(R, cps, n, ref, sizeof ref / sizeof ref[0]);
    if (m == (size_t)-1 || m > sizeof ref / sizeof ref[0]) {
        fail_line("reference normalization failed", cps[0]);
        return;
    }
    wl = put_all(want, ref, m);
    if (nl_normalize(S, (const char *)in, len, (char *)got, sizeof got, &gl, &e) != NL_OK || gl != wl ||
        memcmp(got, want, wl) != 0) {
        fail_line(what, n > 1 ? cps[1] : cps[0]);
    } else {
        passed++;
    }
}

static void test_normalizer(uint32_t stride)
{
    static const uint32_t before[] = {0, 'e', 'A', 0x1100, 0x0301, 0xAC00, 0x0B47, 'a'};
    static const uint32_t after[] = {0, 0x0301, 'B', 0x11A8, 0x0323, 0x0345, 0x0B3E, 0x3099};
    uint32_t cp, buf[64];
    size_t i, k;
    for (cp = 0; cp <= 0x10FFFF; cp += stride) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        for (i = 0; i < sizeof before / sizeof before[0]; i++) {
            size_t n = 0;
            if (before[i]) buf[n++] = before[i];
            buf[n++] = cp;
            if (after[i]) buf[n++] = after[i];
            compare_normalize(buf, n, "fast normalizer differs from the slow path");
        }
    }
    {
        static const uint32_t alphabet[] = {'a', 'e', 'E', 'o', ' ', 0x0300, 0x0301, 0x0308, 0x0315, 0x0323,
                                            0x0327, 0x0345, 0x05B0, 0x0591, 0x1100, 0x1161, 0x11A8, 0xAC00,
                                            0xAC01, 0x00E9, 0x00C9, 0x1E0A, 0x212B, 0x2126, 0xFB01, 0x00DF,
                                            0x0130, 0x1E9E, 0x3099, 0x304B, 0xFF76, 0xFF9E, 0x00AD, 0x200D,
                                            0xFE0F, 0x0F73, 0x0F71, 0x0F72, 0x0F80, 0x1FB3, 0x03B9, 0xFDFA,
                                            0x0B47, 0x0B3E, 0x0B57, 0x1D15E, 0x1D165, 0x0CC6, 0x0CD5, 0x2ADC};
        for (i = 0; i < 100000 / stride + 1000; i++) {
            size_t n = 1 + rnd() % 40;
            for (k = 0; k < n; k++) buf[k] = alphabet[rnd() % (sizeof alphabet / sizeof alphabet[0])];
            compare_normalize(buf, n, "random string: fast normalizer differs");
        }
    }
}

/* Long runs: chunk boundaries of the stream (1024 code points) inside stable runs and segments. */
static void test_chunking(void)
{
    size_t n = 5000, i, len = 0, gl = 0;
    unsigned char *in = (unsigned char *)malloc(n * 4), *got = (unsigned char *)malloc(n * 4 * 18 * 3);
    unsigned char *want = (unsigned char *)malloc(n * 4 * 18 * 3);
    uint32_t *cps = (uint32_t *)malloc(n * sizeof *cps), *ref = (uint32_t *)malloc(n * 18 * 3 * sizeof *ref);
    int pattern;
    nl_error e;
    if (!in || !got || !want || !cps || !ref) {
        failed++;
        return;
    }
    static const uint32_t unstable[] = {0x00C5, 0x0323, 0x0301, 0xFDFA, 0x1100, 0x1161, 0x11A8, 0x0130,
                                        0x1E9E, 0x212B, 0x0345, 0x1FB3, 0x200B, 0x0F73, 0x3099, 0xFF76};
    for (pattern = 0; pattern < 7; pattern++) {
        size_t m, wl;
        for (i = 0; i < n; i++) {
            switch (pattern) {
            case 4: cps[i] = (i % 2) ? 0x0323 : 0x00C5; break;                          /* long unstable run */
            case 5: cps[i] = 0xFDFA; break;                                             /* 18x expansion */
            case 6: cps[i] = unstable[rnd() % (sizeof unstable / sizeof unstable[0])]; break;
            case 0: cps[i] = (i % 7 == 6) ? 0x0301 : 'a' + (uint32_t)(i % 5); break;   /* ASCII + marks */
            case 1: cps[i] = (i % 1023 == 1022) ? 0x0301 : 0x00E9; break;               /* stable non-ASCII */
            case 2: cps[i] = (i % 3 == 0) ? 0x1100 : (i % 3 == 1) ? 0x1161 : 0x11A8; break; /* jamo */
            default: cps[i] = 0x0300 + (uint32_t)(i % 40); break;                       /* one long segment */
            }
        }
        len = put_all(in, cps, n);
        m = nl__normalize_reference(R, cps, n, ref, n * 18 * 3);
        if (m > n * 18 * 3) {
            fail_line("long text: reference too long", (uint32_t)pattern);
            continue;
        }
        wl = put_all(want, ref, m);
        if (nl_normalize(S, (const char *)in, len, (char *)got, n * 4 * 18 * 3, &gl, &e) != NL_OK || gl != wl ||
            memcmp(got, want, wl) != 0)
            fail_line("long text: fast normalizer differs", (uint32_t)pattern);
        else
            passed++;
    }
    free(in);
    free(got);
    free(want);
    free(cps);
    free(ref);
}

/* nl__is_boundary(c): normalize(X c Y) = normalize(X) normalize(c Y), checked with the slow path for
 * every such code point between contexts that compose, reorder and fold. */
static void test_boundaries(uint32_t stride)
{
    static const uint32_t xs[][3] = {{'e', 0, 0}, {'a', 0x0301, 0}, {0x1100, 0, 0}, {0xAC00, 0, 0},
                                     {'A', 0x0323, 0}, {0x0B47, 0, 0}, {0x0301, 0, 0}, {0x03B1, 0x0345, 0},
                                     {'<', 0, 0}, {0x0F71, 0x0F72, 0}};
    static const uint32_t ys[][3] = {{0, 0, 0}, {0x0301, 0, 0}, {0x0345, 0, 0}, {0x11A8, 0, 0},
                                     {0x0323, 0x0301, 0}, {0x0338, 0, 0}, {0x3099, 0, 0}};
    uint32_t cp, a[8], b[64], left[64], right[64];
    size_t i, j;
    /* every code point below U+20000 (every 61st above: CJK extensions, private use, unassigned) */
    for (cp = 0x80; cp <= 0x10FFFF; cp += (cp < 0x20000 ? stride : 61 * stride)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (!nl__is_boundary(cp)) continue;
        for (i = 0; i < sizeof xs / sizeof xs[0]; i++) {
            for (j = 0; j < sizeof ys / sizeof ys[0]; j++) {
                size_t nx = 0, n = 0, k, mw, ml, mr;
                for (k = 0; k < 3 && xs[i][k]; k++) a[nx++] = xs[i][k];
                n = nx;
                a[n++] = cp;
                for (k = 0; k < 3 && ys[j][k]; k++) a[n++] = ys[j][k];
                mw = nl__normalize_reference(R, a, n, b, 64);
                ml = nl__normalize_reference(R, a, nx, left, 64);
                mr = nl__normalize_reference(R, a + nx, n - nx, right, 64);
                if (mw > 64 || ml + mr != mw || memcmp(b, left, ml * sizeof *b) != 0 ||
                    memcmp(b + ml, right, mr * sizeof *b) != 0)
                    fail_line("nl__is_boundary code point interacts with what precedes it", cp);
                else
                    passed++;
            }
        }
    }
}

static void test_ascii(void)
{
    uint32_t c;
    unsigned char text[3];
    for (c = 0; c < 128; c++) {
        size_t count_fast = 0, count_slow = 0;
        if (nl__ascii_class[c] != nl_ucd_token_class(c)) fail_line("ASCII class table", c);
        else passed++;
        /* the ASCII tokenizer path vs the general path (an 'é' makes the text non-ASCII) */
        text[0] = (unsigned char)c;
        nl__tokenize(S, text, 1, 8, 0, &count_fast);
        text[1] = 0xC3;
        text[2] = 0xA9;
        nl__tokenize(S, text, 3, 8, 0, &count_slow);
        if (count_slow != count_fast + (nl__ascii_class[c] == NL_CLASS_WORD ? 0 : 1)) fail_line("ASCII tokenizer", c);
        else passed++;
    }
}

int main(int argc, char **argv)
{
    uint32_t stride = 1;
    if (argc > 2 && strcmp(argv[1], "--stride") == 0) stride = (uint32_t)strtoul(argv[2], NULL, 10);
    if (stride < 1) stride = 1;
    S = nl_scratch_create(NULL, 0);
    R = nl_scratch_create(NULL, 0);
    if (!S || !R) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    test_decoder();
    test_ascii();
    test_chunking();
    test_boundaries(stride);
    test_normalizer(stride);
    nl_scratch_free(S);
    nl_scratch_free(R);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
