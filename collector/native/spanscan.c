/*
 * driftline.collector.native._spanscan — the compiled span path of the normalizer.
 *
 * Why it exists: in Python a span costs ~30 us to turn into a canonical row (walk the message,
 * classify its attributes, assemble the row), which caps a 2-core receiver well below 100k spans/s.
 * Here the OTLP bytes are walked once in C and a span whose attributes have a known *shape* is
 * written by replaying a recipe, in about a microsecond.
 *
 * Why it is safe: the Python normalizer stays the specification. A recipe is learned from it
 * (collector/normalize/recipes.py) the first time a shape is seen: the shape is the sequence of the
 * span's attributes, each either a *stable* attribute (its exact encoded bytes: its meaning is fixed)
 * or a *slot* (a key whose values rarely repeat — ids, token counts — plus the value's wire type).
 * The learner gives a recipe only when the row is the same function of the slot values for every
 * value (a slot may only be copied into a column or into the attributes map); for anything else it
 * answers None and spans of that shape take the Python path. Spans with events, links or a status
 * message, attributes this reader cannot read plainly, or a request it is unsure of (a duplicated
 * singular field, a negative enum, a field of the wrong wire type) take the Python path too.
 * tests/unit/test_native_spanscan.py proves the two paths write identical rows.
 *
 * API:
 *   Recipes(learn, n_columns, i_attributes, i_resource_attributes, i_received, i_agent_version,
 *           max_value_chars, kinds)
 *       kinds: one character per column, its Arrow kind (arrowcols.h: s i f L M o)
 *       the shapes learned in this process. learn(raws: list[bytes], name: str) ->
 *       (slots: bytes, recipe | None); slots[n] is 1 where attribute n is a slot; a recipe is
 *       (template: tuple[n_columns], fills: ((pos, column, conv), ...),
 *        entries: ((key, text | None, pos), ...), content: (hook, positions, columns) | None):
 *       conv 0 = the value, 1 = float(int), 2 = its text; hook(values at positions) returns the
 *       content columns' values (hashes, lengths, kept text) for slots that are content.
 *   SpanBatch(recipes, resource, conflicts)
 *       the rows of one batch. resource(bytes) -> (service, version, environment, keys, values).
 *     .scan(payload, received_ns) -> list[(i, j, k)] | None
 *       writes the spans it can and returns the positions of the others (already checked for ids
 *       and resends: the caller builds their rows), or None, having written nothing.
 *     .seen(trace_id, span_id, start, end, name) -> 0 new, 1 an exact resend, 2 ids reused
 *       (the Python path's resend check, so both paths share one memory of the batch)
 *     .take() -> (columns, hours): each column's Arrow buffers (arrowcols.h, col_take), the hour of
 *       each row as int64 bytes; the batch then starts empty columns
 *     .rejected, .duplicates, .rows
 *   check(payload) -> the number of spans when every one would be accepted, else None
 *   column(kind, values) -> one column's Arrow buffers built as a batch builds them (for the tests)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arrowcols.h"
#include "wire.h"

#define HOUR_NS 3600000000000ULL
#define MAX_STABLE 200000 /* distinct stable attributes remembered (as attributes.MAX_CACHED) */
#define MAX_SHAPES 20000  /* shapes remembered; all learned tables are emptied when either is full */
#define MAX_ATTRS 256     /* spans with more attributes take the Python path */
#define MAX_COLUMNS 128
#define EXACT_DOUBLE (1ULL << 53)
/* trace_id … scope_version: the kinds of the 15 columns every row starts with */
#define FIXED_KINDS "sssssssiifsssss"

enum { T_INT = 0, T_STR = 1, T_DOUBLE = 2, T_BOOL = 3 };

/* ---------------------------------------------------------------------------------------------- */
/* a hash table of byte strings -> int64                                                            */

typedef struct {
    uint64_t h;
    Py_ssize_t off; /* into the arena; -1 = empty */
    Py_ssize_t len;
    int64_t val;
} Entry;

typedef struct {
    Entry *slots;
    Py_ssize_t cap; /* a power of two */
    Py_ssize_t n;
    uint8_t *arena;
    Py_ssize_t used, acap;
} Table;

static uint64_t hash_bytes(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight bytes at a time, then FNV's mixing */
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    /* murmur3's finalizer: every input bit reaches the low bits a probe starts from (ids that
       differ only in a counter, as load tests and some SDKs make them, clustered without it) */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static int table_init(Table *t, Py_ssize_t cap) {
    t->slots = PyMem_Malloc(sizeof(Entry) * cap);
    if (!t->slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < cap; i++)
        t->slots[i].off = -1;
    t->cap = cap;
    t->n = 0;
    t->arena = NULL;
    t->used = t->acap = 0;
    return 0;
}

static void table_free(Table *t) {
    PyMem_Free(t->slots);
    PyMem_Free(t->arena);
    t->slots = NULL;
    t->arena = NULL;
    t->cap = t->n = t->used = t->acap = 0;
}

static void table_clear(Table *t) {
    for (Py_ssize_t i = 0; i < t->cap; i++)
        t->slots[i].off = -1;
    t->n = 0;
    t->used = 0;
}

static int64_t table_get(const Table *t, const uint8_t *p, Py_ssize_t n, uint64_t h) {
    Py_ssize_t mask = t->cap - 1;
    for (Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)mask);; i = (i + 1) & mask) {
        const Entry *e = &t->slots[i];
        if (e->off < 0)
            return -1;
        if (e->h == h && e->len == n && memcmp(t->arena + e->off, p, n) == 0)
            return e->val;
    }
}

static int table_grow(Table *t) {
    Entry *old = t->slots;
    Py_ssize_t oldcap = t->cap;
    Py_ssize_t cap = oldcap * 2;
    Entry *slots = PyMem_Malloc(sizeof(Entry) * cap);
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < cap; i++)
        slots[i].off = -1;
    for (Py_ssize_t i = 0; i < oldcap; i++) {
        if (old[i].off < 0)
            continue;
        Py_ssize_t j = (Py_ssize_t)(old[i].h & (uint64_t)(cap - 1));
        while (slots[j].off >= 0)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    PyMem_Free(old);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Adds a key known to be absent. */
static int table_put(Table *t, const uint8_t *p, Py_ssize_t n, uint64_t h, int64_t val) {
    if ((t->n + 1) * 2 > t->cap && table_grow(t) < 0)
        return -1;
    if (t->used + n > t->acap) {
        Py_ssize_t cap = t->acap ? t->acap : 4096;
        while (cap < t->used + n)
            cap *= 2;
        uint8_t *a = PyMem_Realloc(t->arena, cap);
        if (!a) {
            PyErr_NoMemory();
            return -1;
        }
        t->arena = a;
        t->acap = cap;
    }
    memcpy(t->arena + t->used, p, n);
    Py_ssize_t mask = t->cap - 1;
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)mask);
    while (t->slots[i].off >= 0)
        i = (i + 1) & mask;
    t->slots[i] = (Entry){h, t->used, n, val};
    t->used += n;
    t->n++;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* recipes                                                                                          */

