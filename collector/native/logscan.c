/*
 * driftline.collector.native._logscan — the compiled reader of OTLP logs requests that carry
 * inference and label events (driftline.ml.*).
 *
 * Why it exists: in Python the rule that refuses a bad ML event (collector/ml_events.py) and the
 * row building behind the WAL (collector/normalize/ml_rows.py) cost ~70 us per event with 20
 * features; here the wire bytes are walked once, in C, at ~1 us.
 *
 * Why it is safe: the Python modules stay the specification. This reader accepts only what it
 * fully understands — the common encoding of valid events — and answers "not sure" (None) for
 * everything else: a refused event, a record with bad ids, a duplicated singular field, a JSON body
 * with escapes, NaN literals, huge integers, duplicate keys, unknown keys... The caller then runs the
 * Python reader on that request, which decides (and words) the refusal. So the compiled path never
 * accepts what the Python rule refuses, and the tests prove it produces identical rows on
 * what it accepts (tests/unit/test_native_logscan.py).
 *
 * API:
 *   check(payload: bytes) -> int | None
 *       the number of log records when every record would be accepted, else None.
 *   MLBatch()                              the rows of one segment, column by column
 *     .scan(payload, received_ns, resource) -> list[(i, j, k)] | None
 *       appends every ML event of the request and returns the positions of the other (non-ML)
 *       records, or returns None and appends nothing. resource(bytes) -> (svc, ver, env) is
 *       called once per ResourceLogs with its Resource message bytes.
 *     .add(event fields...)                one event read by the Python reader
 *     .models() -> [(model, columns[15], hours, features, segments)]
 *     .labels() -> (columns[10], hours)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* The limits of instrumentation/ml/convention.py (checked equal at import by native/__init__.py). */
#define MAX_FEATURES 1000
#define MAX_SEGMENT_KEYS 64
#define MAX_NAME_CHARS 256
#define MAX_DEPTH 32
#define HOUR_NS 3600000000000ULL

static const char INFERENCE_EVENT[] = "driftline.ml.inference";
static const char LABEL_EVENT[] = "driftline.ml.label";
static const char ML_PREFIX[] = "driftline.ml.";
static const char A_MODEL[] = "driftline.ml.model";
static const char A_VERSION[] = "driftline.ml.model.version";
static const char A_REQUEST_ID[] = "driftline.ml.request_id";
static const char A_PREDICTION[] = "driftline.ml.prediction";
static const char A_LABEL_VALUE[] = "driftline.ml.label.value";
static const char A_LATENCY[] = "driftline.ml.latency_ms";
static const char A_NONFINITE[] = "driftline.ml.nonfinite";

/* AnyValue: which member is set (oneof numbers 1..7; 0 = none) and its value. */
enum { K_NONE = 0, K_STRING = 1, K_BOOL = 2, K_INT = 3, K_DOUBLE = 4, K_ARRAY = 5, K_KVLIST = 6, K_BYTES = 7 };

typedef struct {
    int kind;
    uint64_t u; /* bool, int, double bits */
    Buf s;      /* string, array, kvlist, bytes */
} Any;

static int any_value(Buf b, Any *a) {
    int count = 0;
    a->kind = K_NONE;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num < 1 || num > 7)
            continue; /* an unknown field */
        int want = (num == K_BOOL || num == K_INT) ? 0 : num == K_DOUBLE ? 1 : 2;
        if (wt != want)
            return BAIL;
        if (++count > 1)
            return BAIL; /* oneof set twice: last-wins or merge rules; let Python decide */
        a->kind = (int)num;
        a->u = v;
        a->s = sub;
        if (num == K_STRING && !utf8_ok(sub.p, sub.e))
            return BAIL;
    }
    return OK;
}

static int key_value(Buf b, Buf *key, Any *val) {
    int nk = 0, nv = 0;
    Buf vbytes = {b.p, b.p};
    key->p = key->e = b.p;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 1) {
            if (wt != 2 || nk++)
                return BAIL;
            *key = sub;
        } else if (num == 2) {
            if (wt != 2 || nv++)
                return BAIL;
            vbytes = sub;
        }
    }
    if (!utf8_ok(key->p, key->e))
        return BAIL;
    if (nv == 0) {
        val->kind = K_NONE;
        return OK;
    }
    return any_value(vbytes, val);
}

