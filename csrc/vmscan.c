/* The guest's memory model: page cache, reclaim, swap and the OOM killer, and the
 * workload step that drives them.
 *
 * A page is free, anonymous (the workload model's pages sit on the anon list, a
 * LIFO linked through `next` and ended by XB_ANON_END), or page cache (clean file
 * data on a FIFO per zone, oldest first: the inactive file LRU).  Swapped-out pages
 * have no pfn: vm.swap_used counts them.  How Linux resolves pressure, in the order
 * followed here: allocations take free pages down to the watermark (the reserve),
 * then reclaim the oldest clean cache (mm/vmscan.c, shrink_page_list), then swap
 * anonymous pages out (if a swap device has room), and when nothing is left the OOM
 * killer (mm/oom_kill.c, out_of_memory) kills the largest process. */
#include "xb_impl.h"

/* a + b, saturated: counters Python can corrupt must not wrap */
static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* The low watermark, summed over zones.  __setup_per_zone_wmarks (mm/page_alloc.c)
 * sets min from min_free_kbytes, low = min + d and high = min + 2d with d = min/4
 * (the watermark_scale_factor term is smaller on small guests), and
 * totalreserve_pages is about the high watermark (calculate_totalreserve_pages; no
 * lowmem_reserve with one zone): so low = 5/6 of the reserve.
 * twin: core/_py/vmscan.py:wmark_low */
uint64_t xb_wmark_low(const xb_guest *g)
{
    return g->totalreserve_pages / 6 * 5 + g->totalreserve_pages % 6 * 5 / 6;
}

/* si_mem_available (mm/show_mem.c; mm/page_alloc.c before 6.1): free pages minus
 * totalreserve_pages, plus the page cache less min(cache / 2, low watermark) (the
 * part the kernel expects it cannot reclaim), never negative.
 * twin: core/_py/vmscan.py:mem_available */
uint64_t xb_si_mem_available(const xb_guest *g)
{
    uint64_t cache = sat_add(g->nr_cache[0], g->nr_cache[1]);
    uint64_t pagecache = cache - xb_min(cache / 2, xb_wmark_low(g));
    uint64_t avail = sat_add(sat_add(g->nr_free[0], g->nr_free[1]), pagecache);
    return avail > g->totalreserve_pages ? avail - g->totalreserve_pages : 0;
}

/* take the head of free list z, or XB_NIL if it is empty or corrupt
 * twin: core/_py/vmscan.py:pop_free */
static uint32_t pop_free(xb_guest *g, int z)
{
    uint32_t pfn = g->free_head[z];
    if (g->nr_free[z] == 0 || pfn >= g->nr_pfns)
        return XB_NIL;
    g->free_head[z] = g->next[pfn];
    g->next[pfn] = XB_NIL;
    g->nr_free[z]--;
    g->flags[pfn] &= (uint8_t)~XB_PG_FREE;
    return pfn;
}

/* the workload writes its data into a page's frame
 * twin: core/_py/vmscan.py:_write_data */
static inline void write_data(xb_guest *g, uint32_t pfn)
{
    xb_domain *d = g->dom;
    if (pfn < d->nr_gfns && d->p2m[pfn] < d->host->total_pages)
        d->host->tag[d->p2m[pfn]] = d->domid;
}

/* evict the oldest page of cache list z to the free list; XB_NIL if none
 * twin: core/_py/vmscan.py:cache_evict */
static uint32_t cache_evict(xb_guest *g, int z)
{
    uint32_t pfn = g->cache_head[z];
    if (g->nr_cache[z] == 0 || pfn >= g->nr_pfns)
        return XB_NIL;
    g->cache_head[z] = g->next[pfn];
    if (g->cache_head[z] == XB_NIL)
        g->cache_tail[z] = XB_NIL;
    g->nr_cache[z]--;
    xb_free_page(g, pfn);
    return pfn;
}

/* shrink_page_list over the inactive file list: up to n of the oldest clean cache
 * pages back to the allocator, highmem first (lowmem only for GFP_USER)
 * twin: core/_py/vmscan.py:shrink_cache */