typedef struct {
    int pos, col, conv;
} Fill;

typedef struct {
    PyObject *key;  /* borrowed from hold */
    PyObject *text; /* borrowed from hold; NULL: the text of slot pos */
    int pos;
} MapEntry;

typedef struct {
    PyObject *hold;      /* the recipe tuple (owns everything borrowed below); NULL: no recipe */
    PyObject **template; /* n_columns values */
    Fill *fills;
    int nfills;
    MapEntry *entries;
    int nentries;
    PyObject *hook; /* content(values) -> the content columns' values, or NULL */
    int *hook_pos, nhook_pos, *hook_cols, nhook_cols;
} Recipe;

typedef struct {
    PyObject_HEAD PyObject *learn;
    Table stable, slotkeys, shapes;
    Recipe *recipes;
    Py_ssize_t nrecipes, caprecipes;
    int ncols, i_attrs, i_rattrs, i_received, i_agent_version;
    char kinds[MAX_COLUMNS]; /* each column's Arrow kind (arrowcols.h) */
    Py_ssize_t max_value_chars;
    Py_ssize_t learned, refused, cleared;
} Recipes;

static void recipes_forget(Recipes *r) {
    for (Py_ssize_t i = 0; i < r->nrecipes; i++) {
        Recipe *x = &r->recipes[i];
        Py_XDECREF(x->hold);
        PyMem_Free(x->template);
        PyMem_Free(x->fills);
        PyMem_Free(x->entries);
        PyMem_Free(x->hook_pos);
        PyMem_Free(x->hook_cols);
    }
    r->nrecipes = 0;
}

static void recipes_dealloc(Recipes *r) {
    recipes_forget(r);
    PyMem_Free(r->recipes);
    table_free(&r->stable);
    table_free(&r->slotkeys);
    table_free(&r->shapes);
    Py_XDECREF(r->learn);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int recipes_init(Recipes *r, PyObject *args, PyObject *kw) {
    PyObject *learn;
    const char *kinds;
    Py_ssize_t nkinds;
    if (!PyArg_ParseTuple(args, "Oiiiiins#", &learn, &r->ncols, &r->i_attrs, &r->i_rattrs, &r->i_received,
                          &r->i_agent_version, &r->max_value_chars, &kinds, &nkinds))
        return -1;
    if (r->ncols < 16 || r->ncols > MAX_COLUMNS || nkinds != r->ncols) {
        PyErr_SetString(PyExc_ValueError, "n_columns out of range, or not one kind per column");
        return -1;
    }
    int idx[] = {r->i_attrs, r->i_rattrs, r->i_received, r->i_agent_version};
    for (int i = 0; i < 4; i++)
        if (idx[i] < 15 || idx[i] >= r->ncols) {
            PyErr_SetString(PyExc_ValueError, "column index out of range");
            return -1;
        }
    /* the fixed columns this file writes itself, and the columns it fills by index */
    if (memcmp(kinds, FIXED_KINDS, 15) != 0 || kinds[r->i_attrs] != 'M' || kinds[r->i_rattrs] != 'M' ||
        kinds[r->i_received] != 'i' || kinds[r->i_agent_version] != 's') {
        PyErr_SetString(PyExc_ValueError, "the column kinds are not those of the span schema this file writes");
        return -1;
    }
    for (int c = 0; c < r->ncols; c++) {
        if (!strchr("sifLMo", kinds[c]) || (kinds[c] == 'M' && c != r->i_attrs && c != r->i_rattrs)) {
            PyErr_SetString(PyExc_ValueError, "unknown column kind");
            return -1;
        }
        r->kinds[c] = kinds[c];
    }
    Py_INCREF(learn);
    Py_XSETREF(r->learn, learn);
    if (table_init(&r->stable, 1024) < 0 || table_init(&r->slotkeys, 256) < 0 || table_init(&r->shapes, 1024) < 0)
        return -1;
    return 0;
}

/* Parses what learn() returned into a Recipe (hold == NULL for None). */
static int recipe_parse(Recipes *r, PyObject *obj, Recipe *out, Py_ssize_t nattrs) {
    memset(out, 0, sizeof(*out));
    if (obj == Py_None)
        return 0;
    PyObject *template, *fills, *entries, *content;
    if (!PyTuple_Check(obj) || !PyArg_ParseTuple(obj, "O!O!O!O", &PyTuple_Type, &template, &PyTuple_Type, &fills,
                                                 &PyTuple_Type, &entries, &content)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a recipe is (template, fills, entries, content)");
        return -1;
    }
    if (PyTuple_GET_SIZE(template) != r->ncols) {
        PyErr_SetString(PyExc_ValueError, "a recipe's template has one value per column");
        return -1;
    }
    out->template = PyMem_Malloc(sizeof(PyObject *) * r->ncols);
    out->fills = PyMem_Malloc(sizeof(Fill) * (PyTuple_GET_SIZE(fills) + 1));
    out->entries = PyMem_Malloc(sizeof(MapEntry) * (PyTuple_GET_SIZE(entries) + 1));
    if (!out->template || !out->fills || !out->entries) {
        PyErr_NoMemory();
        goto fail;
    }
    for (int c = 0; c < r->ncols; c++)
        out->template[c] = PyTuple_GET_ITEM(template, c);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fills); i++) {
        Fill *f = &out->fills[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(fills, i), "iii", &f->pos, &f->col, &f->conv))
            goto fail;
        if (f->pos < 0 || f->pos >= nattrs || f->col < 15 || f->col >= r->ncols || f->conv < 0 || f->conv > 2) {
            PyErr_SetString(PyExc_ValueError, "a recipe's fill is out of range");
            goto fail;
        }
    }
    out->nfills = (int)PyTuple_GET_SIZE(fills);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(entries); i++) {
        MapEntry *m = &out->entries[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(entries, i), "UOi", &m->key, &m->text, &m->pos))
            goto fail;
        if (m->text == Py_None) {
            m->text = NULL;
            if (m->pos < 0 || m->pos >= nattrs) {
                PyErr_SetString(PyExc_ValueError, "a recipe's entry names no attribute");
                goto fail;
            }
        } else if (!PyUnicode_Check(m->text)) {
            PyErr_SetString(PyExc_TypeError, "a recipe's entry text is a str or None");
            goto fail;
        }
    }
    out->nentries = (int)PyTuple_GET_SIZE(entries);
    if (content != Py_None) { /* (hook, positions, columns) */
        PyObject *hook, *positions, *columns;
        if (!PyArg_ParseTuple(content, "OO!O!", &hook, &PyTuple_Type, &positions, &PyTuple_Type, &columns))
            goto fail;
        out->hook = hook;
        out->nhook_pos = (int)PyTuple_GET_SIZE(positions);
        out->nhook_cols = (int)PyTuple_GET_SIZE(columns);
        out->hook_pos = PyMem_Malloc(sizeof(int) * (out->nhook_pos + 1));
        out->hook_cols = PyMem_Malloc(sizeof(int) * (out->nhook_cols + 1));
        if (!out->hook_pos || !out->hook_cols) {
            PyErr_NoMemory();
            goto fail;
        }
        for (int i = 0; i < out->nhook_pos; i++) {
            out->hook_pos[i] = PyLong_AsLong(PyTuple_GET_ITEM(positions, i));
            if (out->hook_pos[i] < 0 || out->hook_pos[i] >= nattrs) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "a recipe's content names no attribute");
                goto fail;
            }
        }
        for (int i = 0; i < out->nhook_cols; i++) {
            out->hook_cols[i] = PyLong_AsLong(PyTuple_GET_ITEM(columns, i));
            if (out->hook_cols[i] < 15 || out->hook_cols[i] >= r->ncols) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "a recipe's content column is out of range");
                goto fail;
            }
        }
    }
    Py_INCREF(obj);
    out->hold = obj;
    return 0;