static double as_double(uint64_t bits) {
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

#define MORE 2

/* The next entry of a KeyValueList's bytes: MORE when one was read, OK at the end, else BAIL/ERR. */
static int next_kv(Buf *list, Buf *key, Any *a) {
    while (list->p < list->e) {
        uint32_t num;
        int wt;
        uint64_t u;
        Buf kvb = {0, 0};
        TRY(field(list, &num, &wt, &u, &kvb));
        if (num != 1)
            continue;
        if (wt != 2)
            return BAIL;
        TRY(key_value(kvb, key, a));
        return MORE;
    }
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* what a scan collects before anything is appended                                                */

enum { V_NONE = 0, V_BOOL = 1, V_NUM = 2, V_STR = 3 };

typedef struct {
    int kind;
    double num; /* the number, or 0/1 for a boolean */
    Buf s;
} Val;

typedef struct {
    Py_ssize_t name_off, name_len; /* in the scan's name arena */
    Val v;
} Leaf;

typedef struct {
    int label; /* 0 inference, 1 label */
    uint64_t t;
    Buf tid, sid;
    int has_model;
    Buf model;
    int version_kind; /* 0 none, 1 string, 2 int */
    Buf version;
    int64_t version_int;
    int rid_kind;
    Buf rid;
    int64_t rid_int;
    Val value;
    int has_latency;
    double latency;
    int64_t nonfinite;
    Py_ssize_t f0, nf, s0, ns, p0, np; /* ranges in the leaf vector */
    Py_ssize_t resource;
} Event;

typedef struct {
    Py_ssize_t off, len;
    uint64_t hash;
    uint32_t gen;
} Slot;

#define SET_SLOTS 4096
#define SET_MAX 2000

typedef struct {
    Event *ev;
    Py_ssize_t nev, cap_ev;
    Leaf *leaf;
    Py_ssize_t nleaf, cap_leaf;
    char *arena;
    Py_ssize_t narena, cap_arena;
    Buf *res;
    Py_ssize_t nres, cap_res;
    PyObject *others; /* list of (i, j, k) of records that are not ML events, or NULL */
    Slot *set;
    uint32_t gen;
    Py_ssize_t set_used;
    Py_ssize_t records;
} Scan;

static void scan_free(Scan *s) {
    PyMem_Free(s->ev);
    PyMem_Free(s->leaf);
    PyMem_Free(s->arena);
    PyMem_Free(s->res);
    PyMem_Free(s->set);
    Py_XDECREF(s->others);
}

static int arena_put(Scan *s, const void *p, Py_ssize_t n) {
    TRY(grow((void **)&s->arena, &s->cap_arena, s->narena + n, 1));
    memcpy(s->arena + s->narena, p, (size_t)n);
    s->narena += n;
    return OK;
}

/* Copy the name at ``off`` plus a dot to the arena's end: the prefix of a nested map's names. */
static int prefix_put(Scan *s, Py_ssize_t off, Py_ssize_t len, Py_ssize_t *noff) {
    TRY(grow((void **)&s->arena, &s->cap_arena, s->narena + len + 1, 1));
    *noff = s->narena;
    memmove(s->arena + s->narena, s->arena + off, (size_t)len); /* after the grow: the arena may move */
    s->arena[s->narena + len] = '.';
    s->narena += len + 1;
    return OK;
}

/* A name set per section of one event (features, segment, probabilities): a duplicate means Python
 * would collapse or overwrite, so the scan gives the request back. */
static void set_reset(Scan *s) {
    s->gen++;
    s->set_used = 0;
    if (s->gen == 0) { /* wrapped: clear the stamps */
        memset(s->set, 0, sizeof(Slot) * SET_SLOTS);
        s->gen = 1;
    }
}

static int set_add(Scan *s, Py_ssize_t off, Py_ssize_t len) {
    if (!s->set) {
        s->set = PyMem_Calloc(SET_SLOTS, sizeof(Slot));
        if (!s->set) {
            PyErr_NoMemory();
            return ERR;
        }
        s->gen = 1;
    }
    if (++s->set_used > SET_MAX)
        return BAIL;
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s->arena[off + i]) * 1099511628211ULL;
    size_t i = (size_t)h & (SET_SLOTS - 1);
    for (;;) {
        Slot *sl = &s->set[i];
        if (sl->gen != s->gen) {
            sl->gen = s->gen;
            sl->off = off;
            sl->len = len;
            sl->hash = h;
            return OK;
        }
        if (sl->hash == h && sl->len == len && memcmp(s->arena + sl->off, s->arena + off, (size_t)len) == 0)
            return BAIL;
        i = (i + 1) & (SET_SLOTS - 1);
    }
}

static int leaf_push(Scan *s, Py_ssize_t off, Py_ssize_t len, Val v) {
    TRY(grow((void **)&s->leaf, &s->cap_leaf, s->nleaf + 1, sizeof(Leaf)));
    Leaf *l = &s->leaf[s->nleaf++];
    l->name_off = off;
    l->name_len = len;
    l->v = v;
    return OK;
}

/* Put prefix + key in the arena; the name's offset and length out. */
static int name_put(Scan *s, Py_ssize_t poff, Py_ssize_t plen, Buf key, Py_ssize_t *off, Py_ssize_t *len) {
    Py_ssize_t klen = key.e - key.p;
    TRY(grow((void **)&s->arena, &s->cap_arena, s->narena + plen + klen + 1, 1));
    *off = s->narena;
    if (plen)
        memmove(s->arena + s->narena, s->arena + poff, (size_t)plen);
    memcpy(s->arena + s->narena + plen, key.p, (size_t)klen);
    s->narena += plen + klen;
    *len = plen + klen;
    return OK;
}

/* A leaf's name must be non-empty and at most MAX_NAME_CHARS characters (ml_events._flatten). */
static int leaf_name_ok(Scan *s, Buf key, Py_ssize_t off, Py_ssize_t len) {
    if (key.e == key.p)
        return BAIL;
    if (len > 4 * MAX_NAME_CHARS || code_points((const uint8_t *)s->arena + off, len) > MAX_NAME_CHARS)
        return BAIL;
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* body as an AnyValue map (ml_events._flatten)                                                     */

/* ml_events._scalar: a leaf value (nonfinite doubles become null and count). */
static int scalar(Any *a, Val *v, int64_t *nonfinite) {
    v->kind = V_NONE;
    switch (a->kind) {
    case K_DOUBLE: {
        double d = as_double(a->u);
        if (d - d != 0.0)
            (*nonfinite)++;
        else {
            v->kind = V_NUM;
            v->num = d;
        }
        return OK;
    }
    case K_STRING:
        v->kind = V_STR;
        v->s = a->s;
        return OK;
    case K_INT:
        v->kind = V_NUM;
        v->num = (double)(int64_t)a->u;
        return OK;
    case K_BOOL:
        if (a->u > 1)
            return BAIL;
        v->kind = V_BOOL;
        v->num = (double)a->u;
        return OK;
    case K_NONE:
        return OK;
    default:
        return BAIL;
    }
}

static int pb_flatten(Scan *s, Buf kvlist, Py_ssize_t poff, Py_ssize_t plen, int depth, Event *ev, Py_ssize_t *top) {
    if (depth > MAX_DEPTH || plen > 4 * MAX_NAME_CHARS)
        return BAIL;
    Buf key;
    Any a;
    int r;
    while ((r = next_kv(&kvlist, &key, &a)) == MORE) {
        if (top)
            (*top)++;
        Py_ssize_t off, len;
        TRY(name_put(s, poff, plen, key, &off, &len));
        if (a.kind == K_KVLIST) { /* a nested map: its names are dotted; the map's own key is not checked */
            TRY(set_add(s, off, len));
            Py_ssize_t noff;
            TRY(prefix_put(s, off, len, &noff));
            TRY(pb_flatten(s, a.s, noff, len + 1, depth + 1, ev, NULL));
            continue;
        }
        Val v;
        TRY(scalar(&a, &v, &ev->nonfinite)); /* an array or bytes: refused (ml_unknown_type) */
        TRY(leaf_name_ok(s, key, off, len));
        TRY(set_add(s, off, len));
        TRY(leaf_push(s, off, len, v));
    }
    return r;
}

static int pb_probabilities(Scan *s, Buf kvlist, Event *ev) {
    Buf key;
    Any a;
    int r;
    while ((r = next_kv(&kvlist, &key, &a)) == MORE) {
        Val v;
        TRY(scalar(&a, &v, &ev->nonfinite));
        if (v.kind == V_STR || v.kind == V_BOOL)
            return BAIL; /* not a probability */
        Py_ssize_t off = s->narena;
        TRY(arena_put(s, key.p, key.e - key.p));
        TRY(leaf_push(s, off, key.e - key.p, v));
    }
    return r;
}

static int pb_body(Scan *s, Buf kvlist, Event *ev) {
    int seen_f = 0, seen_s = 0, seen_p = 0;
    Buf key;
    Any a;
    int r;
    while ((r = next_kv(&kvlist, &key, &a)) == MORE) {
        if (a.kind == K_NONE)
            continue;
        if (a.kind != K_KVLIST)
            return BAIL; /* body.<part> must be a map */
        /* each part once (sections are kept contiguous in the leaf vector) */
        if (eq(key, "features")) {
            if (seen_f++)
                return BAIL;
            set_reset(s);
            ev->f0 = s->nleaf;
            Py_ssize_t top = 0;
            TRY(pb_flatten(s, a.s, 0, 0, 0, ev, &top));
            ev->nf = s->nleaf - ev->f0;
            if (top > MAX_FEATURES || ev->nf > MAX_FEATURES)
                return BAIL;
        } else if (eq(key, "segment")) {
            if (seen_s++)
                return BAIL;
            set_reset(s);
            ev->s0 = s->nleaf;
            TRY(pb_flatten(s, a.s, 0, 0, 0, ev, NULL));
            ev->ns = s->nleaf - ev->s0;
            if (ev->ns > MAX_SEGMENT_KEYS)
                return BAIL;
        } else if (eq(key, "probabilities")) {
            if (seen_p++)
                return BAIL;
            ev->p0 = s->nleaf;
            TRY(pb_probabilities(s, a.s, ev));
            ev->np = s->nleaf - ev->p0;
        }
    }
    return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* body as JSON text (ml_events._json_body): the subset json.loads reads the same way              */

typedef struct {
    const uint8_t *p, *e;
} J;

static void ws(J *j) {
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jlit(J *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, lit, n) != 0)
        return BAIL;
    j->p += n;
    return OK;
}

/* A string with no escapes and no control characters (others: Python decides). */
static int jstring(J *j, Buf *out) {
    if (j->p >= j->e || *j->p != '"')
        return BAIL;
    const uint8_t *start = ++j->p;
    while (j->p < j->e) {
        uint8_t c = *j->p;
        if (c == '"') {
            out->p = start;
            out->e = j->p++;
            return OK;
        }
        if (c == '\\' || c < 0x20)
            return BAIL;
        j->p++;
    }
    return BAIL;
}

/* A JSON number: integers of up to 18 digits exactly (float(int) as Python does, so -0 is 0.0), others
 * through strtod (correctly rounded, as Python's float(), underflow included); overflow is left to Python. */
static int jnumber(J *j, double *out) {
    const uint8_t *start = j->p, *p = j->p;
    int is_float = 0;
    if (p < j->e && *p == '-')
        p++;
    if (p >= j->e)
        return BAIL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < j->e && *p >= '0' && *p <= '9')
            p++;
    else
        return BAIL;
    if (p < j->e && *p == '.') {
        const uint8_t *q = ++p;
        while (p < j->e && *p >= '0' && *p <= '9')
            p++;
        if (p == q)
            return BAIL;
        is_float = 1;
    }
    if (p < j->e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->e && (*p == '+' || *p == '-'))
            p++;
        const uint8_t *q = p;
        while (p < j->e && *p >= '0' && *p <= '9')
            p++;
        if (p == q)
            return BAIL;
        is_float = 1;
    }
    Py_ssize_t n = p - start;
    char buf[64];
    if (n >= (Py_ssize_t)sizeof(buf))
        return BAIL;
    memcpy(buf, start, (size_t)n);
    buf[n] = 0;
    errno = 0;
    if (!is_float) {
        if (n > 18)
            return BAIL;
        long long x = strtoll(buf, NULL, 10);
        if (errno)
            return BAIL;
        *out = (double)x;
    } else {
        double d = strtod(buf, NULL); /* glibc's is correctly rounded, subnormals included (ERANGE) */
        if (d - d != 0.0)
            return BAIL; /* overflow to infinity: Python counts it as nonfinite; left to Python */
        *out = d;
    }
    j->p = p;
    return OK;
}

