/* The event queue of csrc/sim/clock.c: timers bucketed by time, as the twin's
 * (src/xenballoon/sim/pyloop.py): a hash table from each pending time to its bucket, a
 * FIFO array of the timers queued for that time in the order they were queued, and a
 * min-heap of the distinct times.  Simulated events mostly fall on the same instants
 * (whole jiffies, the same backoff delays), so queueing is one hash probe and an append,
 * taking the next event is reading the next slot of the current bucket, and the heap
 * holds only the distinct times: the cost per event does not grow with the timers queued
 * (a heap of 10,000 entries is 14 levels of cache misses per event).
 *
 * The queue owns one reference to each timer in it.  It never calls into Python.
 */
#ifndef XB_SIM_QUEUE_H
#define XB_SIM_QUEUE_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct TimerObject TimerObject;

typedef struct {
    double when;
    TimerObject **items; /* the queued timers are items[head:len] */
    Py_ssize_t head, len, cap;
} Bucket;

typedef struct {
    Bucket *buckets;        /* bucket storage; a bucket is named by its index */
    Py_ssize_t nbuckets;    /* slots of `buckets` in use (live or free) */
    Py_ssize_t buckets_cap;
    Py_ssize_t *unused;     /* indices of free bucket slots (a stack) */
    Py_ssize_t nunused, unused_cap;
    Py_ssize_t *times;      /* min-heap of the live buckets, by their time */
    Py_ssize_t ntimes, times_cap;
    Py_ssize_t *table;      /* open addressing: -1 empty, -2 deleted, else a bucket */
    Py_ssize_t mask;        /* table size - 1 (a power of two); 0 before the first push */
    Py_ssize_t filled;      /* table slots not empty (live or deleted) */
    Py_ssize_t size;        /* timers queued, cancelled ones included */
} Queue;

#define Q_EMPTY (-1)
#define Q_DELETED (-2)
#define Q_BUCKET_KEEP 64 /* a freed bucket keeps an array up to this size for reuse */

static inline int q_grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t item)
{
    if (need <= *cap)
        return 0;
    Py_ssize_t cap2 = *cap ? *cap : 8;
    while (cap2 < need)
        cap2 *= 2;
    void *p = PyMem_Realloc(*array, (size_t)cap2 * item);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *array = p;
    *cap = cap2;
    return 0;
}

static inline size_t q_hash(double when)
{
    uint64_t bits;
    if (when == 0.0)
        when = 0.0; /* -0.0 is the instant 0.0 too, as for the twin's dict */
    memcpy(&bits, &when, sizeof bits);
    bits ^= bits >> 33;
    bits *= 0xff51afd7ed558ccdULL;
    bits ^= bits >> 33;
    return (size_t)bits;
}

/* The table slot of `when`'s bucket, or of the empty slot where it would go. */
static inline Py_ssize_t q_probe(const Queue *q, double when)
{
    Py_ssize_t i = (Py_ssize_t)(q_hash(when) & (size_t)q->mask), deleted = -1;
    for (;;) {
        Py_ssize_t b = q->table[i];
        if (b == Q_EMPTY)
            return deleted >= 0 ? deleted : i;
        if (b == Q_DELETED) {
            if (deleted < 0)
                deleted = i;
        } else if (q->buckets[b].when == when) {
            return i;
        }
        i = (i + 1) & q->mask;
    }
}

/* A table for the live buckets, with room for as many again (not installed yet). */
static Py_ssize_t *q_table_alloc(const Queue *q, Py_ssize_t *size)
{
    *size = 16;
    while (*size < 4 * (q->ntimes + 1))
        *size *= 2;
    Py_ssize_t *table = PyMem_Malloc((size_t)*size * sizeof(Py_ssize_t));
    if (table == NULL)
        PyErr_NoMemory();
    return table;
}

/* Install `table` and index the live buckets in it. */
static void q_table_install(Queue *q, Py_ssize_t *table, Py_ssize_t size)
{
    PyMem_Free(q->table);
    q->table = table;
    q->mask = size - 1;
    for (Py_ssize_t i = 0; i < size; i++)
        table[i] = Q_EMPTY;
    for (Py_ssize_t k = 0; k < q->ntimes; k++) {
        Py_ssize_t b = q->times[k];
        table[q_probe(q, q->buckets[b].when)] = b;
    }
    q->filled = q->ntimes;
}

static int q_rehash(Queue *q)
{
    Py_ssize_t size;
    Py_ssize_t *table = q_table_alloc(q, &size);
    if (table == NULL)
        return -1;
    q_table_install(q, table, size);
    return 0;
}

static inline int q_before(const Queue *q, Py_ssize_t a, Py_ssize_t b)
{
    return q->buckets[a].when < q->buckets[b].when;
}

static void q_times_down(Queue *q, Py_ssize_t pos)
{
    Py_ssize_t *h = q->times, n = q->ntimes, item = h[pos];
    for (;;) {
        Py_ssize_t child = 2 * pos + 1;
        if (child >= n)
            break;
        if (child + 1 < n && q_before(q, h[child + 1], h[child]))
            child++;
        if (!q_before(q, h[child], item))
            break;
        h[pos] = h[child];
        pos = child;
    }
    h[pos] = item;
}

static void q_times_heapify(Queue *q)
{
    for (Py_ssize_t i = q->ntimes / 2 - 1; i >= 0; i--)
        q_times_down(q, i);
}

/* The free-slot stack can hold every bucket: dropping one never allocates. */
static inline int q_reserve_unused(Queue *q)
{
    return q_grow((void **)&q->unused, &q->unused_cap, q->buckets_cap, sizeof(Py_ssize_t));
}