fail:
    PyMem_Free(out->template);
    PyMem_Free(out->fills);
    PyMem_Free(out->entries);
    PyMem_Free(out->hook_pos);
    PyMem_Free(out->hook_cols);
    memset(out, 0, sizeof(*out));
    return -1;
}

static PyTypeObject RecipesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "driftline.collector.native._spanscan.Recipes",
    .tp_basicsize = sizeof(Recipes),
    .tp_dealloc = (destructor)recipes_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The attribute shapes learned in this process and the rows they make.",
    .tp_init = (initproc)recipes_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------------------------------------- */
/* one attribute read plainly (the rules of attributes.light)                                        */

typedef struct {
    int type;
    uint64_t u; /* int, bool, double bits */
    Buf s;
} Plain;

/* 1 when raw is KeyValue{key (< 128 bytes), value: one plain scalar}, with *keylen set. */
static int plain(const uint8_t *raw, Py_ssize_t n, Py_ssize_t *keylen, Plain *out) {
    if (n < 2 || raw[0] != 0x0A || raw[1] >= 0x80)
        return 0;
    Py_ssize_t pos = 2 + raw[1];
    if (pos + 2 >= n || raw[pos] != 0x12)
        return 0;
    *keylen = pos;
    Buf b = {raw + pos + 1, raw + n};
    uint64_t len;
    if (varint(&b, &len) != OK || len != (uint64_t)(b.e - b.p) || b.p >= b.e)
        return 0;
    uint8_t tag = *b.p++;
    if (tag == 0x18 || tag == 0x10) {
        if (varint(&b, &out->u) != OK)
            return 0;
        out->type = tag == 0x18 ? T_INT : T_BOOL;
    } else if (tag == 0x0A) {
        uint64_t m;
        if (varint(&b, &m) != OK || m > (uint64_t)(b.e - b.p))
            return 0;
        out->s.p = b.p;
        out->s.e = b.p + m;
        if (!utf8_ok(out->s.p, out->s.e))
            return 0;
        b.p += m;
        out->type = T_STR;
    } else if (tag == 0x21) {
        if (b.e - b.p != 8)
            return 0;
        memcpy(&out->u, b.p, 8);
        b.p += 8;
        out->type = T_DOUBLE;
    } else {
        return 0;
    }
    return b.p == b.e;
}

static PyObject *plain_value(Plain *v) {
    switch (v->type) {
    case T_INT:
        return PyLong_FromLongLong((long long)v->u); /* two's complement, as attributes.light */
    case T_BOOL:
        return PyBool_FromLong(v->u != 0);
    case T_DOUBLE: {
        double d;
        memcpy(&d, &v->u, 8);
        return PyFloat_FromDouble(d);
    }
    default:
        return PyUnicode_DecodeUTF8((const char *)v->s.p, v->s.e - v->s.p, "strict");
    }
}

/* values.as_text: strings unchanged, bools as JSON, numbers as repr. */
static PyObject *plain_text(Plain *v, PyObject *value) {
    switch (v->type) {
    case T_STR:
        Py_INCREF(value);
        return value;
    case T_BOOL:
        return PyUnicode_FromString(v->u ? "true" : "false");
    default:
        return PyObject_Repr(value);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* the request, walked once before anything is written                                              */

typedef struct {
    Buf tid, sid, pid, name, msg;
    uint64_t start, end;
    int32_t kind, code;
    int other; /* events or links: the Python path */
    Py_ssize_t a0, na;
    int i, j, k;
} SpanD;

typedef struct {
    SpanD *spans;
    Py_ssize_t nspans, capspans;
    Buf *attrs;
    Py_ssize_t nattrs, capattrs;
    Buf *res; /* per ResourceSpans */
    Py_ssize_t nres, capres;
    Buf *scope; /* name, version per (i, j) in order of ScopeSpans; index stored per span */
    Py_ssize_t *span_scope; /* per span: its ScopeSpans */
    Py_ssize_t capspanscope;
    Py_ssize_t nscope, capscope;
} Walk;

static void walk_free(Walk *w) {
    PyMem_Free(w->spans);
    PyMem_Free(w->attrs);
    PyMem_Free(w->res);
    PyMem_Free(w->scope);
    PyMem_Free(w->span_scope);
}

/* An enum field: proto3 reads an int32; negative values (which Python would index from the end
 * of its name table) are left to Python. */
static int enum_value(uint64_t v, int32_t *out) {
    if (v > 0x7fffffffULL)
        return BAIL;
    *out = (int32_t)v;
    return OK;
}

static int walk_status(Buf b, SpanD *s) {
    int nm = 0, nc = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 2) {
            if (wt != 2 || nm++ || !utf8_ok(sub.p, sub.e))
                return BAIL;
            s->msg = sub;
        } else if (num == 3) {
            if (wt != 0 || nc++)
                return BAIL;
            TRY(enum_value(v, &s->code));
        }
    }
    return OK;
}

