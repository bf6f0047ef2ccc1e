/*
 * neurolite_sdk._featurizer_native: the CPython binding of the portable C featurizer core
 * (native/include/neurolite_featurizer.h, spec docs/featurizer.md).
 *
 * Two types, no numpy C API (the Python wrapper neurolite_sdk/featurizer_native.py wraps the
 * bytearrays this module fills with numpy.frombuffer):
 *
 *   Core(config_json)        an immutable nl_featurizer, shared by every thread
 *   Scratch(core, entries)   an nl_scratch (working memory + token cache) and the binding's own
 *                            reusable buffers; one per thread at a time (the wrapper keeps a pool).
 *                            A second thread entering a busy scratch gets RuntimeError, never a race.
 *
 * Texts are str or bytes. A str is encoded to UTF-8 while the GIL is held (an ASCII str is used in
 * place), a lone surrogate becoming U+0020 (the header's binding rule: spec 1.0 makes a surrogate a
 * separator, and a space behaves identically in every step); bytes go to the core as they are
 * (invalid UTF-8 -> U+FFFD by the core's maximal-subpart rule, like bytes.decode("utf-8", "replace")).
 * The featurizing itself and the filling of the output buffers run with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neurolite_featurizer.h"

/* FeaturizerError once the wrapper has called set_error_class(); ValueError before. */
static PyObject *error_class = NULL;

static PyObject *featurizer_error(void) { return error_class != NULL ? error_class : PyExc_ValueError; }

static void raise_status(const char *what, nl_status status, const nl_error *err)
{
    if (status == NL_ERR_NO_MEMORY) {
        PyErr_NoMemory();
        return;
    }
    PyErr_Format(featurizer_error(), "%s: %s (native core: %s)", what,
                 err->message[0] ? err->message : "failed", nl_status_name(status));
}

/* Grow *buf to hold at least `need` elements of `size` bytes (keeps the contents). 0 on success. */
static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
    size_t want;
    void *bigger;
    if (need <= *cap)
        return 0;
    want = *cap ? *cap : 64;
    while (want < need) {
        if (want > SIZE_MAX / 2 / size)
            return -1;
        want *= 2;
    }
    bigger = realloc(*buf, want * size);
    if (bigger == NULL)
        return -1;
    *buf = bigger;
    *cap = want;
    return 0;
}

/* ------------------------------------------------------------------------------------------- Core */
typedef struct {
    PyObject_HEAD
    nl_featurizer *featurizer;
    uint32_t num_hashes;
} CoreObject;

static PyTypeObject CoreType;

static int Core_init(CoreObject *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"config_json", NULL};
    const char *json;
    Py_ssize_t json_len;
    nl_error err;
    nl_status status;
    nl_featurizer *created = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#:Core", keywords, &json, &json_len))
        return -1;
    memset(&err, 0, sizeof err);
    status = nl_featurizer_create(json, (size_t)json_len, &created, &err);
    if (status != NL_OK) {
        raise_status("config", status, &err);
        return -1;
    }
    if (self->featurizer != NULL)
        nl_featurizer_free(self->featurizer);
    self->featurizer = created;
    self->num_hashes = nl_featurizer_get_params(created)->num_hashes;
    return 0;
}

