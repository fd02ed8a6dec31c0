/* xenballoon.xen.xenstore._node: a xenstore node that Python's cyclic collector does not
 * track.  Its reference twin is src/xenballoon/xen/xenstore/pynode.py; the semantics are its
 * own (see its docstrings), and tests/test_xenstore_node.py runs the same operations on both.
 *
 * Why a C type: every instance of a Python class is tracked, and a full collection walks
 * every tracked object (~1 us each here), so a host's ~80,000 nodes cost each collection
 * ~80 ms.  A node holds only a str or None (its value), a tuple of (int, int) tuples (its
 * permissions), a C integer (its generation) and a dict of str keys and None values (its
 * children: such a dict is not tracked either).  None of those can lead back to a node, so
 * a node can never be part of a reference cycle: the type has no Py_TPFLAGS_HAVE_GC.  The
 * setters hold that invariant: a value must be a str (a str subclass is stored as a plain
 * copy) or None, permissions a tuple of tuples of ints, a child's name a plain str;
 * anything else raises InvalidType and changes nothing.  The children dict is read-only to
 * callers (add_child, discard_child change it); a leaf shows one shared empty frozenset.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *value;    /* a str, or None */
    PyObject *perms;    /* a tuple of (int, int) tuples */
    PyObject *children; /* NULL (no child yet) or a dict of str -> None */
    long long gen;
} NodeObject;

static PyTypeObject NodeType;
static PyObject *InvalidType, *no_children;

/* ---- the invariant: nothing a node holds can reach a node ----------------------------- */

/* A new reference to the value to store, or NULL with InvalidType set. */
static PyObject *checked_value(PyObject *value)
{
    if (value == Py_None || PyUnicode_CheckExact(value))
        return Py_NewRef(value);
    if (PyUnicode_Check(value))
        return PyUnicode_FromObject(value); /* a plain copy of a str subclass */
    PyErr_Format(InvalidType, "a xenstore node's value is a str or None, not %.100s",
                 Py_TYPE(value)->tp_name);
    return NULL;
}

static int check_perms(PyObject *perms)
{
    if (PyTuple_CheckExact(perms)) {
        Py_ssize_t n = PyTuple_GET_SIZE(perms), i, j;
        for (i = 0; i < n; i++) {
            PyObject *entry = PyTuple_GET_ITEM(perms, i);
            if (!PyTuple_CheckExact(entry))
                break;
            for (j = 0; j < PyTuple_GET_SIZE(entry); j++)
                if (!PyLong_CheckExact(PyTuple_GET_ITEM(entry, j)))
                    break;
            if (j < PyTuple_GET_SIZE(entry))
                break;
        }
        if (i == n)
            return 0;
    }
    PyErr_Format(InvalidType, "a xenstore node's permissions are a tuple of (domid, access) "
                 "tuples of ints, not %.100s", Py_TYPE(perms)->tp_name);
    return -1;
}

static int check_name(PyObject *name)
{
    if (PyUnicode_CheckExact(name))
        return 0;
    PyErr_Format(InvalidType, "a xenstore node's child name is a str, not %.100s",
                 Py_TYPE(name)->tp_name);
    return -1;
}

/* ---- the type ---------------------------------------------------------------------------- */

static PyObject *node_make(PyTypeObject *type, PyObject *value, PyObject *perms, long long gen)
{
    if (check_perms(perms) < 0)
        return NULL;
    PyObject *stored = checked_value(value);
    if (stored == NULL)
        return NULL;
    NodeObject *self = (NodeObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(stored);
        return NULL;
    }
    self->value = stored;
    self->perms = Py_NewRef(perms);
    self->children = NULL;
    self->gen = gen;
    return (PyObject *)self;
}

static PyObject *node_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"value", "perms", "gen", NULL};
    PyObject *value, *perms;
    long long gen = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|L:Node", kwlist, &value, &perms, &gen))
        return NULL;
    return node_make(type, value, perms, gen);
}

/* Keywords or a wrong count of arguments: tp_new's parsing (and its errors). */
static PyObject *node_call_general(PyObject *type, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    PyObject *tuple = PyTuple_New(nargs), *kwds = NULL, *result = NULL;
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
    if (kwnames != NULL) {
        kwds = PyDict_New();
        for (Py_ssize_t i = 0; kwds != NULL && i < PyTuple_GET_SIZE(kwnames); i++)
            if (PyDict_SetItem(kwds, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(kwds);
        if (kwds == NULL)
            goto done;
    }
    result = node_new((PyTypeObject *)type, tuple, kwds);
done:
    Py_DECREF(tuple);
    Py_XDECREF(kwds);
    return result;
}

/* Node(value, perms[, gen]) called positionally: no argument tuple, no keyword parsing. */
static PyObject *node_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || nargs < 2 || nargs > 3)
        return node_call_general(type, args, nargs, kwnames);
    long long gen = 0;
    if (nargs == 3) {
        gen = PyLong_AsLongLong(args[2]);
        if (gen == -1 && PyErr_Occurred())
            return NULL;
    }
    return node_make((PyTypeObject *)type, args[0], args[1], gen);
}