static int walk_span(Walk *w, Buf b, int i, int j, int k) {
    TRY(grow((void **)&w->spans, &w->capspans, w->nspans + 1, sizeof(SpanD)));
    SpanD *s = &w->spans[w->nspans];
    memset(s, 0, sizeof(*s));
    s->a0 = w->nattrs;
    s->i = i;
    s->j = j;
    s->k = k;
    uint32_t seen = 0;
    static const int wire[17] = {-1, 2, 2, 2, 2, 2, 0, 1, 1, 2, 0, 2, 0, 2, 0, 2, 5};
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num > 16)
            continue;
        if (wt != wire[num])
            return BAIL; /* protobuf would treat it as an unknown field: let Python */
        int repeated = num == 9 || num == 11 || num == 13;
        if (!repeated) {
            if (seen & (1u << num))
                return BAIL; /* last-wins or merge rules: let Python */
            seen |= 1u << num;
        }
        switch (num) {
        case 1:
            s->tid = sub;
            break;
        case 2:
            s->sid = sub;
            break;
        case 4:
            s->pid = sub;
            break;
        case 5:
            if (!utf8_ok(sub.p, sub.e))
                return BAIL;
            s->name = sub;
            break;
        case 6:
            TRY(enum_value(v, &s->kind));
            break;
        case 7:
            s->start = v;
            break;
        case 8:
            s->end = v;
            break;
        case 9:
            TRY(grow((void **)&w->attrs, &w->capattrs, w->nattrs + 1, sizeof(Buf)));
            w->attrs[w->nattrs++] = sub;
            s->na++;
            break;
        case 11:
        case 13:
            s->other = 1;
            break;
        case 15:
            TRY(walk_status(sub, s));
            break;
        default:
            break;
        }
    }
    w->nspans++;
    return OK;
}

static int walk_scope(Walk *w, Buf b, int i, int j) {
    TRY(grow((void **)&w->scope, &w->capscope, 2 * (w->nscope + 1), sizeof(Buf)));
    Py_ssize_t me = w->nscope++;
    Buf *name = &w->scope[2 * me], *version = &w->scope[2 * me + 1];
    name->p = name->e = version->p = version->e = NULL;
    Py_ssize_t first = w->nspans;
    int nscope = 0, k = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num == 1) {
            if (wt != 2 || nscope++)
                return BAIL;
            int nn = 0, nv = 0;
            while (sub.p < sub.e) {
                uint32_t n2;
                int w2;
                uint64_t v2 = 0;
                Buf s2 = {0, 0};
                TRY(field(&sub, &n2, &w2, &v2, &s2));
                if (n2 == 1 || n2 == 2) {
                    if (w2 != 2 || (n2 == 1 ? nn++ : nv++) || !utf8_ok(s2.p, s2.e))
                        return BAIL;
                    *(n2 == 1 ? name : version) = s2;
                } else if (n2 == 3 && w2 != 2) {
                    return BAIL;
                }
            }
        } else if (num == 2) {
            if (wt != 2)
                return BAIL;
            TRY(walk_span(w, sub, i, j, k++));
        }
    }
    TRY(grow((void **)&w->span_scope, &w->capspanscope, w->nspans, sizeof(Py_ssize_t)));
    for (Py_ssize_t s = first; s < w->nspans; s++)
        w->span_scope[s] = me;
    return OK;
}

