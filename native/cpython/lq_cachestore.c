/* The runtime cache's write path as a CPython extension type.
 *
 * CacheStore holds the latest bar per symbol and the latest state per order id in two dicts of plain
 * tuples, exactly as the pure-Python fallback in lq_engine/core/cache.py does; the Python class
 * RuntimeCache subclasses it for every read, snapshot and restore. Only the two hot writes live here:
 * each is one vectorcall, one tuple and one dict store, with no per-call Python frame.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>

/* Which row a repeated symbol's bar overwrites, remembered without a lookup: the key object and
 * row last written, both borrowed, valid while the dict's version tag (bumped by CPython on every
 * change of a dict, CPython <= 3.11 exposes it) is the one recorded, since an unchanged dict still
 * maps that key to that row and holds both. */
#if PY_VERSION_HEX < 0x030C0000
#define LQ_DICT_VERSION(d) (((PyDictObject *)(d))->ma_version_tag)
#endif

typedef struct {
    PyObject *key;
    PyObject *row;
    uint64_t version;
} LastRow;

typedef struct {
    PyObject_HEAD
    PyObject *market; /* symbol -> (timestamp_ns, sequence, open, high, low, close, volume) */
    PyObject *orders; /* order_id -> (state, symbol, side, quantity, filled, avg_price) */
    LastRow last_bar;
} CacheStore;

static PyObject *default_side;  /* 0 */
static PyObject *default_zero;  /* 0.0 */
static PyObject *default_nan;   /* nan */

/* Positional-or-keyword arguments into out[0..n): names, required count, defaults for the rest. */
static int
parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           const char *const *names, Py_ssize_t n, Py_ssize_t required, PyObject *const *defaults,
           PyObject **out)
{
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, n, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            Py_ssize_t i = 0;
            while (i < n && PyUnicode_CompareWithASCIIString(key, names[i]) != 0)
                i++;
            if (i == n) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
                return -1;
            }
            if (out[i] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[i]);
                return -1;
            }
            out[i] = args[nargs + k];
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (out[i] != NULL)
            continue;
        if (i < required) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
        out[i] = defaults[i - required];
    }
    return 0;
}

/* Row: an immutable sequence of scalars, like a tuple but not a garbage-collector type.
 *
 * Rows hold only ints, floats and strings (put_row stores a plain tuple when any item is a
 * container), so they can never be part of a reference cycle; leaving them out of the collector
 * saves its bookkeeping on every allocation and its traversal of every stored row. */
typedef struct {
    PyObject_VAR_HEAD
    PyObject *items[1];
} Row;

static PyTypeObject *RowType;

static Row *
row_new(PyObject *const *items, Py_ssize_t n)
{
    Row *row = (Row *)PyObject_Malloc(offsetof(Row, items) + n * sizeof(PyObject *));
    if (row == NULL)
        return (Row *)PyErr_NoMemory();
    PyObject_InitVar((PyVarObject *)row, RowType, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(items[i]);
        row->items[i] = items[i];
    }
    return row;
}

static void
row_dealloc(Row *row)
{
    PyTypeObject *tp = Py_TYPE(row);
    for (Py_ssize_t i = 0; i < Py_SIZE(row); i++)
        Py_XDECREF(row->items[i]);
    PyObject_Free(row);
    Py_DECREF(tp);
}

static Py_ssize_t
row_length(Row *row)
{
    return Py_SIZE(row);
}

static PyObject *
row_item(Row *row, Py_ssize_t i)
{
    if (i < 0 || i >= Py_SIZE(row)) {
        PyErr_SetString(PyExc_IndexError, "row index out of range");
        return NULL;
    }
    return Py_NewRef(row->items[i]);
}

static PyObject *
row_as_tuple(PyObject *self, PyObject *unused)
{
    Row *row = (Row *)self;
    PyObject *t = PyTuple_New(Py_SIZE(row));
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < Py_SIZE(row); i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(row->items[i]));
    return t;
}

static PyObject *
row_repr(PyObject *self)
{
    PyObject *t = row_as_tuple(self, NULL);
    if (t == NULL)
        return NULL;
    PyObject *r = PyObject_Repr(t);
    Py_DECREF(t);
    return r;
}

