/*
 * The protobuf wire format and strict UTF-8, shared by the compiled readers (logscan.c, spanscan.c).
 *
 * Why a header of static functions: each extension is one translation unit, so the reader of the
 * wire format lives here once and is compiled into both.
 */
#ifndef DRIFTLINE_WIRE_H
#define DRIFTLINE_WIRE_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define BAIL 1
#define ERR (-1)
#define TRY(x)                \
    do {                      \
        int r_ = (x);         \
        if (r_ != OK)         \
            return r_;        \
    } while (0)

/* Grows a buffer of ``*cap`` items of ``size`` bytes to hold at least ``need`` (doubling). */
static inline int grow(void **ptr, Py_ssize_t *cap, Py_ssize_t need, size_t size) {
    if (need <= *cap)
        return OK;
    Py_ssize_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = PyMem_Realloc(*ptr, (size_t)n * size);
    if (!q) {
        PyErr_NoMemory();
        return ERR;
    }
    *ptr = q;
    *cap = n;
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* protobuf wire format                                                                            */

typedef struct {
    const uint8_t *p;
    const uint8_t *e;
} Buf;

static inline int varint(Buf *b, uint64_t *out) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->e)
            return BAIL;
        uint8_t c = *b->p++;
        if (shift == 63 && c > 1)
            return BAIL;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = r;
            return OK;
        }
    }
    return BAIL;
}

/* One field: its number, wire type and value (varint/fixed in *v, length-delimited in *sub). */
static inline int field(Buf *b, uint32_t *num, int *wt, uint64_t *v, Buf *sub) {
    uint64_t tag;
    TRY(varint(b, &tag));
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return BAIL;
    *num = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    switch (*wt) {
    case 0:
        return varint(b, v);
    case 1:
        if (b->e - b->p < 8)
            return BAIL;
        memcpy(v, b->p, 8); /* little-endian hosts only: checked in module init */
        b->p += 8;
        return OK;
    case 2: {
        uint64_t n;
        TRY(varint(b, &n));
        if (n > (uint64_t)(b->e - b->p))
            return BAIL;
        sub->p = b->p;
        sub->e = b->p + n;
        b->p += n;
        return OK;
    }
    case 5: {
        uint32_t x;
        if (b->e - b->p < 4)
            return BAIL;
        memcpy(&x, b->p, 4);
        *v = x;
        b->p += 4;
        return OK;
    }
    default: /* groups: never in OTLP */
        return BAIL;
    }
}

static inline int eq(Buf s, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(s.e - s.p) == n && memcmp(s.p, lit, n) == 0;
}

/* Strict UTF-8 as Python's decoder takes it (no overlongs, surrogates or > U+10FFFF). */
static inline int utf8_ok(const uint8_t *s, const uint8_t *e) {
    while (s < e) {
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (e - s < 2 || (s[1] & 0xC0) != 0x80)
                return 0;
            s += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (e - s < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
                return 0;
            if (c == 0xE0 && s[1] < 0xA0)
                return 0;
            if (c == 0xED && s[1] >= 0xA0)
                return 0;
            s += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (e - s < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && s[1] < 0x90)
                return 0;
            if (c == 0xF4 && s[1] >= 0x90)
                return 0;
            s += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static inline Py_ssize_t code_points(const uint8_t *s, Py_ssize_t n) {
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        k += (s[i] & 0xC0) != 0x80;
    return k;
}

#endif