static int walk_request(Walk *w, Buf b) {
    int i = 0;
    while (b.p < b.e) {
        uint32_t num;
        int wt;
        uint64_t v = 0;
        Buf sub = {0, 0};
        TRY(field(&b, &num, &wt, &v, &sub));
        if (num != 1)
            continue;
        if (wt != 2)
            return BAIL;
        TRY(grow((void **)&w->res, &w->capres, w->nres + 1, sizeof(Buf)));
        Buf *res = &w->res[w->nres++];
        res->p = res->e = sub.p;
        int nres = 0, j = 0;
        while (sub.p < sub.e) {
            uint32_t n2;
            int w2;
            uint64_t v2 = 0;
            Buf s2 = {0, 0};
            TRY(field(&sub, &n2, &w2, &v2, &s2));
            if (n2 == 1) {
                if (w2 != 2 || nres++)
                    return BAIL;
                *res = s2;
            } else if (n2 == 2) {
                if (w2 != 2)
                    return BAIL;
                TRY(walk_scope(w, s2, i, j++));
            }
        }
        i++;
    }
    return OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* the batch                                                                                        */

typedef struct {
    uint64_t start, end;
    Py_ssize_t noff, nlen;
} Seen;

typedef struct {
    PyObject_HEAD Recipes *recipes;
    PyObject *resource;  /* callable */
    PyObject *conflicts; /* list of (trace_id, span_id) hex */
    Col cols[MAX_COLUMNS];
    Col hours; /* of each row: start_time // 1 hour */
    int ready, broken; /* broken: a write failed half-way (out of memory), the columns disagree */
    Table seen;
    Seen *seens;
    Py_ssize_t nseens, capseens;
    uint8_t *names;
    Py_ssize_t nnames, capnames;
    Py_ssize_t rejected, duplicates, rows;
} SpanBatch;

static const char *KIND_NAMES[6] = {"unspecified", "internal", "server", "client", "producer", "consumer"};
static const char *CODE_NAMES[3] = {"UNSET", "OK", "ERROR"};

static void batch_dealloc(SpanBatch *self) {
    Py_XDECREF(self->recipes);
    Py_XDECREF(self->resource);
    Py_XDECREF(self->conflicts);
    for (int c = 0; c < MAX_COLUMNS; c++)
        col_free(&self->cols[c]);
    col_free(&self->hours);
    table_free(&self->seen);
    PyMem_Free(self->seens);
    PyMem_Free(self->names);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int batch_init(SpanBatch *self, PyObject *args, PyObject *kw) {
    PyObject *recipes, *resource, *conflicts;
    if (!PyArg_ParseTuple(args, "O!OO!", &RecipesType, &recipes, &resource, &PyList_Type, &conflicts))
        return -1;
    if (self->ready) {
        PyErr_SetString(PyExc_RuntimeError, "SpanBatch is initialised once");
        return -1;
    }
    self->ready = 1;
    Py_INCREF(recipes);
    self->recipes = (Recipes *)recipes;
    Py_INCREF(resource);
    self->resource = resource;
    Py_INCREF(conflicts);
    self->conflicts = conflicts;
    for (int c = 0; c < self->recipes->ncols; c++)
        if (col_init(&self->cols[c], self->recipes->kinds[c]) < 0)
            return -1;
    if (col_init(&self->hours, 'i') < 0)
        return -1;
    return table_init(&self->seen, 4096);
}

static PyObject *hex_of(const uint8_t *p, Py_ssize_t n) {
    static const char digits[] = "0123456789abcdef";
    PyObject *s = PyUnicode_New(2 * n, 127);
    if (!s)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        out[2 * i] = (Py_UCS1)digits[p[i] >> 4];
        out[2 * i + 1] = (Py_UCS1)digits[p[i] & 15];
    }
    return s;
}

static int all_zero(Buf b) {
    for (const uint8_t *p = b.p; p < b.e; p++)
        if (*p)
            return 0;
    return 1;
}

/* otlp.ids_problem: None (1) when the span's ids and start are well-formed. */
static int ids_ok(Py_ssize_t nt, Py_ssize_t ns, Py_ssize_t np, Buf tid, Buf sid, uint64_t start) {
    if (nt != 16 || all_zero(tid))
        return 0;
    if (ns != 8 || all_zero(sid))
        return 0;
    if (np && np != 8)
        return 0;
    return start != 0;
}

/* The resend check: 0 new (remembered), 1 an exact resend, 2 the ids of another span (-1 error). */
static int check_seen(SpanBatch *self, const uint8_t *tid, const uint8_t *sid, uint64_t start, uint64_t end,
                      const uint8_t *name, Py_ssize_t nname) {
    uint8_t key[24];
    memcpy(key, tid, 16);
    memcpy(key + 16, sid, 8);
    uint64_t h = hash_bytes(key, 24);
    int64_t at = table_get(&self->seen, key, 24, h);
    if (at >= 0) {
        Seen *s = &self->seens[at];
        if (s->start == start && s->end == end && s->nlen == nname && memcmp(self->names + s->noff, name, nname) == 0) {
            self->duplicates++;
            return 1;
        }
        PyObject *pair = Py_BuildValue("(NN)", hex_of(tid, 16), hex_of(sid, 8));
        if (!pair || PyList_Append(self->conflicts, pair) < 0) {
            Py_XDECREF(pair);
            return -1;
        }
        Py_DECREF(pair);
        return 2;
    }
    if (grow((void **)&self->seens, &self->capseens, self->nseens + 1, sizeof(Seen)) != OK ||
        grow((void **)&self->names, &self->capnames, self->nnames + nname, 1) != OK)
        return -1;
    if (nname)
        memcpy(self->names + self->nnames, name, nname);
    self->seens[self->nseens] = (Seen){start, end, self->nnames, nname};
    self->nnames += nname;
    if (table_put(&self->seen, key, 24, h, self->nseens) < 0)
        return -1;
    self->nseens++;
    return 0;
}

static PyObject *batch_seen(SpanBatch *self, PyObject *args) {
    Py_buffer tid, sid;
    unsigned long long start, end;
    const char *name;
    Py_ssize_t nname;
    if (!PyArg_ParseTuple(args, "y*y*KKs#", &tid, &sid, &start, &end, &name, &nname))
        return NULL;
    int r = -1;
    if (tid.len != 16 || sid.len != 8)
        PyErr_SetString(PyExc_ValueError, "seen() takes well-formed ids");
    else
        r = check_seen(self, tid.buf, sid.buf, start, end, (const uint8_t *)name, nname);
    PyBuffer_Release(&tid);
    PyBuffer_Release(&sid);
    return r < 0 ? NULL : PyLong_FromLong(r);
}

static void recipes_clear_all(Recipes *r) {
    table_clear(&r->stable);
    table_clear(&r->slotkeys);
    table_clear(&r->shapes);
    recipes_forget(r);
    r->cleared++;
}

/* The span's shape as tokens; 0 when an attribute is unknown. */
static int tokens_of(Recipes *r, Buf *attrs, Py_ssize_t na, int32_t *tok, Plain *vals) {
    for (Py_ssize_t n = 0; n < na; n++) {
        const uint8_t *p = attrs[n].p;
        Py_ssize_t len = attrs[n].e - p;
        int64_t id = table_get(&r->stable, p, len, hash_bytes(p, len));
        if (id >= 0) {
            tok[n] = (int32_t)(id * 2);
            vals[n].type = -1;
            continue;
        }
        Py_ssize_t keylen;
        if (!plain(p, len, &keylen, &vals[n]))
            return 0;
        int64_t kid = table_get(&r->slotkeys, p, keylen, hash_bytes(p, keylen));
        if (kid < 0)
            return 0;
        tok[n] = (int32_t)((kid * 4 + vals[n].type) * 2 + 1);
    }
    return 1;
}

/* Asks the Python learner about a shape and remembers the answer; the recipe index or -1. */
static int64_t learn(SpanBatch *self, Buf *attrs, Py_ssize_t na, Buf name, int32_t *tok, Plain *vals, int *err) {
    Recipes *r = self->recipes;
    PyObject *raws = PyList_New(na);
    if (!raws)
        goto error;
    for (Py_ssize_t n = 0; n < na; n++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)attrs[n].p, attrs[n].e - attrs[n].p);
        if (!b) {
            Py_DECREF(raws);
            goto error;
        }
        PyList_SET_ITEM(raws, n, b);
    }
    PyObject *pyname = PyUnicode_DecodeUTF8((const char *)name.p, name.e - name.p, "strict");
    if (!pyname) {
        Py_DECREF(raws);
        goto error;
    }
    PyObject *answer = PyObject_CallFunctionObjArgs(r->learn, raws, pyname, NULL);
    Py_DECREF(raws);
    Py_DECREF(pyname);
    if (!answer)
        goto error;
    PyObject *slots, *recipe;
    if (!PyArg_ParseTuple(answer, "SO", &slots, &recipe) || PyBytes_GET_SIZE(slots) != na) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "learn() names each attribute stable or slot");
        Py_DECREF(answer);
        goto error;
    }
    if (r->stable.n + na > MAX_STABLE || r->shapes.n >= MAX_SHAPES || r->slotkeys.n + na > MAX_STABLE)
        recipes_clear_all(r);
    const char *flags = PyBytes_AS_STRING(slots);
    int readable = 1;
    for (Py_ssize_t n = 0; n < na; n++) {
        const uint8_t *p = attrs[n].p;
        Py_ssize_t len = attrs[n].e - p;
        if (flags[n]) {
            Py_ssize_t keylen;
            if (!plain(p, len, &keylen, &vals[n])) {
                readable = 0; /* the learner and this reader disagree: never replay this shape */
                continue;
            }
            uint64_t h = hash_bytes(p, keylen);
            int64_t kid = table_get(&r->slotkeys, p, keylen, h);
            if (kid < 0) {
                kid = r->slotkeys.n;
                if (table_put(&r->slotkeys, p, keylen, h, kid) < 0)
                    goto error_answer;
            }
            tok[n] = (int32_t)((kid * 4 + vals[n].type) * 2 + 1);
        } else {
            uint64_t h = hash_bytes(p, len);
            int64_t id = table_get(&r->stable, p, len, h);
            if (id < 0) {
                id = r->stable.n;
                if (table_put(&r->stable, p, len, h, id) < 0)
                    goto error_answer;
            }
            tok[n] = (int32_t)(id * 2);
            vals[n].type = -1;
        }
    }
    if (!readable) {
        Py_DECREF(answer);
        r->refused++;
        return -1;
    }
    Recipe parsed;
    if (recipe_parse(r, recipe, &parsed, na) < 0)
        goto error_answer;
    Py_DECREF(answer);
    if (grow((void **)&r->recipes, &r->caprecipes, r->nrecipes + 1, sizeof(Recipe)) != OK) {
        Py_XDECREF(parsed.hold);
        PyMem_Free(parsed.template);
        PyMem_Free(parsed.fills);
        PyMem_Free(parsed.entries);
        PyMem_Free(parsed.hook_pos);
        PyMem_Free(parsed.hook_cols);
        goto error;
    }
    int64_t index = r->nrecipes;
    r->recipes[r->nrecipes++] = parsed;
    const uint8_t *key = (const uint8_t *)tok;
    Py_ssize_t klen = (Py_ssize_t)(na * sizeof(int32_t));
    uint64_t h = hash_bytes(key, klen);
    if (table_get(&r->shapes, key, klen, h) < 0 && table_put(&r->shapes, key, klen, h, index) < 0)
        goto error;
    if (parsed.hold)
        r->learned++;
    else
        r->refused++;
    return parsed.hold ? index : -1;
