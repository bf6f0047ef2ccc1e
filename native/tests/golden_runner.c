/*
 * Checks the featurizer core against the spec 1.0 golden vectors (tests/golden/featurizer_v1.json):
 * configs (canonical JSON, digest), mixing constants, MurmurHash3 vectors, token details (word and
 * n-gram hashes, MinHash values, buckets), every case (tokens, token count, features, mask, length,
 * truncated, all_features_sha256) with and without a token cache, and the batches.
 *
 *   golden_runner tests/golden/featurizer_v1.json
 *   golden_runner --corpus DIR tests/golden/featurizer_v1.json   (writes the texts as fuzz seeds)
 *
 * Prints one line per failed check and ends with "N passed, N failed"; exit status 1 on any failure.
 * A text holding a lone surrogate \u escape is passed as U+0020 (the binding rule of the header).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"
#include "nl_internal.h"
#include "nl_json.h"

#define MAX_CONFIGS 16

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

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (char *)xmalloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

typedef struct {
    const char *name;
    nl_featurizer *f;
    const nlj_value *json;
} config_entry;

static config_entry configs[MAX_CONFIGS];
static size_t nconfigs;

static config_entry *find_config(const char *name)
{
    size_t i;
    for (i = 0; i < nconfigs; i++)
        if (strcmp(configs[i].name, name) == 0) return &configs[i];
    return NULL;
}

static const nlj_value *member(const nlj_value *obj, const char *key, nlj_type type)
{
    const nlj_value *v = nlj_member(obj, key);
    if (!v || v->type != type) return NULL;
    return v;
}

static int64_t int_of(const nlj_value *obj, const char *key, int64_t fallback)
{
    const nlj_value *v = member(obj, key, NLJ_INT);
    return v ? v->integer : fallback;
}

static uint64_t parse_hex64(const char *s)
{
    uint64_t v = 0;
    for (; *s; s++) {
        int d = (*s >= '0' && *s <= '9') ? *s - '0' : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 : (*s >= 'A' && *s <= 'F') ? *s - 'A' + 10 : 0;
        v = (v << 4) | (uint64_t)d;
    }
    return v;
}

static int hexval(char c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* The case's text: "text", "hex" (UTF-8 bytes, possibly invalid), or "text_recipe" {repeat, length}:
 * repeat concatenated, cut to length code points. */