/* Objects: jopen at '{' (more = 0 when it is empty), jmember reads `"key":` up to the value, jnext the
 * ',' or '}' after it (more = 0 at the end). */
static int jopen(J *j, int *more) {
    if (j->p >= j->e || *j->p != '{')
        return BAIL;
    j->p++;
    ws(j);
    *more = !(j->p < j->e && *j->p == '}');
    if (!*more)
        j->p++;
    return OK;
}

static int jmember(J *j, Buf *key) {
    TRY(jstring(j, key));
    ws(j);
    TRY(jlit(j, ":"));
    ws(j);
    return j->p < j->e ? OK : BAIL;
}

static int jnext(J *j, int *more) {
    ws(j);
    if (j->p < j->e && *j->p == ',') {
        j->p++;
        ws(j);
        *more = 1;
        return OK;
    }
    if (j->p < j->e && *j->p == '}') {
        j->p++;
        *more = 0;
        return OK;
    }
    return BAIL;
}

/* A scalar: a string, true, false, null or a number (an array, NaN, Infinity...: left to Python). */
static int jleaf(J *j, Val *v) {
    uint8_t c = *j->p;
    v->kind = V_NONE;
    v->num = 0.0;
    if (c == '"') {
        v->kind = V_STR;
        return jstring(j, &v->s);
    }
    if (c == 't') {
        v->kind = V_BOOL;
        v->num = 1.0;
        return jlit(j, "true");
    }
    if (c == 'f') {
        v->kind = V_BOOL;
        return jlit(j, "false");
    }
    if (c == 'n')
        return jlit(j, "null");
    if (c == '-' || (c >= '0' && c <= '9')) {
        v->kind = V_NUM;
        return jnumber(j, &v->num);
    }
    return BAIL;
}

static int jflatten(Scan *s, J *j, Py_ssize_t poff, Py_ssize_t plen, int depth, Py_ssize_t *top) {
    if (depth > MAX_DEPTH || plen > 4 * MAX_NAME_CHARS)
        return BAIL;
    int more;
    TRY(jopen(j, &more));
    while (more) {
        Buf key;
        TRY(jmember(j, &key));
        if (top)
            (*top)++;
        Py_ssize_t off, len;
        TRY(name_put(s, poff, plen, key, &off, &len));
        if (*j->p == '{') {
            TRY(set_add(s, off, len)); /* a duplicate key: Python's dict keeps the last */
            Py_ssize_t noff;
            TRY(prefix_put(s, off, len, &noff));
            TRY(jflatten(s, j, noff, len + 1, depth + 1, NULL));
        } else {
            Val v;
            TRY(jleaf(j, &v));
            TRY(leaf_name_ok(s, key, off, len));
            TRY(set_add(s, off, len));
            TRY(leaf_push(s, off, len, v));
        }
        TRY(jnext(j, &more));
    }
    return OK;
}

static int jprobabilities(Scan *s, J *j) {
    int more;
    TRY(jopen(j, &more));
    set_reset(s);
    while (more) {
        Buf key;
        Val v;
        TRY(jmember(j, &key));
        TRY(jleaf(j, &v));
        if (v.kind == V_STR || v.kind == V_BOOL)
            return BAIL; /* not a probability */
        Py_ssize_t off = s->narena;
        TRY(arena_put(s, key.p, key.e - key.p));
        TRY(set_add(s, off, key.e - key.p));
        TRY(leaf_push(s, off, key.e - key.p, v));
        TRY(jnext(j, &more));
    }
    return OK;
}

