/* xenballoon core: what the C files share and cffi never sees.
 *
 * The helpers are static inline, so the per-page loops pay no call.  The C
 * keeps the Python core's order of operations; its only additions are bounds checks on
 * values Python can corrupt through the numpy views or the struct fields (an
 * mfn read from the p2m, a list that ends before its count), so that a
 * corrupt state makes a call stop or refuse where the Python core would raise, instead
 * of writing out of bounds.
 */
#ifndef XB_IMPL_H
#define XB_IMPL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "xb.h"

#define XB_PG_STATE \
    (XB_PG_FREE | XB_PG_WORKLOAD | XB_PG_BALLOON | XB_PG_HANDED | XB_PG_OFFLINE | XB_PG_CACHE)

/* malloc(0) may return NULL, which would read as a failure */
static inline size_t xb_nz(uint64_t n) { return n ? (size_t)n : 1; }

static inline uint64_t xb_min(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t xb_max(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* malloc for the per-page arrays.  From 4 MiB up they are aligned to 2 MiB
 * and offered to transparent huge pages (where THP is "madvise", the common
 * default, nothing else gets them): the hot loops stream through four or
 * five such arrays at once, and on 4 KiB pages each stream takes a TLB miss
 * every 1024 entries (measured: 3.9 -> 3.1 ns per page for an 8M-page
 * inflate and deflate).  free() and realloc() take the result as usual. */
#define XB_BIG_ARRAY (4u << 20)
#define XB_HUGE_PAGE (2u << 20)
static inline void *xb_alloc_array(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    void *p;
    if (n >= XB_BIG_ARRAY) {
        if (posix_memalign(&p, XB_HUGE_PAGE, n) != 0)
            return NULL;
        madvise(p, n, MADV_HUGEPAGE); /* advice only: failure is harmless */
        return p;
    }
#endif
    return malloc(xb_nz(n));
}

/* *out = a - b; nonzero (and *out unspecified) if that overflows */
static inline int xb_sub_overflow(int64_t a, int64_t b, int64_t *out)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return 1;
    *out = a - b;
    return 0;
}

/* Follow a list link from pfn.  A walk along a list costs a load's latency
 * per page (the next address is in the page just loaded), unless the CPU need
 * not wait for the load: lists are mostly runs of consecutive pfns, up or
 * down, so the next pfn is guessed from the last step and the link only has
 * to confirm it, a branch the CPU predicts and runs ahead of.  The empty asm
 * hides that a zero difference means link == guess, which would let the
 * compiler return the loaded value (and wait for it) instead of the guess.
 * Without GNU C this is a plain walk. */
#if defined(__GNUC__)
#define XB_LIKELY(x) __builtin_expect(!!(x), 1)
#define XB_OPAQUE(x) __asm__("" : "+r"(x))
#else
#define XB_LIKELY(x) (x)
#define XB_OPAQUE(x) ((void)0)
#endif

static inline uint32_t xb_follow(uint32_t pfn, uint32_t link, uint32_t *step)
{
    uint32_t guess = pfn + *step;
    uint32_t miss = link ^ guess;
    XB_OPAQUE(miss);
    if (XB_LIKELY(miss == 0))
        return guess;
    *step = link - pfn;
    return link;
}

/* XENMEM_populate_physmap's budget: consumes one injected fault, and folds
 * in the pool and max_pages limits that the Python core tests on every page
 * twin: core/_py/domain.py:xenmem_populate_physmap (its limits) */
static inline uint64_t xb_populate_limit(xb_domain *d, uint64_t n)
{
    xb_host *h = d->host;
    uint64_t limit = n;
    if (h->fault_increase_calls > 0) {
        h->fault_increase_calls--;
        limit = xb_min(limit, h->fault_increase_max);
    }
    limit = xb_min(limit, h->free_pages);
    limit = xb_min(limit, d->tot_pages < d->max_pages ? d->max_pages - d->tot_pages : 0);
    return limit;
}

/* give a page to its zone's free list (LIFO)
 * twin: core/_py/guest.py:free_page */
static inline void xb_free_page(xb_guest *g, uint32_t pfn)
{
    int z = (g->flags[pfn] & XB_PG_HIGHMEM) ? 1 : 0;
    g->next[pfn] = g->free_head[z];
    g->free_head[z] = pfn;
    g->nr_free[z]++;
    g->flags[pfn] = (uint8_t)((g->flags[pfn] & ~XB_PG_STATE) | XB_PG_FREE);
}

/* balloon_append's list step (balloon.c, hotplug.c): lowmem at the head,
 * highmem at the tail
 * twin: core/_py/balloon.py:balloon_append */
static inline void xb_append_page(xb_guest *g, uint32_t pfn)
{
    uint8_t f = (uint8_t)((g->flags[pfn] & ~XB_PG_STATE) | XB_PG_BALLOON);
    g->flags[pfn] = f;
    if (f & XB_PG_HIGHMEM) {
        g->next[pfn] = XB_NIL;
        if (g->balloon_tail == XB_NIL)
            g->balloon_head = pfn;
        else
            g->next[g->balloon_tail] = pfn;
        g->balloon_tail = pfn;
        g->stats.balloon_high++;
    } else {
        g->next[pfn] = g->balloon_head;
        g->balloon_head = pfn;
        if (g->balloon_tail == XB_NIL)
            g->balloon_tail = pfn;
        g->stats.balloon_low++;
    }
}

/* A failed consistency check (xb_host_check, xb_guest_check): the reason goes
 * into the caller's msg/msg_len, rc becomes -1, and the caller's `out:` frees
 * what it holds.  The one error path of every check. */
#define FAIL(...)                                            \
    do {                                                     \
        snprintf(msg, (size_t)msg_len, __VA_ARGS__);         \
        rc = -1;                                             \
        goto out;                                            \
    } while (0)

/* _mark_all: mark every pfn that is in `state` and not yet marked; on the
 * first that is not, unmark the ones before it and return its index.  On
 * success the pfns stay marked: the caller clears the mark as it commits.
 * twin: core/_py/guest.py:mark_all */
static inline uint64_t xb_mark_all(xb_guest *g, const uint64_t *pfns, uint64_t n, uint8_t state)
{
    uint8_t *flags = g->flags;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t pfn = pfns[i];
        if (pfn >= g->nr_pfns || !(flags[pfn] & state) || (flags[pfn] & XB_PG_MARK)) {
            for (uint64_t j = 0; j < i; j++)
                flags[pfns[j]] &= (uint8_t)~XB_PG_MARK;
            return i;
        }
        flags[pfn] |= XB_PG_MARK;
    }
    return n;
}

#endif /* XB_IMPL_H */
