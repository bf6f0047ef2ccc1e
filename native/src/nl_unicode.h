/*
 * Unicode 14.0.0 character data for the featurizer core. The data and these accessors are generated
 * into nl_unicode14.c by native/tools/gen_unicode_tables.py (never edit that file by hand; rerun the
 * script on Python 3.11, whose unicodedata is 14.0.0). All lookups are O(1) two-stage tables.
 */
#ifndef NL_UNICODE_H
#define NL_UNICODE_H

#include <stdint.h>

/* General categories, in this order (0 = Cn, unassigned). */
enum {
    NL_GC_Cn = 0, NL_GC_Lu, NL_GC_Ll, NL_GC_Lt, NL_GC_Lm, NL_GC_Lo, NL_GC_Mn, NL_GC_Mc, NL_GC_Me,
    NL_GC_Nd, NL_GC_Nl, NL_GC_No, NL_GC_Pc, NL_GC_Pd, NL_GC_Ps, NL_GC_Pe, NL_GC_Pi, NL_GC_Pf, NL_GC_Po,
    NL_GC_Sm, NL_GC_Sc, NL_GC_Sk, NL_GC_So, NL_GC_Zs, NL_GC_Zl, NL_GC_Zp, NL_GC_Cc, NL_GC_Cf, NL_GC_Cs,
    NL_GC_Co
};

/* General category of a code point (cp > 0x10FFFF: NL_GC_Cn). */
uint8_t nl_ucd_category(uint32_t cp);
/* Canonical combining class. */
uint8_t nl_ucd_ccc(uint32_t cp);
/* Full compatibility decomposition (NFKD of the single code point, already recursively expanded and
 * canonically ordered), excluding Hangul syllables (decomposed algorithmically by the caller).
 * Returns its length (at most 18) and points *out at it, or 0 when the code point decomposes to itself. */
int nl_ucd_decompose(uint32_t cp, const uint32_t **out);
/* The primary composite of a starter and a following code point (canonical composition, composition
 * exclusions and singletons removed), excluding Hangul (algorithmic), or 0 when there is none. */
uint32_t nl_ucd_compose(uint32_t first, uint32_t second);
/* Full case folding (CaseFolding.txt statuses C and F): returns the mapping's length (1..3) and points
 * *out at it, or 0 when the code point folds to itself. */
int nl_ucd_casefold(uint32_t cp, const uint32_t **out);

/* Spec section 3 token classes, derived from the category (plus the ideographic ranges) */
enum { NL_CLASS_SEP = 0, NL_CLASS_MARK = 1, NL_CLASS_WORD = 2, NL_CLASS_IDEO = 3, NL_CLASS_OTHER = 4,
       NL_CLASS_DELETE = 5 /* Cf and variation selectors: removed by normalization step 1 */ };
/* The token class of a code point (spec sections 2-3; tables generated with the categories). */
uint8_t nl_ucd_token_class(uint32_t cp);

/* Quick check: 1 when the code point is left unchanged by the whole normalization in any context:
 * ccc 0, NFKC of it is itself, never the second element of a composition pair (not NFKC_QC=Maybe;
 * Hangul V and T jamo included), folds to itself, not NL_CLASS_DELETE. A text made only of stable code
 * points is already normalized; runs of them can be copied through. */
int nl_ucd_is_stable(uint32_t cp);

#endif
/* Note on nl_ucd_is_stable: a stable code point may still be the *first* element of a composition
 * (e.g. 'e' before U+0301), so a normalizer that copies stable runs through unchanged must restart
 * normalization at the last starter before an unstable code point. */