/* A bucket for the new instant `when`, linked into the table (at `slot`) and the heap. */
static Py_ssize_t q_new_bucket(Queue *q, double when, Py_ssize_t slot)
{
    Py_ssize_t b;
    if (q_grow((void **)&q->times, &q->times_cap, q->ntimes + 1, sizeof(Py_ssize_t)) < 0)
        return -1;
    if (q->nunused > 0) {
        b = q->unused[--q->nunused];
    } else {
        if (q_grow((void **)&q->buckets, &q->buckets_cap, q->nbuckets + 1, sizeof(Bucket)) < 0 ||
            q_reserve_unused(q) < 0)
            return -1;
        b = q->nbuckets++;
        memset(&q->buckets[b], 0, sizeof(Bucket));
    }
    Bucket *bucket = &q->buckets[b];
    /* room for its first timer before it is linked: a bucket in the queue is never empty */
    if (q_grow((void **)&bucket->items, &bucket->cap, 1, sizeof(TimerObject *)) < 0) {
        q->unused[q->nunused++] = b;
        return -1;
    }
    bucket->when = when;
    bucket->head = bucket->len = 0;
    if (q->table[slot] == Q_EMPTY)
        q->filled++;
    q->table[slot] = b;
    Py_ssize_t pos = q->ntimes++;
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) / 2;
        if (!(when < q->buckets[q->times[parent]].when))
            break;
        q->times[pos] = q->times[parent];
        pos = parent;
    }
    q->times[pos] = b;
    return b;
}

/* Queue `timer` (one more reference) at `when`, after those already queued for it. */
static int q_push(Queue *q, double when, TimerObject *timer)
{
    if (q->filled + 1 > (q->mask + 1) / 2 && q_rehash(q) < 0)
        return -1;
    Py_ssize_t slot = q_probe(q, when), b = q->table[slot];
    if (b < 0 && (b = q_new_bucket(q, when, slot)) < 0)
        return -1;
    Bucket *bucket = &q->buckets[b];
    if (bucket->len == bucket->cap) {
        if (bucket->head > 0) { /* reuse the spent front of the array */
            memmove(bucket->items, bucket->items + bucket->head,
                    (size_t)(bucket->len - bucket->head) * sizeof(TimerObject *));
            bucket->len -= bucket->head;
            bucket->head = 0;
        } else if (q_grow((void **)&bucket->items, &bucket->cap, bucket->len + 1,
                          sizeof(TimerObject *)) < 0) {
            return -1;
        }
    }
    Py_INCREF(timer);
    bucket->items[bucket->len++] = timer;
    q->size++;
    return 0;
}

/* The earliest bucket, or NULL when nothing is queued. */
static inline Bucket *q_front(const Queue *q)
{
    return q->ntimes > 0 ? &q->buckets[q->times[0]] : NULL;
}

/* Drop the earliest bucket (it is empty). */
static void q_drop_front(Queue *q)
{
    Py_ssize_t b = q->times[0];
    Bucket *bucket = &q->buckets[b];
    Py_ssize_t i = (Py_ssize_t)(q_hash(bucket->when) & (size_t)q->mask);
    while (q->table[i] != b) /* (by index, not by time: a NaN time equals nothing) */
        i = (i + 1) & q->mask;
    q->table[i] = Q_DELETED;
    bucket->head = bucket->len = 0;
    if (bucket->cap > Q_BUCKET_KEEP) { /* a one-off crowd: give its memory back */
        PyMem_Free(bucket->items);
        bucket->items = NULL;
        bucket->cap = 0;
    }
    q->unused[q->nunused++] = b; /* room: unused_cap >= buckets_cap */
    q->times[0] = q->times[--q->ntimes];
    if (q->ntimes > 0)
        q_times_down(q, 0);
}

/* Take the first timer queued at the earliest time (its reference passes to the caller);
 * the queue is not empty, and its front bucket not empty either. */
static inline TimerObject *q_pop(Queue *q)
{
    Bucket *bucket = &q->buckets[q->times[0]];
    TimerObject *timer = bucket->items[bucket->head++];
    q->size--;
    if (bucket->head == bucket->len)
        q_drop_front(q);
    return timer;
}

/* Keep only the timers `keep` says yes to, in order; the others are appended to `dropped`
 * (room for q->size) and their references pass to the caller.  Rebuilds the buckets,
 * the heap of times and the table; on failure (no memory) nothing changes. */
static int q_filter(Queue *q, int (*keep)(TimerObject *), TimerObject **dropped,
                    Py_ssize_t *ndropped)
{
    Py_ssize_t size, live = 0;
    Py_ssize_t *table = q_table_alloc(q, &size);
    if (table == NULL)
        return -1;
    *ndropped = 0;
    for (Py_ssize_t k = 0; k < q->ntimes; k++) {
        Py_ssize_t b = q->times[k];
        Bucket *bucket = &q->buckets[b];
        Py_ssize_t kept = 0;
        for (Py_ssize_t i = bucket->head; i < bucket->len; i++) {
            if (keep(bucket->items[i]))
                bucket->items[kept++] = bucket->items[i];
            else
                dropped[(*ndropped)++] = bucket->items[i];
        }
        bucket->head = 0;
        bucket->len = kept;
        if (kept > 0)
            q->times[live++] = b;
        else
            q->unused[q->nunused++] = b;
    }
    q->ntimes = live;
    q->size -= *ndropped;
    q_times_heapify(q);
    q_table_install(q, table, size);
    return 0;
}

static void q_free(Queue *q)
{
    for (Py_ssize_t b = 0; b < q->nbuckets; b++)
        PyMem_Free(q->buckets[b].items);
    PyMem_Free(q->buckets);
    PyMem_Free(q->unused);
    PyMem_Free(q->times);
    PyMem_Free(q->table);
    memset(q, 0, sizeof *q);
}

#endif