error_answer:
    Py_DECREF(answer);
error:
    *err = 1;
    return -1;
}

static int append_steal(PyObject *list, PyObject *o) {
    if (!o)
        return -1;
    int r = PyList_Append(list, o);
    Py_DECREF(o);
    return r;
}

/* Appends one row from a recipe; 1 when written, 0 when a slot's value sends it to Python, -1 on error. */
static int write_row(SpanBatch *self, Recipe *x, SpanD *s, Buf *attrs, Plain *vals, PyObject *res,
                     PyObject *scope_name, PyObject *scope_version, PyObject *received) {
    Recipes *r = self->recipes;
    Py_ssize_t na = s->na;
    PyObject *values[MAX_ATTRS], *texts[MAX_ATTRS];
    int ret = -1;
    for (Py_ssize_t n = 0; n < na; n++)
        values[n] = texts[n] = NULL;
    uint64_t duration = s->end - s->start;
    if (s->end && s->end >= s->start && duration >= EXACT_DOUBLE)
        return 0; /* (end - start) / 1e6 would round twice in C */
    for (int f = 0; f < x->nfills; f++) {
        int pos = x->fills[f].pos;
        if (vals[pos].type < 0) {
            PyErr_SetString(PyExc_RuntimeError, "a recipe fills a column from a stable attribute");
            goto done;
        }
    }
    for (Py_ssize_t n = 0; n < na; n++) {
        if (vals[n].type < 0)
            continue;
        if (!(values[n] = plain_value(&vals[n]))) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                goto done;
            PyErr_Clear();
            ret = 0;
            goto done;
        }
    }
    for (int e = 0; e < x->nentries; e++) { /* the attributes map's texts */
        int pos = x->entries[e].pos;
        if (x->entries[e].text || texts[pos])
            continue;
        if (vals[pos].type < 0) {
            PyErr_SetString(PyExc_RuntimeError, "a recipe maps a stable attribute as a slot");
            goto done;
        }
        if (!(texts[pos] = plain_text(&vals[pos], values[pos])))
            goto done;
        if (PyUnicode_GET_LENGTH(texts[pos]) > r->max_value_chars) {
            ret = 0; /* it would be truncated: the Python path words that */
            goto done;
        }
    }
    for (int f = 0; f < x->nfills; f++) {
        int pos = x->fills[f].pos;
        if (x->fills[f].conv == 2 && !texts[pos] && !(texts[pos] = plain_text(&vals[pos], values[pos])))
            goto done;
    }
    PyObject *content = NULL;
    if (x->hook) {
        PyObject *args = PyTuple_New(x->nhook_pos);
        if (!args)
            goto done;
        for (int i = 0; i < x->nhook_pos; i++) {
            PyObject *v = values[x->hook_pos[i]];
            PyTuple_SET_ITEM(args, i, Py_NewRef(v ? v : Py_None));
        }
        content = PyObject_CallOneArg(x->hook, args);
        Py_DECREF(args);
        if (!content)
            goto done;
        if (!PyTuple_Check(content) || PyTuple_GET_SIZE(content) != x->nhook_cols) {
            Py_DECREF(content);
            PyErr_SetString(PyExc_TypeError, "a recipe's content hook returns one value per column");
            goto done;
        }
    }
    /* from here on every check is done: a failure is an error (out of memory, a value of the wrong
     * type), after which the batch is marked broken, since its columns may differ in length */
    Col *cols = self->cols;
    PyObject *row[MAX_COLUMNS];
    PyObject *converted[MAX_ATTRS];
    int nconv = 0;
    for (int c = 15; c < r->ncols; c++)
        row[c] = x->template[c];
    row[r->i_received] = received;
    if (row[r->i_agent_version] == Py_None)
        row[r->i_agent_version] = PyTuple_GET_ITEM(res, 1);
    for (int f = 0; f < x->nfills; f++) {
        Fill *fl = &x->fills[f];
        PyObject *v;
        if (fl->conv == 0)
            v = values[fl->pos];
        else if (fl->conv == 2)
            v = texts[fl->pos];
        else {
            v = PyNumber_Float(values[fl->pos]);
            if (!v)
                goto broken;
            converted[nconv++] = v;
        }
        row[fl->col] = v;
    }
    for (int i = 0; content && i < x->nhook_cols; i++)
        row[x->hook_cols[i]] = PyTuple_GET_ITEM(content, i);
    const char *kind = KIND_NAMES[s->kind < 6 ? s->kind : 0], *code = CODE_NAMES[s->code < 3 ? s->code : 0];
    int ok = col_hex(&cols[0], s->tid.p, 16) == 0 && col_hex(&cols[1], s->sid.p, 8) == 0 &&
             (s->pid.e > s->pid.p ? col_hex(&cols[2], s->pid.p, 8) : col_null(&cols[2])) == 0 &&
             col_str(&cols[3], (const char *)s->name.p, s->name.e - s->name.p) == 0 &&
             col_str(&cols[4], kind, (Py_ssize_t)strlen(kind)) == 0 &&
             col_str(&cols[5], code, (Py_ssize_t)strlen(code)) == 0 && col_null(&cols[6]) == 0 &&
             col_i64(&cols[7], (int64_t)s->start) == 0 &&
             (s->end ? col_i64(&cols[8], (int64_t)s->end) : col_null(&cols[8])) == 0 &&
             ((s->end && s->end >= s->start) ? col_f64(&cols[9], (double)duration / 1e6) : col_null(&cols[9])) == 0;
    for (int c = 0; ok && c < 3; c++)
        ok = col_obj(&cols[10 + c], PyTuple_GET_ITEM(res, c)) == 0;
    ok = ok && col_obj(&cols[13], scope_name) == 0 && col_obj(&cols[14], scope_version) == 0;
    for (int c = 15; ok && c < r->ncols; c++)
        if (c != r->i_attrs && c != r->i_rattrs)
            ok = col_obj(&cols[c], row[c]) == 0;
    Col *attrs_col = &cols[r->i_attrs], *rattrs_col = &cols[r->i_rattrs];
    for (int e = 0; ok && e < x->nentries; e++) {
        MapEntry *m = &x->entries[e];
        ok = col_obj(attrs_col->child, m->key) == 0 &&
             col_obj(attrs_col->child2, m->text ? m->text : texts[m->pos]) == 0;
    }
    PyObject *rkeys = PyTuple_GET_ITEM(res, 3), *rvalues = PyTuple_GET_ITEM(res, 4);
    for (Py_ssize_t e = 0; ok && e < PyTuple_GET_SIZE(rkeys); e++)
        ok = col_obj(rattrs_col->child, PyTuple_GET_ITEM(rkeys, e)) == 0 &&
             col_obj(rattrs_col->child2, PyTuple_GET_ITEM(rvalues, e)) == 0;
    ok = ok && col_nest_end(attrs_col) == 0 && col_nest_end(rattrs_col) == 0 &&
         col_i64(&self->hours, (int64_t)(s->start / HOUR_NS)) == 0;
    if (!ok)
        goto broken;
    self->rows++;
    ret = 1;
    goto undo;
