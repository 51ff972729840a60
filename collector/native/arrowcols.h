/*
 * Arrow columns built in C: a validity bitmap plus offsets and UTF-8 bytes (strings), 8-byte values
 * (int64, timestamps, float64), or offsets and child columns (lists of strings, string maps). Python
 * wraps the buffers with pyarrow's Array.from_buffers (collector/normalize/recipes.py, columns_table).
 *
 * Why: the compiled span path used to append a Python object per cell to a Python list, and pyarrow
 * then converted every object back: a third of a normalizer worker's time went to making, converting
 * and freeing those objects. Here a cell is a memcpy. Columns of any other type (a list of structs)
 * stay Python lists ('o'), converted by pyarrow as before.
 *
 * Kinds: 's' string, 'i' int64 or timestamp[ns], 'f' float64, 'L' list<string>, 'M' map<string,
 * string> (never null), 'o' Python objects.
 */
#ifndef DRIFTLINE_ARROWCOLS_H
#define DRIFTLINE_ARROWCOLS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct Col {
    char kind;
    Py_ssize_t n, nulls;
    uint8_t *valid; /* one bit per row, set = not null */
    Py_ssize_t capvalid;
    int32_t *off; /* 's', 'L', 'M': n + 1 offsets */
    Py_ssize_t capoff;
    uint8_t *data; /* 's': UTF-8 bytes; 'i', 'f': 8 bytes per row */
    Py_ssize_t ndata, capdata;
    struct Col *child, *child2; /* 'L': its strings; 'M': keys and values */
    PyObject *list;             /* 'o' */
} Col;

static int col_reserve(void **p, Py_ssize_t *cap, Py_ssize_t need) {
    if (need <= *cap)
        return 0;
    Py_ssize_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *q = PyMem_Realloc(*p, (size_t)n);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

static int col_init(Col *c, char kind) {
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    if (kind == 'o')
        return (c->list = PyList_New(0)) ? 0 : -1;
    if (kind == 's' || kind == 'L' || kind == 'M') {
        if (col_reserve((void **)&c->off, &c->capoff, sizeof(int32_t)) < 0)
            return -1;
        c->off[0] = 0;
    }
    if (kind == 'L' || kind == 'M') {
        c->child = PyMem_Calloc(1, sizeof(Col));
        if (!c->child || col_init(c->child, 's') < 0)
            return -1;
    }
    if (kind == 'M') {
        c->child2 = PyMem_Calloc(1, sizeof(Col));
        if (!c->child2 || col_init(c->child2, 's') < 0)
            return -1;
    }
    return 0;
}

static void col_free(Col *c) {
    PyMem_Free(c->valid);
    PyMem_Free(c->off);
    PyMem_Free(c->data);
    Py_XDECREF(c->list);
    if (c->child) {
        col_free(c->child);
        PyMem_Free(c->child);
    }
    if (c->child2) {
        col_free(c->child2);
        PyMem_Free(c->child2);
    }
    memset(c, 0, sizeof(*c));
}

/* Room for one more row: its validity bit (cleared) and, for offsets, the next offset. */
static int col_row(Col *c) {
    Py_ssize_t bytes = (c->n + 8) / 8;
    if (bytes > c->capvalid) {
        Py_ssize_t old = c->capvalid;
        if (col_reserve((void **)&c->valid, &c->capvalid, bytes) < 0)
            return -1;
        memset(c->valid + old, 0, (size_t)(c->capvalid - old));
    }
    if (c->off && col_reserve((void **)&c->off, &c->capoff, (Py_ssize_t)sizeof(int32_t) * (c->n + 2)) < 0)
        return -1;
    return 0;
}

static int col_null(Col *c) {
    if (c->kind == 'o')
        return PyList_Append(c->list, Py_None);
    if (col_row(c) < 0)
        return -1;
    if (c->off)
        c->off[c->n + 1] = c->off[c->n];
    else if (c->kind == 'i' || c->kind == 'f') {
        if (col_reserve((void **)&c->data, &c->capdata, c->ndata + 8) < 0)
            return -1;
        memset(c->data + c->ndata, 0, 8);
        c->ndata += 8;
    }
    c->n++;
    c->nulls++;
    return 0;
}

static inline void col_set_valid(Col *c) { c->valid[c->n / 8] |= (uint8_t)(1u << (c->n % 8)); }

/* A string cell of ``len`` bytes; its bytes are written by the caller into the returned place. */
static uint8_t *col_str_place(Col *c, Py_ssize_t len) {
    if (c->ndata + len > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a string column of a batch holds more than 2 GiB");
        return NULL;
    }
    if (col_row(c) < 0 || col_reserve((void **)&c->data, &c->capdata, c->ndata + len + 1) < 0)
        return NULL;
    uint8_t *at = c->data + c->ndata;
    col_set_valid(c);
    c->ndata += len;
    c->off[c->n + 1] = (int32_t)c->ndata;
    c->n++;
    return at;
}

static int col_str(Col *c, const char *p, Py_ssize_t len) {
    uint8_t *at = col_str_place(c, len);
    if (!at)
        return -1;
    memcpy(at, p, (size_t)len);
    return 0;
}

static int col_hex(Col *c, const uint8_t *p, Py_ssize_t n) {
    static const char digits[] = "0123456789abcdef";
    uint8_t *at = col_str_place(c, 2 * n);
    if (!at)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        at[2 * i] = (uint8_t)digits[p[i] >> 4];
        at[2 * i + 1] = (uint8_t)digits[p[i] & 15];
    }
    return 0;
}

