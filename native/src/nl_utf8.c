/*
 * UTF-8 helpers. Decoding itself (nl__utf8_next) is inline in nl_internal.h.
 */
#include <string.h>

#include "nl_internal.h"

int nl__is_ascii(const unsigned char *s, size_t len)
{
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++) acc |= s[i];
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

size_t nl__utf8_validate(const unsigned char *s, size_t len)
{
    size_t p = 0;
    while (p < len) {
        size_t q = p;
        uint32_t c;
        if (s[p] < 0x80) {
            p++;
            continue;
        }
        c = nl__utf8_next(s, len, &p);
        /* U+FFFD from a valid EF BF BD is 3 bytes; from an invalid subpart it is not */
        if (c == 0xFFFD && !(p - q == 3 && s[q] == 0xEF && s[q + 1] == 0xBF && s[q + 2] == 0xBD)) return q;
    }
    return len;
}