/* Compares like the tuple of its items (with rows and tuples). */
static PyObject *
row_richcompare(PyObject *a, PyObject *b, int op)
{
    PyObject *ta = NULL, *tb = NULL, *r = NULL;
    if (!(Py_IS_TYPE(b, RowType) || PyTuple_Check(b)) || !(Py_IS_TYPE(a, RowType) || PyTuple_Check(a)))
        Py_RETURN_NOTIMPLEMENTED;
    ta = Py_IS_TYPE(a, RowType) ? row_as_tuple(a, NULL) : Py_NewRef(a);
    tb = Py_IS_TYPE(b, RowType) ? row_as_tuple(b, NULL) : Py_NewRef(b);
    if (ta != NULL && tb != NULL)
        r = PyObject_RichCompare(ta, tb, op);
    Py_XDECREF(ta);
    Py_XDECREF(tb);
    return r;
}

static PyMethodDef row_methods[] = {
    {"as_tuple", row_as_tuple, METH_NOARGS, "The row's items as a tuple."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot row_slots[] = {
    {Py_tp_dealloc, row_dealloc},
    {Py_sq_length, row_length},
    {Py_sq_item, row_item},
    {Py_tp_repr, row_repr},
    {Py_tp_richcompare, row_richcompare},
    {Py_tp_methods, row_methods},
    {Py_tp_doc, "An immutable row of scalars in the runtime cache (indexes, unpacks and compares like a tuple)."},
    {0, NULL},
};

static PyType_Spec row_spec = {
    .name = "lq_cachestore.Row",
    .basicsize = offsetof(Row, items),
    .itemsize = sizeof(PyObject *),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = row_slots,
};

/* Overwrite a Row nobody else holds with items[0..n). */
static inline void
overwrite_row(Row *row, PyObject *const *items, Py_ssize_t n)
{
    PyObject *old[8];
    for (Py_ssize_t i = 0; i < n; i++) {
        old[i] = row->items[i];
        row->items[i] = Py_NewRef(items[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(old[i]); /* after the row is whole again: a release may run arbitrary code */
}

static inline void
remember(LastRow *last, PyObject *dict, PyObject *key, PyObject *row)
{
#ifdef LQ_DICT_VERSION
    last->key = key;
    last->row = row;
    last->version = LQ_DICT_VERSION(dict);
#endif
}

/* Store (items[0..n)) under key in dict: a Row of scalars, or a tuple if any item is a container.
 * With ``last`` (market rows: the same few keys over and over) the previous Row of that key is
 * overwritten in place when the dict holds the only reference to it (nobody can observe that:
 * CPython reuses its own tuples the same way), found without a lookup when it is the row written
 * last; order rows are mostly new keys, where a lookup first would only cost. */
static inline PyObject *
put_row(PyObject *dict, PyObject *key, PyObject *const *items, Py_ssize_t n, LastRow *last)
{
    int gc = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        gc |= PyType_IS_GC(Py_TYPE(items[i])); /* conservative: a GC type counts even if untracked */
    if (last != NULL && !gc) {
        PyObject *row;
#ifdef LQ_DICT_VERSION
        if (key == last->key && LQ_DICT_VERSION(dict) == last->version)
            row = last->row;
        else
#endif
        {
            row = PyDict_GetItemWithError(dict, key); /* borrowed */
            if (row == NULL && PyErr_Occurred())
                return NULL;
        }
        if (row != NULL && Py_REFCNT(row) == 1 && Py_IS_TYPE(row, RowType) && Py_SIZE(row) == n) {
            remember(last, dict, key, row); /* before the releases in overwrite_row */
            overwrite_row((Row *)row, items, n);
            Py_RETURN_NONE;
        }
    }
    PyObject *row;
    if (gc) {
        row = PyTuple_New(n);
        if (row == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(row, i, Py_NewRef(items[i]));
    }
    else if ((row = (PyObject *)row_new(items, n)) == NULL)
        return NULL;
    int rc = PyDict_SetItem(dict, key, row);
    /* Remember only what the dict holds now: releasing the replaced value may have run code. */
    if (rc == 0 && last != NULL && PyDict_GetItemWithError(dict, key) == row)
        remember(last, dict, key, row);
    Py_DECREF(row);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static const char *const BAR_NAMES[] = {"symbol", "timestamp_ns", "sequence", "open", "high", "low", "close", "volume"};

static PyObject *
update_bar(CacheStore *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[8];
    if (nargs == 8 && kwnames == NULL)
        return put_row(self->market, args[0], args + 1, 7, &self->last_bar);
    if (parse_args("update_bar", args, nargs, kwnames, BAR_NAMES, 8, 8, NULL, a) < 0)
        return NULL;
    return put_row(self->market, a[0], a + 1, 7, &self->last_bar);
}

static const char *const ORDER_NAMES[] = {"order_id", "state", "symbol", "side", "quantity", "filled", "avg_price"};

static PyObject *
update_order(CacheStore *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[7];
    if (nargs == 7 && kwnames == NULL)
        return put_row(self->orders, args[0], args + 1, 6, NULL);
    PyObject *const defaults[4] = {default_side, default_zero, default_zero, default_nan};
    if (kwnames == NULL && nargs >= 3 && nargs <= 7) { /* positional with defaults: the common short form */
        memcpy(a, args, nargs * sizeof(PyObject *));
        memcpy(a + nargs, defaults + (nargs - 3), (7 - nargs) * sizeof(PyObject *));
    }
    else if (parse_args("update_order", args, nargs, kwnames, ORDER_NAMES, 7, 3, defaults, a) < 0)
        return NULL;
    return put_row(self->orders, a[0], a + 1, 6, NULL);
}

static PyObject *
store_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    CacheStore *self = (CacheStore *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->market = PyDict_New();
    self->orders = PyDict_New();
    if (self->market == NULL || self->orders == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
store_traverse(CacheStore *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->market);
    Py_VISIT(self->orders);
    return 0;
}

static int
store_clear(CacheStore *self)
{
    Py_CLEAR(self->market);
    Py_CLEAR(self->orders);
    return 0;
}

static void
store_dealloc(CacheStore *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    store_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef store_methods[] = {
    {"update_bar", (PyCFunction)(void (*)(void))update_bar, METH_FASTCALL | METH_KEYWORDS,
     "update_bar(symbol, timestamp_ns, sequence, open, high, low, close, volume): the latest bar of symbol."},
    {"update_order", (PyCFunction)(void (*)(void))update_order, METH_FASTCALL | METH_KEYWORDS,
     "update_order(order_id, state, symbol, side=0, quantity=0.0, filled=0.0, avg_price=nan): the latest order state."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef store_members[] = {
    {"_market", T_OBJECT_EX, offsetof(CacheStore, market), READONLY, "symbol -> bar tuple"},
    {"_orders", T_OBJECT_EX, offsetof(CacheStore, orders), READONLY, "order id -> order tuple"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot store_slots[] = {
    {Py_tp_new, store_new},
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_traverse, store_traverse},
    {Py_tp_clear, store_clear},
    {Py_tp_methods, store_methods},
    {Py_tp_members, store_members},
    {Py_tp_doc, "Compiled write path of the runtime cache (latest bar per symbol, latest state per order)."},
    {0, NULL},
};

static PyType_Spec store_spec = {
    .name = "lq_cachestore.CacheStore",
    .basicsize = sizeof(CacheStore),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = store_slots,
};

static int
module_exec(PyObject *m)
{
    default_side = PyLong_FromLong(0);
    default_zero = PyFloat_FromDouble(0.0);
    default_nan = PyFloat_FromDouble(NAN);
    if (default_side == NULL || default_zero == NULL || default_nan == NULL)
        return -1;
    RowType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &row_spec, NULL);
    if (RowType == NULL || PyModule_AddObjectRef(m, "Row", (PyObject *)RowType) < 0)
        return -1;
    PyObject *type = PyType_FromModuleAndSpec(m, &store_spec, NULL);
    if (type == NULL)
        return -1;
    int rc = PyModule_AddObjectRef(m, "CacheStore", type);
    Py_DECREF(type);
    return rc;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lq_cachestore",
    .m_doc = "Compiled write path of lq_engine.core.cache.RuntimeCache.",
    .m_size = 0,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit_lq_cachestore(void)
{
    return PyModuleDef_Init(&module_def);
}
