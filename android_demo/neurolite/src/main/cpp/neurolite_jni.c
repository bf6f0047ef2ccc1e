/*
 * JNI binding of the NeuroLite featurizer core (native/include/neurolite_featurizer.h) for
 * ai.neurolite.NativeCore. Thin on purpose: every rule of the spec lives in the C core; this file
 * only moves bytes across the JNI boundary, one call per batch.
 *
 * Strings: a Java/Kotlin String is UTF-16 and may hold a lone surrogate. It is converted to UTF-8
 * here (never with GetStringUTFChars, whose "modified UTF-8" encodes U+0000 as C0 80 and
 * supplementary characters as two 3-byte surrogates), and a lone surrogate becomes U+0020, as the
 * header asks of UTF-16 bindings (spec 1.0: a surrogate is a separator, and so is a space).
 * Tokens go back as UTF-8 bytes, decoded by Kotlin (NewStringUTF would need modified UTF-8 too).
 *
 * Errors: a core error becomes ai.neurolite.FeaturizerException(code, status name, message);
 * a failed malloc becomes java.lang.OutOfMemoryError. Nothing here aborts the process.
 */
#include <jni.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"

#define EXCEPTION_CLASS "ai/neurolite/FeaturizerException"
#define BATCH_CLASS "ai/neurolite/FeatureBatch"

static void throw_status(JNIEnv *env, nl_status code, const char *message) {
    jclass cls = (*env)->FindClass(env, EXCEPTION_CLASS);
    if (cls == NULL) return; /* NoClassDefFoundError is pending */
    jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;Ljava/lang/String;)V");
    if (ctor == NULL) return;
    jstring status = (*env)->NewStringUTF(env, nl_status_name(code));
    jstring text = (*env)->NewStringUTF(env, message); /* core messages are ASCII */
    if (status == NULL || text == NULL) return;
    jobject error = (*env)->NewObject(env, cls, ctor, (jint)code, status, text);
    if (error != NULL) (*env)->Throw(env, (jthrowable)error);
}

static void throw_error(JNIEnv *env, const nl_error *err) { throw_status(env, err->code, err->message); }

static void throw_oom(JNIEnv *env, const char *what) {
    jclass cls = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (cls != NULL) (*env)->ThrowNew(env, cls, what);
}

static const nl_featurizer *as_featurizer(jlong handle) { return (const nl_featurizer *)(intptr_t)handle; }
static nl_scratch *as_scratch(jlong handle) { return (nl_scratch *)(intptr_t)handle; }