static int json_body(Scan *s, Buf text, Event *ev) {
    J j = {text.p, text.e};
    int seen_f = 0, seen_s = 0, seen_p = 0, more;
    ws(&j);
    TRY(jopen(&j, &more));
    while (more) {
        Buf key;
        TRY(jmember(&j, &key));
        int null = *j.p == 'n';
        if (!null && *j.p != '{')
            return BAIL; /* a part that is not a map (refused) */
        if (eq(key, "features")) {
            if (seen_f++)
                return BAIL;
            if (null)
                TRY(jlit(&j, "null"));
            else {
                set_reset(s);
                ev->f0 = s->nleaf;
                Py_ssize_t top = 0;
                TRY(jflatten(s, &j, 0, 0, 0, &top));
                ev->nf = s->nleaf - ev->f0;
                if (top > MAX_FEATURES || ev->nf > MAX_FEATURES)
                    return BAIL;
            }
        } else if (eq(key, "segment")) {
            if (seen_s++)
                return BAIL;
            if (null)
                TRY(jlit(&j, "null"));
            else {
                set_reset(s);
                ev->s0 = s->nleaf;
                TRY(jflatten(s, &j, 0, 0, 0, NULL));
                ev->ns = s->nleaf - ev->s0;
                if (ev->ns > MAX_SEGMENT_KEYS)
                    return BAIL;
            }
        } else if (eq(key, "probabilities")) {
            if (seen_p++)
                return BAIL;
            if (null)
                TRY(jlit(&j, "null"));
            else {
                ev->p0 = s->nleaf;
                TRY(jprobabilities(s, &j));
                ev->np = s->nleaf - ev->p0;
            }
        } else {
            return BAIL; /* a key the convention does not know: Python ignores it, the scan does not judge */
        }
        TRY(jnext(&j, &more));
    }
    ws(&j);
    return j.p == j.e ? OK : BAIL;
}

/* ---------------------------------------------------------------------------------------------- */
/* records                                                                                         */

/* ml_events._text: a string (empty is none) or an integer as its decimal text. */
static void text(Any *a, int *kind, Buf *s, int64_t *i) {
    *kind = 0;
    if (a->kind == K_STRING && a->s.e > a->s.p) {
        *kind = 1;
        *s = a->s;
    } else if (a->kind == K_INT) {
        *kind = 2;
        *i = (int64_t)a->u;
    }
}

static int record(Scan *s, Buf b, Py_ssize_t resource, int i, int jx, int k) {
    uint64_t t = 0, observed = 0;
    Buf tid = {b.p, b.p}, sid = {b.p, b.p}, name = {b.p, b.p}, body = {0, 0};
    int has_body = 0, name_attr_seen = 0;
    Buf name_attr = {0, 0};
    Event ev;
    memset(&ev, 0, sizeof ev);
    int speculative_bad = 0; /* an ML attribute Python would refuse: only matters for an ML event */
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        switch (num) {
        case 1:
            if (wt != 1)
                return BAIL;
            t = v;
            break;
        case 11:
            if (wt != 1)
                return BAIL;
            observed = v;
            break;
        case 2:
        case 7:
            if (wt != 0)
                return BAIL;
            break;
        case 8:
            if (wt != 5)
                return BAIL;
            break;
        case 3:
            if (wt != 2 || !utf8_ok(sub.p, sub.e))
                return BAIL;
            break;
        case 9:
            if (wt != 2)
                return BAIL;
            tid = sub;
            break;
        case 10:
            if (wt != 2)
                return BAIL;
            sid = sub;
            break;
        case 12:
            if (wt != 2 || !utf8_ok(sub.p, sub.e))
                return BAIL;
            name = sub;
            break;
        case 5:
            if (wt != 2 || has_body++)
                return BAIL;
            body = sub;
            break;
        case 6: {
            if (wt != 2)
                return BAIL;
            Buf key;
            Any a;
            TRY(key_value(sub, &key, &a));
            if (!name_attr_seen && eq(key, "event.name")) {
                name_attr_seen = 1;
                if (a.kind == K_STRING)
                    name_attr = a.s;
            }
            Py_ssize_t kl = key.e - key.p;
            if (kl < (Py_ssize_t)(sizeof ML_PREFIX - 1) || memcmp(key.p, ML_PREFIX, sizeof ML_PREFIX - 1) != 0)
                break;
            if (eq(key, A_MODEL)) {
                ev.has_model = a.kind == K_STRING && a.s.e > a.s.p;
                ev.model = a.s;
            } else if (eq(key, A_VERSION)) {
                text(&a, &ev.version_kind, &ev.version, &ev.version_int);
            } else if (eq(key, A_REQUEST_ID)) {
                text(&a, &ev.rid_kind, &ev.rid, &ev.rid_int);
            } else if (eq(key, A_PREDICTION) || eq(key, A_LABEL_VALUE)) {
                if (scalar(&a, &ev.value, &ev.nonfinite) != OK)
                    speculative_bad = 1;
            } else if (eq(key, A_LATENCY)) {
                Val lv;
                int64_t nf = 0;
                if (scalar(&a, &lv, &nf) != OK || nf || lv.kind == V_STR || lv.kind == V_BOOL ||
                    (lv.kind == V_NUM && lv.num < 0))
                    speculative_bad = 1;
                ev.has_latency = lv.kind == V_NUM;
                ev.latency = lv.num;
            } else if (eq(key, A_NONFINITE)) {
                if (a.kind == K_INT) {
                    int64_t x = (int64_t)a.u;
                    if (x > ((int64_t)1 << 40) || x < -((int64_t)1 << 40))
                        speculative_bad = 1; /* sums beyond int64: Python's business */
                    else
                        ev.nonfinite += x;
                }
            }
            break;
        }
        default:
            break; /* unknown field */
        }
    }
    s->records++;
    Py_ssize_t tl = tid.e - tid.p, sl = sid.e - sid.p;
    if ((tl && tl != 16) || (sl && sl != 8))
        return BAIL; /* otlp.log_ids_problem refuses it */
    Buf en = name.e > name.p ? name : name_attr;
    int label;
    if (eq(en, INFERENCE_EVENT))
        label = 0;
    else if (eq(en, LABEL_EVENT))
        label = 1;
    else {
        if (s->others) {
            PyObject *pos = Py_BuildValue("(iii)", i, jx, k);
            if (!pos || PyList_Append(s->others, pos) < 0) {
                Py_XDECREF(pos);
                return ERR;
            }
            Py_DECREF(pos);
        }
        return OK;
    }
    if (speculative_bad || !ev.rid_kind)
        return BAIL;
    if (ev.nonfinite > ((int64_t)1 << 40) || ev.nonfinite < -((int64_t)1 << 40))
        return BAIL;
    ev.label = label;
    if (t == 0)
        t = observed; /* then received_ns, filled in when appended */
    if (t >= ((uint64_t)1 << 63))
        return BAIL;
    ev.t = t;
    ev.tid = tid;
    ev.sid = sid;
    ev.resource = resource;
    ev.f0 = ev.s0 = ev.p0 = s->nleaf;
    if (!label) {
        if (!ev.has_model)
            return BAIL;
        if (has_body) {
            Any a;
            TRY(any_value(body, &a));
            if (a.kind == K_STRING)
                TRY(json_body(s, a.s, &ev));
            else if (a.kind == K_KVLIST)
                TRY(pb_body(s, a.s, &ev));
            else if (a.kind != K_NONE)
                return BAIL;
        }
    }
    TRY(grow((void **)&s->ev, &s->cap_ev, s->nev + 1, sizeof(Event)));
    s->ev[s->nev++] = ev;
    return OK;
}

