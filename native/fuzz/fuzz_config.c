/*
 * libFuzzer harness for the config parser (and the JSON parser under it).
 * Invariants: never crashes; on success *out is set, the digest is 64 lowercase hex digits, the
 * canonical JSON parses back to a featurizer with the same digest and parameters, and a short text
 * featurizes; on error *out is NULL, err.code is the status, the message is one non-empty line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"
#include "nl_json.h"

#define REQUIRE(cond)                                                                                  \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);                      \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nl_featurizer *f = (nl_featurizer *)&size;
    nl_error e;
    nlj_value *root = NULL;
    nlj_error je;
    nl_status st;
    size_t i;
    if (nlj_parse((const char *)data, size, 0xFFFD, &root, &je) == 0) nlj_free(root);
    else REQUIRE(root == NULL && je.offset <= size);
    st = nl_featurizer_create((const char *)data, size, &f, &e);
    REQUIRE(e.code == st);
    for (i = 0; e.message[i]; i++) REQUIRE((unsigned char)e.message[i] >= 0x20 && e.message[i] != 0x7F);
    REQUIRE(i < sizeof e.message);
    if (st != NL_OK) {
        REQUIRE(f == NULL);
        REQUIRE(i > 0);
        REQUIRE(st == NL_ERR_JSON || st == NL_ERR_CONFIG_FIELD || st == NL_ERR_CONFIG_RANGE || st == NL_ERR_VERSION ||
                st == NL_ERR_NO_MEMORY);
        return 0;
    }
    {
        char hex[65], hex2[65];
        const char *canon = nl_featurizer_canonical_json(f);
        nl_featurizer *g = NULL;
        const nl_featurizer_params *p = nl_featurizer_get_params(f);
        nl_scratch *s = nl_scratch_create(f, 5);
        int32_t *feat = (int32_t *)malloc(2 * p->num_hashes * sizeof *feat);
        float mask[2];
        REQUIRE(f != NULL && s != NULL && feat != NULL);
        nl_featurizer_digest(f, hex);
        REQUIRE(strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64);
        REQUIRE(nl_featurizer_create(canon, strlen(canon), &g, &e) == NL_OK);
        nl_featurizer_digest(g, hex2);
        REQUIRE(strcmp(hex, hex2) == 0);
        REQUIRE(memcmp(nl_featurizer_get_params(g), p, sizeof *p) == 0);
        REQUIRE(p->num_buckets >= 1 && p->num_buckets <= 2147483648u && p->num_hashes >= 1 && p->num_hashes <= 1024 &&
                p->word_hashes <= p->num_hashes && p->ngram_min >= 1 && p->ngram_min <= p->ngram_max &&
                p->ngram_max <= 16 && p->max_length >= 1 && p->max_length <= 2147483647u);
        REQUIRE(nl_featurize(f, s, "Fuzz caf\xC3\xA9", 10, 2, 2, feat, 2 * p->num_hashes, mask, 2, NULL, NULL, &e) ==
                NL_OK);
        for (i = 0; i < 2 * p->num_hashes; i++) REQUIRE(feat[i] >= 0 && (uint32_t)feat[i] < p->num_buckets);
        free(feat);
        nl_scratch_free(s);
        nl_featurizer_free(g);
        nl_featurizer_free(f);
    }
    return 0;
}
