/* xenballoon.sim._clock: the compiled event loop (the hot part of Simulation, Timer and
 * DelayedWork).  Its reference twin is src/xenballoon/sim/pyloop.py and pywork.py; the
 * semantics are theirs (see their docstrings), and tests/test_clock_twins.py runs the same
 * random programs through both.
 *
 * The queue (queue.h) buckets timers by time, as the twin does: same-time events run in
 * the order they were queued (FIFO) and an event queued for the current instant runs after
 * those already queued for it.  A timer leaves the queue before its callback runs; each
 * timer is queued at most once.  A cancelled timer drops its callback at once and leaves a
 * dead slot, dropped when the loop reaches it or when the dead slots are more than half of
 * the queue (compaction, amortised as in the twin).
 *
 * Every callback may call back into the loop (schedule, cancel, compact): no pointer into the
 * queue is held across a call into Python.  The lock protocol is the twin's: call_at and
 * call_later take `lock` unless called from the thread running `run`; `run` holds it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <structmember.h>

#define COMPACT_MIN 64

#include "queue.h"

typedef struct {
    PyObject_HEAD
    double now;
    long hz;
    PyObject *lock;      /* threading.RLock */
    PyObject *until;     /* the `until` of the latest run: None or a float */
    int has_runner;
    unsigned long runner; /* the thread running `run`, when has_runner */
    Queue q;
    Py_ssize_t cancelled, compact_at; /* dead entries; when to consider compacting */
} LoopObject;

struct TimerObject {
    PyObject_HEAD
    LoopObject *sim; /* NULL once cancelled */
    PyObject *fn;    /* NULL unless pending */
    double when;
};

typedef struct {
    PyObject_HEAD
    LoopObject *sim;
    PyObject *fn;
    TimerObject *timer;
    int running;
} WorkObject;

static PyTypeObject LoopType, TimerType, WorkType;
static PyObject *InvalidArgument, *InvalidType, *ReentrancyError, *RLock;
static PyObject *s_acquire, *s_release, *s_g, *zero;

/* ---- the queue ------------------------------------------------------------------------ */

static void drop_dead_front(LoopObject *self)
{
    Bucket *front;
    while ((front = q_front(&self->q)) != NULL && front->items[front->head]->fn == NULL) {
        TimerObject *timer = q_pop(&self->q);
        if (self->cancelled > 0)
            self->cancelled--;
        Py_DECREF(timer);
    }
}

static int is_live(TimerObject *timer)
{
    return timer->fn != NULL;
}