broken:
    self->broken = 1;
undo:
    for (int i = 0; i < nconv; i++)
        Py_DECREF(converted[i]);
    Py_XDECREF(content);
done:
    for (Py_ssize_t n = 0; n < na; n++) {
        Py_XDECREF(values[n]);
        Py_XDECREF(texts[n]);
    }
    return ret;
}

static PyObject *utf8_or_none(Buf b) {
    if (b.e <= b.p)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8((const char *)b.p, b.e - b.p, "strict");
}

static PyObject *resource_of(SpanBatch *self, Buf b) {
    PyObject *raw = PyBytes_FromStringAndSize((const char *)b.p, b.e - b.p);
    if (!raw)
        return NULL;
    PyObject *res = PyObject_CallOneArg(self->resource, raw);
    Py_DECREF(raw);
    if (!res)
        return NULL;
    if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 5 || !PyTuple_Check(PyTuple_GET_ITEM(res, 3)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(res, 4)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(res, 3)) != PyTuple_GET_SIZE(PyTuple_GET_ITEM(res, 4))) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "resource() returns (service, version, environment, keys, values)");
        return NULL;
    }
    return res;
}

static PyObject *batch_scan(SpanBatch *self, PyObject *args) {
    Py_buffer payload;
    PyObject *received;
    if (!PyArg_ParseTuple(args, "y*O!", &payload, &PyLong_Type, &received))
        return NULL;
    if (self->broken) {
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_RuntimeError, "a write failed half-way: the batch's columns disagree");
        return NULL;
    }
    Walk w;
    memset(&w, 0, sizeof(w));
    PyObject *out = NULL, *others = NULL, **resources = NULL, **scopes = NULL;
    Buf b = {payload.buf, (const uint8_t *)payload.buf + payload.len};
    int r = walk_request(&w, b);
    if (r == ERR)
        goto done;
    if (r == BAIL) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    if (!(others = PyList_New(0)))
        goto done;
    resources = PyMem_Calloc(w.nres + 1, sizeof(PyObject *));
    scopes = PyMem_Calloc(2 * w.nscope + 1, sizeof(PyObject *));
    if (!resources || !scopes) {
        PyErr_NoMemory();
        goto done;
    }
    Recipes *rec = self->recipes;
    int32_t tok[MAX_ATTRS];
    Plain vals[MAX_ATTRS];
    for (Py_ssize_t n = 0; n < w.nspans; n++) {
        SpanD *s = &w.spans[n];
        if (!ids_ok(s->tid.e - s->tid.p, s->sid.e - s->sid.p, s->pid.e - s->pid.p, s->tid, s->sid, s->start)) {
            self->rejected++;
            continue;
        }
        int seen = check_seen(self, s->tid.p, s->sid.p, s->start, s->end, s->name.p, s->name.e - s->name.p);
        if (seen < 0)
            goto done;
        if (seen == 1)
            continue;
        int written = 0;
        if (!s->other && s->msg.e <= s->msg.p && s->na <= MAX_ATTRS) {
            Buf *attrs = &w.attrs[s->a0];
            int64_t index = -1;
            if (tokens_of(rec, attrs, s->na, tok, vals)) {
                const uint8_t *key = (const uint8_t *)tok;
                Py_ssize_t klen = (Py_ssize_t)(s->na * sizeof(int32_t));
                index = table_get(&rec->shapes, key, klen, hash_bytes(key, klen));
                if (index >= 0 && !rec->recipes[index].hold)
                    index = -2; /* known: the Python path */
            }
            if (index == -1) {
                int err = 0;
                index = learn(self, attrs, s->na, s->name, tok, vals, &err);
                if (err)
                    goto done;
            }
            if (index >= 0) {
                Py_ssize_t sc = w.span_scope[n];
                if (!resources[s->i] && !(resources[s->i] = resource_of(self, w.res[s->i])))
                    goto done;
                if (!scopes[2 * sc] && (!(scopes[2 * sc] = utf8_or_none(w.scope[2 * sc])) ||
                                        !(scopes[2 * sc + 1] = utf8_or_none(w.scope[2 * sc + 1]))))
                    goto done;
                written = write_row(self, &rec->recipes[index], s, attrs, vals, resources[s->i], scopes[2 * sc],
                                    scopes[2 * sc + 1], received);
                if (written < 0)
                    goto done;
            }
        }
        if (!written && append_steal(others, Py_BuildValue("(iii)", s->i, s->j, s->k)) < 0)
            goto done;
    }
    out = Py_NewRef(others);