static uint64_t shrink_cache(xb_guest *g, uint64_t n, int gfp)
{
    uint64_t done = 0;
    for (int z = gfp == XB_GFP_HIGHUSER ? 1 : 0; z >= 0; z--)
        while (done < n && cache_evict(g, z) != XB_NIL)
            done++;
    return done;
}

/* twin: core/_py/vmscan.py:direct_reclaim */
uint64_t xb_direct_reclaim(xb_guest *g, uint64_t nr_pages, int gfp)
{
    uint64_t free = gfp == XB_GFP_HIGHUSER ? sat_add(g->nr_free[0], g->nr_free[1])
                                           : g->nr_free[0];
    uint64_t above = free > g->totalreserve_pages ? free - g->totalreserve_pages : 0;
    uint64_t done = nr_pages > above ? shrink_cache(g, nr_pages - above, gfp) : 0;
    g->vm.balloon_reclaimed += done;
    return done;
}

/* up to n pages for the workload's anonymous memory: free pages above the reserve,
 * then the oldest cache (pgsteal); each goes on the anon list.  Returns how many.
 * twin: core/_py/vmscan.py:anon_charge */
static uint64_t anon_charge(xb_guest *g, uint64_t n)
{
    uint64_t free = sat_add(g->nr_free[0], g->nr_free[1]);
    uint64_t above = free > g->totalreserve_pages ? free - g->totalreserve_pages : 0;
    uint64_t from_free = xb_min(n, above);
    uint64_t stolen = shrink_cache(g, n - from_free, XB_GFP_HIGHUSER);
    g->vm.pgsteal += stolen;
    uint64_t got = 0;
    for (; got < from_free + stolen; got++) {
        uint32_t pfn = pop_free(g, g->nr_free[1] ? 1 : 0);
        if (pfn == XB_NIL)
            break;
        g->flags[pfn] |= XB_PG_WORKLOAD;
        g->next[pfn] = g->anon_head;
        g->anon_head = pfn;
        write_data(g, pfn);
        g->vm.nr_anon++;
    }
    return got;
}

/* the workload frees n of its anonymous pages, the newest first
 * twin: core/_py/vmscan.py:anon_release */
static void anon_release(xb_guest *g, uint64_t n)
{
    for (uint64_t i = 0; i < n && g->anon_head < g->nr_pfns; i++) {
        uint32_t pfn = g->anon_head;
        g->anon_head = g->next[pfn];
        xb_free_page(g, pfn);
        g->vm.nr_anon--;
    }
}

/* file pages read into the cache: up to n, from free pages above the reserve (a
 * read does not swap or kill); each joins its zone's cache list as the newest
 * twin: core/_py/vmscan.py:cache_fill */
static void cache_fill(xb_guest *g, uint64_t n)
{
    uint64_t free = sat_add(g->nr_free[0], g->nr_free[1]);
    uint64_t above = free > g->totalreserve_pages ? free - g->totalreserve_pages : 0;
    for (uint64_t i = xb_min(n, above); i > 0; i--) {
        int z = g->nr_free[1] ? 1 : 0;
        uint32_t pfn = pop_free(g, z);
        if (pfn == XB_NIL)
            break;
        g->flags[pfn] |= XB_PG_CACHE;
        if (g->cache_tail[z] == XB_NIL)
            g->cache_head[z] = pfn;
        else
            g->next[g->cache_tail[z]] = pfn;
        g->cache_tail[z] = pfn;
        g->nr_cache[z]++;
        write_data(g, pfn);
    }
}