/* Count one more dead slot; compact when they are more than half the queue. */
static void cancelled_one(LoopObject *self)
{
    self->cancelled++;
    if (self->cancelled < self->compact_at)
        return;
    Py_ssize_t slots = self->q.size;
    if (2 * self->cancelled > slots) {
        Py_ssize_t ndead = 0;
        TimerObject **dead = PyMem_Malloc((size_t)(slots ? slots : 1) * sizeof(*dead));
        if (dead == NULL || q_filter(&self->q, is_live, dead, &ndead) < 0) {
            PyMem_Free(dead); /* no memory to compact now: the queue stays correct */
            PyErr_Clear();
            return;
        }
        self->cancelled -= ndead;
        if (self->cancelled < 0)
            self->cancelled = 0;
        slots = self->q.size;
        for (Py_ssize_t i = 0; i < ndead; i++)
            Py_DECREF(dead[i]);
        PyMem_Free(dead);
    }
    Py_ssize_t step = slots / 4 > COMPACT_MIN ? slots / 4 : COMPACT_MIN;
    self->compact_at = self->cancelled + step;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static inline int in_run_thread(LoopObject *self)
{
    return self->has_runner && self->runner == PyThread_get_thread_ident();
}

static int lock_acquire(LoopObject *self)
{
    PyObject *r = PyObject_CallMethodNoArgs(self->lock, s_acquire);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Release the lock, keeping any exception already raised. */
static void lock_release(LoopObject *self)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *r = PyObject_CallMethodNoArgs(self->lock, s_release);
    if (r == NULL) {
        if (type != NULL)
            PyErr_Clear(); /* the first error wins */
        else
            return;
    }
    Py_XDECREF(r);
    PyErr_Restore(type, value, tb);
}

/* format(x, "g"), as the twin's messages write times */
static PyObject *fmt_g(double x)
{
    PyObject *f = PyFloat_FromDouble(x);
    if (f == NULL)
        return NULL;
    PyObject *s = PyObject_Format(f, s_g);
    Py_DECREF(f);
    return s;
}

/* The twin's _check_time: a number of seconds (not a bool), finite. */
static int check_time(PyObject *v, const char *name, double *out)
{
    if (PyFloat_CheckExact(v)) {
        *out = PyFloat_AS_DOUBLE(v);
    } else {
        if (PyBool_Check(v) || !(PyLong_Check(v) || PyFloat_Check(v))) {
            PyObject *tname = PyObject_GetAttrString((PyObject *)Py_TYPE(v), "__name__");
            if (tname != NULL) {
                PyErr_Format(InvalidType, "%s must be a number of seconds, not %S", name,
                             tname);
                Py_DECREF(tname);
            }
            return -1;
        }
        *out = PyLong_Check(v) ? PyLong_AsDouble(v) : PyFloat_AsDouble(v);
        if (*out == -1.0 && PyErr_Occurred())
            return -1;
    }
    if (!isfinite(*out)) {
        PyErr_Format(InvalidArgument, "%s must be finite, got %R", name, v);
        return -1;
    }
    return 0;
}

static void raise_before_now(const char *fmt, double t, double now)
{
    PyObject *a = fmt_g(t), *b = a ? fmt_g(now) : NULL;
    if (b != NULL)
        PyErr_Format(InvalidArgument, fmt, a, b);
    Py_XDECREF(a);
    Py_XDECREF(b);
}

/* Two arguments by position or by name (METH_FASTCALL | METH_KEYWORDS). */
static int two_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames, const char *n0, const char *n1, PyObject **a0,
                    PyObject **a1)
{
    PyObject *got[2] = {NULL, NULL};
    const char *names[2] = {n0, n1};
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 2 arguments (%zd given)", fname,
                     nargs + nkw);
        return -1;
    }
    for (i = 0; i < nargs; i++)
        got[i] = args[i];
    for (i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        int k;
        for (k = 0; k < 2; k++)
            if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0)
                break;
        if (k == 2 || got[k] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got %s argument %R", fname,
                         k == 2 ? "an unexpected keyword" : "multiple values for", key);
            return -1;
        }
        got[k] = args[nargs + i];
    }
    for (i = 0; i < 2; i++)
        if (got[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    *a0 = got[0];
    *a1 = got[1];
    return 0;
}

static TimerObject *new_timer(LoopObject *sim, double when, PyObject *fn)
{
    TimerObject *t = PyObject_GC_New(TimerObject, &TimerType);
    if (t == NULL)
        return NULL;
    Py_INCREF(sim);
    t->sim = sim;
    Py_XINCREF(fn);
    t->fn = fn;
    t->when = when;
    PyObject_GC_Track(t);
    return t;
}

/* Queue a new timer for `fn` at `when`: the twin's enqueue. */
static PyObject *enqueue(LoopObject *self, double when, PyObject *fn)
{
    TimerObject *t = new_timer(self, when, fn);
    if (t == NULL)
        return NULL;
    if (q_push(&self->q, when, t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

/* Queue an idle timer of this loop again (it ran: not pending, not cancelled). */
static int requeue(LoopObject *self, TimerObject *t, double when, PyObject *fn)
{
    if (t->fn != NULL || t->sim != self) {
        PyErr_SetString(InvalidArgument,
                        "requeue: the timer must be idle (not pending, not cancelled) and "
                        "of this simulation");
        return -1;
    }
    if (q_push(&self->q, when, t) < 0)
        return -1;
    t->when = when;
    Py_INCREF(fn);
    t->fn = fn;
    return 0;
}

/* ---- DelayedWork's run (called by the loop, no Python frame of ours) --------------------- */

static PyObject *work_run(WorkObject *w)
{
    PyObject *fn = w->fn;
    if (fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "DelayedWork was cleared by the collector");
        return NULL;
    }
    Py_INCREF(fn);
    w->running = 1;
    PyObject *r = PyObject_CallNoArgs(fn);
    w->running = 0;
    Py_DECREF(fn);
    return r;
}

/* ---- EventLoop ------------------------------------------------------------------------- */

static PyObject *loop_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    LoopObject *self = (LoopObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->hz = 250;
    self->compact_at = COMPACT_MIN;
    Py_INCREF(Py_None);
    self->until = Py_None;
    self->lock = PyObject_CallNoArgs(RLock);
    if (self->lock == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int loop_init(LoopObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"hz", NULL};
    PyObject *hz = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:Simulation", kwlist, &hz))
        return -1;
    if (hz == NULL)
        return 0;
    long value = -1;
    if (PyLong_Check(hz) && !PyBool_Check(hz)) {
        int overflow;
        value = PyLong_AsLongAndOverflow(hz, &overflow);
        if (overflow)
            value = -1;
    }
    if (value < 1) {
        PyErr_Format(InvalidArgument, "hz must be a positive integer, got %R", hz);
        return -1;
    }
    self->hz = value;
    return 0;
}

static int loop_traverse(LoopObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->lock);
    Py_VISIT(self->until);
    for (Py_ssize_t k = 0; k < self->q.ntimes; k++) {
        Bucket *bucket = &self->q.buckets[self->q.times[k]];
        for (Py_ssize_t i = bucket->head; i < bucket->len; i++)
            Py_VISIT(bucket->items[i]);
    }
    return 0;
}

static int loop_clear(LoopObject *self)
{
    Queue q = self->q; /* detached first: the timers' deallocation sees an empty queue */
    memset(&self->q, 0, sizeof self->q);
    self->cancelled = 0;
    for (Py_ssize_t k = 0; k < q.ntimes; k++) {
        Bucket *bucket = &q.buckets[q.times[k]];
        for (Py_ssize_t i = bucket->head; i < bucket->len; i++)
            Py_DECREF(bucket->items[i]);
    }
    q_free(&q);
    Py_CLEAR(self->until);
    return 0;
}

static void loop_dealloc(LoopObject *self)
{
    /* (a Python subclass's type reference is subtype_dealloc's to drop) */
    PyObject_GC_UnTrack(self);
    loop_clear(self);
    Py_CLEAR(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *loop_call_later(LoopObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    PyObject *delay_obj, *fn, *result = NULL;
    if (nargs == 2 && kwnames == NULL) {
        delay_obj = args[0];
        fn = args[1];
    } else if (two_args("call_later", args, nargs, kwnames, "delay", "fn", &delay_obj, &fn) < 0) {
        return NULL;
    }
    int locked = !in_run_thread(self);
    if (locked && lock_acquire(self) < 0)
        return NULL;
    double delay;
    if (PyFloat_CheckExact(delay_obj))
        delay = PyFloat_AS_DOUBLE(delay_obj);
    else if (check_time(delay_obj, "delay", &delay) < 0)
        goto done;
    if (!(0.0 <= delay && delay < INFINITY)) {
        if (check_time(delay_obj, "delay", &delay) == 0) {
            PyObject *d = fmt_g(delay);
            if (d != NULL) {
                PyErr_Format(InvalidArgument, "delay must not be negative, got %U", d);
                Py_DECREF(d);
            }
        }
        goto done;
    }
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(InvalidType, "fn must be callable");
        goto done;
    }
    result = enqueue(self, self->now + delay, fn);
done:
    if (locked)
        lock_release(self);
    return result;
}

static PyObject *loop_call_at(LoopObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *when_obj, *fn, *result = NULL;
    if (two_args("call_at", args, nargs, kwnames, "when", "fn", &when_obj, &fn) < 0)
        return NULL;
    int locked = !in_run_thread(self);
    if (locked && lock_acquire(self) < 0)
        return NULL;
    double when;
    if (check_time(when_obj, "when", &when) < 0)
        goto done;
    if (!(self->now <= when)) {
        raise_before_now("cannot schedule at %Us, before now (%Us)", when, self->now);
        goto done;
    }
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(InvalidType, "fn must be callable");
        goto done;
    }
    result = enqueue(self, when, fn);
done:
    if (locked)
        lock_release(self);
    return result;
}

static PyObject *loop_enqueue(LoopObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *when_obj, *fn;
    if (two_args("enqueue", args, nargs, kwnames, "when", "fn", &when_obj, &fn) < 0)
        return NULL;
    double when = PyFloat_AsDouble(when_obj);
    if (when == -1.0 && PyErr_Occurred())
        return NULL;
    return enqueue(self, when, fn);
}

static PyObject *loop_requeue(LoopObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "requeue() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!Py_IS_TYPE(args[0], &TimerType)) {
        PyErr_Format(InvalidType, "requeue: timer must be a Timer, not %s",
                     Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    double when = PyFloat_AsDouble(args[1]);
    if (when == -1.0 && PyErr_Occurred())
        return NULL;
    if (requeue(self, (TimerObject *)args[0], when, args[2]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Run events up to and including `limit`; the caller holds the lock and is the runner. */
static int run_events(LoopObject *self, double limit)
{
    Bucket *front;
    while ((front = q_front(&self->q)) != NULL && front->when <= limit) {
        double when = front->when;
        TimerObject *t = q_pop(&self->q);
        PyObject *fn = t->fn;
        if (fn == NULL) { /* cancelled: no event, and time does not move to it */
            if (self->cancelled > 0)
                self->cancelled--;
            Py_DECREF(t);
            continue;
        }
        t->fn = NULL; /* its reference passes to us */
        self->now = when;
        PyObject *r = Py_IS_TYPE(fn, &WorkType) ? work_run((WorkObject *)fn)
                                                : PyObject_CallNoArgs(fn);
        Py_DECREF(fn);
        Py_DECREF(t);
        if (r == NULL)
            return -1; /* the later entries stay queued, in order */
        Py_DECREF(r);
    }
    return 0;
}

static PyObject *run_until(LoopObject *self, PyObject *until_obj)
{
    if (lock_acquire(self) < 0)
        return NULL;
    double until = INFINITY;
    int ok = -1;
    if (self->has_runner) { /* we hold the lock: it is this thread */
        PyObject *now = fmt_g(self->now);
        if (now != NULL) {
            PyErr_Format(ReentrancyError,
                         "Simulation.run() called from an event at %Us: run may not be "
                         "re-entered (time would go backwards); schedule the work instead",
                         now);
            Py_DECREF(now);
        }
        goto done;
    }
    PyObject *until_value = Py_None;
    if (until_obj != Py_None) {
        if (check_time(until_obj, "until", &until) < 0)
            goto done;
        if (until < self->now) {
            raise_before_now("cannot run until %Us, before now (%Us)", until, self->now);
            goto done;
        }
        until_value = PyFloat_FromDouble(until);
        if (until_value == NULL)
            goto done;
    } else {
        Py_INCREF(until_value);
    }
    Py_XSETREF(self->until, until_value);
    self->runner = PyThread_get_thread_ident();
    self->has_runner = 1;
    ok = run_events(self, until);
    self->has_runner = 0;
    if (ok == 0 && until_obj != Py_None)
        self->now = until;
done:
    lock_release(self);
    if (ok < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *loop_run(LoopObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"until", NULL};
    PyObject *until = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:run", kwlist, &until))
        return NULL;
    return run_until(self, until);
}

static PyObject *loop_advance(LoopObject *self, PyObject *seconds_obj)
{
    double seconds;
    if (check_time(seconds_obj, "seconds", &seconds) < 0)
        return NULL;
    if (seconds < 0) {
        PyObject *s = fmt_g(seconds);
        if (s != NULL) {
            PyErr_Format(InvalidArgument, "cannot advance by a negative time (%Us)", s);
            Py_DECREF(s);
        }
        return NULL;
    }
    PyObject *until = PyFloat_FromDouble(self->now + seconds);
    if (until == NULL)
        return NULL;
    PyObject *r = run_until(self, until);
    Py_DECREF(until);
    return r;
}

static PyObject *loop_next_event_time(LoopObject *self, PyObject *unused)
{
    int locked = !in_run_thread(self);
    if (locked && lock_acquire(self) < 0)
        return NULL;
    drop_dead_front(self);
    Bucket *front = q_front(&self->q);
    PyObject *r = front != NULL ? PyFloat_FromDouble(front->when) : Py_NewRef(Py_None);
    if (locked)
        lock_release(self);
    return r;
}

static PyObject *loop_get_pending(LoopObject *self, void *closure)
{
    int locked = !in_run_thread(self);
    if (locked && lock_acquire(self) < 0)
        return NULL;
    Py_ssize_t n = 0;
    for (Py_ssize_t k = 0; k < self->q.ntimes; k++) {
        Bucket *bucket = &self->q.buckets[self->q.times[k]];
        for (Py_ssize_t i = bucket->head; i < bucket->len; i++)
            n += bucket->items[i]->fn != NULL;
    }
    if (locked)
        lock_release(self);
    return PyLong_FromSsize_t(n);
}

static PyObject *loop_get_queued(LoopObject *self, void *closure)
{
    return PyLong_FromSsize_t(self->q.size);
}

static PyObject *loop_get_now(LoopObject *self, void *closure)
{
    return PyFloat_FromDouble(self->now);
}

static PyObject *loop_get_jiffies(LoopObject *self, void *closure)
{
    /* the twin's int(now * hz + 1e-6): the epsilon keeps k/hz seconds at k jiffies */
    return PyLong_FromDouble(self->now * (double)self->hz + 1e-6);
}

static PyObject *loop_get_hz(LoopObject *self, void *closure)
{
    return PyLong_FromLong(self->hz);
}

static PyObject *loop_get_until(LoopObject *self, void *closure)
{
    return Py_NewRef(self->until ? self->until : Py_None);
}

static PyObject *loop_get_running(LoopObject *self, void *closure)
{
    return PyBool_FromLong(self->has_runner);
}

static PyObject *loop_get_lock(LoopObject *self, void *closure)
{
    return Py_NewRef(self->lock);
}

static PyMethodDef loop_methods[] = {
    {"call_later", (PyCFunction)(void (*)(void))loop_call_later, METH_FASTCALL | METH_KEYWORDS,
     "call_later($self, /, delay, fn)\n--\n\nRun fn() delay simulated seconds from now; returns its Timer."},
    {"call_at", (PyCFunction)(void (*)(void))loop_call_at, METH_FASTCALL | METH_KEYWORDS,
     "call_at($self, /, when, fn)\n--\n\nRun fn() at simulated time when (not in the past)."},
    {"enqueue", (PyCFunction)(void (*)(void))loop_enqueue, METH_FASTCALL | METH_KEYWORDS,
     "enqueue($self, /, when, fn)\n--\n\nQueue fn at when without checks; the caller holds lock."},
    {"requeue", (PyCFunction)(void (*)(void))loop_requeue, METH_FASTCALL,
     "requeue($self, timer, when, fn, /)\n--\n\nQueue an idle timer of this simulation again."},
    {"run", (PyCFunction)(void (*)(void))loop_run, METH_VARARGS | METH_KEYWORDS,
     "run($self, /, until=None)\n--\n\nRun events in time order up to and including until."},
    {"advance", (PyCFunction)loop_advance, METH_O, "advance($self, seconds, /)\n--\n\nrun(until=now + seconds)."},
    {"next_event_time", (PyCFunction)loop_next_event_time, METH_NOARGS,
     "When the earliest pending (not cancelled) event runs; None if there is none."},
    {NULL}};

static PyGetSetDef loop_getset[] = {
    {"now", (getter)loop_get_now, NULL, "Simulated seconds since the start.", NULL},
    {"jiffies", (getter)loop_get_jiffies, NULL, "Timer ticks since the start.", NULL},
    {"hz", (getter)loop_get_hz, NULL, "Timer ticks per simulated second.", NULL},
    {"until", (getter)loop_get_until, NULL, "The until of the latest run().", NULL},
    {"running", (getter)loop_get_running, NULL, "run() is running events.", NULL},
    {"lock", (getter)loop_get_lock, NULL, "The world's lock (a threading.RLock).", NULL},
    {"pending", (getter)loop_get_pending, NULL, "Events queued, not run nor cancelled.", NULL},
    {"queued", (getter)loop_get_queued, NULL, "Entries queued, cancelled ones included.", NULL},
    {NULL}};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xenballoon.sim._clock.EventLoop",
    .tp_basicsize = sizeof(LoopObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The compiled event loop: the hot part of xenballoon.sim.Simulation.",
    .tp_new = loop_new,
    .tp_init = (initproc)loop_init,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_traverse = (traverseproc)loop_traverse,
    .tp_clear = (inquiry)loop_clear,
    .tp_methods = loop_methods,
    .tp_getset = loop_getset,
};

/* ---- Timer ----------------------------------------------------------------------------- */

static PyObject *timer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"sim", "when", "fn", NULL};
    PyObject *sim, *fn = Py_None;
    double when;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Od|O:Timer", kwlist, &sim, &when, &fn))
        return NULL;
    if (!PyObject_TypeCheck(sim, &LoopType)) {
        PyErr_Format(InvalidType, "Timer: sim must be a Simulation, not %s",
                     Py_TYPE(sim)->tp_name);
        return NULL;
    }
    if (fn != Py_None) {
        PyErr_SetString(InvalidArgument, "Timer: a new timer is idle (fn None); queue it "
                                         "with Simulation.requeue");
        return NULL;
    }
    return (PyObject *)new_timer((LoopObject *)sim, when, NULL);
}

static int timer_traverse(TimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->sim);
    Py_VISIT(self->fn);
    return 0;
}

static int timer_clear(TimerObject *self)
{
    Py_CLEAR(self->fn);
    Py_CLEAR(self->sim);
    return 0;
}

static void timer_dealloc(TimerObject *self)
{
    PyObject_GC_UnTrack(self);
    timer_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *timer_cancel(TimerObject *self, PyObject *unused)
{
    LoopObject *sim = self->sim;
    if (self->fn == NULL || sim == NULL) /* ran, or already cancelled */
        Py_RETURN_NONE;
    Py_INCREF(sim);
    int locked = !in_run_thread(sim);
    if (locked && lock_acquire(sim) < 0) {
        Py_DECREF(sim);
        return NULL;
    }
    PyObject *fn = self->fn;
    if (fn != NULL && self->sim == sim) {
        self->fn = NULL;
        self->sim = NULL;
        cancelled_one(sim);
        Py_DECREF(sim); /* the timer's reference */
    } else {
        fn = NULL;
    }
    if (locked)
        lock_release(sim);
    Py_DECREF(sim);
    Py_XDECREF(fn); /* last: it may run any code */
    Py_RETURN_NONE;
}

static PyObject *timer_repr(TimerObject *self)
{
    PyObject *when = fmt_g(self->when);
    if (when == NULL)
        return NULL;
    const char *state = self->sim == NULL ? " cancelled" : self->fn != NULL ? "" : " done";
    PyObject *r = PyUnicode_FromFormat("<Timer at %Us%s>", when, state);
    Py_DECREF(when);
    return r;
}

static PyObject *timer_get_sim(TimerObject *self, void *c)
{
    return Py_NewRef(self->sim ? (PyObject *)self->sim : Py_None);
}

static PyObject *timer_get_fn(TimerObject *self, void *c)
{
    return Py_NewRef(self->fn ? self->fn : Py_None);
}

static PyObject *timer_get_when(TimerObject *self, void *c)
{
    return PyFloat_FromDouble(self->when);
}

static PyObject *timer_get_cancelled(TimerObject *self, void *c)
{
    return PyBool_FromLong(self->sim == NULL);
}

static PyObject *timer_get_pending(TimerObject *self, void *c)
{
    return PyBool_FromLong(self->fn != NULL);
}

static PyMethodDef timer_methods[] = {
    {"cancel", (PyCFunction)timer_cancel, METH_NOARGS,
     "Stop the call (idempotent); the callback is dropped at once."},
    {NULL}};

static PyGetSetDef timer_getset[] = {
    {"sim", (getter)timer_get_sim, NULL, "Its simulation; None once cancelled.", NULL},
    {"fn", (getter)timer_get_fn, NULL, "The callback while pending, else None.", NULL},
    {"when", (getter)timer_get_when, NULL, "When it runs (simulated seconds).", NULL},
    {"cancelled", (getter)timer_get_cancelled, NULL, "cancel() was called.", NULL},
    {"pending", (getter)timer_get_pending, NULL, "Queued, neither run nor cancelled.", NULL},
    {NULL}};

static PyTypeObject TimerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xenballoon.sim.Timer",
    .tp_basicsize = sizeof(TimerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A scheduled call; cancel() stops it from running (idempotent).\n\n"
              "fn is the callback while the timer is pending, None once it ran or was "
              "cancelled.",
    .tp_new = timer_new,
    .tp_dealloc = (destructor)timer_dealloc,
    .tp_traverse = (traverseproc)timer_traverse,
    .tp_clear = (inquiry)timer_clear,
    .tp_repr = (reprfunc)timer_repr,
    .tp_methods = timer_methods,
    .tp_getset = timer_getset,
};

/* ---- DelayedWork ----------------------------------------------------------------------- */

static PyObject *work_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"sim", "fn", NULL};
    PyObject *sim, *fn;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:DelayedWork", kwlist, &sim, &fn))
        return NULL;
    if (!PyObject_TypeCheck(sim, &LoopType)) {
        PyErr_Format(InvalidType, "DelayedWork: sim must be a Simulation, not %s",
                     Py_TYPE(sim)->tp_name);
        return NULL;
    }
    WorkObject *self = (WorkObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->sim = (LoopObject *)Py_NewRef(sim);
    self->fn = Py_NewRef(fn);
    self->timer = new_timer(self->sim, 0.0, NULL);
    if (self->timer == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int work_traverse(WorkObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->sim);
    Py_VISIT(self->fn);
    Py_VISIT(self->timer);
    return 0;
}

static int work_clear(WorkObject *self)
{
    Py_CLEAR(self->timer);
    Py_CLEAR(self->fn);
    Py_CLEAR(self->sim);
    return 0;
}

static void work_dealloc(WorkObject *self)
{
    PyObject_GC_UnTrack(self);
    work_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* When the work queued with a delay of `delay` jiffies expires (the twin's arithmetic). */
static int work_expiry(LoopObject *sim, PyObject *delay, double *when)
{
    double now = sim->now;
    if (PyLong_CheckExact(delay)) {
        int overflow;
        long long d = PyLong_AsLongLongAndOverflow(delay, &overflow);
        if (!overflow && d == 0) {
            *when = now;
            return 0;
        }
        double ticks = now * (double)sim->hz + 1e-6;
        const long long exact = 1LL << 53; /* the sum converts to a double exactly */
        if (!overflow && ticks < (double)exact && d > -exact && d < exact) {
            long long sum = (long long)ticks + d;
            if (sum > -exact && sum < exact) {
                double t = (double)sum / (double)sim->hz;
                *when = t > now ? t : now;
                return 0;
            }
        }
    }
    /* anything else: the twin's expression on Python objects */
    int is_zero = PyObject_RichCompareBool(delay, zero, Py_EQ);
    if (is_zero < 0)
        return -1;
    if (is_zero) {
        *when = now;
        return 0;
    }
    PyObject *jiffies = PyLong_FromDouble(now * (double)sim->hz + 1e-6);
    PyObject *hz = jiffies ? PyLong_FromLong(sim->hz) : NULL;
    PyObject *sum = hz ? PyNumber_Add(jiffies, delay) : NULL;
    PyObject *t = sum ? PyNumber_TrueDivide(sum, hz) : NULL;
    Py_XDECREF(jiffies);
    Py_XDECREF(hz);
    Py_XDECREF(sum);
    if (t == NULL)
        return -1;
    double value = PyFloat_AsDouble(t);
    Py_DECREF(t);
    if (value == -1.0 && PyErr_Occurred())
        return -1;
    *when = value > now ? value : now;
    return 0;
}

/* Only a cyclic garbage collection clears a work item: later calls refuse, not crash. */
#define WORK_ALIVE(self, ret)                                                          \
    if ((self)->timer == NULL || (self)->sim == NULL) {                                \
        PyErr_SetString(PyExc_RuntimeError, "DelayedWork was cleared by the collector"); \
        return ret;                                                                    \
    }

static PyObject *work_schedule(WorkObject *self, PyObject *delay)
{
    WORK_ALIVE(self, NULL)
    if (self->timer->fn != NULL)
        Py_RETURN_FALSE;
    double when;
    if (work_expiry(self->sim, delay, &when) < 0)
        return NULL;
    if (requeue(self->sim, self->timer, when, (PyObject *)self) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *work_cancel(WorkObject *self, PyObject *unused)
{
    WORK_ALIVE(self, NULL)
    if (self->timer->fn == NULL)
        Py_RETURN_FALSE;
    TimerObject *fresh = new_timer(self->sim, 0.0, NULL);
    if (fresh == NULL)
        return NULL;
    TimerObject *old = self->timer;
    self->timer = fresh;
    PyObject *r = timer_cancel(old, NULL); /* drops the callback at once */
    Py_DECREF(old);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_TRUE;
}

static PyObject *work_call(WorkObject *self, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "DelayedWork() takes no arguments");
        return NULL;
    }
    return work_run(self);
}

static PyObject *work_get_pending(WorkObject *self, void *c)
{
    WORK_ALIVE(self, NULL)
    return PyBool_FromLong(self->timer->fn != NULL);
}

static PyObject *work_get_expires(WorkObject *self, void *c)
{
    WORK_ALIVE(self, NULL)
    if (self->timer->fn == NULL)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(self->timer->when);
}

static PyObject *work_get_running(WorkObject *self, void *c)
{
    return PyBool_FromLong(self->running);
}

static PyObject *work_get_sim(WorkObject *self, void *c)
{
    WORK_ALIVE(self, NULL)
    return Py_NewRef((PyObject *)self->sim);
}

static PyObject *work_get_fn(WorkObject *self, void *c)
{
    return Py_NewRef(self->fn ? self->fn : Py_None);
}

static PyMethodDef work_methods[] = {
    {"schedule", (PyCFunction)work_schedule, METH_O,
     "schedule_delayed_work: False (and no change) if already pending.\n\n"
     "The timer expires on a tick, at jiffies + delay_jiffies; a delay of 0 queues the "
     "work at once."},
    {"cancel", (PyCFunction)work_cancel, METH_NOARGS,
     "cancel_delayed_work: True if it was pending."},
    {NULL}};

static PyGetSetDef work_getset[] = {
    {"pending", (getter)work_get_pending, NULL, "Queued to run.", NULL},
    {"expires", (getter)work_get_expires, NULL, "When the pending item runs, or None.", NULL},
    {"running", (getter)work_get_running, NULL, "Its function is running.", NULL},
    {"sim", (getter)work_get_sim, NULL, "Its simulation.", NULL},
    {"fn", (getter)work_get_fn, NULL, "The work function.", NULL},
    {NULL}};

static PyTypeObject WorkType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xenballoon.sim.DelayedWork",
    .tp_basicsize = sizeof(WorkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "struct delayed_work: queueing a pending item does nothing; it may requeue "
              "itself.\n\nIt runs as an ordinary event of the simulation, reusing one timer "
              "(a new one only after a cancel); its callers hold the world's lock.",
    .tp_new = work_new,
    .tp_dealloc = (destructor)work_dealloc,
    .tp_traverse = (traverseproc)work_traverse,
    .tp_clear = (inquiry)work_clear,
    .tp_call = (ternaryfunc)work_call,
    .tp_methods = work_methods,
    .tp_getset = work_getset,
};

/* ---- the module ------------------------------------------------------------------------ */

static struct PyModuleDef clock_module = {
    PyModuleDef_HEAD_INIT, .m_name = "xenballoon.sim._clock",
    .m_doc = "The compiled event loop of xenballoon.sim (see csrc/sim/clock.c).", .m_size = -1};

PyMODINIT_FUNC PyInit__clock(void)
{
    if (PyType_Ready(&LoopType) < 0 || PyType_Ready(&TimerType) < 0 ||
        PyType_Ready(&WorkType) < 0)
        return NULL;
    PyObject *errors = PyImport_ImportModule("xenballoon.errors");
    if (errors == NULL)
        return NULL;
    InvalidArgument = PyObject_GetAttrString(errors, "InvalidArgument");
    InvalidType = PyObject_GetAttrString(errors, "InvalidType");
    ReentrancyError = PyObject_GetAttrString(errors, "ReentrancyError");
    Py_DECREF(errors);
    PyObject *threading = PyImport_ImportModule("threading");
    if (threading == NULL)
        return NULL;
    RLock = PyObject_GetAttrString(threading, "RLock");
    Py_DECREF(threading);
    s_acquire = PyUnicode_InternFromString("acquire");
    s_release = PyUnicode_InternFromString("release");
    s_g = PyUnicode_InternFromString("g");
    zero = PyLong_FromLong(0);
    if (!InvalidArgument || !InvalidType || !ReentrancyError || !RLock || !s_acquire ||
        !s_release || !s_g || !zero)
        return NULL;
    PyObject *m = PyModule_Create(&clock_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "EventLoop", (PyObject *)&LoopType) < 0 ||
        PyModule_AddObjectRef(m, "Timer", (PyObject *)&TimerType) < 0 ||
        PyModule_AddObjectRef(m, "DelayedWork", (PyObject *)&WorkType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
