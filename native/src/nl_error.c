/*
 * Error messages: one line, NUL-terminated, valid UTF-8, at most 255 bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nl_internal.h"

/* Make the message one line of valid UTF-8: controls become spaces, a cut sequence is dropped. */
static void sanitize(char *m)
{
    unsigned char *p = (unsigned char *)m;
    size_t n = strlen(m), i = 0;
    while (i < n) {
        size_t q = i;
        uint32_t c;
        if (p[i] < 0x80) {
            if (p[i] < 0x20 || p[i] == 0x7F) p[i] = ' ';
            i++;
            continue;
        }
        c = nl__utf8_next(p, n, &i);
        if (c == 0xFFFD && !(i - q == 3 && p[q] == 0xEF)) {
            if (i == n) { /* a sequence cut by the buffer end */
                p[q] = '\0';
                return;
            }
            memset(p + q, '?', i - q);
        } else if (c >= 0x80 && c < 0xA0) {
            memset(p + q, ' ', i - q); /* C1 controls (NEL...) */
        } else if (c == 0x2028 || c == 0x2029) {
            memset(p + q, ' ', i - q);
        }
    }
}

nl_status nl__fail(nl_error *err, nl_status code, const char *fmt, ...)
{
    va_list ap;
    if (!err) return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->message[sizeof err->message - 1] = '\0';
    sanitize(err->message);
    return code;
}

void nl__ok(nl_error *err)
{
    if (err) {
        err->code = NL_OK;
        err->message[0] = '\0';
    }
}

size_t nl__quote(char *buf, size_t cap, size_t used, const char *str, size_t len, size_t max_cp)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, ncp = 0;
    if (cap == 0) return 0;
    if (used >= cap) used = cap - 1;
    while (i < len) {
        char tmp[12];
        size_t q = i, t = 0;
        uint32_t c;
        if (ncp == max_cp) {
            memcpy(tmp, "...", 3);
            t = 3;
            i = len;
        } else {
            c = nl__utf8_next(s, len, &i);
            if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || c == 0x2028 || c == 0x2029 ||
                (c == 0xFFFD && !(i - q == 3 && s[q] == 0xEF))) {
                if (c == 0xFFFD) c = s[q];
                tmp[t++] = '\\';
                if (c < 0x100) {
                    tmp[t++] = 'x';
                } else {
                    tmp[t++] = 'u';
                    tmp[t++] = hex[(c >> 12) & 15];
                    tmp[t++] = hex[(c >> 8) & 15];
                }
                tmp[t++] = hex[(c >> 4) & 15];
                tmp[t++] = hex[c & 15];
            } else if (c == '\\' || c == '\'') {
                tmp[t++] = '\\';
                tmp[t++] = (char)c;
            } else {
                memcpy(tmp, s + q, i - q);
                t = i - q;
            }
            ncp++;
        }
        if (used + t >= cap) break;
        memcpy(buf + used, tmp, t);
        used += t;
    }
    buf[used] = '\0';
    return used;
}

const char *nl_status_name(nl_status status)
{
    switch (status) {
    case NL_OK: return "NL_OK";
    case NL_ERR_ARGUMENT: return "NL_ERR_ARGUMENT";
    case NL_ERR_JSON: return "NL_ERR_JSON";
    case NL_ERR_CONFIG_FIELD: return "NL_ERR_CONFIG_FIELD";
    case NL_ERR_CONFIG_RANGE: return "NL_ERR_CONFIG_RANGE";
    case NL_ERR_VERSION: return "NL_ERR_VERSION";
    case NL_ERR_BUFFER_TOO_SMALL: return "NL_ERR_BUFFER_TOO_SMALL";
    case NL_ERR_NO_MEMORY: return "NL_ERR_NO_MEMORY";
    case NL_ERR_TOO_LONG: return "NL_ERR_TOO_LONG";
    }
    return "NL_ERR_UNKNOWN";
}
