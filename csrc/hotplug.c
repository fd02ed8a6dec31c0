/* Memory hotplug's part of the core: the pages of a newly added memory
 * section exist offline (add_memory_resource's memmap), and onlining them
 * gives each to the balloon (xen_online_page), not to the page allocator. */
#include "xb_impl.h"

/* add_memory_resource's memmap: the holes start_pfn.. exist now, offline
 * twin: core/_py/hotplug.py:add_memory */
int xb_add_memory(xb_guest *g, uint64_t start_pfn, uint64_t n)
{
    if (n > XB_MAX_GFNS || start_pfn > XB_MAX_GFNS - n)
        return XB_EINVAL;
    if (n == 0)
        return 0;
    xb_domain *d = g->dom;
    uint64_t end = start_pfn + n;
    for (uint64_t pfn = start_pfn; pfn < end; pfn++) {
        if (pfn < g->nr_pfns && (g->flags[pfn] & XB_PG_STATE))
            return XB_EINVAL;
        if (pfn < d->nr_gfns && d->p2m[pfn] != XB_NIL)
            return XB_EINVAL;
    }
    int rc = xb_guest_grow(g, end);
    if (rc == 0)
        rc = xb_domain_grow(d, end);
    if (rc != 0)
        return rc; /* out of memory: at most the arrays grew, with holes */
    uint8_t *flags = g->flags;
    for (uint64_t pfn = start_pfn; pfn < end; pfn++)
        flags[pfn] |= XB_PG_OFFLINE;
    return 0;
}

/* xen_online_page for a range: each offline page goes to the balloon, in
 * ascending pfn order (so lowmem pages end up reversed at the head)
 * twin: core/_py/hotplug.py:online_pages */
int xb_online_pages(xb_guest *g, uint64_t start_pfn, uint64_t n)
{
    if (n > g->nr_pfns || start_pfn > g->nr_pfns - n)
        return XB_EINVAL;
    for (uint64_t pfn = start_pfn; pfn < start_pfn + n; pfn++)
        if ((g->flags[pfn] & XB_PG_STATE) != XB_PG_OFFLINE)
            return XB_EINVAL;
    for (uint64_t pfn = start_pfn; pfn < start_pfn + n; pfn++)
        xb_append_page(g, (uint32_t)pfn); /* clears XB_PG_OFFLINE with the other state bits */
    return 0;
}