static int scope_logs(Scan *s, Buf b, Py_ssize_t resource, int i, int jx) {
    int k = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 2) {
            if (wt != 2)
                return BAIL;
            TRY(record(s, sub, resource, i, jx, k++));
        } else if (num == 1 || num == 3) {
            if (wt != 2)
                return BAIL;
        }
    }
    return OK;
}

static int resource_logs(Scan *s, Buf b, int i) {
    Buf res = {b.p, b.p};
    int nres = 0;
    Buf scan = b;
    while (scan.p < scan.e) { /* the resource first, wherever it is */
        uint32_t num;
        int wt;
        uint64_t v;
        Buf sub = {0, 0};
        TRY(field(&scan, &num, &wt, &v, &sub));
        if (num == 1) {
            if (wt != 2 || nres++)
                return BAIL;
            res = sub;
        } else if ((num == 2 || num == 3) && wt != 2)
            return BAIL;
    }
    TRY(grow((void **)&s->res, &s->cap_res, s->nres + 1, sizeof(Buf)));
    Py_ssize_t r = s->nres;
    s->res[s->nres++] = res;
    int jx = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 2)
            TRY(scope_logs(s, sub, r, i, jx++));
    }
    return OK;
}

static int request(Scan *s, Buf b) {
    int i = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 1) {
            if (wt != 2)
                return BAIL;
            TRY(resource_logs(s, sub, i++));
        }
    }
    return OK;
}

static PyObject *check(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    Buf b = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
    int r = request(&s, b);
    Py_ssize_t n = s.records;
    scan_free(&s);
    PyBuffer_Release(&view);
    if (r == ERR)
        return NULL;
    if (r == BAIL)
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(n);
}

/* ---------------------------------------------------------------------------------------------- */
/* the accumulator: one segment's rows, column by column                                           */

typedef struct {
    PyObject *name;   /* str, without prefix */
    PyObject *values; /* list, padded with None */
    int kinds;        /* 1 bool, 2 number, 4 string, 8 replaced (kinds must be recomputed) */
    char *key;        /* the name's UTF-8 bytes, for the positional cache */
    Py_ssize_t keylen;
} Column;

typedef struct {
    Column *col;
    Py_ssize_t n, cap;
    PyObject *index;  /* name -> column number */
    Py_ssize_t *last; /* the column of the k-th leaf of the previous event */
    Py_ssize_t nlast, caplast;
} Columns;

#define N_INF 15
#define N_LAB 10

typedef struct {
    PyObject *model;
    PyObject *cols[N_INF];
    PyObject *hours;
    Py_ssize_t n;
    Columns feat, seg;
} ModelRows;

typedef struct {
    PyObject_HEAD ModelRows *m;
    Py_ssize_t nm, capm;
    PyObject *model_index; /* model -> number */
    PyObject *lab[N_LAB];
    PyObject *lab_hours;
    PyObject *hour_cache; /* the last hour number (an int), reused */
    PyObject *str_cache[8];
    char *str_key[8];
    Py_ssize_t str_len[8];
} MLBatch;

static void columns_free(Columns *c) {
    for (Py_ssize_t i = 0; i < c->n; i++) {
        Py_XDECREF(c->col[i].name);
        Py_XDECREF(c->col[i].values);
        PyMem_Free(c->col[i].key);
    }
    PyMem_Free(c->col);
    PyMem_Free(c->last);
    Py_XDECREF(c->index);
}