done:
    if (resources)
        for (Py_ssize_t i = 0; i < w.nres; i++)
            Py_XDECREF(resources[i]);
    if (scopes)
        for (Py_ssize_t i = 0; i < 2 * w.nscope; i++)
            Py_XDECREF(scopes[i]);
    PyMem_Free(resources);
    PyMem_Free(scopes);
    Py_XDECREF(others);
    walk_free(&w);
    PyBuffer_Release(&payload);
    return out;
}

/* The columns so far, handed over as Arrow buffers (arrowcols.h, col_take), and the hour of each row
 * (int64 bytes); the batch starts empty columns (its memory of ids stays), so that a large batch is
 * turned into Arrow piece by piece. */
static PyObject *batch_take(SpanBatch *self, PyObject *unused) {
    if (self->broken) {
        PyErr_SetString(PyExc_RuntimeError, "a write failed half-way: the batch's columns disagree");
        return NULL;
    }
    Recipes *r = self->recipes;
    PyObject *cols = PyList_New(r->ncols);
    if (!cols)
        return NULL;
    for (int c = 0; c < r->ncols; c++) {
        PyObject *v = col_take(&self->cols[c]);
        if (!v) {
            self->broken = 1;
            Py_DECREF(cols);
            return NULL;
        }
        PyList_SET_ITEM(cols, c, v);
    }
    PyObject *hours = PyBytes_FromStringAndSize((const char *)self->hours.data, self->hours.ndata);
    if (!hours) {
        self->broken = 1;
        Py_DECREF(cols);
        return NULL;
    }
    self->hours.n = self->hours.ndata = 0;
    return Py_BuildValue("(NN)", cols, hours);
}

static PyObject *batch_get_rows(SpanBatch *self, void *closure) { return PyLong_FromSsize_t(self->rows); }
static PyObject *batch_get_rejected(SpanBatch *self, void *closure) { return PyLong_FromSsize_t(self->rejected); }
static PyObject *batch_get_duplicates(SpanBatch *self, void *closure) {
    return PyLong_FromSsize_t(self->duplicates);
}

static PyGetSetDef batch_getset[] = {
    {"rows", (getter)batch_get_rows, NULL, "rows written by the compiled path", NULL},
    {"rejected", (getter)batch_get_rejected, NULL, "spans with malformed ids or no start", NULL},
    {"duplicates", (getter)batch_get_duplicates, NULL, "exact resends dropped (both paths)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef batch_methods[] = {
    {"scan", (PyCFunction)batch_scan, METH_VARARGS,
     "scan(payload, received_ns) -> positions of the spans left to Python, or None (nothing written)"},
    {"seen", (PyCFunction)batch_seen, METH_VARARGS,
     "seen(trace_id, span_id, start, end, name) -> 0 new, 1 an exact resend, 2 ids reused"},
    {"take", (PyCFunction)batch_take, METH_NOARGS, "(columns, hours) so far as Arrow buffers; the batch starts anew"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject SpanBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "driftline.collector.native._spanscan.SpanBatch",
    .tp_basicsize = sizeof(SpanBatch),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The span rows of one batch, column by column.",
    .tp_methods = batch_methods,
    .tp_getset = batch_getset,
    .tp_init = (initproc)batch_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *recipes_get_counts(Recipes *r, void *closure) {
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n}", "learned", r->learned, "refused", r->refused, "cleared",
                         r->cleared, "stable", r->stable.n, "shapes", r->shapes.n);
}

static PyGetSetDef recipes_getset[] = {
    {"counts", (getter)recipes_get_counts, NULL, "learned/refused shapes, clears, table sizes", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* check(payload) -> the number of spans when the request walks plainly and every span can be stored
 * (ids and start as otlp.ids_problem requires), else None: the Python rule then counts and words the
 * refusals. The receiver's Export calls it after the protobuf parse has validated the request. */
static PyObject *check(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Walk w;
    memset(&w, 0, sizeof(w));
    Buf b = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
    int r = walk_request(&w, b);
    Py_ssize_t n = 0;
    if (r == OK)
        for (; n < w.nspans; n++) {
            SpanD *s = &w.spans[n];
            if (!ids_ok(s->tid.e - s->tid.p, s->sid.e - s->sid.p, s->pid.e - s->pid.p, s->tid, s->sid, s->start))
                break;
        }
    Py_ssize_t spans = w.nspans;
    walk_free(&w);
    PyBuffer_Release(&view);
    if (r == ERR)
        return NULL;
    if (r == BAIL || n < spans)
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(spans);
}

/* column(kind, values) -> one column's buffers (col_take), built cell by cell as a batch builds it:
 * the tests hold it to pyarrow's own conversion of the same values. */
static PyObject *column(PyObject *module, PyObject *args) {
    const char *kind;
    PyObject *values;
    if (!PyArg_ParseTuple(args, "sO!", &kind, &PyList_Type, &values))
        return NULL;
    if (strlen(kind) != 1 || !strchr("sifLo", kind[0])) {
        PyErr_SetString(PyExc_ValueError, "kind is one of s i f L o");
        return NULL;
    }
    Col c;
    PyObject *out = NULL;
    if (col_init(&c, kind[0]) == 0) {
        Py_ssize_t i = 0;
        while (i < PyList_GET_SIZE(values) && col_obj(&c, PyList_GET_ITEM(values, i)) == 0)
            i++;
        if (i == PyList_GET_SIZE(values))
            out = col_take(&c);
    }
    col_free(&c);
    return out;
}

static PyMethodDef module_methods[] = {
    {"check", check, METH_O, "check(payload) -> the number of spans when every one would be accepted, else None"},
    {"column", column, METH_VARARGS, "column(kind, values) -> the column's Arrow buffers, as a batch builds them"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spanscan", "Compiled span path of the normalizer.", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit__spanscan(void) {
    uint16_t one = 1;
    if (*(uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "_spanscan reads little-endian fixed64 values only");
        return NULL;
    }
    RecipesType.tp_getset = recipes_getset;
    if (PyType_Ready(&RecipesType) < 0 || PyType_Ready(&SpanBatchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&RecipesType);
    Py_INCREF(&SpanBatchType);
    if (PyModule_AddObject(m, "Recipes", (PyObject *)&RecipesType) < 0 ||
        PyModule_AddObject(m, "SpanBatch", (PyObject *)&SpanBatchType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_ATTRS", MAX_ATTRS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
