/* The two-sample Kolmogorov-Smirnov statistic of two sorted samples, in one merge.

   Why compiled: a model diff computes it for every numeric feature of a million inferences per side;
   the numpy form (significance.ks_statistic, the specification and the fallback) needs a stable sort
   of the concatenation, a cumulative sum and a mask, about 60 ms; this loop reads each value once
   (a few ms) and releases the GIL, so the diff's threads run it on every core.

   ks_sorted(a, b) -> float: a and b are C-contiguous float64 buffers, sorted ascending, without NaN
   (the caller sorts and drops NaN). The gap between the empirical CDFs is taken after the last of
   each run of equal values, as counts (i * nb - j * na) in 64-bit integers: exact. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static int get_doubles(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "ks_sorted needs contiguous float64 arrays");
        return -1;
    }
    return 0;
}

static PyObject *ks_sorted(PyObject *self, PyObject *args) {
    PyObject *oa, *ob;
    Py_buffer va, vb;
    if (!PyArg_ParseTuple(args, "OO", &oa, &ob))
        return NULL;
    if (get_doubles(oa, &va) < 0)
        return NULL;
    if (get_doubles(ob, &vb) < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    const double *a = (const double *)va.buf, *b = (const double *)vb.buf;
    long long na = (long long)(va.len / 8), nb = (long long)(vb.len / 8);
    long long best = 0;
    if (na > 0 && nb > 0) {
        Py_BEGIN_ALLOW_THREADS
        /* A branch-light merge: one value taken per step (the smaller head, a's on a tie), the gap read
           only when the next value in merged order differs from this one (after the last of a run of
           ties, where both CDFs have taken every tie). Random interleaving defeats branch prediction,
           so the choices are arithmetic and conditional moves, not jumps. */
        long long i = 0, j = 0;
        double last = 0.0;
        while (i < na && j < nb) {
            double va = a[i], vb = b[j];
            int take_a = va <= vb;
            double x = take_a ? va : vb;
            i += take_a;
            j += !take_a;
            double next_a = i < na ? a[i] : INFINITY, next_b = j < nb ? b[j] : INFINITY;
            double next = next_a < next_b ? next_a : next_b;
            long long gap = i * nb - j * na;
            gap = gap < 0 ? -gap : gap;
            best = (next != x && gap > best) ? gap : best;
            last = x;
        }
        /* one side is used up: take the other's ties of the last value, read the gap there; the rest
           of the other side only closes the gap towards 0 */
        if (i > 0 || j > 0) {
            while (j < nb && b[j] == last)
                j++;
            while (i < na && a[i] == last)
                i++;
            long long gap = i * nb - j * na;
            gap = gap < 0 ? -gap : gap;
            if (gap > best)
                best = gap;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    if (na == 0 || nb == 0)
        return PyFloat_FromDouble(0.0);
    return PyFloat_FromDouble((double)best / ((double)na * (double)nb));
}

static PyMethodDef methods[] = {
    {"ks_sorted", ks_sorted, METH_VARARGS, "KS statistic of two sorted, NaN-free float64 samples."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ks", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ks(void) { return PyModule_Create(&module); }