static void batch_dealloc(MLBatch *self) {
    for (Py_ssize_t i = 0; i < self->nm; i++) {
        ModelRows *m = &self->m[i];
        Py_XDECREF(m->model);
        for (int c = 0; c < N_INF; c++)
            Py_XDECREF(m->cols[c]);
        Py_XDECREF(m->hours);
        columns_free(&m->feat);
        columns_free(&m->seg);
    }
    PyMem_Free(self->m);
    Py_XDECREF(self->model_index);
    for (int c = 0; c < N_LAB; c++)
        Py_XDECREF(self->lab[c]);
    Py_XDECREF(self->lab_hours);
    Py_XDECREF(self->hour_cache);
    for (int i = 0; i < 8; i++) {
        Py_XDECREF(self->str_cache[i]);
        PyMem_Free(self->str_key[i]);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int batch_init(MLBatch *self, PyObject *args, PyObject *kw) {
    self->model_index = PyDict_New();
    self->lab_hours = PyList_New(0);
    if (!self->model_index || !self->lab_hours)
        return -1;
    for (int c = 0; c < N_LAB; c++)
        if (!(self->lab[c] = PyList_New(0)))
            return -1;
    return 0;
}

/* A new reference to the str of UTF-8 bytes; slot-cached, for values that repeat on every row. */
static PyObject *cached_str(MLBatch *self, int slot, const char *p, Py_ssize_t n) {
    if (self->str_cache[slot] && self->str_len[slot] == n && memcmp(self->str_key[slot], p, (size_t)n) == 0) {
        Py_INCREF(self->str_cache[slot]);
        return self->str_cache[slot];
    }
    PyObject *o = PyUnicode_DecodeUTF8(p, n, "strict");
    if (!o)
        return NULL;
    char *k = PyMem_Malloc((size_t)n + 1);
    if (!k) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    memcpy(k, p, (size_t)n);
    PyMem_Free(self->str_key[slot]);
    Py_XDECREF(self->str_cache[slot]);
    self->str_key[slot] = k;
    self->str_len[slot] = n;
    self->str_cache[slot] = o;
    Py_INCREF(o);
    return o;
}

static int append_steal(PyObject *list, PyObject *o) {
    if (!o)
        return -1;
    int r = PyList_Append(list, o);
    Py_DECREF(o);
    return r;
}

static ModelRows *model_rows(MLBatch *self, PyObject *model) {
    PyObject *idx = PyDict_GetItemWithError(self->model_index, model);
    if (idx)
        return &self->m[PyLong_AsSsize_t(idx)];
    if (PyErr_Occurred())
        return NULL;
    if (grow((void **)&self->m, &self->capm, self->nm + 1, sizeof(ModelRows)) != OK)
        return NULL;
    ModelRows *m = &self->m[self->nm];
    memset(m, 0, sizeof *m);
    PyObject *num = PyLong_FromSsize_t(self->nm);
    if (!num || PyDict_SetItem(self->model_index, model, num) < 0) {
        Py_XDECREF(num);
        return NULL;
    }
    Py_DECREF(num);
    self->nm++;
    m->model = model;
    Py_INCREF(model);
    for (int c = 0; c < N_INF; c++)
        if (!(m->cols[c] = PyList_New(0)))
            return NULL;
    if (!(m->hours = PyList_New(0)) || !(m->feat.index = PyDict_New()) || !(m->seg.index = PyDict_New()))
        return NULL;
    return m;
}

/* The column named by (p, n): the k-th leaf usually has the k-th name of the previous event. */
static Column *column(Columns *c, Py_ssize_t k, const char *p, Py_ssize_t n, PyObject *name_obj) {
    if (k < c->nlast) {
        Column *col = &c->col[c->last[k]];
        if (col->keylen == n && memcmp(col->key, p, (size_t)n) == 0)
            return col;
    }
    PyObject *name = name_obj;
    if (name)
        Py_INCREF(name);
    else if (!(name = PyUnicode_DecodeUTF8(p, n, "strict")))
        return NULL;
    Py_ssize_t at;
    PyObject *idx = PyDict_GetItemWithError(c->index, name);
    if (idx) {
        at = PyLong_AsSsize_t(idx);
        Py_DECREF(name);
    } else {
        if (PyErr_Occurred() || grow((void **)&c->col, &c->cap, c->n + 1, sizeof(Column)) != OK) {
            Py_DECREF(name);
            return NULL;
        }
        at = c->n;
        Column *col = &c->col[at];
        memset(col, 0, sizeof *col);
        col->name = name; /* owns the reference */
        if (!(col->values = PyList_New(0)))
            return NULL;
        if (!(col->key = PyMem_Malloc((size_t)n + 1))) {
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(col->key, p, (size_t)n);
        col->keylen = n;
        c->n++;
        PyObject *num = PyLong_FromSsize_t(at);
        if (!num || PyDict_SetItem(c->index, name, num) < 0) {
            Py_XDECREF(num);
            return NULL;
        }
        Py_DECREF(num);
    }
    if (grow((void **)&c->last, &c->caplast, k + 1, sizeof(Py_ssize_t)) != OK)
        return NULL;
    c->last[k] = at;
    if (k + 1 > c->nlast)
        c->nlast = k + 1;
    return &c->col[at];
}

/* Set row ``row`` of ``col`` to ``o`` (stolen); a second value for the same row replaces the first
 * (ml_rows: the last value of a name wins). */
static int column_set(Column *col, Py_ssize_t row, PyObject *o, int kind) {
    if (!o)
        return -1;
    Py_ssize_t len = PyList_GET_SIZE(col->values);
    if (len == row + 1) {
        PyList_SetItem(col->values, row, o); /* steals o */
        col->kinds |= 8;
        return 0;
    }
    while (len < row) {
        if (PyList_Append(col->values, Py_None) < 0) {
            Py_DECREF(o);
            return -1;
        }
        len++;
    }
    col->kinds |= kind;
    return append_steal(col->values, o);
}

static PyObject *val_object(Val *v) {
    switch (v->kind) {
    case V_BOOL:
        return PyBool_FromLong(v->num != 0.0);
    case V_NUM:
        return PyFloat_FromDouble(v->num);
    case V_STR:
        return PyUnicode_DecodeUTF8((const char *)v->s.p, v->s.e - v->s.p, "strict");
    default:
        Py_RETURN_NONE;
    }
}

static int kind_bit(int kind) { return kind == V_BOOL ? 1 : kind == V_NUM ? 2 : kind == V_STR ? 4 : 0; }

/* ml_rows._as_text for a segment value: booleans as true/false, numbers as Python's str(). */
static PyObject *as_text(PyObject *o) {
    if (o == Py_None || PyUnicode_CheckExact(o)) {
        Py_INCREF(o);
        return o;
    }
    if (o == Py_True)
        return PyUnicode_FromString("true");
    if (o == Py_False)
        return PyUnicode_FromString("false");
    return PyObject_Str(o);
}

static PyObject *hour_of(MLBatch *self, uint64_t t) {
    uint64_t h = t / HOUR_NS;
    if (self->hour_cache && PyLong_AsUnsignedLongLong(self->hour_cache) == h) {
        Py_INCREF(self->hour_cache);
        return self->hour_cache;
    }
    PyObject *o = PyLong_FromUnsignedLongLong(h);
    if (!o)
        return NULL;
    Py_XSETREF(self->hour_cache, o);
    Py_INCREF(o);
    return o;
}

static PyObject *hex_or_none(Buf b) {
    static const char digits[] = "0123456789abcdef";
    Py_ssize_t n = b.e - b.p;
    if (!n)
        Py_RETURN_NONE;
    char buf[64];
    if (n > 32)
        return PyUnicode_FromStringAndSize(NULL, 0); /* never: ids are 16 or 8 bytes here */
    for (Py_ssize_t i = 0; i < n; i++) {
        buf[2 * i] = digits[b.p[i] >> 4];
        buf[2 * i + 1] = digits[b.p[i] & 15];
    }
    return PyUnicode_FromStringAndSize(buf, 2 * n);
}

/* (number, class) of a prediction or label (ml_rows._split). */
static int split(Val *v, PyObject **number, PyObject **klass) {
    *number = NULL;
    *klass = NULL;
    switch (v->kind) {
    case V_BOOL:
        *number = PyFloat_FromDouble(v->num);
        *klass = PyUnicode_FromString(v->num != 0.0 ? "true" : "false");
        break;
    case V_NUM:
        *number = PyFloat_FromDouble(v->num);
        Py_INCREF(Py_None);
        *klass = Py_None;
        break;
    case V_STR:
        Py_INCREF(Py_None);
        *number = Py_None;
        *klass = PyUnicode_DecodeUTF8((const char *)v->s.p, v->s.e - v->s.p, "strict");
        break;
    default:
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        *number = *klass = Py_None;
    }
    if (!*number || !*klass) {
        Py_XDECREF(*number);
        Py_XDECREF(*klass);
        return -1;
    }
    return 0;
}

static PyObject *text_object(MLBatch *self, int slot, int kind, Buf s, int64_t i) {
    if (kind == 1)
        return slot < 0 ? PyUnicode_DecodeUTF8((const char *)s.p, s.e - s.p, "strict")
                        : cached_str(self, slot, (const char *)s.p, s.e - s.p);
    if (kind == 2)
        return PyUnicode_FromFormat("%lld", (long long)i);
    Py_RETURN_NONE;
}

/* The fixed columns of one row, in INFERENCE_SCHEMA / LABEL_SCHEMA order (stolen references). */
static int append_row(PyObject **cols, PyObject **vals, int n) {
    int r = 0;
    for (int c = 0; c < n; c++) {
        if (!vals[c]) {
            r = -1;
            continue;
        }
        if (r == 0 && PyList_Append(cols[c], vals[c]) < 0)
            r = -1;
        Py_DECREF(vals[c]);
    }
    return r;
}

static int append_event(MLBatch *self, Scan *s, Event *ev, PyObject **resources, uint64_t received_ns,
                        PyObject *received) {
    PyObject *res = resources[ev->resource]; /* (svc, ver, env) */
    PyObject *svc = PyTuple_GET_ITEM(res, 0), *ver = PyTuple_GET_ITEM(res, 1), *env = PyTuple_GET_ITEM(res, 2);
    uint64_t t = ev->t ? ev->t : received_ns;
    PyObject *number, *klass;
    if (split(&ev->value, &number, &klass) < 0)
        return -1;
    if (ev->label) {
        PyObject *model = ev->has_model ? cached_str(self, 0, (const char *)ev->model.p, ev->model.e - ev->model.p)
                                        : (Py_INCREF(Py_None), Py_None);
        Py_INCREF(svc);
        Py_INCREF(env);
        Py_INCREF(received);
        PyObject *vals[N_LAB] = {
            PyLong_FromUnsignedLongLong(t), text_object(self, -1, ev->rid_kind, ev->rid, ev->rid_int), model, number,
            klass, hex_or_none(ev->tid), hex_or_none(ev->sid), svc, env, received};
        if (append_row(self->lab, vals, N_LAB) < 0)
            return -1;
        return append_steal(self->lab_hours, hour_of(self, t));
    }
    PyObject *model = cached_str(self, 0, (const char *)ev->model.p, ev->model.e - ev->model.p);
    if (!model) {
        Py_DECREF(number);
        Py_DECREF(klass);
        return -1;
    }
    ModelRows *m = model_rows(self, model);
    if (!m) {
        Py_DECREF(model);
        Py_DECREF(number);
        Py_DECREF(klass);
        return -1;
    }
    PyObject *probs;
    if (ev->np) {
        probs = PyList_New(ev->np);
        for (Py_ssize_t i = 0; probs && i < ev->np; i++) {
            Leaf *l = &s->leaf[ev->p0 + i];
            PyObject *pair = Py_BuildValue("(NN)", PyUnicode_DecodeUTF8(s->arena + l->name_off, l->name_len, "strict"),
                                           val_object(&l->v));
            if (!pair) {
                Py_CLEAR(probs);
                break;
            }
            PyList_SET_ITEM(probs, i, pair);
        }
    } else {
        probs = Py_None;
        Py_INCREF(probs);
    }
    Py_INCREF(svc);
    Py_INCREF(ver);
    Py_INCREF(env);
    Py_INCREF(received);
    PyObject *vals[N_INF] = {PyLong_FromUnsignedLongLong(t),
                             model,
                             text_object(self, 1, ev->version_kind, ev->version, ev->version_int),
                             text_object(self, -1, ev->rid_kind, ev->rid, ev->rid_int),
                             number,
                             klass,
                             probs,
                             ev->has_latency ? PyFloat_FromDouble(ev->latency) : (Py_INCREF(Py_None), Py_None),
                             PyLong_FromLongLong(ev->nonfinite),
                             hex_or_none(ev->tid),
                             hex_or_none(ev->sid),
                             svc,
                             ver,
                             env,
                             received};
    if (append_row(m->cols, vals, N_INF) < 0)
        return -1;
    if (append_steal(m->hours, hour_of(self, t)) < 0)
        return -1;
    Py_ssize_t row = m->n++;
    for (Py_ssize_t i = 0; i < ev->nf; i++) {
        Leaf *l = &s->leaf[ev->f0 + i];
        Column *col = column(&m->feat, i, s->arena + l->name_off, l->name_len, NULL);
        if (!col || column_set(col, row, val_object(&l->v), kind_bit(l->v.kind)) < 0)
            return -1;
    }
    for (Py_ssize_t i = 0; i < ev->ns; i++) {
        Leaf *l = &s->leaf[ev->s0 + i];
        Column *col = column(&m->seg, i, s->arena + l->name_off, l->name_len, NULL);
        if (!col)
            return -1;
        PyObject *v = val_object(&l->v);
        PyObject *txt = v ? as_text(v) : NULL;
        Py_XDECREF(v);
        if (column_set(col, row, txt, l->v.kind == V_NONE ? 0 : 4) < 0)
            return -1;
    }
    return 0;
}

static PyObject *batch_scan(MLBatch *self, PyObject *args) {
    Py_buffer view;
    unsigned long long received_ns;
    PyObject *resource_fn;
    if (!PyArg_ParseTuple(args, "y*KO", &view, &received_ns, &resource_fn))
        return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    PyObject *result = NULL, *received = NULL;
    PyObject **resources = NULL;
    s.others = PyList_New(0);
    if (!s.others)
        goto done;
    Buf b = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
    int r = request(&s, b);
    if (r == ERR)
        goto done;
    if (r == BAIL) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    /* every event is understood: now (and only now) append */
    resources = PyMem_Calloc((size_t)(s.nres ? s.nres : 1), sizeof(PyObject *));
    if (!resources) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < s.nres; i++) {
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)s.res[i].p, s.res[i].e - s.res[i].p);
        if (!bytes)
            goto done;
        resources[i] = PyObject_CallOneArg(resource_fn, bytes);
        Py_DECREF(bytes);
        if (!resources[i])
            goto done;
        if (!PyTuple_Check(resources[i]) || PyTuple_GET_SIZE(resources[i]) != 3) {
            PyErr_SetString(PyExc_TypeError, "resource() must return (service, version, environment)");
            goto done;
        }
    }
    if (!(received = PyLong_FromUnsignedLongLong(received_ns)))
        goto done;
    for (Py_ssize_t i = 0; i < s.nev; i++)
        if (append_event(self, &s, &s.ev[i], resources, received_ns, received) < 0)
            goto done;
    result = s.others;
    Py_INCREF(result);
done:
    if (resources) {
        for (Py_ssize_t i = 0; i < s.nres; i++)
            Py_XDECREF(resources[i]);
        PyMem_Free(resources);
    }
    Py_XDECREF(received);
    scan_free(&s);
    PyBuffer_Release(&view);
    return result;
}

