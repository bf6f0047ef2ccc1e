/*
 * Spec sections 1, 4 and 7: the config (strict JSON, validated like the Python FeaturizerConfig, with
 * the same messages), the mixing constants, the canonical JSON and its SHA-256 digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl_internal.h"
#include "nl_json.h"

#define NL_CORE_VERSION "1.0.0"

static const char *const FIELDS[8] = {"num_buckets", "num_hashes", "word_hashes", "ngram_min",
                                      "ngram_max",   "max_length", "seed",        "version"};
#define KNOWN_KEYS "num_buckets, num_hashes, word_hashes, ngram_min, ngram_max, max_length, seed, version"

const char *nl_version_string(void)
{
    return "neurolite-featurizer " NL_CORE_VERSION " (spec " NL_FEATURIZER_SPEC_VERSION ", Unicode " NL_UNICODE_VERSION
           ")";
}

/* Python's repr of a JSON value, shortened: 'str', 4096.0, True, None, [...] (the source text). */
static void value_repr(const char *src, const nlj_value *v, char *out, size_t cap)
{
    size_t n;
    switch (v->type) {
    case NLJ_NULL: snprintf(out, cap, "None"); return;
    case NLJ_TRUE: snprintf(out, cap, "True"); return;
    case NLJ_FALSE: snprintf(out, cap, "False"); return;
    case NLJ_STRING:
        out[0] = '\'';
        n = nl__quote(out, cap, 1, v->string, v->length, 40);
        if (n + 2 <= cap) {
            out[n] = '\'';
            out[n + 1] = '\0';
        }
        return;
    default:
        n = nl__quote(out, cap, 0, src + v->offset, v->span, 40);
        (void)n;
        return;
    }
}

static void key_repr(const nlj_value *member, char *out, size_t cap)
{
    nl__quote(out, cap, 0, member->key, member->key_len, 40);
}

/* A big integer's decimal text (from the source, "-0" -> "0"). */
static void int_text(const char *src, const nlj_value *v, char *out, size_t cap)
{
    if (v->overflow) {
        nl__quote(out, cap, 0, src + v->offset, v->span, 40);
    } else {
        snprintf(out, cap, "%lld", (long long)v->integer);
    }
}

static nl_status parse_config(const char *json, size_t len, nl_featurizer_params *params, nl_error *err)
{
    nlj_value *root = NULL;
    nlj_error jerr;
    const nlj_value *val[8];
    int64_t num[7];
    char rep[128];
    size_t i, j;
    nl_status st = NL_OK;
    static const int64_t low_fixed[7] = {1, 1, 0, 1, -1, 1, 0};
    static const int64_t high_fixed[7] = {INT64_C(2147483648), 1024, -1, 16, 16, INT64_C(2147483647),
                                          INT64_C(4294967295)};

    if (nlj_parse(json, len, 0xFFFD, &root, &jerr)) {
        if (jerr.no_memory) return nl__fail(err, NL_ERR_NO_MEMORY, "featurizer config: out of memory");
        return nl__fail(err, NL_ERR_JSON, "featurizer config: invalid JSON at byte %lu (line %lu column %lu): %s",
                        (unsigned long)jerr.offset, (unsigned long)jerr.line, (unsigned long)jerr.column,
                        jerr.message);
    }
    if (root->type != NLJ_OBJECT) {
        st = nl__fail(err, NL_ERR_CONFIG_FIELD, "featurizer config: expected a JSON object, got %s",
                      nlj_type_name(root->type));
        goto done;
    }
    for (i = 0; i < root->count; i++) {
        const nlj_value *m = &root->items[i];
        int known = 0;
        for (j = 0; j < 8; j++)
            if (m->key_len == strlen(FIELDS[j]) && memcmp(m->key, FIELDS[j], m->key_len) == 0) known = 1;
        key_repr(m, rep, sizeof rep);
        if (!known) {
            st = nl__fail(err, NL_ERR_CONFIG_FIELD, "%s: unknown featurizer config key (known keys: " KNOWN_KEYS ")",
                          rep);
            goto done;
        }
        for (j = 0; j < i; j++) {
            if (root->items[j].key_len == m->key_len && memcmp(root->items[j].key, m->key, m->key_len) == 0) {
                st = nl__fail(err, NL_ERR_CONFIG_FIELD, "%s: duplicate featurizer config key", rep);
                goto done;
            }
        }
    }
    for (j = 0; j < 8; j++) {
        val[j] = nlj_member(root, FIELDS[j]);
        if (!val[j]) {
            st = nl__fail(err, NL_ERR_CONFIG_FIELD, "%s: missing featurizer config key", FIELDS[j]);
            goto done;
        }
    }
    for (j = 0; j < 7; j++) {
        if (val[j]->type != NLJ_INT) {
            value_repr(json, val[j], rep, sizeof rep);
            st = nl__fail(err, NL_ERR_CONFIG_FIELD, "%s: must be an integer, got %s (%s)", FIELDS[j], rep,
                          nlj_type_name(val[j]->type));
            goto done;
        }
        num[j] = val[j]->integer;
    }
    for (j = 0; j < 7; j++) {
        const nlj_value *v = val[j];
        int64_t low = low_fixed[j], high = high_fixed[j];
        char bound[48];
        if (j == 2) high = num[1];
        if (j == 4) low = num[3];
        int_text(json, v, rep, sizeof rep);
        if (v->overflow < 0 || num[j] < low) {
            if (j == 4) snprintf(bound, sizeof bound, "ngram_min (%lld)", (long long)low);
            else snprintf(bound, sizeof bound, "%lld", (long long)low);
            st = nl__fail(err, NL_ERR_CONFIG_RANGE, "%s: must be >= %s, got %s", FIELDS[j], bound, rep);
            goto done;
        }
        if (v->overflow > 0 || num[j] > high) {
            if (j == 2) snprintf(bound, sizeof bound, "num_hashes (%lld)", (long long)high);
            else snprintf(bound, sizeof bound, "%lld", (long long)high);
            st = nl__fail(err, NL_ERR_CONFIG_RANGE, "%s: must be <= %s, got %s", FIELDS[j], bound, rep);
            goto done;
        }
    }
    if (val[7]->type != NLJ_STRING || val[7]->length != strlen(NL_FEATURIZER_SPEC_VERSION) ||
        memcmp(val[7]->string, NL_FEATURIZER_SPEC_VERSION, val[7]->length) != 0) {
        value_repr(json, val[7], rep, sizeof rep);
        st = nl__fail(err, NL_ERR_VERSION,
                      "version: this SDK implements featurizer spec '" NL_FEATURIZER_SPEC_VERSION
                      "', got %s; a model trained with another spec needs the SDK release that implements it "
                      "(or retraining)",
                      rep);
        goto done;
    }
    params->num_buckets = (uint32_t)num[0];
    params->num_hashes = (uint32_t)num[1];
    params->word_hashes = (uint32_t)num[2];
    params->ngram_min = (uint32_t)num[3];
    params->ngram_max = (uint32_t)num[4];
    params->max_length = (uint32_t)num[5];
    params->seed = (uint32_t)num[6];
done:
    nlj_free(root);
    return st;
}