static int col_8(Col *c, const void *value) {
    if (col_row(c) < 0 || col_reserve((void **)&c->data, &c->capdata, c->ndata + 8) < 0)
        return -1;
    memcpy(c->data + c->ndata, value, 8);
    c->ndata += 8;
    col_set_valid(c);
    c->n++;
    return 0;
}

static int col_i64(Col *c, int64_t v) { return col_8(c, &v); }
static int col_f64(Col *c, double v) { return col_8(c, &v); }

/* Ends a list or map row whose items were appended to the children. */
static int col_nest_end(Col *c) {
    if (col_row(c) < 0)
        return -1;
    c->off[c->n + 1] = (int32_t)c->child->n;
    col_set_valid(c);
    c->n++;
    return 0;
}

static int col_obj(Col *c, PyObject *o);

static int col_wrong(Col *c, PyObject *o) {
    PyErr_Format(PyExc_TypeError, "a column of kind '%c' cannot hold a %s", c->kind, Py_TYPE(o)->tp_name);
    return -1;
}

/* One cell from a Python object, converted as pyarrow converts it for the column's type. */
static int col_obj(Col *c, PyObject *o) {
    if (c->kind == 'o')
        return PyList_Append(c->list, o);
    if (o == Py_None)
        return col_null(c);
    switch (c->kind) {
    case 's': {
        if (!PyUnicode_Check(o))
            return col_wrong(c, o);
        Py_ssize_t len;
        const char *p = PyUnicode_AsUTF8AndSize(o, &len);
        return p ? col_str(c, p, len) : -1;
    }
    case 'i': {
        if (PyFloat_Check(o)) { /* pyarrow takes a float without a fraction */
            double d = PyFloat_AS_DOUBLE(o);
            if (d != d || d < -9.2e18 || d > 9.2e18 || d != (double)(int64_t)d)
                return col_wrong(c, o);
            return col_i64(c, (int64_t)d);
        }
        if (!PyLong_Check(o) || PyBool_Check(o)) /* pyarrow refuses a bool here */
            return col_wrong(c, o);
        long long v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred())
            return -1;
        return col_i64(c, (int64_t)v);
    }
    case 'f': {
        double v;
        if (PyFloat_Check(o))
            v = PyFloat_AS_DOUBLE(o);
        else if (PyLong_Check(o)) { /* bools too (1.0, 0.0); as pyarrow, through int64 */
            long long i = PyLong_AsLongLong(o);
            if (i == -1 && PyErr_Occurred())
                return -1;
            if (i > (1LL << 53) || i < -(1LL << 53)) /* pyarrow: not exactly representable */
                return col_wrong(c, o);
            v = (double)i;
        } else
            return col_wrong(c, o);
        return col_f64(c, v);
    }
    case 'L': {
        if (!PyList_Check(o) && !PyTuple_Check(o))
            return col_wrong(c, o);
        PyObject *seq = PySequence_Fast(o, "a list");
        if (!seq)
            return -1;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
            if (col_obj(c->child, PySequence_Fast_GET_ITEM(seq, i)) < 0) {
                Py_DECREF(seq);
                return -1;
            }
        Py_DECREF(seq);
        return col_nest_end(c);
    }
    default:
        return col_wrong(c, o);
    }
}

static PyObject *bytes_or_none(const void *p, Py_ssize_t n, int present) {
    if (!present)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)p, n);
}

/* The column as (kind, length, null count, validity | None, offsets | None, data | None, child,
 * child2), or ('o', list); then empty again. A failure (out of memory) may leave a child emptied: the
 * caller then discards the batch. */
static PyObject *col_take(Col *c) {
    if (c->kind == 'o') {
        PyObject *fresh = PyList_New(0);
        if (!fresh)
            return NULL;
        PyObject *out = Py_BuildValue("(sN)", "o", c->list);
        if (!out) {
            Py_DECREF(fresh);
            return NULL;
        }
        c->list = fresh;
        return out;
    }
    PyObject *child = c->child ? col_take(c->child) : Py_NewRef(Py_None);
    PyObject *child2 = child && c->child2 ? col_take(c->child2) : Py_XNewRef(child ? Py_None : NULL);
    PyObject *out = NULL;
    if (child && child2) {
        char kind[2] = {c->kind, 0};
        out = Py_BuildValue("(snnNNNOO)", kind, c->n, c->nulls, bytes_or_none(c->valid, (c->n + 7) / 8, c->nulls > 0),
                            bytes_or_none(c->off, (Py_ssize_t)sizeof(int32_t) * (c->n + 1), c->off != NULL),
                            bytes_or_none(c->data, c->ndata, c->kind != 'L' && c->kind != 'M'), child, child2);
    }
    Py_XDECREF(child);
    Py_XDECREF(child2);
    if (!out)
        return NULL;
    if (c->valid)
        memset(c->valid, 0, (size_t)c->capvalid);
    c->n = c->nulls = c->ndata = 0;
    if (c->off)
        c->off[0] = 0;
    return out;
}

#endif