/* add(label, model, version, request_id, value, latency_ms, nonfinite, features, segment, probabilities,
 *     t, trace_id, span_id, svc, ver, env, received_ns): one event read by the Python reader. */
static PyObject *batch_add(MLBatch *self, PyObject *args) {
    int label;
    PyObject *model, *version, *rid, *value, *latency, *nonfinite, *features, *segment, *probs, *t, *tid, *sid, *svc,
        *ver, *env, *received;
    if (!PyArg_ParseTuple(args, "pOOOOOOOOOOOOOOOO", &label, &model, &version, &rid, &value, &latency, &nonfinite,
                          &features, &segment, &probs, &t, &tid, &sid, &svc, &ver, &env, &received))
        return NULL;
    PyObject *number, *klass;
    if (value == Py_None) {
        number = klass = Py_None;
        Py_INCREF(number);
        Py_INCREF(klass);
    } else if (PyBool_Check(value)) {
        number = PyFloat_FromDouble(value == Py_True ? 1.0 : 0.0);
        klass = PyUnicode_FromString(value == Py_True ? "true" : "false");
    } else if (PyUnicode_Check(value)) {
        number = Py_None;
        Py_INCREF(number);
        klass = value;
        Py_INCREF(klass);
    } else {
        number = PyNumber_Float(value);
        klass = Py_None;
        Py_INCREF(klass);
    }
    if (!number || !klass) {
        Py_XDECREF(number);
        Py_XDECREF(klass);
        return NULL;
    }
    unsigned long long tt = PyLong_AsUnsignedLongLong(t);
    if (tt == (unsigned long long)-1 && PyErr_Occurred()) {
        Py_DECREF(number);
        Py_DECREF(klass);
        return NULL;
    }
    if (label) {
        PyObject *vals[N_LAB] = {t, rid, model, number, klass, tid, sid, svc, env, received};
        for (int c = 0; c < N_LAB; c++)
            if (c != 3 && c != 4)
                Py_INCREF(vals[c]);
        if (append_row(self->lab, vals, N_LAB) < 0 || append_steal(self->lab_hours, hour_of(self, tt)) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    ModelRows *m = model_rows(self, model);
    if (!m) {
        Py_DECREF(number);
        Py_DECREF(klass);
        return NULL;
    }
    PyObject *p = PyObject_IsTrue(probs) ? probs : Py_None; /* `event.probabilities or None` */
    PyObject *vals[N_INF] = {t, model, version, rid, number, klass, p, latency, nonfinite, tid, sid, svc, ver, env,
                             received};
    for (int c = 0; c < N_INF; c++)
        if (c != 4 && c != 5)
            Py_INCREF(vals[c]);
    if (append_row(m->cols, vals, N_INF) < 0 || append_steal(m->hours, hour_of(self, tt)) < 0)
        return NULL;
    Py_ssize_t row = m->n++;
    for (int part = 0; part < 2; part++) {
        PyObject *seq = PySequence_Fast(part ? segment : features, "features and segment are lists of pairs");
        if (!seq)
            return NULL;
        Columns *cs = part ? &m->seg : &m->feat;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
            PyObject *name, *v;
            if (!PyArg_ParseTuple(pair, "UO", &name, &v)) {
                Py_DECREF(seq);
                return NULL;
            }
            Py_ssize_t n;
            const char *p = PyUnicode_AsUTF8AndSize(name, &n);
            Column *col = p ? column(cs, i, p, n, name) : NULL;
            int kind = v == Py_None ? 0 : PyBool_Check(v) ? 1 : PyUnicode_Check(v) ? 4 : 2;
            PyObject *o;
            if (part) {
                o = as_text(v);
                kind = kind ? 4 : 0;
            } else {
                o = v;
                Py_INCREF(o);
            }
            if (!col || column_set(col, row, o, kind) < 0) {
                if (!col)
                    Py_XDECREF(o);
                Py_DECREF(seq);
                return NULL;
            }
        }
        Py_DECREF(seq);
    }
    Py_RETURN_NONE;
}

static PyObject *columns_export(Columns *c, Py_ssize_t n) {
    PyObject *out = PyList_New(c->n);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < c->n; i++) {
        Column *col = &c->col[i];
        while (PyList_GET_SIZE(col->values) < n)
            if (PyList_Append(col->values, Py_None) < 0) {
                Py_DECREF(out);
                return NULL;
            }
        PyObject *t = Py_BuildValue("(OOi)", col->name, col->values, col->kinds);
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyObject *batch_models(MLBatch *self, PyObject *unused) {
    PyObject *out = PyList_New(self->nm);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < self->nm; i++) {
        ModelRows *m = &self->m[i];
        PyObject *cols = PyList_New(N_INF);
        if (!cols) {
            Py_DECREF(out);
            return NULL;
        }
        for (int c = 0; c < N_INF; c++) {
            Py_INCREF(m->cols[c]);
            PyList_SET_ITEM(cols, c, m->cols[c]);
        }
        PyObject *t = Py_BuildValue("(ONONN)", m->model, cols, m->hours, columns_export(&m->feat, m->n),
                                    columns_export(&m->seg, m->n));
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyObject *batch_labels(MLBatch *self, PyObject *unused) {
    PyObject *cols = PyList_New(N_LAB);
    if (!cols)
        return NULL;
    for (int c = 0; c < N_LAB; c++) {
        Py_INCREF(self->lab[c]);
        PyList_SET_ITEM(cols, c, self->lab[c]);
    }
    return Py_BuildValue("(NO)", cols, self->lab_hours);
}

static PyMethodDef batch_methods[] = {
    {"scan", (PyCFunction)batch_scan, METH_VARARGS,
     "scan(payload, received_ns, resource) -> positions of non-ML records, or None (nothing appended)"},
    {"add", (PyCFunction)batch_add, METH_VARARGS, "add(...) one event read by the Python reader"},
    {"models", (PyCFunction)batch_models, METH_NOARGS,
     "[(model, columns, hours, features, segments)]; features/segments: [(name, values, kinds)]"},
    {"labels", (PyCFunction)batch_labels, METH_NOARGS, "(columns, hours)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject MLBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "driftline.collector.native._logscan.MLBatch",
    .tp_basicsize = sizeof(MLBatch),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Inference and label rows of one segment, column by column.",
    .tp_methods = batch_methods,
    .tp_init = (initproc)batch_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"check", (PyCFunction)check, METH_O,
     "check(payload) -> the number of log records when every one would be accepted, else None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_logscan", "Compiled reader of OTLP logs with ML events.",
                                    -1, module_methods};

PyMODINIT_FUNC PyInit__logscan(void) {
    uint16_t one = 1;
    if (*(uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "_logscan reads little-endian fixed64 values only");
        return NULL;
    }
    if (PyType_Ready(&MLBatchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&MLBatchType);
    if (PyModule_AddObject(m, "MLBatch", (PyObject *)&MLBatchType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_FEATURES", MAX_FEATURES) < 0 ||
        PyModule_AddIntConstant(m, "MAX_SEGMENT_KEYS", MAX_SEGMENT_KEYS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_NAME_CHARS", MAX_NAME_CHARS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