static void Core_dealloc(CoreObject *self)
{
    if (self->featurizer != NULL)
        nl_featurizer_free(self->featurizer);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int core_ready(CoreObject *self)
{
    if (self->featurizer == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Core: not initialised");
        return 0;
    }
    return 1;
}

static PyObject *Core_digest(CoreObject *self, PyObject *Py_UNUSED(ignored))
{
    char hex[65];
    if (!core_ready(self))
        return NULL;
    nl_featurizer_digest(self->featurizer, hex);
    return PyUnicode_FromStringAndSize(hex, 64);
}

static PyObject *Core_params(CoreObject *self, PyObject *Py_UNUSED(ignored))
{
    const nl_featurizer_params *p;
    if (!core_ready(self))
        return NULL;
    p = nl_featurizer_get_params(self->featurizer);
    return Py_BuildValue("{s:k,s:k,s:k,s:k,s:k,s:k,s:k}", "num_buckets", (unsigned long)p->num_buckets,
                         "num_hashes", (unsigned long)p->num_hashes, "word_hashes", (unsigned long)p->word_hashes,
                         "ngram_min", (unsigned long)p->ngram_min, "ngram_max", (unsigned long)p->ngram_max,
                         "max_length", (unsigned long)p->max_length, "seed", (unsigned long)p->seed);
}

/* token_buckets(token_utf8: bytes) -> bytes: K native-endian int32 (one normalized token, hashed as given). */
static PyObject *Core_token_buckets(CoreObject *self, PyObject *arg)
{
    PyObject *out;
    nl_error err;
    nl_status status;
    if (!core_ready(self))
        return NULL;
    if (!PyBytes_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "token_buckets: expected bytes (UTF-8), got %s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)self->num_hashes * 4);
    if (out == NULL)
        return NULL;
    memset(&err, 0, sizeof err);
    status = nl_token_buckets(self->featurizer, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg),
                              (int32_t *)PyBytes_AS_STRING(out), &err);
    if (status != NL_OK) {
        Py_DECREF(out);
        raise_status("token", status, &err);
        return NULL;
    }
    return out;
}

static PyObject *Core_get_num_hashes(CoreObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLong(self->num_hashes);
}

static PyMethodDef Core_methods[] = {
    {"digest", (PyCFunction)Core_digest, METH_NOARGS, "Spec section 7 digest of the config, as the core computes it."},
    {"params", (PyCFunction)Core_params, METH_NOARGS, "The config's integer parameters, as the core parsed them."},
    {"token_buckets", (PyCFunction)Core_token_buckets, METH_O,
     "token_buckets(token_utf8: bytes) -> bytes: K native int32 buckets of one normalized token."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Core_getset[] = {
    {"num_hashes", (getter)Core_get_num_hashes, NULL, "K, buckets per token", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "neurolite_sdk._featurizer_native.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Core(config_json: str): an immutable native featurizer for one config; share it freely.",
    .tp_methods = Core_methods,
    .tp_getset = Core_getset,
    .tp_init = (initproc)Core_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------------------------- Scratch */
typedef struct {
    PyObject_HEAD
    CoreObject *core;
    nl_scratch *scratch;
    int busy;
    /* per-call buffers, kept between calls (they only grow) */
    const char **ptrs;
    size_t ptrs_cap;
    size_t *lens;
    size_t lens_cap;
    size_t *offsets; /* (size_t)-1: ptrs[i] already points at the text; else an offset into enc */
    size_t offsets_cap;
    char *enc; /* UTF-8 of the non-ASCII str texts of the call */
    size_t enc_cap;
    int32_t *rows; /* the kept rows of every text, back to back: tokens * K */
    size_t rows_cap;
    float *row_mask;
    size_t row_mask_cap;
    size_t *row_start; /* per text: its first row in rows */
    size_t row_start_cap;
    int32_t *lengths;
    size_t lengths_cap;
    uint8_t *truncated;
    size_t truncated_cap;
    char *out; /* normalize / tokenize output */
    size_t out_cap;
} ScratchObject;

static PyTypeObject ScratchType;

static int Scratch_init(ScratchObject *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"core", "cache_entries", NULL};
    CoreObject *core;
    Py_ssize_t entries;
    nl_scratch *scratch;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!n:Scratch", keywords, &CoreType, &core, &entries))
        return -1;
    if (!core_ready(core))
        return -1;
    if (entries < 0) {
        PyErr_SetString(PyExc_ValueError, "cache_entries: must be >= 0");
        return -1;
    }
    if (self->scratch != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scratch: already initialised");
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    scratch = nl_scratch_create(core->featurizer, (size_t)entries);
    Py_END_ALLOW_THREADS
    if (scratch == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(core);
    self->core = core;
    self->scratch = scratch;
    return 0;
}

static void Scratch_dealloc(ScratchObject *self)
{
    if (self->scratch != NULL)
        nl_scratch_free(self->scratch);
    free(self->ptrs);
    free(self->lens);
    free(self->offsets);
    free(self->enc);
    free(self->rows);
    free(self->row_mask);
    free(self->row_start);
    free(self->lengths);
    free(self->truncated);
    free(self->out);
    Py_XDECREF(self->core);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Take the scratch for this call (GIL held). 0 and an exception when another thread has it. */
static int enter(ScratchObject *self)
{
    if (self->scratch == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scratch: not initialised");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Scratch: in use by another thread (a scratch belongs to one thread at a time)");
        return 0;
    }
    self->busy = 1;
    return 1;
}

/* Append the UTF-8 of a non-ASCII str to self->enc at *used, lone surrogates as U+0020. */
static int encode_str(ScratchObject *self, PyObject *text, size_t *used)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    size_t per = kind == PyUnicode_1BYTE_KIND ? 2 : kind == PyUnicode_2BYTE_KIND ? 3 : 4;
    unsigned char *o;
    if ((size_t)n > (SIZE_MAX - *used) / per ||
        grow((void **)&self->enc, &self->enc_cap, *used + (size_t)n * per, 1) != 0) {
        PyErr_NoMemory();
        return -1;
    }
    o = (unsigned char *)self->enc + *used;
    for (i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *o++ = (unsigned char)c;
        } else if (c < 0x800) {
            *o++ = (unsigned char)(0xC0 | (c >> 6));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            *o++ = 0x20; /* a lone surrogate (a str has no pairs): a separator, as a space */
        } else if (c < 0x10000) {
            *o++ = (unsigned char)(0xE0 | (c >> 12));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (unsigned char)(0xF0 | (c >> 18));
            *o++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    *used = (size_t)(o - (unsigned char *)self->enc);
    return 0;
}

/* One text (str or bytes) -> pointer and length; a non-ASCII str is encoded into self->enc (so the
 * pointer is only valid until the next encode: callers handling several texts use the offset form). */
static int text_utf8(ScratchObject *self, PyObject *text, const char *what, Py_ssize_t index, const char **ptr,
                     size_t *len, size_t *offset, size_t *enc_used)
{
    if (PyUnicode_Check(text)) {
        if (PyUnicode_IS_ASCII(text)) {
            *ptr = (const char *)PyUnicode_DATA(text);
            *len = (size_t)PyUnicode_GET_LENGTH(text);
            *offset = (size_t)-1;
            return 0;
        }
        *offset = *enc_used;
        if (encode_str(self, text, enc_used) != 0)
            return -1;
        *len = *enc_used - *offset;
        *ptr = NULL;
        return 0;
    }
    if (PyBytes_Check(text)) {
        *ptr = PyBytes_AS_STRING(text);
        *len = (size_t)PyBytes_GET_SIZE(text);
        *offset = (size_t)-1;
        return 0;
    }
    {   /* the Python featurizer's message, with the type's __name__ (tp_name may carry a module) */
        PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(text), "__name__");
        if (name == NULL)
            return -1;
        if (index >= 0)
            PyErr_Format(featurizer_error(), "%s[%zd]: expected str (or UTF-8 bytes), got %S", what, index, name);
        else
            PyErr_Format(featurizer_error(), "%s: expected str (or UTF-8 bytes), got %S", what, name);
        Py_DECREF(name);
    }
    return -1;
}

/* A pooled scratch keeps its buffers between calls, but not the peak of one huge batch: a buffer above
 * this many bytes is released after the call (the next big call allocates it again). */
#define KEEP_BYTES ((size_t)16 << 20)

static void trim(ScratchObject *self)
{
    if (self->rows_cap * sizeof(int32_t) > KEEP_BYTES) {
        free(self->rows);
        self->rows = NULL;
        self->rows_cap = 0;
    }
    if (self->enc_cap > KEEP_BYTES) {
        free(self->enc);
        self->enc = NULL;
        self->enc_cap = 0;
    }
    if (self->row_mask_cap * sizeof(float) > KEEP_BYTES) {
        free(self->row_mask);
        self->row_mask = NULL;
        self->row_mask_cap = 0;
    }
    if (self->out_cap > KEEP_BYTES) {
        free(self->out);
        self->out = NULL;
        self->out_cap = 0;
    }
    if (self->ptrs_cap * (sizeof(char *) + 3 * sizeof(size_t) + sizeof(int32_t) + 1) > KEEP_BYTES) {
        free(self->ptrs), free(self->lens), free(self->offsets), free(self->row_start);
        free(self->lengths), free(self->truncated);
        self->ptrs = NULL, self->lens = NULL, self->offsets = NULL, self->row_start = NULL;
        self->lengths = NULL, self->truncated = NULL;
        self->ptrs_cap = self->lens_cap = self->offsets_cap = self->row_start_cap = 0;
        self->lengths_cap = self->truncated_cap = 0;
    }
}

/* Up to this many int32 per text, a text's row is sized from its byte length before featurizing
 * (the unused part of the row is zero-filled by the core); above it, its tokens are counted first. */
#define DIRECT_ROW_INT32 65536u

/*
 * featurize(texts: list, max_length: int, pad_to: int)
 *   -> (features: bytearray, mask: bytearray, lengths: bytearray, truncated: bytearray, width: int)
 *   or (None, None, None, None, longest) when pad_to < max(1, longest kept) (or pad_to is -1: invalid),
 *   so the wrapper raises the reference's message with its own repr of pad_to.
 * pad_to 0: width = max(1, longest kept). features int32 [B, width, K], mask float32 [B, width],
 * lengths int32 [B], truncated uint8 [B]; all native-endian.
 */
static PyObject *Scratch_featurize(ScratchObject *self, PyObject *args)
{
    PyObject *texts, *features = NULL, *mask = NULL, *lengths = NULL, *truncated = NULL, *result = NULL;
    Py_ssize_t count, i, pad_to, bad = -1;
    unsigned long long max_length_arg;
    uint32_t max_length, K;
    size_t enc_used = 0, used = 0, n, longest = 0, width, cells;
    nl_status status = NL_OK;
    nl_error err;
    int no_memory = 0;

    if (!PyArg_ParseTuple(args, "O!Kn:featurize", &PyList_Type, &texts, &max_length_arg, &pad_to))
        return NULL;
    if (max_length_arg < 1 || max_length_arg > 0x7FFFFFFFull) {
        PyErr_SetString(PyExc_ValueError, "featurize: max_length must be in [1, 2^31 - 1]");
        return NULL;
    }
    if (pad_to < -1) {
        PyErr_SetString(PyExc_ValueError, "featurize: pad_to must be >= -1");
        return NULL;
    }
    if (!enter(self))
        return NULL;
    max_length = (uint32_t)max_length_arg;
    K = self->core->num_hashes;
    count = PyList_GET_SIZE(texts);
    n = (size_t)count;
    if (grow((void **)&self->ptrs, &self->ptrs_cap, n, sizeof(char *)) != 0 ||
        grow((void **)&self->lens, &self->lens_cap, n, sizeof(size_t)) != 0 ||
        grow((void **)&self->offsets, &self->offsets_cap, n, sizeof(size_t)) != 0 ||
        grow((void **)&self->row_start, &self->row_start_cap, n, sizeof(size_t)) != 0 ||
        grow((void **)&self->lengths, &self->lengths_cap, n, sizeof(int32_t)) != 0 ||
        grow((void **)&self->truncated, &self->truncated_cap, n, 1) != 0) {
        PyErr_NoMemory();
        goto done;
    }
    /* 1. UTF-8 of every text, GIL held (the list is the wrapper's own: nobody else can change it). */
    for (i = 0; i < count; i++) {
        if (text_utf8(self, PyList_GET_ITEM(texts, i), "texts", i, &self->ptrs[i], &self->lens[i],
                      &self->offsets[i], &enc_used) != 0)
            goto done;
    }
    for (i = 0; i < count; i++) {
        if (self->offsets[i] != (size_t)-1)
            self->ptrs[i] = self->enc + self->offsets[i];
    }
    memset(&err, 0, sizeof err);

    /* 2. Featurize each text into its compact rows, GIL released. */
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < count; i++) {
        const char *text = self->ptrs[i];
        size_t len = self->lens[i], guess, tokens;
        uint32_t rows;
        int32_t length = 0;
        uint8_t cut = 0;
        guess = len + len / 2 + 8; /* tokens: rarely more than 1.5 per byte (U+00BD -> 1 ⁄ 2); retried if so */
        if (guess > max_length)
            guess = max_length;
        if (guess > DIRECT_ROW_INT32 / K && guess > 64) {
            status = nl_count_tokens(self->core->featurizer, self->scratch, text, len, &tokens, &err);
            if (status != NL_OK) {
                bad = i;
                break;
            }
            guess = tokens < max_length ? tokens : max_length;
            if (guess < 1)
                guess = 1;
        }
        rows = (uint32_t)guess;
        for (;;) {
            if (grow((void **)&self->rows, &self->rows_cap, (used + rows) * K, sizeof(int32_t)) != 0 ||
                grow((void **)&self->row_mask, &self->row_mask_cap, rows, sizeof(float)) != 0) {
                no_memory = 1;
                break;
            }
            status = nl_featurize(self->core->featurizer, self->scratch, text, len, max_length, rows,
                                  self->rows + used * K, self->rows_cap - used * K, self->row_mask,
                                  self->row_mask_cap, &length, &cut, &err);
            if (status != NL_ERR_BUFFER_TOO_SMALL)
                break;
            /* more tokens than guessed: count them, then size the row exactly */
            status = nl_count_tokens(self->core->featurizer, self->scratch, text, len, &tokens, &err);
            if (status != NL_OK)
                break;
            tokens = tokens < max_length ? tokens : max_length;
            if (tokens <= rows) { /* cannot happen with a consistent core: never loop */
                status = NL_ERR_BUFFER_TOO_SMALL;
                break;
            }
            rows = (uint32_t)tokens;
        }
        if (no_memory || status != NL_OK) {
            bad = i;
            break;
        }
        self->row_start[i] = used;
        self->lengths[i] = length;
        self->truncated[i] = cut;
        used += (size_t)length;
        if ((size_t)length > longest)
            longest = (size_t)length;
    }
    Py_END_ALLOW_THREADS

    if (bad >= 0) {
        char what[48];
        if (no_memory) {
            PyErr_NoMemory();
            goto done;
        }
        PyOS_snprintf(what, sizeof what, "texts[%zd]", bad);
        raise_status(what, status, &err);
        goto done;
    }
    width = longest > 1 ? longest : 1;
    if (pad_to == -1 || (pad_to > 0 && (size_t)pad_to < width)) {
        result = Py_BuildValue("(OOOOn)", Py_None, Py_None, Py_None, Py_None, (Py_ssize_t)width);
        goto done;
    }
    if (pad_to > 0)
        width = (size_t)pad_to;

    /* 3. The outputs, filled with the GIL released (nobody else holds these new objects yet). */
    if (n != 0 && (width > (size_t)PY_SSIZE_T_MAX / 4 / n / K)) {
        PyErr_NoMemory();
        goto done;
    }
    cells = n * width;
    features = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(cells * K * 4));
    mask = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(cells * 4));
    lengths = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    truncated = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (features == NULL || mask == NULL || lengths == NULL || truncated == NULL)
        goto done;
    {
        int32_t *f = (int32_t *)PyByteArray_AS_STRING(features);
        float *m = (float *)PyByteArray_AS_STRING(mask);
        int32_t *l = (int32_t *)PyByteArray_AS_STRING(lengths);
        uint8_t *t = (uint8_t *)PyByteArray_AS_STRING(truncated);
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < count; i++) {
            size_t kept = (size_t)self->lengths[i], row = (size_t)i * width, j;
            memcpy(f + row * K, self->rows + self->row_start[i] * K, kept * K * sizeof(int32_t));
            memset(f + (row + kept) * K, 0, (width - kept) * K * sizeof(int32_t));
            for (j = 0; j < kept; j++)
                m[row + j] = 1.0f;
            for (; j < width; j++)
                m[row + j] = 0.0f;
            t[i] = self->truncated[i] ? 1 : 0;
        }
        if (n)
            memcpy(l, self->lengths, n * sizeof(int32_t));
        Py_END_ALLOW_THREADS
    }
    result = Py_BuildValue("(OOOOn)", features, mask, lengths, truncated, (Py_ssize_t)width);

done:
    Py_XDECREF(features);
    Py_XDECREF(mask);
    Py_XDECREF(lengths);
    Py_XDECREF(truncated);
    trim(self);
    self->busy = 0;
    return result;
}

typedef enum { OP_NORMALIZE, OP_TOKENIZE, OP_COUNT } text_op;

/* normalize / tokenize / count_tokens of one text (str or bytes), GIL released while the core runs. */
static PyObject *single_text(ScratchObject *self, PyObject *text, text_op op)
{
    const char *ptr;
    size_t len, offset, enc_used = 0, needed = 0, tokens = 0;
    nl_status status = NL_OK;
    nl_error err;
    PyObject *result = NULL;
    int no_memory = 0;

    if (!enter(self))
        return NULL;
    if (text_utf8(self, text, "text", -1, &ptr, &len, &offset, &enc_used) != 0)
        goto done;
    if (offset != (size_t)-1)
        ptr = self->enc + offset;
    memset(&err, 0, sizeof err);
    Py_BEGIN_ALLOW_THREADS
    if (op == OP_COUNT) {
        status = nl_count_tokens(self->core->featurizer, self->scratch, ptr, len, &tokens, &err);
    } else {
        size_t want = len + 16;
        for (;;) {
            if (grow((void **)&self->out, &self->out_cap, want, 1) != 0) {
                no_memory = 1;
                break;
            }
            if (op == OP_NORMALIZE)
                status = nl_normalize(self->scratch, ptr, len, self->out, self->out_cap, &needed, &err);
            else
                status = nl_tokenize(self->scratch, ptr, len, self->out, self->out_cap, &needed, &tokens, &err);
            if (status != NL_ERR_BUFFER_TOO_SMALL)
                break;
            if (needed <= self->out_cap) { /* a consistent core never says so: do not loop */
                break;
            }
            want = needed;
        }
    }
    Py_END_ALLOW_THREADS
    if (no_memory) {
        PyErr_NoMemory();
        goto done;
    }
    if (status != NL_OK) {
        raise_status("text", status, &err);
        goto done;
    }
    if (op == OP_COUNT) {
        result = PyLong_FromSize_t(tokens);
    } else if (op == OP_NORMALIZE) {
        result = PyUnicode_DecodeUTF8(self->out, (Py_ssize_t)needed, "strict");
    } else {
        size_t at = 0, t;
        result = PyList_New((Py_ssize_t)tokens);
        if (result == NULL)
            goto done;
        for (t = 0; t < tokens; t++) {
            size_t end = at;
            PyObject *token;
            while (end < needed && self->out[end] != '\0')
                end++;
            if (end >= needed) {
                Py_CLEAR(result);
                PyErr_SetString(PyExc_RuntimeError, "tokenize: the native core returned fewer tokens than it counted");
                goto done;
            }
            token = PyUnicode_DecodeUTF8(self->out + at, (Py_ssize_t)(end - at), "strict");
            if (token == NULL) {
                Py_CLEAR(result);
                goto done;
            }
            PyList_SET_ITEM(result, (Py_ssize_t)t, token);
            at = end + 1;
        }
    }
done:
    trim(self);
    self->busy = 0;
    return result;
}

static PyObject *Scratch_normalize(ScratchObject *self, PyObject *text) { return single_text(self, text, OP_NORMALIZE); }
static PyObject *Scratch_tokenize(ScratchObject *self, PyObject *text) { return single_text(self, text, OP_TOKENIZE); }
static PyObject *Scratch_count_tokens(ScratchObject *self, PyObject *text) { return single_text(self, text, OP_COUNT); }

static PyObject *Scratch_get_core(ScratchObject *self, void *Py_UNUSED(closure))
{
    if (self->core == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->core);
    return (PyObject *)self->core;
}

static PyMethodDef Scratch_methods[] = {
    {"featurize", (PyCFunction)Scratch_featurize, METH_VARARGS,
     "featurize(texts: list, max_length: int, pad_to: int) -> (features, mask, lengths, truncated, width); "
     "pad_to 0: as wide as the longest kept text; (None, None, None, None, longest) when pad_to is too small "
     "or -1."},
    {"normalize", (PyCFunction)Scratch_normalize, METH_O, "normalize(text: str | bytes) -> str (spec section 2)."},
    {"tokenize", (PyCFunction)Scratch_tokenize, METH_O,
     "tokenize(text: str | bytes) -> list[str] (spec sections 2-3, every token)."},
    {"count_tokens", (PyCFunction)Scratch_count_tokens, METH_O, "count_tokens(text: str | bytes) -> int."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Scratch_getset[] = {
    {"core", (getter)Scratch_get_core, NULL, "the Core this scratch belongs to", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ScratchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "neurolite_sdk._featurizer_native.Scratch",
    .tp_basicsize = sizeof(ScratchObject),
    .tp_dealloc = (destructor)Scratch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Scratch(core: Core, cache_entries: int): working memory and token cache; one thread at a time.",
    .tp_methods = Scratch_methods,
    .tp_getset = Scratch_getset,
    .tp_init = (initproc)Scratch_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------------------------- module */
static PyObject *mod_set_error_class(PyObject *Py_UNUSED(module), PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)PyExc_Exception)) {
        PyErr_SetString(PyExc_TypeError, "set_error_class: expected an Exception subclass");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(error_class, cls);
    Py_RETURN_NONE;
}

static PyObject *mod_version(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(nl_version_string());
}

static PyObject *mod_murmur3(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data;
    unsigned long seed;
    uint32_t hash;
    if (!PyArg_ParseTuple(args, "y*k:murmur3_x86_32", &data, &seed))
        return NULL;
    if (seed > 0xFFFFFFFFul) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "murmur3_x86_32: seed must be < 2^32");
        return NULL;
    }
    hash = nl_murmur3_x86_32(data.buf, (size_t)data.len, (uint32_t)seed);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(hash);
}

static PyMethodDef module_methods[] = {
    {"set_error_class", mod_set_error_class, METH_O, "The exception class raised for bad input (FeaturizerError)."},
    {"version", mod_version, METH_NOARGS, "The core's version string (nl_version_string)."},
    {"murmur3_x86_32", mod_murmur3, METH_VARARGS, "murmur3_x86_32(data: bytes, seed: int) -> int (unsigned)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "neurolite_sdk._featurizer_native",
    "CPython binding of the portable C featurizer core (native/); use neurolite_sdk.featurizer_native.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__featurizer_native(void)
{
    PyObject *module;
    if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&ScratchType) < 0)
        return NULL;
    module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(module, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&ScratchType);
    if (PyModule_AddObject(module, "Scratch", (PyObject *)&ScratchType) < 0) {
        Py_DECREF(&ScratchType);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddStringConstant(module, "SPEC_VERSION", NL_FEATURIZER_SPEC_VERSION) < 0 ||
        PyModule_AddStringConstant(module, "UNICODE_VERSION", NL_UNICODE_VERSION) < 0 ||
        PyModule_AddIntConstant(module, "MAX_TEXT_BYTES", (long)(NL_MAX_TEXT_BYTES)) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