static char *case_text(const nlj_value *c, size_t *len)
{
    const nlj_value *t = member(c, "text", NLJ_STRING), *r = member(c, "text_recipe", NLJ_OBJECT);
    const nlj_value *h = member(c, "hex", NLJ_STRING);
    if (h) {
        size_t i, n = h->length / 2;
        char *s = (char *)xmalloc(n + 1);
        if (h->length % 2) {
            free(s);
            return NULL;
        }
        for (i = 0; i < n; i++) {
            int hi = hexval(h->string[2 * i]), lo = hexval(h->string[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                free(s);
                return NULL;
            }
            s[i] = (char)(hi * 16 + lo);
        }
        s[n] = '\0';
        *len = n;
        return s;
    }
    if (t) {
        char *s = (char *)xmalloc(t->length + 1);
        memcpy(s, t->string, t->length + 1);
        *len = t->length;
        return s;
    }
    if (r) {
        const nlj_value *rep = member(r, "repeat", NLJ_STRING);
        int64_t want = int_of(r, "length", 0), got = 0;
        size_t cap, n = 0, i = 0;
        char *s;
        if (!rep || rep->length == 0 || want < 0) return NULL;
        cap = (size_t)want * 4 + 1;
        s = (char *)xmalloc(cap);
        while (got < want) {
            unsigned char b = (unsigned char)rep->string[i];
            size_t l = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            memcpy(s + n, rep->string + i, l);
            n += l;
            got++;
            i += l;
            if (i >= rep->length) i = 0;
        }
        s[n] = '\0';
        *len = n;
        return s;
    }
    return NULL;
}

static void sha256_le(const int32_t *v, size_t n, char hex[65])
{
    nl_sha256 s;
    unsigned char d[32], b[4];
    size_t i;
    static const char digits[] = "0123456789abcdef";
    nl__sha256_init(&s);
    for (i = 0; i < n; i++) {
        uint32_t u = (uint32_t)v[i];
        b[0] = (unsigned char)u;
        b[1] = (unsigned char)(u >> 8);
        b[2] = (unsigned char)(u >> 16);
        b[3] = (unsigned char)(u >> 24);
        nl__sha256_update(&s, b, 4);
    }
    nl__sha256_final(&s, d);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

/* ---------------------------------------------------------------------------------------------- configs */

static void check_configs(const nlj_value *root)
{
    const nlj_value *cs = member(root, "configs", NLJ_OBJECT);
    size_t i;
    check(cs != NULL, "golden: no configs");
    if (!cs) return;
    for (i = 0; i < cs->count && nconfigs < MAX_CONFIGS; i++) {
        const nlj_value *c = &cs->items[i];
        const nlj_value *canon = member(c, "canonical_json", NLJ_STRING), *dig = member(c, "digest", NLJ_STRING);
        nl_featurizer *f = NULL, *g = NULL;
        nl_error e;
        char hex[65], pretty[512];
        nl_status st;
        if (!canon || !dig) {
            check(0, "config %s: no canonical_json/digest", c->key);
            continue;
        }
        st = nl_featurizer_create(canon->string, canon->length, &f, &e);
        check(st == NL_OK, "config %s: create from canonical JSON: %s %s", c->key, nl_status_name(st), e.message);
        if (st != NL_OK) continue;
        check(strcmp(nl_featurizer_canonical_json(f), canon->string) == 0, "config %s: canonical JSON %s, expected %s",
              c->key, nl_featurizer_canonical_json(f), canon->string);
        nl_featurizer_digest(f, hex);
        check(strcmp(hex, dig->string) == 0, "config %s: digest %s, expected %s", c->key, hex, dig->string);
        /* the same config written in field order with whitespace, as featurizer.json is */
        snprintf(pretty, sizeof pretty,
                 "{\n  \"num_buckets\": %lld,\n  \"num_hashes\": %lld,\n  \"word_hashes\": %lld,\n  \"ngram_min\": %lld,"
                 "\n  \"ngram_max\": %lld,\n  \"max_length\": %lld,\n  \"seed\": %lld,\n  \"version\": \"1.0\"\n}\n",
                 (long long)int_of(c, "num_buckets", -1), (long long)int_of(c, "num_hashes", -1),
                 (long long)int_of(c, "word_hashes", -1), (long long)int_of(c, "ngram_min", -1),
                 (long long)int_of(c, "ngram_max", -1), (long long)int_of(c, "max_length", -1),
                 (long long)int_of(c, "seed", -1));
        st = nl_featurizer_create(pretty, strlen(pretty), &g, &e);
        check(st == NL_OK, "config %s: create from indented JSON: %s %s", c->key, nl_status_name(st), e.message);
        if (g) {
            nl_featurizer_digest(g, hex);
            check(strcmp(hex, dig->string) == 0, "config %s: indented JSON digest %s, expected %s", c->key, hex,
                  dig->string);
            nl_featurizer_free(g);
        }
        configs[nconfigs].name = c->key;
        configs[nconfigs].f = f;
        configs[nconfigs].json = c;
        nconfigs++;
    }
}

static void check_mix_params(const nlj_value *root)
{
    const nlj_value *mp = member(root, "mix_params", NLJ_OBJECT);
    size_t i, k;
    check(mp != NULL, "golden: no mix_params");
    if (!mp) return;
    for (i = 0; i < mp->count; i++) {
        const nlj_value *m = &mp->items[i];
        const nlj_value *a = member(m, "a", NLJ_ARRAY), *b = member(m, "b", NLJ_ARRAY);
        config_entry *ce = find_config(m->key);
        if (!ce || !a || !b) {
            check(0, "mix_params %s: unknown config or no a/b", m->key);
            continue;
        }
        check(a->count == nl_featurizer_get_params(ce->f)->num_hashes, "mix_params %s: %lu constants for K = %lu",
              m->key, (unsigned long)a->count, (unsigned long)nl_featurizer_get_params(ce->f)->num_hashes);
        for (k = 0; k < a->count && k < b->count; k++) {
            uint64_t ga = 0, gb = 0;
            nl_featurizer_mix_params(ce->f, (uint32_t)k, &ga, &gb);
            check(a->items[k].type == NLJ_STRING && ga == parse_hex64(a->items[k].string),
                  "mix_params %s: a_%lu = %016llx", m->key, (unsigned long)k, (unsigned long long)ga);
            check(b->items[k].type == NLJ_STRING && gb == parse_hex64(b->items[k].string),
                  "mix_params %s: b_%lu = %016llx", m->key, (unsigned long)k, (unsigned long long)gb);
        }
    }
}

static void check_murmur(const nlj_value *root)
{
    const nlj_value *mv = member(root, "murmur3_x86_32", NLJ_ARRAY);
    size_t i;
    check(mv != NULL, "golden: no murmur3_x86_32");
    if (!mv) return;
    for (i = 0; i < mv->count; i++) {
        const nlj_value *v = &mv->items[i], *in = member(v, "input", NLJ_STRING);
        uint32_t h;
        if (!in) {
            check(0, "murmur3 vector %lu: no input", (unsigned long)i);
            continue;
        }
        h = nl_murmur3_x86_32(in->string, in->length, (uint32_t)int_of(v, "seed", 0));
        check((int64_t)h == int_of(v, "hash", -1), "murmur3 vector %lu (seed %lld): %lu, expected %lld",
              (unsigned long)i, (long long)int_of(v, "seed", 0), (unsigned long)h, (long long)int_of(v, "hash", -1));
    }
}

static uint32_t mix(uint64_t a, uint64_t b, uint32_t x) { return (uint32_t)((a * x + b) >> 32); }

static void check_token_details(const nlj_value *root)
{
    const nlj_value *td = member(root, "token_details", NLJ_ARRAY), *mp = member(root, "mix_params", NLJ_OBJECT);
    size_t i, k, g;
    check(td != NULL, "golden: no token_details");
    if (!td) return;
    for (i = 0; i < td->count; i++) {
        const nlj_value *d = &td->items[i];
        const nlj_value *cfg = member(d, "config", NLJ_STRING), *tok = member(d, "token", NLJ_STRING);
        const nlj_value *grams = member(d, "ngrams", NLJ_ARRAY), *gh = member(d, "ngram_hashes", NLJ_ARRAY);
        const nlj_value *values = member(d, "values", NLJ_ARRAY), *buckets = member(d, "buckets", NLJ_ARRAY);
        const nlj_value *m = cfg && mp ? member(mp, cfg->string, NLJ_OBJECT) : NULL;
        const nlj_value *ma = m ? member(m, "a", NLJ_ARRAY) : NULL, *mb = m ? member(m, "b", NLJ_ARRAY) : NULL;
        config_entry *ce = cfg ? find_config(cfg->string) : NULL;
        const nl_featurizer_params *p;
        int32_t out[1024];
        nl_error e;
        nl_status st;
        uint32_t wh;
        if (!ce || !tok || !grams || !gh || !values || !buckets || !ma || !mb) {
            check(0, "token_details %lu: incomplete entry", (unsigned long)i);
            continue;
        }
        p = nl_featurizer_get_params(ce->f);
        wh = nl_murmur3_x86_32(tok->string, tok->length, p->seed);
        check((int64_t)wh == int_of(d, "word_hash", -1), "token_details %s/%s: word hash %lu", cfg->string, tok->string,
              (unsigned long)wh);
        for (g = 0; g < grams->count && g < gh->count; g++) {
            uint32_t h = nl_murmur3_x86_32(grams->items[g].string, grams->items[g].length, p->seed);
            check(grams->items[g].type == NLJ_STRING && (int64_t)h == gh->items[g].integer,
                  "token_details %s/%s: n-gram %lu hash %lu", cfg->string, tok->string, (unsigned long)g, (unsigned long)h);
        }
        /* the values from the golden constants and hashes (spec section 5), then the core's buckets */
        for (k = 0; k < values->count && k < ma->count && k < mb->count; k++) {
            uint64_t a = parse_hex64(ma->items[k].string), b = parse_hex64(mb->items[k].string);
            uint32_t v;
            if (k < p->word_hashes) {
                v = mix(a, b, wh);
            } else {
                v = 0xFFFFFFFFu;
                for (g = 0; g < gh->count; g++) {
                    uint32_t x = mix(a, b, (uint32_t)gh->items[g].integer);
                    if (x < v) v = x;
                }
            }
            check((int64_t)v == values->items[k].integer, "token_details %s/%s: v_%lu = %lu", cfg->string,
                  tok->string, (unsigned long)k, (unsigned long)v);
            check(k < buckets->count && (int64_t)(v % p->num_buckets) == buckets->items[k].integer,
                  "token_details %s/%s: golden bucket_%lu is not v mod F", cfg->string, tok->string, (unsigned long)k);
        }
        st = nl_token_buckets(ce->f, tok->string, tok->length, out, &e);
        check(st == NL_OK, "token_details %s/%s: nl_token_buckets %s %s", cfg->string, tok->string, nl_status_name(st),
              e.message);
        if (st != NL_OK) continue;
        check(buckets->count == p->num_hashes, "token_details %s/%s: %lu buckets", cfg->string, tok->string,
              (unsigned long)buckets->count);
        for (k = 0; k < buckets->count && k < p->num_hashes; k++)
            check(out[k] == buckets->items[k].integer, "token_details %s/%s: bucket_%lu = %ld, expected %lld",
                  cfg->string, tok->string, (unsigned long)k, (long)out[k], (long long)buckets->items[k].integer);
    }
}

/* ---------------------------------------------------------------------------------------------- cases */

/* Compare features/mask rows [L][K] with the golden arrays. Returns 1 when equal (prints the first diff). */
static int rows_equal(const char *what, const nlj_value *gf, const nlj_value *gm, const int32_t *feat,
                      const float *mask, size_t L, size_t K)
{
    size_t l, k;
    if (!gf || gf->count != L) {
        printf("FAIL %s: features has %lu rows, expected %lu\n", what, (unsigned long)(gf ? gf->count : 0),
               (unsigned long)L);
        return 0;
    }
    if (!gm || gm->count != L) {
        printf("FAIL %s: mask has %lu entries, expected %lu\n", what, (unsigned long)(gm ? gm->count : 0),
               (unsigned long)L);
        return 0;
    }
    for (l = 0; l < L; l++) {
        const nlj_value *row = &gf->items[l];
        double gmv = gm->items[l].number;
        if (row->type != NLJ_ARRAY || row->count != K) {
            printf("FAIL %s: features[%lu] is not %lu integers\n", what, (unsigned long)l, (unsigned long)K);
            return 0;
        }
        for (k = 0; k < K; k++) {
            if (row->items[k].integer != feat[l * K + k]) {
                printf("FAIL %s: features[%lu][%lu] = %ld, expected %lld\n", what, (unsigned long)l, (unsigned long)k,
                       (long)feat[l * K + k], (long long)row->items[k].integer);
                return 0;
            }
        }
        if ((double)mask[l] != gmv) {
            printf("FAIL %s: mask[%lu] = %g, expected %g\n", what, (unsigned long)l, (double)mask[l], gmv);
            return 0;
        }
    }
    return 1;
}

static void check_tokens(const char *name, nl_scratch *s, const char *text, size_t len, const nlj_value *gt)
{
    size_t need = 0, count = 0, i, o = 0;
    char *buf;
    nl_error e;
    nl_status st = nl_tokenize(s, text, len, NULL, 0, &need, &count, &e);
    if (len == 0 || need == 0) {
        check(st == NL_OK, "%s: nl_tokenize sizing: %s %s", name, nl_status_name(st), e.message);
    } else {
        check(st == NL_ERR_BUFFER_TOO_SMALL, "%s: nl_tokenize into 0 bytes: %s", name, nl_status_name(st));
    }
    buf = (char *)xmalloc(need + 1);
    st = nl_tokenize(s, text, len, buf, need, &need, &count, &e);
    check(st == NL_OK, "%s: nl_tokenize %s %s", name, nl_status_name(st), e.message);
    if (st == NL_OK && gt) {
        int ok = count == gt->count;
        if (!ok) printf("FAIL %s: %lu tokens, expected %lu\n", name, (unsigned long)count, (unsigned long)gt->count);
        for (i = 0; ok && i < count; i++) {
            size_t tl = strlen(buf + o);
            const nlj_value *g = &gt->items[i];
            if (g->type != NLJ_STRING || g->length != tl || memcmp(g->string, buf + o, tl) != 0) {
                printf("FAIL %s: token %lu is \"%s\", expected \"%s\"\n", name, (unsigned long)i, buf + o,
                       g->type == NLJ_STRING ? g->string : "?");
                ok = 0;
            }
            o += tl + 1;
        }
        if (ok) passed++;
        else failed++;
    }
    free(buf);
}

static void check_normalize_idempotent(const char *name, nl_scratch *s, const char *text, size_t len)
{
    size_t n1 = 0, n2 = 0;
    char *a, *b;
    nl_error e;
    nl_normalize(s, text, len, NULL, 0, &n1, &e);
    a = (char *)xmalloc(n1 + 1);
    b = (char *)xmalloc(n1 + 1);
    check(nl_normalize(s, text, len, a, n1 + 1, &n1, &e) == NL_OK, "%s: nl_normalize %s", name, e.message);
    check(nl_normalize(s, a, n1, b, n1 + 1, &n2, &e) == NL_OK && n2 == n1 && memcmp(a, b, n1) == 0,
          "%s: normalize is not idempotent on its output", name);
    free(a);
    free(b);
}

static void check_cases(const nlj_value *root, const char *key)
{
    const nlj_value *cases = member(root, key, NLJ_ARRAY);
    size_t i, v;
    check(cases != NULL, "golden: no %s", key);
    if (!cases) return;
    for (i = 0; i < cases->count; i++) {
        const nlj_value *c = &cases->items[i];
        const nlj_value *cname = member(c, "name", NLJ_STRING), *cfg = member(c, "config", NLJ_STRING);
        config_entry *ce = cfg ? find_config(cfg->string) : NULL;
        char name[160], hex[65];
        size_t len = 0, K, n_all = 0;
        char *text;
        int64_t glen = int_of(c, "length", -1), gnum = int_of(c, "num_tokens", -1);
        const nlj_value *gtrunc = nlj_member(c, "truncated"), *gsha = member(c, "all_features_sha256", NLJ_STRING);
        nl_scratch *scr[3];
        const char *scr_name[3] = {"no cache", "cache 4096", "cache 3"};
        if (!cname || !ce) {
            check(0, "case %lu: no name or unknown config", (unsigned long)i);
            continue;
        }
        snprintf(name, sizeof name, "%s %s/%s", key, cname->string, cfg->string);
        text = case_text(c, &len);
        if (!text) {
            check(0, "%s: no text", name);
            continue;
        }
        K = nl_featurizer_get_params(ce->f)->num_hashes;
        scr[0] = nl_scratch_create(ce->f, 0);
        scr[1] = nl_scratch_create(ce->f, 4096);
        scr[2] = nl_scratch_create(ce->f, 3);
        if (!scr[0] || !scr[1] || !scr[2]) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        check_tokens(name, scr[0], text, len, member(c, "tokens", NLJ_ARRAY));
        check(nl_count_tokens(ce->f, scr[0], text, len, &n_all, NULL) == NL_OK && (int64_t)n_all == gnum,
              "%s: nl_count_tokens %lu, expected %lld", name, (unsigned long)n_all, (long long)gnum);
        check_normalize_idempotent(name, scr[0], text, len);
        for (v = 0; v < 3; v++) {
            /* twice with a cache: the second pass reads it */
            int pass;
            for (pass = 0; pass < (v ? 2 : 1); pass++) {
                size_t L = glen > 0 ? (size_t)glen : 1;
                int32_t *feat = (int32_t *)xmalloc(L * K * sizeof *feat);
                float *mask = (float *)xmalloc(L * sizeof *mask);
                int32_t length = -1;
                uint8_t trunc = 2;
                nl_error e;
                char what[200];
                nl_status st = nl_featurize(ce->f, scr[v], text, len, 0, (uint32_t)L, feat, L * K, mask, L, &length,
                                            &trunc, &e);
                snprintf(what, sizeof what, "%s (%s, pass %d)", name, scr_name[v], pass + 1);
                check(st == NL_OK, "%s: nl_featurize %s %s", what, nl_status_name(st), e.message);
                if (st == NL_OK) {
                    check(length == glen, "%s: length %ld, expected %lld", what, (long)length, (long long)glen);
                    check(gtrunc && trunc == (gtrunc->type == NLJ_TRUE), "%s: truncated %d", what, trunc);
                    if (rows_equal(what, member(c, "features", NLJ_ARRAY), member(c, "mask", NLJ_ARRAY), feat, mask, L, K))
                        passed++;
                    else
                        failed++;
                }
                free(feat);
                free(mask);
            }
            /* all tokens, no truncation */
            {
                size_t n = n_all, L = n ? n : 1;
                int32_t *feat = (int32_t *)xmalloc(L * K * sizeof *feat);
                float *mask = (float *)xmalloc(L * sizeof *mask);
                int32_t length = -1;
                nl_error e;
                nl_status st = nl_featurize(ce->f, scr[v], text, len, (uint32_t)L, (uint32_t)n, feat, n * K, mask, n,
                                            &length, NULL, &e);
                check(st == NL_OK && (size_t)length == n, "%s (%s): featurize all %lu tokens: %s %s", name,
                      scr_name[v], (unsigned long)n, nl_status_name(st), e.message);
                sha256_le(feat, n * K, hex);
                check(gsha && strcmp(hex, gsha->string) == 0, "%s (%s): all_features_sha256 %s, expected %s", name,
                      scr_name[v], hex, gsha ? gsha->string : "?");
                free(feat);
                free(mask);
            }
        }
        for (v = 0; v < 3; v++) nl_scratch_free(scr[v]);
        free(text);
    }
}

static void check_batches(const nlj_value *root)
{
    const nlj_value *batches = member(root, "batches", NLJ_ARRAY);
    size_t i, j;
    check(batches != NULL, "golden: no batches");
    if (!batches) return;
    for (i = 0; i < batches->count; i++) {
        const nlj_value *b = &batches->items[i];
        const nlj_value *bname = member(b, "name", NLJ_STRING), *cfg = member(b, "config", NLJ_STRING);
        const nlj_value *texts = member(b, "texts", NLJ_ARRAY), *gf = member(b, "features", NLJ_ARRAY);
        const nlj_value *gm = member(b, "mask", NLJ_ARRAY), *gl = member(b, "lengths", NLJ_ARRAY);
        const nlj_value *gt = member(b, "truncated", NLJ_ARRAY);
        config_entry *ce = cfg ? find_config(cfg->string) : NULL;
        nl_scratch *s;
        const char **tp;
        size_t *lens, B, K, L = 1, max_length;
        int32_t *feat, *lengths;
        uint8_t *trunc;
        float *mask;
        nl_error e;
        nl_status st;
        char name[160];
        if (!bname || !ce || !texts || !gf || !gm || !gl || !gt) {
            check(0, "batch %lu: incomplete entry", (unsigned long)i);
            continue;
        }
        snprintf(name, sizeof name, "batch %s/%s", bname->string, cfg->string);
        B = texts->count;
        K = nl_featurizer_get_params(ce->f)->num_hashes;
        max_length = (size_t)int_of(b, "max_length", nl_featurizer_get_params(ce->f)->max_length);
        s = nl_scratch_create(ce->f, 64);
        tp = (const char **)xmalloc(B * sizeof *tp);
        lens = (size_t *)xmalloc(B * sizeof *lens);
        for (j = 0; j < B; j++) {
            size_t n = 0;
            tp[j] = texts->items[j].string;
            lens[j] = texts->items[j].length;
            nl_count_tokens(ce->f, s, tp[j], lens[j], &n, NULL);
            if (n > max_length) n = max_length;
            if (n > L) L = n;
        }
        if (member(b, "pad_to", NLJ_INT)) L = (size_t)int_of(b, "pad_to", 1);
        feat = (int32_t *)xmalloc(B * L * K * sizeof *feat);
        mask = (float *)xmalloc(B * L * sizeof *mask);
        lengths = (int32_t *)xmalloc(B * sizeof *lengths);
        trunc = (uint8_t *)xmalloc(B);
        st = nl_featurize_batch(ce->f, s, tp, lens, B, member(b, "max_length", NLJ_INT) ? (uint32_t)max_length : 0,
                                (uint32_t)L, feat, B * L * K, mask, B * L, lengths, trunc, &e);
        check(st == NL_OK, "%s: nl_featurize_batch %s %s", name, nl_status_name(st), e.message);
        if (st == NL_OK) {
            check(gf->count == B && gm->count == B && gl->count == B && gt->count == B, "%s: golden sizes", name);
            for (j = 0; j < B && j < gf->count && j < gm->count && j < gl->count && j < gt->count; j++) {
                char what[200];
                snprintf(what, sizeof what, "%s text %lu", name, (unsigned long)j);
                check(lengths[j] == gl->items[j].integer, "%s: length %ld, expected %lld", what, (long)lengths[j],
                      (long long)gl->items[j].integer);
                check(trunc[j] == (gt->items[j].type == NLJ_TRUE), "%s: truncated %d", what, trunc[j]);
                if (rows_equal(what, &gf->items[j], &gm->items[j], feat + j * L * K, mask + j * L, L, K)) passed++;
                else failed++;
            }
        }
        free(feat);
        free(mask);
        free(lengths);
        free(trunc);
        free(tp);
        free(lens);
        nl_scratch_free(s);
    }
}

/* ---------------------------------------------------------------------------------------------- corpus */

static int write_corpus(const char *dir, const nlj_value *root)
{
    const nlj_value *cases = member(root, "cases", NLJ_ARRAY), *batches = member(root, "batches", NLJ_ARRAY);
    const nlj_value *bytes_cases = member(root, "bytes_cases", NLJ_ARRAY);
    size_t i, j, n = 0, ncases = cases ? cases->count : 0, nbytes = bytes_cases ? bytes_cases->count : 0;
    char path[1024];
    for (i = 0; i < ncases + nbytes; i++) {
        size_t len = 0;
        char *text = case_text(i < ncases ? &cases->items[i] : &bytes_cases->items[i - ncases], &len);
        FILE *f;
        if (!text) continue;
        if (len > 4096) len = 4096; /* keep seeds small */
        snprintf(path, sizeof path, "%s/fuzz_featurize/case_%03lu", dir, (unsigned long)i);
        f = fopen(path, "wb");
        if (!f) {
            fprintf(stderr, "cannot write %s\n", path);
            free(text);
            return 2;
        }
        fwrite(text, 1, len, f);
        fclose(f);
        free(text);
        n++;
    }
    for (i = 0; batches && i < batches->count; i++) {
        const nlj_value *texts = member(&batches->items[i], "texts", NLJ_ARRAY);
        for (j = 0; texts && j < texts->count; j++) {
            FILE *f;
            snprintf(path, sizeof path, "%s/fuzz_featurize/batch_%lu_%lu", dir, (unsigned long)i, (unsigned long)j);
            f = fopen(path, "wb");
            if (!f) return 2;
            fwrite(texts->items[j].string, 1, texts->items[j].length, f);
            fclose(f);
            n++;
        }
    }
    /* config seeds: each golden config's canonical JSON, and a few near misses */
    {
        const nlj_value *cs = member(root, "configs", NLJ_OBJECT);
        static const char *const extra[] = {
            "{\"num_buckets\": 4096.0, \"num_hashes\": 8, \"word_hashes\": 4, \"ngram_min\": 3, \"ngram_max\": 5, "
            "\"max_length\": 64, \"seed\": 0, \"version\": \"2.0\"}",
            "{\"num_buckets\": -1, \"num_hashes\": 8, \"word_hashes\": 9, \"ngram_min\": 3, \"ngram_max\": 2, "
            "\"max_length\": 64, \"seed\": 4294967296, \"version\": \"1.0\", \"x\": [1, {\"y\": null}]}",
            "{\"num_buckets\": 4096, \"num_hashes\": 8, \"word_hashes\": 4, \"ngram_min\": 3, \"ngram_max\": 5, "
            "\"max_length\": 64, \"seed\": 0, \"version\": \"1\\u002e0\", \"\\ud83d\\ude00\": true}"};
        for (i = 0; cs && i < cs->count + sizeof extra / sizeof extra[0]; i++) {
            const nlj_value *canon = i < cs->count ? member(&cs->items[i], "canonical_json", NLJ_STRING) : NULL;
            const char *text = canon ? canon->string : i >= cs->count ? extra[i - cs->count] : NULL;
            FILE *f;
            if (!text) continue;
            snprintf(path, sizeof path, "%s/fuzz_config/config_%lu", dir, (unsigned long)i);
            f = fopen(path, "wb");
            if (!f) return 2;
            fwrite(text, 1, strlen(text), f);
            fclose(f);
            n++;
        }
    }
    printf("wrote %lu seeds to %s\n", (unsigned long)n, dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[argc - 1] : "tests/golden/featurizer_v1.json";
    const char *corpus = (argc > 3 && strcmp(argv[1], "--corpus") == 0) ? argv[2] : NULL;
    size_t len = 0, i;
    char *src = read_file(path, &len);
    nlj_value *root = NULL;
    nlj_error je;
    int rc;
    if (!src) {
        fprintf(stderr, "cannot read %s\n", path);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (nlj_parse(src, len, 0x20, &root, &je)) {
        printf("FAIL %s: invalid JSON at byte %lu: %s\n", path, (unsigned long)je.offset, je.message);
        printf("0 passed, 1 failed\n");
        free(src);
        return 1;
    }
    if (corpus) {
        rc = write_corpus(corpus, root);
        nlj_free(root);
        free(src);
        return rc;
    }
    {
        const nlj_value *sv = member(root, "spec_version", NLJ_STRING), *uv = member(root, "unicode_version", NLJ_STRING);
        check(sv && strcmp(sv->string, NL_FEATURIZER_SPEC_VERSION) == 0, "golden spec_version %s, core implements %s",
              sv ? sv->string : "?", NL_FEATURIZER_SPEC_VERSION);
        check(uv && strcmp(uv->string, NL_UNICODE_VERSION) == 0, "golden unicode_version %s, core has %s",
              uv ? uv->string : "?", NL_UNICODE_VERSION);
    }
    check_configs(root);
    check_mix_params(root);
    check_murmur(root);
    check_token_details(root);
    check_cases(root, "cases");
    check_cases(root, "bytes_cases");
    check_batches(root);
    for (i = 0; i < nconfigs; i++) nl_featurizer_free(configs[i].f);
    nlj_free(root);
    free(src);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