nl_status nl_featurizer_create(const char *config_json, size_t json_len, nl_featurizer **out, nl_error *err)
{
    nl_featurizer_params params;
    nl_featurizer *f;
    nl_status st;
    uint64_t state;
    uint32_t k;
    nl__ok(err);
    if (!out) return nl__fail(err, NL_ERR_ARGUMENT, "out: must not be NULL");
    *out = NULL;
    if (!config_json) return nl__fail(err, NL_ERR_ARGUMENT, "config_json: must not be NULL");
    memset(&params, 0, sizeof params);
    st = parse_config(config_json, json_len, &params, err);
    if (st != NL_OK) return st;
    f = (nl_featurizer *)calloc(1, sizeof *f);
    if (!f) return nl__fail(err, NL_ERR_NO_MEMORY, "featurizer: out of memory");
    f->params = params;
    f->mix_a = (uint64_t *)malloc(params.num_hashes * sizeof *f->mix_a);
    f->mix_b = (uint64_t *)malloc(params.num_hashes * sizeof *f->mix_b);
    if (!f->mix_a || !f->mix_b) {
        nl_featurizer_free(f);
        return nl__fail(err, NL_ERR_NO_MEMORY, "featurizer: out of memory");
    }
    state = params.seed;
    for (k = 0; k < params.num_hashes; k++) {
        f->mix_a[k] = nl__splitmix64_next(&state) | 1u;
        f->mix_b[k] = nl__splitmix64_next(&state);
    }
    f->bucket_pow2 = (params.num_buckets & (params.num_buckets - 1u)) == 0;
    f->bucket_mask = params.num_buckets - 1u;
    snprintf(f->canonical, sizeof f->canonical,
             "{\"max_length\":%lu,\"ngram_max\":%lu,\"ngram_min\":%lu,\"num_buckets\":%lu,\"num_hashes\":%lu,"
             "\"seed\":%lu,\"version\":\"" NL_FEATURIZER_SPEC_VERSION "\",\"word_hashes\":%lu}",
             (unsigned long)params.max_length, (unsigned long)params.ngram_max, (unsigned long)params.ngram_min,
             (unsigned long)params.num_buckets, (unsigned long)params.num_hashes, (unsigned long)params.seed,
             (unsigned long)params.word_hashes);
    nl__sha256_hex(f->canonical, strlen(f->canonical), f->digest);
    *out = f;
    return NL_OK;
}

void nl_featurizer_free(nl_featurizer *featurizer)
{
    if (!featurizer) return;
    free(featurizer->mix_a);
    free(featurizer->mix_b);
    free(featurizer);
}

const nl_featurizer_params *nl_featurizer_get_params(const nl_featurizer *featurizer)
{
    return featurizer ? &featurizer->params : NULL;
}

void nl_featurizer_digest(const nl_featurizer *featurizer, char out_hex[65])
{
    if (!out_hex) return;
    if (!featurizer) {
        out_hex[0] = '\0';
        return;
    }
    memcpy(out_hex, featurizer->digest, 65);
}

const char *nl_featurizer_canonical_json(const nl_featurizer *featurizer)
{
    return featurizer ? featurizer->canonical : NULL;
}

nl_status nl_featurizer_mix_params(const nl_featurizer *featurizer, uint32_t k, uint64_t *a, uint64_t *b)
{
    if (!featurizer || k >= featurizer->params.num_hashes) return NL_ERR_ARGUMENT;
    if (a) *a = featurizer->mix_a[k];
    if (b) *b = featurizer->mix_b[k];
    return NL_OK;
}
