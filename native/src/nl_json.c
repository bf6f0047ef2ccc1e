/*
 * Strict JSON parser (see nl_json.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl_internal.h"
#include "nl_json.h"

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    uint32_t lone;
    nlj_error *err;
    int failed;
} parser;

static int fail(parser *p, size_t at, const char *msg)
{
    if (!p->failed && p->err) {
        size_t i, line = 1, col = 1;
        for (i = 0; i < at && i < p->len; i++) {
            if (p->s[i] == '\n') {
                line++;
                col = 1;
            } else if ((p->s[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        p->err->offset = at;
        p->err->line = line;
        p->err->column = col;
        snprintf(p->err->message, sizeof p->err->message, "%s", msg);
        p->err->no_memory = 0;
    }
    p->failed = 1;
    return -1;
}

static int oom(parser *p)
{
    fail(p, p->pos, "out of memory");
    if (p->err) p->err->no_memory = 1;
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static void free_value(nlj_value *v)
{
    size_t i;
    free(v->key);
    free(v->string);
    for (i = 0; i < v->count; i++) free_value(&v->items[i]);
    free(v->items);
}

void nlj_free(nlj_value *root)
{
    if (!root) return;
    free_value(root);
    free(root);
}

static int hex4(parser *p, uint32_t *out)
{
    uint32_t v = 0;
    int i;
    if (p->len - p->pos < 4) return fail(p, p->pos, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        unsigned char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return fail(p, p->pos + (size_t)i, "invalid \\u escape");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Parse a string at p->pos (on the opening quote) into a malloc'd buffer. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
    size_t start = ++p->pos, cap, n = 0;
    unsigned char *buf;
    /* the decoded string is never longer than its source (escapes shrink, lone surrogates -> <= 3 bytes
     * from 6) */
    size_t end = start;
    while (end < p->len && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->len) return fail(p, start - 1, "unterminated string");
    cap = end - start + 1;
    buf = (unsigned char *)malloc(cap);
    if (!buf) return oom(p);
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            buf[n] = '\0';
            *out = (char *)buf;
            *out_len = n;
            return 0;
        }
        if (c < 0x20) {
            free(buf);
            return fail(p, p->pos, "control character in string");
        }
        if (c == '\\') {
            uint32_t cp;
            if (p->pos + 1 >= p->len) break;
            c = p->s[p->pos + 1];
            p->pos += 2;
            switch (c) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if (hex4(p, &cp)) {
                    free(buf);
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->len - p->pos >= 6 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                        size_t save = p->pos;
                        p->pos += 2;
                        if (hex4(p, &lo)) {
                            free(buf);
                            return -1;
                        }
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        } else {
                            p->pos = save;
                            cp = p->lone;
                        }
                    } else {
                        cp = p->lone;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    cp = p->lone;
                }
                break;
            default:
                free(buf);
                return fail(p, p->pos - 1, "invalid escape in string");
            }
            n += nl__utf8_put(buf + n, cp);
            continue;
        }
        if (c < 0x80) {
            buf[n++] = c;
            p->pos++;
        } else {
            size_t q = p->pos;
            uint32_t cp = nl__utf8_next(p->s, p->len, &p->pos);
            if (cp == 0xFFFD && !(p->pos - q == 3 && p->s[q] == 0xEF)) {
                free(buf);
                return fail(p, q, "invalid UTF-8 in string");
            }
            memcpy(buf + n, p->s + q, p->pos - q);
            n += p->pos - q;
        }
    }
    free(buf);
    return fail(p, start - 1, "unterminated string");
}

static int parse_number(parser *p, nlj_value *v)
{
    size_t start = p->pos;
    int neg = 0, is_float = 0, overflow = 0, exp_neg = 0;
    uint64_t mag = 0;
    double num = 0.0, scale;
    long exp10 = 0, frac_digits = 0, e = 0;
    if (p->s[p->pos] == '-') {
        neg = 1;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return fail(p, p->pos, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return fail(p, p->pos, "leading zero in number");
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            unsigned d = (unsigned)(p->s[p->pos] - '0');
            if (mag > (UINT64_MAX - d) / 10) overflow = 1;
            else mag = mag * 10 + d;
            num = num * 10.0 + d;
            p->pos++;
        }
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_float = 1;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return fail(p, p->pos, "digit expected after '.'");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            num = num * 10.0 + (p->s[p->pos] - '0');
            frac_digits++;
            p->pos++;
        }
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_float = 1;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) {
            exp_neg = p->s[p->pos] == '-';
            p->pos++;
        }
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return fail(p, p->pos, "digit expected in exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            if (e < 100000) e = e * 10 + (p->s[p->pos] - '0');
            p->pos++;
        }
    }
    v->offset = start;
    v->span = p->pos - start;
    if (is_float) {
        exp10 = (exp_neg ? -e : e) - frac_digits;
        scale = 1.0;
        if (exp10 > 400) exp10 = 400;
        if (exp10 < -400) exp10 = -400;
        while (exp10 > 0) {
            scale *= 10.0;
            exp10--;
        }
        while (exp10 < 0) {
            scale /= 10.0;
            exp10++;
        }
        v->type = NLJ_FLOAT;
        v->number = (neg ? -num : num) * scale;
        return 0;
    }
    v->type = NLJ_INT;
    if (overflow || (!neg && mag > (uint64_t)INT64_MAX) || (neg && mag > (uint64_t)INT64_MAX + 1)) {
        v->overflow = neg ? -1 : 1;
        v->integer = neg ? INT64_MIN : INT64_MAX;
    } else if (neg) {
        v->integer = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        v->integer = (int64_t)mag;
    }
    v->number = neg ? -num : num;
    return 0;
}

