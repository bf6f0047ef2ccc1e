/*
 * Bad inputs and the call contract: invalid UTF-8 (never an error: U+FFFD per maximal subpart), NUL
 * bytes, huge texts, every config error (status and message, the same wording as the Python
 * FeaturizerConfig), caller buffers too small, NULL arguments, batch errors naming the text. Every
 * message must be one line. Ends with "N passed, N failed"; exit status 1 on any failure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"

static long passed, failed;

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static const char DEFAULT_JSON[] = "{\"num_buckets\": 4096, \"num_hashes\": 8, \"word_hashes\": 4, \"ngram_min\": 3, "
                                   "\"ngram_max\": 5, \"max_length\": 64, \"seed\": 0, \"version\": \"1.0\"}";

static int one_line(const nl_error *e)
{
    size_t i, n = 0;
    while (n < sizeof e->message && e->message[n]) n++;
    if (n >= sizeof e->message) return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)e->message[i] < 0x20 || e->message[i] == 0x7F) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------------- config */

/* A config with one field replaced (value NULL: removed) or one extra "key": value. */
static void config_with(char *out, size_t cap, const char *field, const char *value)
{
    static const char *const names[8] = {"num_buckets", "num_hashes", "word_hashes", "ngram_min",
                                         "ngram_max",   "max_length", "seed",        "version"};
    static const char *const values[8] = {"4096", "8", "4", "3", "5", "64", "0", "\"1.0\""};
    size_t i, n = 0;
    int found = 0, first = 1;
    n += (size_t)snprintf(out + n, cap - n, "{");
    for (i = 0; i < 8; i++) {
        const char *v = values[i];
        if (strcmp(names[i], field) == 0) {
            found = 1;
            if (!value) continue;
            v = value;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\": %s", first ? "" : ", ", names[i], v);
        first = 0;
    }
    if (!found) n += (size_t)snprintf(out + n, cap - n, ", \"%s\": %s", field, value);
    snprintf(out + n, cap - n, "}");
}

static void expect_config(const char *what, const char *json, size_t len, nl_status code, const char *message)
{
    nl_featurizer *f = (nl_featurizer *)1;
    nl_error e;
    nl_status st = nl_featurizer_create(json, len, &f, &e);
    check(st == code, "config %s: status %s, expected %s (%s)", what, nl_status_name(st), nl_status_name(code),
          e.message);
    check(e.code == st, "config %s: err.code %d != status %d", what, (int)e.code, (int)st);
    check(one_line(&e), "config %s: message is not one line", what);
    if (st != NL_OK) check(f == NULL, "config %s: *out not NULL on error", what);
    if (message) {
        size_t n = strlen(message);
        int prefix = n && message[n - 1] == '*';
        if (prefix) n--;
        check(prefix ? strncmp(e.message, message, n) == 0 : strcmp(e.message, message) == 0,
              "config %s: message \"%s\", expected \"%s\"", what, e.message, message);
    }
    if (st == NL_OK) nl_featurizer_free(f);
}

static void expect_field(const char *field, const char *value, nl_status code, const char *message)
{
    char json[1024], what[128];
    config_with(json, sizeof json, field, value);
    snprintf(what, sizeof what, "%s=%s", field, value ? value : "(missing)");
    expect_config(what, json, strlen(json), code, message);
}