static void node_dealloc(NodeObject *self)
{
    Py_XDECREF(self->value);
    Py_XDECREF(self->perms);
    Py_XDECREF(self->children);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *node_get_value(NodeObject *self, void *closure)
{
    return Py_NewRef(self->value);
}

static int node_set_value(NodeObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a xenstore node's value cannot be deleted");
        return -1;
    }
    PyObject *stored = checked_value(value);
    if (stored == NULL)
        return -1;
    Py_SETREF(self->value, stored);
    return 0;
}

static PyObject *node_get_perms(NodeObject *self, void *closure)
{
    return Py_NewRef(self->perms);
}

static int node_set_perms(NodeObject *self, PyObject *perms, void *closure)
{
    if (perms == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a xenstore node's perms cannot be deleted");
        return -1;
    }
    if (check_perms(perms) < 0)
        return -1;
    Py_SETREF(self->perms, Py_NewRef(perms));
    return 0;
}

static PyObject *node_get_children(NodeObject *self, void *closure)
{
    return Py_NewRef(self->children != NULL ? self->children : no_children);
}

static PyObject *node_add_child(NodeObject *self, PyObject *name)
{
    if (check_name(name) < 0)
        return NULL;
    if (self->children == NULL && (self->children = PyDict_New()) == NULL)
        return NULL;
    if (PyDict_SetItem(self->children, name, Py_None) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *node_discard_child(NodeObject *self, PyObject *name)
{
    if (check_name(name) < 0)
        return NULL;
    if (self->children != NULL && PyDict_Contains(self->children, name) == 1 &&
        PyDict_DelItem(self->children, name) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *node_copy(NodeObject *self, PyObject *unused)
{
    NodeObject *copy = (NodeObject *)node_make(Py_TYPE(self), self->value, self->perms,
                                               self->gen);
    if (copy != NULL && self->children != NULL && PyDict_GET_SIZE(self->children) > 0 &&
        (copy->children = PyDict_Copy(self->children)) == NULL)
        Py_CLEAR(copy);
    return (PyObject *)copy;
}

static PyMethodDef node_methods[] = {
    {"add_child", (PyCFunction)node_add_child, METH_O,
     "Add the child ``name`` (after the others; no change if it is there)."},
    {"discard_child", (PyCFunction)node_discard_child, METH_O,
     "Forget the child ``name`` (no error if absent)."},
    {"copy", (PyCFunction)node_copy, METH_NOARGS,
     "A node with the same value, permissions, generation and children (a dict of its own)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef node_getset[] = {
    {"value", (getter)node_get_value, (setter)node_set_value,
     "The node's value: a str, or None for a node made as a directory.", NULL},
    {"perms", (getter)node_get_perms, (setter)node_set_perms,
     "The node's permissions: ((owner, default access), (domid, access), ...).", NULL},
    {"children", (getter)node_get_children, NULL,
     "The names of the node's children in the order they were added (read-only).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef node_members[] = {
    {"gen", T_LONGLONG, offsetof(NodeObject, gen), 0,
     "The node's generation: renewed at each change."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject NodeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xenballoon.xen.xenstore.Node",
    .tp_basicsize = sizeof(NodeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* no Py_TPFLAGS_HAVE_GC: see the top of this file */
    .tp_doc = "Node(value, perms, gen=0): one xenstore node, not tracked by the cyclic "
              "collector.",
    .tp_new = node_new,
    .tp_vectorcall = node_vectorcall,
    .tp_dealloc = (destructor)node_dealloc,
    .tp_methods = node_methods,
    .tp_getset = node_getset,
    .tp_members = node_members,
};

static struct PyModuleDef node_module = {
    PyModuleDef_HEAD_INIT, .m_name = "xenballoon.xen.xenstore._node",
    .m_doc = "The compiled xenstore node (see xenballoon.xen.xenstore.pynode).", .m_size = -1,
};

PyMODINIT_FUNC PyInit__node(void)
{
    if (PyType_Ready(&NodeType) < 0)
        return NULL;
    PyObject *errors = PyImport_ImportModule("xenballoon.errors");
    if (errors == NULL)
        return NULL;
    InvalidType = PyObject_GetAttrString(errors, "InvalidType");
    Py_DECREF(errors);
    no_children = PyFrozenSet_New(NULL);
    if (InvalidType == NULL || no_children == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&node_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Node", (PyObject *)&NodeType) < 0 ||
        PyModule_AddObjectRef(m, "NO_CHILDREN", no_children) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