/* UTF-16 -> UTF-8 with lone surrogates as U+0020. *out_len gets the byte count. */
static char *utf16_to_utf8(const jchar *s, size_t n, size_t *out_len) {
    char *out = (char *)malloc(n * 3 + 1); /* a unit gives <= 3 bytes; a pair (2 units) gives 4 */
    size_t o = 0;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
            uint32_t cp = 0x10000 + ((c - 0xD800) << 10) + ((uint32_t)s[i + 1] - 0xDC00);
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            out[o++] = ' '; /* a lone surrogate */
        } else {
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static char *string_utf8(JNIEnv *env, jstring text, size_t *len) {
    jsize n = (*env)->GetStringLength(env, text);
    jchar *units = (jchar *)malloc((size_t)(n > 0 ? n : 1) * sizeof(jchar));
    if (units == NULL) return NULL;
    (*env)->GetStringRegion(env, text, 0, n, units);
    char *utf8 = utf16_to_utf8(units, (size_t)n, len);
    free(units);
    return utf8;
}

static void free_texts(char **texts, size_t count) {
    if (texts == NULL) return;
    for (size_t i = 0; i < count; i++) free(texts[i]);
    free(texts);
}

/* Spec section 6 for `count` UTF-8 texts: L = pad_to, or max(1, max kept length). */
static jobject featurize_utf8(JNIEnv *env, jlong handle, jlong scratch_handle, char **texts, size_t *lens,
                              size_t count, jint max_length, jint pad_to) {
    const nl_featurizer *featurizer = as_featurizer(handle);
    nl_scratch *scratch = as_scratch(scratch_handle);
    const nl_featurizer_params *params = nl_featurizer_get_params(featurizer);
    nl_error err;
    uint32_t k = params->num_hashes;
    uint32_t limit = max_length > 0 ? (uint32_t)max_length : params->max_length;
    uint32_t length = 1;
    jobject result = NULL;
    if (max_length < 0 || pad_to < 0) {
        throw_status(env, NL_ERR_ARGUMENT, max_length < 0 ? "max_length: must be >= 1 (or 0 for the config's)"
                                                          : "pad_to: must be >= 1 (or 0 for the longest text)");
        return NULL;
    }
    if (pad_to > 0) {
        length = (uint32_t)pad_to;
    } else {
        for (size_t i = 0; i < count; i++) {
            size_t tokens = 0;
            if (nl_count_tokens(featurizer, scratch, texts[i], lens[i], &tokens, &err) != NL_OK) {
                throw_error(env, &err);
                return NULL;
            }
            uint32_t kept = tokens < limit ? (uint32_t)tokens : limit;
            if (kept > length) length = kept;
        }
    }
    size_t rows = count * (size_t)length;
    if ((size_t)length != 0 && rows / length != count) rows = SIZE_MAX;
    if (rows > (size_t)INT32_MAX / k) {
        throw_status(env, NL_ERR_ARGUMENT, "batch too large: features would exceed 2^31 - 1 elements");
        return NULL;
    }
    size_t n_features = rows * k;
    int32_t *features = (int32_t *)malloc(n_features * sizeof(int32_t));
    float *mask = (float *)malloc(rows * sizeof(float));
    int32_t *lengths = (int32_t *)malloc(count * sizeof(int32_t));
    uint8_t *truncated = (uint8_t *)malloc(count);
    jboolean *flags = (jboolean *)malloc(count * sizeof(jboolean));
    if (features == NULL || mask == NULL || lengths == NULL || truncated == NULL || flags == NULL) {
        throw_oom(env, "neurolite featurizer: batch buffers");
        goto done;
    }
    if (nl_featurize_batch(featurizer, scratch, (const char *const *)texts, lens, count, (uint32_t)max_length,
                           length, features, n_features, mask, rows, lengths, truncated, &err) != NL_OK) {
        throw_error(env, &err);
        goto done;
    }
    for (size_t i = 0; i < count; i++) flags[i] = truncated[i] ? JNI_TRUE : JNI_FALSE;
    {
        jintArray j_features = (*env)->NewIntArray(env, (jsize)n_features);
        jfloatArray j_mask = (*env)->NewFloatArray(env, (jsize)rows);
        jintArray j_lengths = (*env)->NewIntArray(env, (jsize)count);
        jbooleanArray j_truncated = (*env)->NewBooleanArray(env, (jsize)count);
        if (j_features == NULL || j_mask == NULL || j_lengths == NULL || j_truncated == NULL) goto done;
        (*env)->SetIntArrayRegion(env, j_features, 0, (jsize)n_features, (const jint *)features);
        (*env)->SetFloatArrayRegion(env, j_mask, 0, (jsize)rows, mask);
        (*env)->SetIntArrayRegion(env, j_lengths, 0, (jsize)count, (const jint *)lengths);
        (*env)->SetBooleanArrayRegion(env, j_truncated, 0, (jsize)count, flags);
        jclass cls = (*env)->FindClass(env, BATCH_CLASS);
        if (cls == NULL) goto done;
        jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(III[I[F[I[Z)V");
        if (ctor == NULL) goto done;
        result = (*env)->NewObject(env, cls, ctor, (jint)count, (jint)length, (jint)k, j_features, j_mask,
                                   j_lengths, j_truncated);
    }
done:
    free(features);
    free(mask);
    free(lengths);
    free(truncated);
    free(flags);
    return result;
}

JNIEXPORT jstring JNICALL Java_ai_neurolite_NativeCore_nativeVersion(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, nl_version_string());
}

JNIEXPORT jlong JNICALL Java_ai_neurolite_NativeCore_nativeCreate(JNIEnv *env, jclass cls, jbyteArray config) {
    (void)cls;
    jsize n = (*env)->GetArrayLength(env, config);
    char *json = (char *)malloc((size_t)n + 1);
    nl_featurizer *featurizer = NULL;
    nl_error err;
    if (json == NULL) {
        throw_oom(env, "neurolite featurizer: config");
        return 0;
    }
    (*env)->GetByteArrayRegion(env, config, 0, n, (jbyte *)json);
    json[n] = '\0';
    if (nl_featurizer_create(json, (size_t)n, &featurizer, &err) != NL_OK) throw_error(env, &err);
    free(json);
    return (jlong)(intptr_t)featurizer;
}

JNIEXPORT void JNICALL Java_ai_neurolite_NativeCore_nativeFree(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    nl_featurizer_free((nl_featurizer *)(intptr_t)handle);
}

JNIEXPORT jlongArray JNICALL Java_ai_neurolite_NativeCore_nativeParams(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    const nl_featurizer_params *p = nl_featurizer_get_params(as_featurizer(handle));
    jlong values[7] = {p->num_buckets, p->num_hashes, p->word_hashes, p->ngram_min, p->ngram_max, p->max_length,
                       p->seed};
    jlongArray out = (*env)->NewLongArray(env, 7);
    if (out != NULL) (*env)->SetLongArrayRegion(env, out, 0, 7, values);
    return out;
}

JNIEXPORT jstring JNICALL Java_ai_neurolite_NativeCore_nativeDigest(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    char hex[65];
    nl_featurizer_digest(as_featurizer(handle), hex);
    return (*env)->NewStringUTF(env, hex);
}

JNIEXPORT jstring JNICALL Java_ai_neurolite_NativeCore_nativeCanonicalJson(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    return (*env)->NewStringUTF(env, nl_featurizer_canonical_json(as_featurizer(handle))); /* ASCII only */
}

JNIEXPORT jlong JNICALL Java_ai_neurolite_NativeCore_nativeScratchCreate(JNIEnv *env, jclass cls, jlong handle,
                                                                        jint cache_entries) {
    (void)cls;
    nl_scratch *scratch = nl_scratch_create(as_featurizer(handle), cache_entries > 0 ? (size_t)cache_entries : 0);
    if (scratch == NULL) throw_oom(env, "neurolite featurizer: scratch");
    return (jlong)(intptr_t)scratch;
}

JNIEXPORT void JNICALL Java_ai_neurolite_NativeCore_nativeScratchFree(JNIEnv *env, jclass cls, jlong scratch) {
    (void)env;
    (void)cls;
    nl_scratch_free(as_scratch(scratch));
}

JNIEXPORT jobject JNICALL Java_ai_neurolite_NativeCore_nativeFeaturizeStrings(JNIEnv *env, jclass cls, jlong handle,
                                                                             jlong scratch, jobjectArray texts,
                                                                             jint max_length, jint pad_to) {
    (void)cls;
    size_t count = (size_t)(*env)->GetArrayLength(env, texts);
    char **utf8 = (char **)calloc(count ? count : 1, sizeof(char *));
    size_t *lens = (size_t *)calloc(count ? count : 1, sizeof(size_t));
    jobject result = NULL;
    if (utf8 == NULL || lens == NULL) {
        throw_oom(env, "neurolite featurizer: texts");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        jstring text = (jstring)(*env)->GetObjectArrayElement(env, texts, (jsize)i);
        if (text == NULL) {
            char message[96];
            snprintf(message, sizeof message, "texts[%zu]: null", i);
            throw_status(env, NL_ERR_ARGUMENT, message);
            goto done;
        }
        utf8[i] = string_utf8(env, text, &lens[i]);
        (*env)->DeleteLocalRef(env, text);
        if (utf8[i] == NULL) {
            throw_oom(env, "neurolite featurizer: UTF-8 text");
            goto done;
        }
    }
    result = featurize_utf8(env, handle, scratch, utf8, lens, count, max_length, pad_to);
done:
    free_texts(utf8, count);
    free(lens);
    return result;
}

JNIEXPORT jobject JNICALL Java_ai_neurolite_NativeCore_nativeFeaturizeUtf8(JNIEnv *env, jclass cls, jlong handle,
                                                                          jlong scratch, jobjectArray texts,
                                                                          jint max_length, jint pad_to) {
    (void)cls;
    size_t count = (size_t)(*env)->GetArrayLength(env, texts);
    char **bytes = (char **)calloc(count ? count : 1, sizeof(char *));
    size_t *lens = (size_t *)calloc(count ? count : 1, sizeof(size_t));
    jobject result = NULL;
    if (bytes == NULL || lens == NULL) {
        throw_oom(env, "neurolite featurizer: texts");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        jbyteArray text = (jbyteArray)(*env)->GetObjectArrayElement(env, texts, (jsize)i);
        if (text == NULL) {
            char message[96];
            snprintf(message, sizeof message, "texts[%zu]: null", i);
            throw_status(env, NL_ERR_ARGUMENT, message);
            goto done;
        }
        jsize n = (*env)->GetArrayLength(env, text);
        bytes[i] = (char *)malloc((size_t)n + 1);
        if (bytes[i] == NULL) {
            throw_oom(env, "neurolite featurizer: text bytes");
            goto done;
        }
        (*env)->GetByteArrayRegion(env, text, 0, n, (jbyte *)bytes[i]);
        bytes[i][n] = '\0';
        lens[i] = (size_t)n;
        (*env)->DeleteLocalRef(env, text);
    }
    result = featurize_utf8(env, handle, scratch, bytes, lens, count, max_length, pad_to);
done:
    free_texts(bytes, count);
    free(lens);
    return result;
}

/* All tokens of one text (spec sections 2-3) as UTF-8, each followed by one 0x00 byte. */
JNIEXPORT jbyteArray JNICALL Java_ai_neurolite_NativeCore_nativeTokenize(JNIEnv *env, jclass cls, jlong scratch,
                                                                        jstring text) {
    (void)cls;
    size_t len = 0, needed = 0, tokens = 0;
    nl_error err;
    jbyteArray result = NULL;
    char *utf8 = string_utf8(env, text, &len);
    char *out = NULL;
    if (utf8 == NULL) {
        throw_oom(env, "neurolite featurizer: UTF-8 text");
        return NULL;
    }
    nl_status status = nl_tokenize(as_scratch(scratch), utf8, len, NULL, 0, &needed, &tokens, &err);
    if (status != NL_OK && status != NL_ERR_BUFFER_TOO_SMALL) {
        throw_error(env, &err);
        goto done;
    }
    out = (char *)malloc(needed ? needed : 1);
    if (out == NULL) {
        throw_oom(env, "neurolite featurizer: tokens");
        goto done;
    }
    if (nl_tokenize(as_scratch(scratch), utf8, len, out, needed, &needed, &tokens, &err) != NL_OK) {
        throw_error(env, &err);
        goto done;
    }
    result = (*env)->NewByteArray(env, (jsize)needed);
    if (result != NULL) (*env)->SetByteArrayRegion(env, result, 0, (jsize)needed, (const jbyte *)out);
done:
    free(utf8);
    free(out);
    return result;
}
