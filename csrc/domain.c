/* A domain's reservation: its physmap (gfn -> mfn, XB_NIL = unpopulated),
 * and the two XENMEM hypercalls that move frames between it and the pool. */
#include "xb_impl.h"

/* gfn is populated with a frame this host owns, and the pool has room for it
 * (the pool is full only if a frame is mapped twice: a corrupt p2m)
 * twin: none (a bounds check Python gets from IndexError) */
static inline int releasable(const xb_domain *d, uint64_t gfn)
{
    const xb_host *h = d->host;
    if (gfn >= d->nr_gfns)
        return 0;
    uint32_t mfn = d->p2m[gfn];
    return mfn < h->total_pages && h->free_pages < h->total_pages;
}

/* _release_frame: unmap gfn and push its frame on the pool (scrubbed if the
 * hypervisor scrubs freed frames)
 * twin: core/_py/domain.py:_release_frame */
static inline void release_frame(xb_domain *d, uint64_t gfn)
{
    xb_host *h = d->host;
    uint32_t mfn = d->p2m[gfn];
    d->p2m[gfn] = XB_NIL;
    d->tot_pages--;
    if (h->scrub_freed)
        h->tag[mfn] = 0;
    h->free_stack[h->free_pages++] = mfn;
}

/* _hand_frame: pop the pool's top frame for domid, counting a leak when it
 * still holds another domain's data (the callers keep top and leaks in locals)
 * twin: core/_py/domain.py:_hand_frame */
static inline uint32_t hand_frame(const uint32_t *stack, const uint32_t *tag, uint32_t domid,
                                  uint64_t *top, uint64_t *leaks)
{
    uint32_t mfn = stack[--*top];
    uint32_t t = tag[mfn];
    *leaks += (t != 0) & (t != domid);
    return mfn;
}

/* twin: core/_py/domain.py:domain_new */
xb_domain *xb_domain_new(xb_host *h, uint32_t domid, uint64_t memory, uint64_t max_pages)
{
    if (memory > h->free_pages || memory > XB_MAX_GFNS)
        return NULL;
    xb_domain *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->host = h;
    d->domid = domid;
    d->max_pages = max_pages;
    if (xb_domain_grow(d, memory) != 0) {
        free(d);
        return NULL;
    }
    /* gfns 0..memory-1 from the top of the pool, in order */
    uint32_t *p2m = d->p2m, *stack = h->free_stack, *tag = h->tag;
    uint64_t top = h->free_pages, leaks = 0;
    for (uint64_t gfn = 0; gfn < memory; gfn++)
        p2m[gfn] = hand_frame(stack, tag, domid, &top, &leaks);
    h->free_pages = top;
    h->leaks += leaks;
    d->tot_pages = memory;
    d->refs = 1;
    h->refs++; /* the host's memory stays until this domain is freed */
    return d;
}

/* Every frame back to the pool; the domain stays usable, unpopulated.  A
 * frame the host cannot take back (corrupt p2m) stays mapped.
 * twin: core/_py/domain.py:domain_release */
void xb_domain_release(xb_domain *d)
{
    for (uint64_t gfn = 0; gfn < d->nr_gfns; gfn++)
        if (d->p2m[gfn] != XB_NIL && releasable(d, gfn))
            release_frame(d, gfn);
}

/* Drops one reference (the owner's, or a freed guest's); the last frees the memory
 * and drops the domain's reference to its host.  Only memory: like a dropped Python
 * Domain, the frames it holds are not returned (domain_release does that).
 * twin: none (memory only: Python drops a Domain) */
void xb_domain_free(xb_domain *d)
{
    if (!d || --d->refs > 0)
        return;
    xb_host *h = d->host;
    free(d->p2m);
    free(d);
    xb_host_free(h);
}

/* twin: core/_py/domain.py:domain_grow */
int xb_domain_grow(xb_domain *d, uint64_t nr_gfns)
{
    if (nr_gfns <= d->nr_gfns)
        return 0;
    if (nr_gfns > XB_MAX_GFNS)
        return XB_EINVAL;
    size_t size = (size_t)nr_gfns * sizeof(uint32_t);
    uint32_t *p2m = d->p2m ? realloc(d->p2m, size) : xb_alloc_array(size);
    if (!p2m)
        return XB_ENOMEM;
    memset(p2m + d->nr_gfns, 0xff, (size_t)(nr_gfns - d->nr_gfns) * sizeof(uint32_t));
    d->p2m = p2m;
    d->nr_gfns = nr_gfns;
    return 0;
}

/* twin: core/_py/domain.py:domain_state_bytes */
uint64_t xb_domain_state_bytes(const xb_domain *d)
{
    return d->nr_gfns * 4;
}

/* XENMEM_populate_physmap: populate gfns in turn, stopping at the first that
 * fails (already populated, beyond the physmap, pool empty, max_pages).
 * twin: core/_py/domain.py:xenmem_populate_physmap */
int64_t xb_xenmem_populate_physmap(xb_domain *d, const uint64_t *gfns, uint64_t n)
{
    xb_host *h = d->host;
    uint64_t limit = xb_populate_limit(d, n);
    uint32_t *p2m = d->p2m, *stack = h->free_stack, *tag = h->tag;
    uint64_t nr_gfns = d->nr_gfns, top = h->free_pages, leaks = 0;
    uint32_t domid = d->domid;
    uint64_t done = 0;
    for (; done < limit; done++) {
        uint64_t gfn = gfns[done];
        if (gfn >= nr_gfns || p2m[gfn] != XB_NIL)
            break;
        p2m[gfn] = hand_frame(stack, tag, domid, &top, &leaks);
    }
    h->free_pages = top;
    h->leaks += leaks;
    d->tot_pages += done;
    return (int64_t)done;
}

/* XENMEM_decrease_reservation: release gfns in turn, stopping at the first
 * not populated.
 * twin: core/_py/domain.py:xenmem_decrease_reservation */
int64_t xb_xenmem_decrease_reservation(xb_domain *d, const uint64_t *gfns, uint64_t n)
{
    uint64_t done = 0;
    for (; done < n; done++) {
        uint64_t gfn = gfns[done];
        if (gfn >= d->nr_gfns || d->p2m[gfn] == XB_NIL || !releasable(d, gfn))
            break;
        release_frame(d, gfn);
    }
    return (int64_t)done;
}