static void test_config(void)
{
    nl_featurizer *f = NULL;
    nl_error e;
    char deep[400];
    size_t i;
    expect_config("default", DEFAULT_JSON, strlen(DEFAULT_JSON), NL_OK, "");
    expect_field("version", "\"2.0\"", NL_ERR_VERSION,
                 "version: this SDK implements featurizer spec '1.0', got '2.0'; a model trained with another spec "
                 "needs the SDK release that implements it (or retraining)");
    expect_field("version", "1.0", NL_ERR_VERSION, "version: this SDK implements featurizer spec '1.0', got 1.0;*");
    expect_field("version", "\"1.0 \"", NL_ERR_VERSION, "version: this SDK implements featurizer spec '1.0', got '1.0 ';*");
    expect_field("seed", NULL, NL_ERR_CONFIG_FIELD, "seed: missing featurizer config key");
    expect_field("version", NULL, NL_ERR_CONFIG_FIELD, "version: missing featurizer config key");
    expect_field("colour", "1", NL_ERR_CONFIG_FIELD,
                 "colour: unknown featurizer config key (known keys: num_buckets, num_hashes, word_hashes, "
                 "ngram_min, ngram_max, max_length, seed, version)");
    expect_field("cache_size", "0", NL_ERR_CONFIG_FIELD, "cache_size: unknown featurizer config key*");
    expect_field("num_buckets", "-1", NL_ERR_CONFIG_RANGE, "num_buckets: must be >= 1, got -1");
    expect_field("num_buckets", "0", NL_ERR_CONFIG_RANGE, "num_buckets: must be >= 1, got 0");
    expect_field("num_buckets", "-0", NL_ERR_CONFIG_RANGE, "num_buckets: must be >= 1, got 0");
    expect_field("num_buckets", "4096.0", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got 4096.0 (float)");
    expect_field("num_buckets", "4e3", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got 4e3 (float)");
    expect_field("num_buckets", "true", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got True (bool)");
    expect_field("num_buckets", "\"4096\"", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got '4096' (str)");
    expect_field("num_buckets", "null", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got None (NoneType)");
    expect_field("num_buckets", "[4096]", NL_ERR_CONFIG_FIELD, "num_buckets: must be an integer, got [4096] (list)");
    expect_field("num_buckets", "5000000000", NL_ERR_CONFIG_RANGE,
                 "num_buckets: must be <= 2147483648, got 5000000000");
    expect_field("num_buckets", "1000000000000000000000000000000", NL_ERR_CONFIG_RANGE,
                 "num_buckets: must be <= 2147483648, got 1000000000000000000000000000000");
    expect_field("num_buckets", "-1000000000000000000000000000000", NL_ERR_CONFIG_RANGE,
                 "num_buckets: must be >= 1, got -1000000000000000000000000000000");
    expect_field("num_buckets", "2147483648", NL_OK, NULL);
    expect_field("num_buckets", "2147483649", NL_ERR_CONFIG_RANGE, "num_buckets: must be <= 2147483648, got 2147483649");
    expect_field("num_hashes", "1025", NL_ERR_CONFIG_RANGE, "num_hashes: must be <= 1024, got 1025");
    expect_field("word_hashes", "9", NL_ERR_CONFIG_RANGE, "word_hashes: must be <= num_hashes (8), got 9");
    expect_field("word_hashes", "-1", NL_ERR_CONFIG_RANGE, "word_hashes: must be >= 0, got -1");
    expect_field("ngram_min", "0", NL_ERR_CONFIG_RANGE, "ngram_min: must be >= 1, got 0");
    expect_field("ngram_min", "17", NL_ERR_CONFIG_RANGE, "ngram_min: must be <= 16, got 17");
    expect_field("ngram_max", "2", NL_ERR_CONFIG_RANGE, "ngram_max: must be >= ngram_min (3), got 2");
    expect_field("ngram_max", "17", NL_ERR_CONFIG_RANGE, "ngram_max: must be <= 16, got 17");
    expect_field("max_length", "0", NL_ERR_CONFIG_RANGE, "max_length: must be >= 1, got 0");
    expect_field("max_length", "2147483648", NL_ERR_CONFIG_RANGE, "max_length: must be <= 2147483647, got 2147483648");
    expect_field("seed", "4294967296", NL_ERR_CONFIG_RANGE, "seed: must be <= 4294967295, got 4294967296");
    expect_field("seed", "-1", NL_ERR_CONFIG_RANGE, "seed: must be >= 0, got -1");
    expect_field("seed", "4294967295", NL_OK, NULL);
    /* the Python order: unknown keys, then missing ones, then types, then ranges, then the version */
    expect_config("unknown before missing", "{\"x\": 1}", 8, NL_ERR_CONFIG_FIELD, "x: unknown featurizer config key*");
    expect_config("missing in field order", "{}", 2, NL_ERR_CONFIG_FIELD, "num_buckets: missing featurizer config key");
    {
        char json[512];
        config_with(json, sizeof json, "version", "\"9.9\"");
        json[strlen(json) - 1] = '\0';
        strcat(json, ", \"seed\": 1}");
        expect_config("duplicate key", json, strlen(json), NL_ERR_CONFIG_FIELD, "seed: duplicate featurizer config key");
    }
    /* not a JSON object / not JSON */
    expect_config("array", "[]", 2, NL_ERR_CONFIG_FIELD, "featurizer config: expected a JSON object, got list");
    expect_config("string", "\"x\"", 3, NL_ERR_CONFIG_FIELD, "featurizer config: expected a JSON object, got str");
    expect_config("number", "42", 2, NL_ERR_CONFIG_FIELD, "featurizer config: expected a JSON object, got int");
    expect_config("empty", "", 0, NL_ERR_JSON, "featurizer config: invalid JSON at byte 0 *");
    expect_config("whitespace", " \n ", 3, NL_ERR_JSON, "featurizer config: invalid JSON at byte 3 (line 2 column 2)*");
    expect_config("trailing garbage", "{\"a\": 1} x", 10, NL_ERR_JSON,
                  "featurizer config: invalid JSON at byte 9 (line 1 column 10): extra data after the value");
    {
        char json[512];
        size_t n;
        strcpy(json, DEFAULT_JSON);
        n = strlen(json);
        strcat(json, "}");
        expect_config("trailing brace", json, n + 1, NL_ERR_JSON, "featurizer config: invalid JSON at byte*");
        expect_config("length excludes the tail", json, n, NL_OK, NULL);
        expect_config("truncated", json, n - 1, NL_ERR_JSON, "featurizer config: invalid JSON*");
    }
    expect_config("trailing comma", "{\"seed\": 0,}", 12, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("single quotes", "{'seed': 0}", 11, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("comment", "{/* */}", 7, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("leading zero", "{\"seed\": 01}", 12, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("NaN", "{\"seed\": NaN}", 13, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("BOM", "\xEF\xBB\xBF{}", 5, NL_ERR_JSON, "featurizer config: invalid JSON at byte 0*");
    expect_config("NUL inside", "{\"se\0ed\": 0}", 12, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("NUL after", "{}\0", 3, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("bad escape", "{\"\\q\": 0}", 9, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("invalid UTF-8 key", "{\"\xC0\xAF\": 0}", 8, NL_ERR_JSON, "featurizer config: invalid JSON*");
    expect_config("escaped key", "{\"\\u0073eed\": 0}", 16, NL_ERR_CONFIG_FIELD, "num_buckets: missing*");
    expect_config("lone surrogate key", "{\"\\ud800\": 0}", 13, NL_ERR_CONFIG_FIELD,
                  "\xEF\xBF\xBD: unknown featurizer config key*");
    expect_config("control char key", "{\"a\\nb\": 0}", 11, NL_ERR_CONFIG_FIELD, "a\\x0ab: unknown featurizer*");
    for (i = 0; i < 300; i++) deep[i] = '[';
    expect_config("deep nesting", deep, 300, NL_ERR_JSON, "featurizer config: invalid JSON at byte 64*");
    check(nl_featurizer_create(NULL, 0, &f, &e) == NL_ERR_ARGUMENT, "config NULL: not NL_ERR_ARGUMENT");
    check(nl_featurizer_create(DEFAULT_JSON, strlen(DEFAULT_JSON), NULL, &e) == NL_ERR_ARGUMENT,
          "config out NULL: not NL_ERR_ARGUMENT");
    check(nl_featurizer_create(DEFAULT_JSON, strlen(DEFAULT_JSON), &f, NULL) == NL_OK, "config with err NULL");
    nl_featurizer_free(f);
    nl_featurizer_free(NULL);
}

/* ---------------------------------------------------------------------------------------------- texts */

static nl_featurizer *F;
static const char *DIGEST = "7fd20cf9f25df79d673463c19df5314d74176949ab60c76777833bf71587d974";

/* nl_normalize must give exactly `expected` (expected_len bytes). */
static void expect_normalized(const char *what, const char *text, size_t len, const char *expected, size_t expected_len)
{
    nl_scratch *s = nl_scratch_create(NULL, 0);
    char out[256];
    size_t needed = 0;
    nl_error e;
    nl_status st = nl_normalize(s, text, len, out, sizeof out, &needed, &e);
    check(st == NL_OK && needed == expected_len && memcmp(out, expected, expected_len) == 0,
          "normalize %s: status %s, %lu bytes", what, nl_status_name(st), (unsigned long)needed);
    nl_scratch_free(s);
}

/* The tokens, joined with '|'. */
static void expect_tokens(const char *what, const char *text, size_t len, const char *expected)
{
    nl_scratch *s = nl_scratch_create(NULL, 0);
    char out[512], joined[512];
    size_t needed = 0, count = 0, i;
    nl_error e;
    nl_status st = nl_tokenize(s, text, len, out, sizeof out, &needed, &count, &e);
    check(st == NL_OK, "tokenize %s: %s %s", what, nl_status_name(st), e.message);
    if (st == NL_OK) {
        for (i = 0; i < needed; i++) joined[i] = out[i] ? out[i] : '|';
        if (needed) needed--; /* the last separator */
        joined[needed] = '\0';
        check(strcmp(joined, expected) == 0, "tokenize %s: \"%s\", expected \"%s\"", what, joined, expected);
    }
    nl_scratch_free(s);
}

#define FFFD "\xEF\xBF\xBD"

static void test_invalid_utf8(void)
{
    expect_normalized("lone continuation", "a\x80" "b", 3, "a" FFFD "b", 5);
    expect_normalized("two continuations", "\x80\xBF", 2, FFFD FFFD, 6);
    expect_normalized("overlong 2-byte", "\xC0\xAF", 2, FFFD FFFD, 6);
    expect_normalized("overlong C1", "\xC1\xBF", 2, FFFD FFFD, 6);
    expect_normalized("overlong 3-byte", "\xE0\x80\x80", 3, FFFD FFFD FFFD, 9);
    expect_normalized("overlong 4-byte", "\xF0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD, 12);
    expect_normalized("surrogate ED A0 80", "\xED\xA0\x80", 3, FFFD FFFD FFFD, 9);
    expect_normalized("surrogate ED BF BF", "\xED\xBF\xBF", 3, FFFD FFFD FFFD, 9);
    expect_normalized("truncated 4-byte", "\xF0\x9F\x98 x", 5, FFFD " x", 5);
    expect_normalized("truncated 4-byte at end", "x\xF0\x9F\x98", 4, "x" FFFD, 4);
    expect_normalized("truncated 3-byte at end", "\xE6\x9D", 2, FFFD, 3);
    expect_normalized("truncated 2-byte", "\xC3" "a", 2, FFFD "a", 4);
    expect_normalized("above U+10FFFF", "\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD, 12);
    expect_normalized("F5", "\xF5", 1, FFFD, 3);
    expect_normalized("F5..FF", "\xF5\xF8\xFC\xFE\xFF", 5, FFFD FFFD FFFD FFFD FFFD, 15);
    expect_normalized("valid U+FFFD", FFFD, 3, FFFD, 3);
    expect_normalized("max scalar", "\xF4\x8F\xBF\xBF", 4, "\xF4\x8F\xBF\xBF", 4);
    expect_tokens("invalid bytes are tokens", "caf\x80" "e ok", 8, "caf|" FFFD "|e|ok");
    expect_tokens("surrogate encoding", "a\xED\xA0\x80" "b", 5, "a|" FFFD "|" FFFD "|" FFFD "|b");
    expect_tokens("NUL separates", "nul\0inside\0\0text", 17, "nul|inside|text");
    expect_tokens("NUL only", "\0\0\0", 3, "");
    expect_normalized("NUL kept by normalize", "A\0B", 3, "a\0b", 3);
    expect_tokens("empty", "", 0, "");
    expect_tokens("NULL with length 0", NULL, 0, "");
}

static void test_long_texts(void)
{
    const size_t n = 10u << 20; /* 10 MB */
    char *big = (char *)malloc(n), *p;
    nl_scratch *s = nl_scratch_create(F, 1024);
    int32_t feat[64 * 8], length = -1;
    float mask[64];
    uint8_t trunc = 0;
    size_t count = 0, i;
    nl_error e;
    nl_status st;
    static const char *const units[] = {"word ", "caf\xC3\xA9 ", "\xE6\x9D\xB1", "e\xCC\x81", "\xCC\x81",
                                        "\xF0\x9F\x98\x80", "x", "\xED\xA0\x80", "\xEF\xB7\xBA" /* U+FDFA */,
                                        "\xC3\x85\xCC\xA3" /* unstable starter + mark */};
    if (!big || !s) {
        printf("FAIL out of memory\n");
        failed++;
        free(big);
        nl_scratch_free(s);
        return;
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t ul = strlen(units[i]), j;
        for (j = 0, p = big; j + ul <= n; j += ul, p += ul) memcpy(p, units[i], ul);
        memset(p, ' ', n - (size_t)(p - big));
        st = nl_featurize(F, s, big, n, 0, 64, feat, 64 * 8, mask, 64, &length, &trunc, &e);
        check(st == NL_OK, "10 MB of \"%s\": %s %s", units[i], nl_status_name(st), e.message);
        st = nl_count_tokens(F, s, big, n, &count, &e);
        check(st == NL_OK && count > 0, "10 MB of unit %lu: count %s", (unsigned long)i, nl_status_name(st));
        if (i == 0) check(count == n / 5 && length == 64 && trunc == 1, "10 MB of words: %lu tokens, length %ld",
                          (unsigned long)count, (long)length);
        if (i == 6) check(count == 1 && length == 1 && trunc == 0, "10 MB word: %lu tokens", (unsigned long)count);
    }
    /* a long ASCII text (the general ASCII path) keeps the same first rows as a short prefix of it
     * (the fused path), with a fresh scratch and with one that grew */
    {
        size_t plen = 0, t, words;
        int32_t feat2[64 * 8], length2 = -1;
        uint8_t trunc2 = 0;
        nl_scratch *fresh = nl_scratch_create(F, 0);
        for (t = 0; plen + 16 < 200000; t++) plen += (size_t)sprintf(big + plen, "Word%lu, ", (unsigned long)t);
        words = t;
        for (t = 0; t < 2; t++) {
            st = nl_featurize(F, fresh, big, plen, 0, 64, feat, 64 * 8, mask, 64, &length, &trunc, &e);
            check(st == NL_OK && length == 64 && trunc == 1, "200 kB ASCII text: %s", nl_status_name(st));
            st = nl_featurize(F, fresh, big, 1500, 0, 64, feat2, 64 * 8, mask, 64, &length2, &trunc2, &e);
            check(st == NL_OK && length2 == 64 && trunc2 == 1 && memcmp(feat, feat2, sizeof feat) == 0,
                  "200 kB ASCII text: rows differ from its prefix's (%s)", t ? "grown scratch" : "fresh scratch");
            st = nl_count_tokens(F, fresh, big, plen, &count, &e);
            check(st == NL_OK && count == 2 * words, "200 kB ASCII text: %lu tokens, expected %lu", (unsigned long)count,
                  (unsigned long)(2 * words));
            if (t == 0) { /* normalizing a longer non-ASCII text grows the scratch's byte buffer past plen */
                size_t needed = 0;
                memcpy(big + plen, "\xC3\xA9", 2);
                nl_normalize(fresh, big, plen + 2, NULL, 0, &needed, &e);
                check(needed == plen + 2, "normalize 200 kB: %lu bytes", (unsigned long)needed);
            }
        }
        nl_scratch_free(fresh);
    }
    /* longer than NL_MAX_TEXT_BYTES: refused before reading */
    st = nl_featurize(F, s, big, NL_MAX_TEXT_BYTES + 1, 0, 64, feat, 64 * 8, mask, 64, &length, &trunc, &e);
    check(st == NL_ERR_TOO_LONG && one_line(&e), "text above the limit: %s", nl_status_name(st));
    st = nl_count_tokens(F, s, big, NL_MAX_TEXT_BYTES + 1, &count, &e);
    check(st == NL_ERR_TOO_LONG, "count above the limit: %s", nl_status_name(st));
    st = nl_normalize(s, big, NL_MAX_TEXT_BYTES + 1, NULL, 0, NULL, &e);
    check(st == NL_ERR_TOO_LONG, "normalize above the limit: %s", nl_status_name(st));
    st = nl_tokenize(s, big, NL_MAX_TEXT_BYTES + 1, NULL, 0, NULL, NULL, &e);
    check(st == NL_ERR_TOO_LONG, "tokenize above the limit: %s", nl_status_name(st));
    nl_scratch_free(s);
    free(big);
}

static void test_buffers(void)
{
    nl_scratch *s = nl_scratch_create(F, 16);
    int32_t feat[8 * 8];
    float mask[8];
    int32_t length = 7, lengths[4] = {-1, -1, -1, -1};
    uint8_t trunc = 7, truncs[4] = {9, 9, 9, 9};
    char out[64];
    size_t needed = 0, count = 0;
    nl_error e;
    nl_status st;
    const char *text = "one two three four five";
    size_t len = strlen(text);
    memset(feat, 0x55, sizeof feat);
    st = nl_featurize(F, s, text, len, 0, 8, feat, 8 * 8 - 1, mask, 8, &length, &trunc, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "features:", 9) == 0 && strstr(e.message, "64"),
          "features too small: %s \"%s\"", nl_status_name(st), e.message);
    st = nl_featurize(F, s, text, len, 0, 8, feat, 8 * 8, mask, 7, &length, &trunc, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "mask:", 5) == 0, "mask too small: %s \"%s\"",
          nl_status_name(st), e.message);
    st = nl_featurize(F, s, text, len, 0, 4, feat, 8 * 8, mask, 8, &length, &trunc, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "row_length:", 11) == 0 && strstr(e.message, "5"),
          "row_length too small: %s \"%s\"", nl_status_name(st), e.message);
    check(length == 7 && trunc == 7 && feat[0] == 0x55555555, "row_length too small: something was written");
    st = nl_featurize(F, s, text, len, 4, 4, feat, 8 * 8, mask, 8, &length, &trunc, &e);
    check(st == NL_OK && length == 4 && trunc == 1, "max_length 4 into 4 rows: %s", nl_status_name(st));
    st = nl_featurize(F, s, "", 0, 0, 0, NULL, 0, NULL, 0, &length, &trunc, &e);
    check(st == NL_OK && length == 0 && trunc == 0, "empty text into 0 rows: %s", nl_status_name(st));
    st = nl_featurize(F, s, "x", 1, 0, 0, NULL, 0, NULL, 0, &length, &trunc, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL, "a token into 0 rows: %s", nl_status_name(st));
    st = nl_featurize(F, s, text, len, 0, 8, NULL, 64, mask, 8, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT && strncmp(e.message, "features:", 9) == 0, "features NULL: %s", nl_status_name(st));
    st = nl_featurize(F, s, text, len, 0x80000000u, 8, feat, 64, mask, 8, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT && strncmp(e.message, "max_length:", 11) == 0, "max_length 2^31: %s", nl_status_name(st));
    st = nl_featurize(NULL, s, text, len, 0, 8, feat, 64, mask, 8, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT, "featurizer NULL: %s", nl_status_name(st));
    st = nl_featurize(F, NULL, text, len, 0, 8, feat, 64, mask, 8, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT, "scratch NULL: %s", nl_status_name(st));
    st = nl_featurize(F, s, NULL, 3, 0, 8, feat, 64, mask, 8, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT && one_line(&e), "utf8 NULL: %s", nl_status_name(st));
    st = nl_featurize(F, s, text, len, 0, 0xFFFFFFFFu, feat, 64, mask, 8, NULL, NULL, NULL);
    check(st == NL_ERR_BUFFER_TOO_SMALL || st == NL_ERR_ARGUMENT, "huge row_length with err NULL: %s",
          nl_status_name(st));
    /* normalize / tokenize sizes */
    st = nl_normalize(s, "HELLO", 5, out, 4, &needed, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && needed == 5, "normalize into 4 bytes: %s needed %lu", nl_status_name(st),
          (unsigned long)needed);
    st = nl_normalize(s, "\xC3\x89t\xC3\xA9", 5, out, 2, &needed, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && needed == 5, "normalize non-ASCII into 2 bytes: %s needed %lu",
          nl_status_name(st), (unsigned long)needed);
    st = nl_normalize(s, "HELLO", 5, out, 5, &needed, &e);
    check(st == NL_OK && memcmp(out, "hello", 5) == 0, "normalize into exactly 5 bytes: %s", nl_status_name(st));
    st = nl_tokenize(s, text, len, out, 23, &needed, &count, &e);
    check(st == NL_ERR_BUFFER_TOO_SMALL && needed == 24 && count == 5, "tokenize into 23 bytes: %s needed %lu",
          nl_status_name(st), (unsigned long)needed);
    st = nl_tokenize(s, text, len, out, 24, &needed, &count, &e);
    check(st == NL_OK, "tokenize into 24 bytes: %s", nl_status_name(st));
    st = nl_normalize(NULL, "x", 1, out, 4, &needed, &e);
    check(st == NL_ERR_ARGUMENT, "normalize scratch NULL: %s", nl_status_name(st));
    st = nl_tokenize(s, "x", 1, NULL, 4, &needed, &count, &e);
    check(st == NL_ERR_ARGUMENT, "tokenize out NULL with capacity: %s", nl_status_name(st));
    /* token buckets */
    st = nl_token_buckets(F, "caf\xC3", 4, feat, &e);
    check(st == NL_ERR_ARGUMENT && strstr(e.message, "invalid UTF-8"), "token_buckets invalid UTF-8: %s \"%s\"",
          nl_status_name(st), e.message);
    st = nl_token_buckets(F, "", 0, feat, &e);
    check(st == NL_OK, "token_buckets empty token: %s", nl_status_name(st));
    st = nl_token_buckets(F, "a", 1, NULL, &e);
    check(st == NL_ERR_ARGUMENT, "token_buckets out NULL: %s", nl_status_name(st));
    /* batch: text 2 is NULL with a length; texts 0-1 written, nothing after */
    {
        const char *texts[4] = {"a b", "c", NULL, "d"};
        size_t lens[4] = {3, 1, 5, 1};
        float bm[4 * 2];
        int32_t bf[4 * 2 * 8];
        st = nl_featurize_batch(F, s, texts, lens, 4, 0, 2, bf, 4 * 2 * 8, bm, 8, lengths, truncs, &e);
        check(st == NL_ERR_ARGUMENT && strncmp(e.message, "texts[2]: ", 10) == 0, "batch NULL text: %s \"%s\"",
              nl_status_name(st), e.message);
        check(lengths[0] == 2 && lengths[1] == 1 && lengths[2] == -1 && lengths[3] == -1 && truncs[3] == 9,
              "batch error: lengths %ld %ld %ld %ld", (long)lengths[0], (long)lengths[1], (long)lengths[2],
              (long)lengths[3]);
        texts[2] = "x y z";
        st = nl_featurize_batch(F, s, texts, lens, 4, 0, 2, bf, 4 * 2 * 8, bm, 8, lengths, truncs, &e);
        check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "texts[2]: row_length:", 21) == 0,
              "batch row too short: %s \"%s\"", nl_status_name(st), e.message);
        st = nl_featurize_batch(F, s, texts, lens, 4, 2, 2, bf, 4 * 2 * 8, bm, 8, lengths, truncs, &e);
        check(st == NL_OK && lengths[2] == 2 && truncs[2] == 1 && lengths[3] == 1, "batch max_length 2: %s",
              nl_status_name(st));
        st = nl_featurize_batch(F, s, texts, lens, 4, 2, 2, bf, 4 * 2 * 8 - 1, bm, 8, lengths, truncs, &e);
        check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "features:", 9) == 0, "batch features small: %s",
              nl_status_name(st));
        st = nl_featurize_batch(F, s, texts, lens, 4, 2, 2, bf, 4 * 2 * 8, bm, 7, lengths, truncs, &e);
        check(st == NL_ERR_BUFFER_TOO_SMALL && strncmp(e.message, "mask:", 5) == 0, "batch mask small: %s",
              nl_status_name(st));
        st = nl_featurize_batch(F, s, NULL, lens, 4, 2, 2, bf, 64, bm, 8, NULL, NULL, &e);
        check(st == NL_ERR_ARGUMENT, "batch texts NULL: %s", nl_status_name(st));
        st = nl_featurize_batch(F, s, NULL, NULL, 0, 0, 1, NULL, 0, NULL, 0, NULL, NULL, &e);
        check(st == NL_OK, "empty batch: %s", nl_status_name(st));
        st = nl_featurize_batch(F, s, texts, lens, (size_t)-1 / 2, 2, 0xFFFFFFFFu, bf, 64, bm, 8, NULL, NULL, &e);
        check(st == NL_ERR_ARGUMENT && one_line(&e), "batch size overflow: %s", nl_status_name(st));
    }
    nl_scratch_free(s);
}

static void test_scratch_and_misc(void)
{
    nl_featurizer *g = NULL;
    nl_scratch *s;
    char json[1024], hex[65];
    int32_t feat[8];
    float mask[1];
    nl_error e;
    nl_status st;
    int i;
    config_with(json, sizeof json, "seed", "1");
    nl_featurizer_create(json, strlen(json), &g, &e);
    s = nl_scratch_create(F, 8);
    st = nl_featurize(g, s, "x", 1, 0, 1, feat, 8, mask, 1, NULL, NULL, &e);
    check(st == NL_ERR_ARGUMENT && strncmp(e.message, "scratch:", 8) == 0, "cache of another featurizer: %s",
          nl_status_name(st));
    nl_scratch_free(s);
    s = nl_scratch_create(NULL, 0);
    st = nl_featurize(g, s, "x", 1, 0, 1, feat, 8, mask, 1, NULL, NULL, &e);
    check(st == NL_OK, "scratch without cache for any featurizer: %s", nl_status_name(st));
    nl_scratch_free(s);
    nl_scratch_free(NULL);
    nl_featurizer_free(g);
    nl_featurizer_digest(F, hex);
    check(strcmp(hex, DIGEST) == 0, "default digest %s", hex);
    check(strstr(nl_version_string(), "spec 1.0") && strstr(nl_version_string(), "Unicode 14.0.0"),
          "version string %s", nl_version_string());
    check(strcmp(nl_featurizer_canonical_json(F),
                 "{\"max_length\":64,\"ngram_max\":5,\"ngram_min\":3,\"num_buckets\":4096,\"num_hashes\":8,\"seed\":0,"
                 "\"version\":\"1.0\",\"word_hashes\":4}") == 0,
          "canonical JSON %s", nl_featurizer_canonical_json(F));
    check(nl_featurizer_get_params(F)->num_buckets == 4096 && nl_featurizer_get_params(NULL) == NULL, "get_params");
    check(nl_featurizer_mix_params(F, 8, NULL, NULL) == NL_ERR_ARGUMENT, "mix_params k = K");
    for (i = 0; i <= 8; i++) check(strncmp(nl_status_name((nl_status)i), "NL_", 3) == 0, "status name %d", i);
    check(strcmp(nl_status_name(NL_ERR_VERSION), "NL_ERR_VERSION") == 0, "status name of NL_ERR_VERSION");
    check(strcmp(nl_status_name((nl_status)42), "NL_ERR_UNKNOWN") == 0, "status name of 42");
    check(nl_murmur3_x86_32("hello", 5, 0) == 613153351u, "murmur3 hello");
    check(nl_murmur3_x86_32(NULL, 0, 0) == 0u, "murmur3 NULL");
}

int main(void)
{
    nl_error e;
    if (nl_featurizer_create(DEFAULT_JSON, strlen(DEFAULT_JSON), &F, &e) != NL_OK) {
        printf("FAIL default config: %s\n0 passed, 1 failed\n", e.message);
        return 1;
    }
    test_config();
    test_invalid_utf8();
    test_buffers();
    test_scratch_and_misc();
    test_long_texts();
    nl_featurizer_free(F);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