static int parse_value(parser *p, nlj_value *v, int depth);

static int push(parser *p, nlj_value **items, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        size_t n = *cap ? *cap * 2 : 4;
        nlj_value *q;
        if (n > SIZE_MAX / sizeof **items) return oom(p);
        q = (nlj_value *)realloc(*items, n * sizeof **items);
        if (!q) return oom(p);
        *items = q;
        *cap = n;
    }
    memset(&(*items)[*count], 0, sizeof **items);
    (*count)++;
    return 0;
}

static int parse_container(parser *p, nlj_value *v, int depth, int object)
{
    size_t cap = 0;
    unsigned char close = object ? '}' : ']';
    v->type = object ? NLJ_OBJECT : NLJ_ARRAY;
    v->offset = p->pos;
    if (depth >= NLJ_MAX_DEPTH) return fail(p, p->pos, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        v->span = p->pos - v->offset;
        return 0;
    }
    for (;;) {
        nlj_value *item;
        if (push(p, &v->items, &v->count, &cap)) return -1;
        item = &v->items[v->count - 1];
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, p->pos, "expected a string key");
            if (parse_string(p, &item->key, &item->key_len)) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, p->pos, "expected ':'");
            p->pos++;
            skip_ws(p);
        }
        if (parse_value(p, item, depth + 1)) return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            v->span = p->pos - v->offset;
            return 0;
        }
        return fail(p, p->pos, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int literal(parser *p, const char *word, nlj_value *v, nlj_type type)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return fail(p, p->pos, "invalid value");
    v->type = type;
    v->offset = p->pos;
    v->span = n;
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, nlj_value *v, int depth)
{
    unsigned char c;
    if (p->pos >= p->len) return fail(p, p->pos, "expected a value");
    c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, v, depth, 1);
    case '[': return parse_container(p, v, depth, 0);
    case '"':
        v->type = NLJ_STRING;
        v->offset = p->pos;
        if (parse_string(p, &v->string, &v->length)) return -1;
        v->span = p->pos - v->offset;
        return 0;
    case 't': return literal(p, "true", v, NLJ_TRUE);
    case 'f': return literal(p, "false", v, NLJ_FALSE);
    case 'n': return literal(p, "null", v, NLJ_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
        return fail(p, p->pos, "expected a value");
    }
}

int nlj_parse(const char *text, size_t len, uint32_t lone_surrogate, nlj_value **out, nlj_error *err)
{
    parser p;
    nlj_value *root;
    *out = NULL;
    p.s = (const unsigned char *)(text ? text : "");
    p.len = text ? len : 0;
    p.pos = 0;
    p.lone = lone_surrogate;
    p.err = err;
    p.failed = 0;
    if (err) memset(err, 0, sizeof *err);
    root = (nlj_value *)calloc(1, sizeof *root);
    if (!root) return oom(&p);
    skip_ws(&p);
    if (p.len >= 3 && p.pos == 0 && p.s[0] == 0xEF && p.s[1] == 0xBB && p.s[2] == 0xBF) {
        nlj_free(root);
        return fail(&p, 0, "unexpected UTF-8 BOM");
    }
    if (parse_value(&p, root, 0)) {
        nlj_free(root);
        return -1;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        nlj_free(root);
        return fail(&p, p.pos, "extra data after the value");
    }
    *out = root;
    return 0;
}

const nlj_value *nlj_member(const nlj_value *object, const char *key)
{
    size_t i, n = strlen(key);
    const nlj_value *found = NULL;
    if (!object || object->type != NLJ_OBJECT) return NULL;
    for (i = 0; i < object->count; i++)
        if (object->items[i].key_len == n && memcmp(object->items[i].key, key, n) == 0) found = &object->items[i];
    return found;
}

const char *nlj_type_name(nlj_type type)
{
    switch (type) {
    case NLJ_NULL: return "NoneType";
    case NLJ_FALSE:
    case NLJ_TRUE: return "bool";
    case NLJ_INT: return "int";
    case NLJ_FLOAT: return "float";
    case NLJ_STRING: return "str";
    case NLJ_ARRAY: return "list";
    case NLJ_OBJECT: return "dict";
    }
    return "?";
}