/* One step of the workload: `anon` pages of anonymous demand and `file` pages of
 * file working set for the next dt seconds.
 *  1. The OOM killer's victims stay dead: their share (vm.killed) is taken off the
 *     demand, and shrinks with it when the workload asks for less.
 *  2. Less demand: swap slots are freed first, then resident pages.
 *  3. More: free pages above the reserve, then reclaimed cache; what is still short
 *     swaps out (as much as the device holds); the rest is out_of_memory, which kills
 *     the largest process (kill_unit pages, or the whole demand) until it fits.
 *  4. With nothing short, swapped pages come back (pswpin) while memory allows.
 *  5. The cache grows toward the file working set from free pages; what it still
 *     lacks is read again every step: refaults.
 * Under pressure: some demand not resident, cache reclaimed for it, or a refault.
 * twin: core/_py/vmscan.py:workload_step */
uint64_t xb_workload_step(xb_guest *g, uint64_t anon, uint64_t file, double dt)
{
    xb_vmstat *vm = &g->vm;
    uint64_t kills = 0, stolen = vm->pgsteal;
    if (vm->killed > anon)
        vm->killed = anon;
    uint64_t want = anon - vm->killed;
    uint64_t have = sat_add(vm->nr_anon, vm->swap_used);
    if (want < have) {
        uint64_t drop = have - want, from_swap = xb_min(drop, vm->swap_used);
        vm->swap_used -= from_swap;
        anon_release(g, drop - from_swap);
    }
    have = sat_add(vm->nr_anon, vm->swap_used);
    uint64_t grow = want > have ? want - have : 0;
    uint64_t unmet = grow - anon_charge(g, grow);
    uint64_t swap_free = vm->swap_pages > vm->swap_used ? vm->swap_pages - vm->swap_used : 0;
    uint64_t out = xb_min(unmet, swap_free);
    vm->swap_used += out;
    vm->pswpout += out;
    unmet -= out;
    while (unmet > 0 && want > 0) {
        uint64_t victim = vm->kill_unit ? xb_min(vm->kill_unit, want) : want;
        kills++;
        vm->oom_killed_pages += victim;
        vm->killed += victim;
        want -= victim;
        uint64_t part = xb_min(victim, unmet);
        unmet -= part;
        victim -= part;
        part = xb_min(victim, vm->swap_used);
        vm->swap_used -= part;
        anon_release(g, victim - part);
    }
    vm->oom_kills += kills;
    if (vm->swap_used > 0) {
        uint64_t in = anon_charge(g, vm->swap_used);
        vm->swap_used -= in;
        vm->pswpin += in;
    }
    uint64_t cache = sat_add(g->nr_cache[0], g->nr_cache[1]);
    if (file > cache) {
        cache_fill(g, file - cache);
        cache = g->nr_cache[0] + g->nr_cache[1];
    }
    uint64_t refaults = file > cache ? file - cache : 0;
    vm->refaults += refaults;
    vm->anon_demand = anon;
    vm->file_ws = file;
    vm->steps++;
    if (anon > vm->nr_anon) {
        double unmet_pages = (double)(anon - vm->nr_anon);
        vm->unmet_page_seconds += unmet_pages * dt;
    }
    if (anon > vm->nr_anon || refaults > 0 || vm->pgsteal != stolen)
        vm->pressure_seconds += dt;
    return kills;
}

/* twin: core/_py/vmscan.py:workloads_step */
uint64_t xb_workloads_step(xb_guest **gs, uint64_t n, const uint64_t *anon,
                           const uint64_t *file, double dt, uint64_t *kills)
{
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        kills[i] = xb_workload_step(gs[i], anon[i], file[i], dt);
        total += kills[i];
    }
    return total;
}

/* twin: core/_py/vmscan.py:read_vmstats */
void xb_read_vmstats(xb_guest **gs, uint64_t n, xb_vmstat *vm, uint64_t *mem)
{
    for (uint64_t i = 0; i < n; i++) {
        const xb_guest *g = gs[i];
        vm[i] = g->vm;
        mem[4 * i] = g->totalram_pages;
        mem[4 * i + 1] = sat_add(g->nr_free[0], g->nr_free[1]);
        mem[4 * i + 2] = sat_add(g->nr_cache[0], g->nr_cache[1]);
        mem[4 * i + 3] = xb_si_mem_available(g);
    }
}
