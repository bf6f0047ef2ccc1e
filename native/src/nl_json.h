/*
 * A small strict JSON (RFC 8259) parser into a tree: used by the config parser and by the tests
 * (golden runner, corpus writer). Private to the featurizer core.
 *
 * Strict: one value, optional surrounding whitespace (space, tab, LF, CR), no trailing bytes, no
 * comments, no BOM, no NaN/Infinity, no leading zeros, no control characters or invalid UTF-8 inside
 * strings. Nesting is limited to NLJ_MAX_DEPTH. Integers (no fraction, no exponent) keep their exact
 * value when it fits in int64; floats keep an approximate double (no libm).
 */
#ifndef NL_JSON_H
#define NL_JSON_H

#include <stddef.h>
#include <stdint.h>

#define NLJ_MAX_DEPTH 64

typedef enum { NLJ_NULL, NLJ_FALSE, NLJ_TRUE, NLJ_INT, NLJ_FLOAT, NLJ_STRING, NLJ_ARRAY, NLJ_OBJECT } nlj_type;

typedef struct nlj_value nlj_value;
struct nlj_value {
    nlj_type type;
    char *key;            /* member name inside an object (decoded UTF-8, NUL-terminated), else NULL */
    size_t key_len;
    size_t offset, span;  /* the value's text in the source */
    int64_t integer;      /* NLJ_INT */
    int overflow;         /* NLJ_INT: +1 above INT64_MAX, -1 below INT64_MIN (integer is then clamped) */
    double number;        /* NLJ_INT, NLJ_FLOAT: approximate value */
    char *string;         /* NLJ_STRING: decoded UTF-8, NUL-terminated (may contain NUL bytes) */
    size_t length;        /* NLJ_STRING: bytes */
    nlj_value *items;     /* NLJ_ARRAY items, NLJ_OBJECT members (each with its key) */
    size_t count;
};

typedef struct {
    size_t offset;        /* byte offset of the error */
    size_t line, column;  /* 1-based */
    char message[128];
    int no_memory;
} nlj_error;

/* Parse text[0..len). A \u escape of a lone surrogate decodes to the code point lone_surrogate (e.g.
 * U+FFFD, or U+0020 for the golden runner). Returns 0 and *out (free with nlj_free), or -1 and err. */
int nlj_parse(const char *text, size_t len, uint32_t lone_surrogate, nlj_value **out, nlj_error *err);
void nlj_free(nlj_value *root);
/* The member of an object with this key (the last one if repeated), or NULL. */
const nlj_value *nlj_member(const nlj_value *object, const char *key);
const char *nlj_type_name(nlj_type type); /* Python's name: "int", "float", "str", "list", "dict", ... */

#endif
