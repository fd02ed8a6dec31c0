/* A guest's pages: per pfn a byte of flags and a list link.  The page
 * allocator keeps one LIFO free list per zone (lowmem, highmem); the workload
 * takes pages from it, highmem first. */
#include "xb_impl.h"

/* 1 for highmem: the free list the page belongs on; twin: core/_py/guest.py:_zone */
static inline int zone_of(const xb_guest *g, uint32_t pfn)
{
    return (g->flags[pfn] & XB_PG_HIGHMEM) ? 1 : 0;
}

/* flags of new pfns [from, to): only the constant highmem bit
 * twin: core/_py/guest.py:guest_new and guest_grow (their flag loops) */
static void init_pfns(xb_guest *g, uint64_t from, uint64_t to)
{
    uint64_t low = g->lowmem_pages < from ? from : xb_min(g->lowmem_pages, to);
    memset(g->flags + from, 0, (size_t)(low - from));
    memset(g->flags + low, XB_PG_HIGHMEM, (size_t)(to - low));
    memset(g->next + from, 0xff, (size_t)(to - from) * sizeof(uint32_t));
}

/* twin: core/_py/guest.py:guest_new */
xb_guest *xb_guest_new(xb_domain *d, uint64_t nr_pfns, uint64_t lowmem_pages,
                       uint64_t reserve_pages, uint64_t batch, int scrub_pages)
{
    /* pfns are 32-bit */
    if (nr_pfns > XB_MAX_GFNS || batch > SIZE_MAX / sizeof(uint64_t))
        return NULL;
    xb_guest *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->flags = xb_alloc_array(xb_nz(nr_pfns));
    g->next = xb_alloc_array(xb_nz(nr_pfns) * sizeof(uint32_t));
    g->frame_list = calloc(xb_nz(batch), sizeof(uint64_t));
    if (!g->flags || !g->next || !g->frame_list) {
        xb_guest_free(g);
        return NULL;
    }
    g->nr_pfns = g->capacity = nr_pfns;
    g->lowmem_pages = lowmem_pages;
    g->balloon_head = g->balloon_tail = XB_NIL;
    g->free_head[0] = g->free_head[1] = XB_NIL;
    g->anon_head = XB_ANON_END;
    g->cache_head[0] = g->cache_head[1] = g->cache_tail[0] = g->cache_tail[1] = XB_NIL;
    g->totalreserve_pages = reserve_pages;
    g->scrub_pages = scrub_pages;
    g->batch = batch;
    init_pfns(g, 0, nr_pfns);
    /* pushed in descending order so that the lowest pfn is allocated first */
    uint64_t populated = xb_min(nr_pfns, d->nr_gfns);
    for (uint64_t pfn = populated; pfn-- > 0;) {
        if (d->p2m[pfn] != XB_NIL) {
            xb_free_page(g, (uint32_t)pfn);
            g->totalram_pages++;
        }
    }
    g->dom = d;
    d->refs++; /* the domain's memory stays until this guest is freed */
    return g;
}

/* Frees the guest and drops its reference to its domain (none yet when xb_guest_new
 * fails).
 * twin: none (memory only: Python drops a Guest) */
void xb_guest_free(xb_guest *g)
{
    if (!g)
        return;
    xb_domain *d = g->dom;
    free(g->flags);
    free(g->next);
    free(g->frame_list);
    free(g);
    xb_domain_free(d);
}

/* twin: core/_py/guest.py:guest_grow */
int xb_guest_grow(xb_guest *g, uint64_t nr_pfns)
{
    if (nr_pfns <= g->nr_pfns)
        return 0;
    if (nr_pfns > XB_MAX_GFNS)
        return XB_EINVAL;
    /* if the second realloc fails the first block is merely larger than
     * capacity says, and the guest is unchanged */
    uint8_t *flags = realloc(g->flags, (size_t)nr_pfns);
    if (!flags)
        return XB_ENOMEM;
    g->flags = flags;
    uint32_t *next = realloc(g->next, (size_t)nr_pfns * sizeof(uint32_t));
    if (!next)
        return XB_ENOMEM;
    g->next = next;
    init_pfns(g, g->nr_pfns, nr_pfns);
    g->nr_pfns = g->capacity = nr_pfns;
    return 0;
}

/* the driver's batch size: frame_list is made anew, zeroed
 * twin: core/_py/guest.py:guest_set_batch */
int xb_guest_set_batch(xb_guest *g, uint64_t batch)
{
    if (batch > SIZE_MAX / sizeof(uint64_t))
        return XB_ENOMEM;
    uint64_t *frame_list = calloc(xb_nz(batch), sizeof(uint64_t));
    if (!frame_list)
        return XB_ENOMEM;
    free(g->frame_list);
    g->frame_list = frame_list;
    g->batch = batch;
    return 0;
}

/* twin: core/_py/guest.py:guest_state_bytes */
uint64_t xb_guest_state_bytes(const xb_guest *g)
{
    return g->capacity * (1 + 4) + g->batch * 8;
}

/* --- the workload --- */

/* take n pages off free list z for the workload, writing the domain's data
 * into their frames; returns how many it took (fewer only if the list is
 * shorter than nr_free says: a corrupt state)
 * twin: core/_py/guest.py:workload_alloc (its loop, with _take_free) */
static uint64_t take_for_workload(xb_guest *g, int z, uint64_t n, uint64_t *out)
{
    xb_domain *d = g->dom;
    xb_host *h = d->host;
    uint8_t *flags = g->flags;
    uint32_t *next = g->next, *p2m = d->p2m, *tag = h->tag;
    uint64_t nr_gfns = d->nr_gfns, total = h->total_pages;
    uint32_t domid = d->domid, pfn = g->free_head[z], step = 1;
    uint64_t i = 0;
    for (; i < n && pfn != XB_NIL; i++) {
        uint32_t link = next[pfn];
        next[pfn] = XB_NIL;
        flags[pfn] = (uint8_t)((flags[pfn] & ~XB_PG_FREE) | XB_PG_WORKLOAD);
        /* a free page is populated unless the p2m was changed behind the
         * guest's back; then there is no frame to write (the Python core raises) */
        if (pfn < nr_gfns && p2m[pfn] < total)
            tag[p2m[pfn]] = domid;
        out[i] = pfn;
        pfn = xb_follow(pfn, link, &step);
    }
    g->free_head[z] = pfn;
    g->nr_free[z] -= i;
    return i;
}

/* twin: core/_py/guest.py:workload_alloc */
int xb_workload_alloc(xb_guest *g, uint64_t n, uint64_t *out)
{
    if (n > g->nr_free[0] + g->nr_free[1])
        return XB_ENOMEM;
    uint64_t high = xb_min(n, g->nr_free[1]);
    uint64_t got = take_for_workload(g, 1, high, out);
    if (got == high)
        got += take_for_workload(g, 0, n - high, out + high);
    return got == n ? 0 : XB_ENOMEM;
}

/* the user's pages only: the memory model's anonymous pages (linked on its anon
 * list) are freed by the model
 * twin: core/_py/guest.py:workload_free */
int64_t xb_workload_free(xb_guest *g, const uint64_t *pfns, uint64_t n)
{
    uint64_t users = n;
    for (uint64_t i = 0; i < n; i++)
        if (pfns[i] < g->nr_pfns && g->next[pfns[i]] != XB_NIL) {
            users = i;
            break;
        }
    uint64_t bad = xb_mark_all(g, pfns, users, XB_PG_WORKLOAD);
    if (bad != users)
        return (int64_t)bad;
    if (users != n) {
        for (uint64_t i = 0; i < users; i++)
            g->flags[pfns[i]] &= (uint8_t)~XB_PG_MARK;
        return (int64_t)users;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t pfn = (uint32_t)pfns[i];
        g->flags[pfn] &= (uint8_t)~XB_PG_MARK;
        xb_free_page(g, pfn);
    }
    return (int64_t)n;
}

/* --- consistency --- */

/* The per-pfn rules of xb_guest_check over n <= 255 pfns, all lowmem or all highmem
 * (`high`), without a branch: every rule's breach is or-ed into the result and the
 * states are counted from their bits.  Everything is a byte, so the compiler vectorises
 * the loop sixteen pfns to a register (the p2m's four registers packed to one): flags and
 * p2m are read at the speed of memory.  `p2m` NULL: the pfns are beyond the physmap (none
 * populated).  A pfn in two states breaks a rule, so counting bits counts pfns.
 * twin: none (the Python core runs the named rules directly) */
static inline uint8_t scan_block(const uint8_t *restrict flags, const uint32_t *restrict p2m,
                                 uint32_t n, const uint8_t high, uint64_t c[6])
{
    uint8_t bad = 0, n_free = 0, n_work = 0, n_balloon = 0, n_handed = 0, n_offline = 0;
    uint8_t n_cache = 0;
    const uint8_t want_high = high ? XB_PG_HIGHMEM : 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t f = flags[i];
        uint8_t state = f & XB_PG_STATE;
        uint8_t populated = p2m ? p2m[i] != XB_NIL : 0;
        uint8_t data = (f & (XB_PG_FREE | XB_PG_WORKLOAD | XB_PG_CACHE)) != 0;
        bad |= (uint8_t)((f & XB_PG_MARK) | ((f & XB_PG_HIGHMEM) ^ want_high) |
                         (state & (uint8_t)(state - 1)) | (populated ^ data));
        if (high) /* handed out but highmem */
            bad |= f & XB_PG_HANDED;
        n_free += f & 1;
        n_work += (f >> 1) & 1;
        n_balloon += (f >> 2) & 1;
        n_handed += (f >> 3) & 1;
        n_offline += (f >> 5) & 1;
        n_cache += (f >> 6) & 1;
    }
    c[0] += n_free;
    c[1] += n_work;
    c[2] += n_balloon;
    c[3] += n_handed;
    c[4] += n_offline;
    c[5] += n_cache;
    return bad;
}

/* scan_block over [from, to) in blocks of 240 (byte counters, and a multiple of the
 * vector width), adding the counts to c; nonzero if a pfn breaks a rule
 * twin: none (the Python core runs the named rules directly) */
static uint8_t scan_pfns(const uint8_t *flags, const uint32_t *p2m, uint64_t from,
                         uint64_t to, uint8_t high, uint64_t c[6])
{
    uint8_t bad = 0;
    for (uint64_t at = from; at < to; at += 240) {
        uint32_t n = (uint32_t)xb_min(to - at, 240);
        if (p2m && high)
            bad |= scan_block(flags + at, p2m + at, n, 1, c);
        else if (p2m)
            bad |= scan_block(flags + at, p2m + at, n, 0, c);
        else if (high)
            bad |= scan_block(flags + at, NULL, n, 1, c);
        else
            bad |= scan_block(flags + at, NULL, n, 0, c);
    }
    return bad;
}

/* The per-pfn rules of xb_guest_check, fast: 1 and the state counts if every pfn keeps
 * them, 0 if one does not (the caller then runs the rules one by one to name it).
 * twin: none (the Python core runs the named rules directly) */
static int pfns_look_sound(const xb_guest *g, uint64_t counts[XB_PG_STATE + 1],
                           uint64_t *linked)
{
    const xb_domain *d = g->dom;
    const uint8_t *flags = g->flags;
    const uint32_t *p2m = d->p2m, *tag = d->host->tag;
    const uint64_t nr_pfns = g->nr_pfns, lowmem = g->lowmem_pages;
    const uint64_t mapped = xb_min(nr_pfns, d->nr_gfns), total = d->host->total_pages;
    const uint64_t low = xb_min(lowmem, nr_pfns);
    uint64_t c[6] = {0};
    /* four ranges: mapped or not, lowmem or highmem */
    uint32_t bad = scan_pfns(flags, p2m, 0, xb_min(low, mapped), 0, c) |
                   scan_pfns(flags, p2m, low, mapped, 1, c) |
                   scan_pfns(flags, NULL, mapped, low, 0, c) |
                   scan_pfns(flags, NULL, xb_min(xb_max(low, mapped), nr_pfns), nr_pfns, 1, c);
    /* a workload or page-cache page's frame holds the guest's data: a gather, only if
     * there are any */
    for (uint64_t pfn = 0; (c[1] || c[5]) && !bad && pfn < mapped; pfn++) {
        uint32_t state = flags[pfn] & XB_PG_STATE;
        if (state == XB_PG_WORKLOAD || state == XB_PG_CACHE)
            bad |= p2m[pfn] >= total || tag[p2m[pfn]] != d->domid;
        /* the memory model's anonymous pages are the linked ones */
        *linked += state == XB_PG_WORKLOAD && g->next[pfn] != XB_NIL;
    }
    counts[XB_PG_FREE] = c[0];
    counts[XB_PG_WORKLOAD] = c[1];
    counts[XB_PG_BALLOON] = c[2];
    counts[XB_PG_HANDED] = c[3];
    counts[XB_PG_OFFLINE] = c[4];
    counts[XB_PG_CACHE] = c[5];
    return bad == 0;
}

/* A list walk's shortcut.  The lists are mostly runs of consecutive pfns, up or down
 * (pages go on and come off them a batch at a time): when the 64 pfns from *pfn on are
 * such a run (each but the last linked to the next, step +1 or -1), within the guest,
 * and all have (flags & mask) == want, they pass every test the walk makes of a page
 * (`n` being the pages it has visited), and the walk takes them at once: *last becomes
 * the last of them and *pfn its link, whatever that is.  The two loops over the block are
 * vectorised, so a run costs little more than reading its links and flags.  When the
 * block is not such a run, the walk takes the pages before the first that fails a test
 * (the run's tail) and goes on from there.  Returns the pages taken: 0 when *pfn does
 * not start a run, and the walk goes page by page.
 * twin: none (the Python core walks the lists page by page) */
static inline uint32_t take_run(const xb_guest *g, uint32_t *pfn, uint32_t *last, uint64_t n,
                                uint8_t mask, uint8_t want)
{
    const uint64_t nr_pfns = g->nr_pfns;
    const uint32_t *next = g->next;
    const uint8_t *flags = g->flags;
    uint32_t first = *pfn, lo, step;
    if (first >= nr_pfns || n + 64 > nr_pfns)
        return 0;
    if (next[first] == first + 1 && first + 64 <= nr_pfns) {
        lo = first;
        step = 1;
    } else if (next[first] == first - 1 && first >= 63) {
        lo = first - 63;
        step = UINT32_MAX; /* -1 */
    } else {
        return 0;
    }
    /* the block [lo, lo + 64): the 63 links inside it, and every page's state (through
     * pointers: a 32-bit index might wrap, which would keep the loops scalar) */
    const uint32_t from = lo + (step != 1);
    const uint32_t *links_at = next + from;
    const uint8_t *flags_at = flags + lo;
    uint32_t links = 0;
    uint8_t states = 0;
    for (uint32_t k = 0; k < 63; k++)
        links |= links_at[k] ^ (from + k + step);
    for (uint32_t k = 0; k < 64; k++)
        states |= (flags_at[k] & mask) ^ want;
    uint32_t taken = 64;
    if (links | states) {
        taken = 0;
        for (uint32_t q = first; taken < 64 && (flags[q] & mask) == want; q += step) {
            taken++;
            if (next[q] != q + step)
                break;
        }
        if (taken == 0)
            return 0;
    }
    *last = first + (taken - 1) * step;
    *pfn = next[*last];
    return taken;
}

/* After take_run took fewer pages than this (a run of a few pages), the walk goes page
 * by page for XB_RUN_RETRY pages before it tries again: short runs cost a try per many
 * pages, not one per page.  twin: none */
#define XB_RUN_SHORT 16
#define XB_RUN_RETRY 64

/* Walk a list from head to `end` as the check does: every page within the guest, at most
 * nr_pfns of them (more means a loop), each with (flags & mask) == want.  Returns 1 with
 * *n the pages and *last the last one (XB_NIL if none), or 0 with *last the pfn that
 * fails.  Runs go by take_run, the rest page by page.
 * twin: none (the Python core walks each list in guest_check) */
static int walk_list(const xb_guest *g, uint32_t head, uint32_t end, uint8_t mask,
                     uint8_t want, uint64_t *n, uint32_t *last)
{
    const uint8_t *flags = g->flags;
    uint64_t count = 0;
    uint32_t pfn = head, prev = XB_NIL, step = 1, retry = 0;
    while (pfn != end) {
        uint32_t took = retry ? 0 : take_run(g, &pfn, &prev, count, mask, want);
        if (took) {
            count += took;
            retry = took < XB_RUN_SHORT ? XB_RUN_RETRY : 0;
            continue;
        }
        retry -= retry > 0;
        if (count >= g->nr_pfns || pfn >= g->nr_pfns || (flags[pfn] & mask) != want) {
            *last = pfn;
            return 0;
        }
        count++;
        prev = pfn;
        pfn = xb_follow(pfn, g->next[pfn], &step); /* no wait on each link */
    }
    *n = count;
    *last = prev;
    return 1;
}

/* Every pfn in one state, lists consistent with flags and counters; handed-out
 * pages are lowmem and number target_unpopulated; a workload page's frame holds
 * the workload's data; the domain holds exactly the populated pfns.
 * twin: core/_py/guest.py:guest_check */
int xb_guest_check(const xb_guest *g, char *msg, uint64_t msg_len)
{
    typedef unsigned long long ull;
    typedef long long sll;
    const xb_domain *d = g->dom;
    const uint8_t *flags = g->flags;
    const xb_stats *s = &g->stats;
    uint64_t counts[XB_PG_STATE + 1] = {0};
    uint64_t linked = 0;
    int rc = 0;
    /* the rules one by one, naming the first pfn that breaks one: only if the fast pass
     * found a breach */
    uint64_t first = g->nr_pfns;
    if (!pfns_look_sound(g, counts, &linked)) {
        memset(counts, 0, sizeof counts); /* the slow pass counts again */
        linked = 0;
        first = 0;
    }
    for (uint64_t pfn = first; pfn < g->nr_pfns; pfn++) {
        unsigned f = flags[pfn];
        if (f & XB_PG_MARK)
            FAIL("pfn %llu has a stale mark", (ull)pfn);
        if (!(f & XB_PG_HIGHMEM) != !(pfn >= g->lowmem_pages))
            FAIL("pfn %llu has the wrong highmem flag", (ull)pfn);
        unsigned state = f & XB_PG_STATE;
        if (state & (state - 1))
            FAIL("pfn %llu is in more than one state (flags 0x%x)", (ull)pfn, f);
        int populated = pfn < d->nr_gfns && d->p2m[pfn] != XB_NIL;
        if (populated != !!(state & (XB_PG_FREE | XB_PG_WORKLOAD | XB_PG_CACHE)))
            FAIL("pfn %llu is %s but has flags 0x%x", (ull)pfn,
                 populated ? "populated" : "not populated", f);
        if (state == XB_PG_HANDED && (f & XB_PG_HIGHMEM))
            FAIL("pfn %llu is handed out but highmem", (ull)pfn);
        int data = state == XB_PG_WORKLOAD || state == XB_PG_CACHE;
        if (data && d->p2m[pfn] >= d->host->total_pages)
            FAIL("workload pfn %llu maps mfn %lu, beyond the host's frames", (ull)pfn,
                 (unsigned long)d->p2m[pfn]);
        if (data && d->host->tag[d->p2m[pfn]] != d->domid)
            FAIL("pfn %llu belongs to the workload but its frame holds tag %lu, not %lu",
                 (ull)pfn, (unsigned long)d->host->tag[d->p2m[pfn]], (unsigned long)d->domid);
        if (state == XB_PG_WORKLOAD && g->next[pfn] != XB_NIL)
            linked++;
        counts[state]++;
    }
    for (int z = 0; z < 2; z++) {
        uint64_t n;
        uint32_t at;
        uint8_t want = (uint8_t)(XB_PG_FREE | (z ? XB_PG_HIGHMEM : 0));
        if (!walk_list(g, g->free_head[z], XB_NIL, XB_PG_FREE | XB_PG_HIGHMEM, want, &n, &at))
            FAIL("free list %d is corrupt at pfn %lu", z, (unsigned long)at);
        if (n != g->nr_free[z])
            FAIL("free list %d holds %llu pages but nr_free is %llu", z, (ull)n,
                 (ull)g->nr_free[z]);
    }
    if (counts[XB_PG_FREE] != g->nr_free[0] + g->nr_free[1])
        FAIL("%llu pages are flagged free but the free lists hold fewer",
             (ull)counts[XB_PG_FREE]);
    for (int z = 0; z < 2; z++) {
        uint64_t n;
        uint32_t at;
        uint8_t want = (uint8_t)(XB_PG_CACHE | (z ? XB_PG_HIGHMEM : 0));
        if (!walk_list(g, g->cache_head[z], XB_NIL, XB_PG_CACHE | XB_PG_HIGHMEM, want, &n, &at))
            FAIL("page cache list %d is corrupt at pfn %lu", z, (unsigned long)at);
        if (at != g->cache_tail[z])
            FAIL("page cache list %d ends at %lu but its tail is %lu", z, (unsigned long)at,
                 (unsigned long)g->cache_tail[z]);
        if (n != g->nr_cache[z])
            FAIL("page cache list %d holds %llu pages but nr_cache is %llu", z, (ull)n,
                 (ull)g->nr_cache[z]);
    }
    if (counts[XB_PG_CACHE] != g->nr_cache[0] + g->nr_cache[1])
        FAIL("%llu pages are flagged page cache but the cache lists hold fewer",
             (ull)counts[XB_PG_CACHE]);
    {
        uint64_t n;
        uint32_t at;
        if (!walk_list(g, g->anon_head, XB_ANON_END, XB_PG_WORKLOAD, XB_PG_WORKLOAD, &n, &at))
            FAIL("anon list is corrupt at pfn %lu", (unsigned long)at);
        if (n != g->vm.nr_anon || linked != n)
            FAIL("anon list holds %llu pages, %llu are linked, but nr_anon is %llu", (ull)n,
                 (ull)linked, (ull)g->vm.nr_anon);
    }
    if (g->vm.swap_used > g->vm.swap_pages)
        FAIL("swap holds %llu pages of %llu", (ull)g->vm.swap_used, (ull)g->vm.swap_pages);
    uint64_t low = 0, high = 0;
    uint32_t pfn = g->balloon_head, last = XB_NIL, step = 1, retry = 0;
    while (pfn != XB_NIL) {
        /* a run of lowmem pages before any highmem one, or of highmem pages */
        int hi = pfn < g->nr_pfns && (flags[pfn] & XB_PG_HIGHMEM);
        uint32_t took = retry || (!hi && high)
                            ? 0
                            : take_run(g, &pfn, &last, low + high, XB_PG_BALLOON | XB_PG_HIGHMEM,
                                       (uint8_t)(XB_PG_BALLOON | (hi ? XB_PG_HIGHMEM : 0)));
        if (took) {
            if (hi)
                high += took;
            else
                low += took;
            retry = took < XB_RUN_SHORT ? XB_RUN_RETRY : 0;
            continue;
        }
        retry -= retry > 0;
        if (low + high >= g->nr_pfns || pfn >= g->nr_pfns || !(flags[pfn] & XB_PG_BALLOON))
            FAIL("balloon list is corrupt at pfn %lu", (unsigned long)pfn);
        if (flags[pfn] & XB_PG_HIGHMEM)
            high++;
        else if (high)
            FAIL("lowmem pfn %lu follows highmem in the balloon list", (unsigned long)pfn);
        else
            low++;
        last = pfn;
        pfn = xb_follow(pfn, g->next[pfn], &step);
    }
    if (last != g->balloon_tail)
        FAIL("balloon tail is %lu but the list ends at %lu", (unsigned long)g->balloon_tail,
             (unsigned long)last);
    if ((sll)low != s->balloon_low || (sll)high != s->balloon_high)
        FAIL("balloon list holds %llu low + %llu high pages but stats say %lld + %lld",
             (ull)low, (ull)high, (sll)s->balloon_low, (sll)s->balloon_high);
    if (counts[XB_PG_BALLOON] != low + high)
        FAIL("%llu pages are flagged ballooned but the list holds %llu",
             (ull)counts[XB_PG_BALLOON], (ull)(low + high));
    uint64_t managed = counts[XB_PG_FREE] + counts[XB_PG_WORKLOAD] + counts[XB_PG_CACHE];
    if (g->totalram_pages != managed)
        FAIL("totalram_pages is %llu but %llu pages are managed", (ull)g->totalram_pages,
             (ull)managed);
    if (d->tot_pages != managed)
        FAIL("domain %lu holds %llu frames but %llu pfns are populated",
             (unsigned long)d->domid, (ull)d->tot_pages, (ull)managed);
    if (s->target_unpopulated != (sll)counts[XB_PG_HANDED])
        FAIL("%llu pages are handed out but target_unpopulated is %lld",
             (ull)counts[XB_PG_HANDED], (sll)s->target_unpopulated);
    if (s->total_pages) { /* the balloon driver is initialised */
        if (s->current_pages != (sll)managed)
            FAIL("current_pages is %lld but %llu pfns are populated", (sll)s->current_pages,
                 (ull)managed);
        /* holes (no state bit) do not exist */
        uint64_t exist = managed + counts[XB_PG_BALLOON] + counts[XB_PG_HANDED] +
                         counts[XB_PG_OFFLINE];
        if (s->total_pages != (sll)exist)
            FAIL("total_pages is %lld but %llu pfns exist", (sll)s->total_pages, (ull)exist);
    }
out:
    return rc;
}

/* Counted in blocks of 240 with a byte counter, which the compiler vectorises sixteen
 * pfns to a register (memory hotplug's check counts every pfn's offline bit).
 * twin: core/_py/guest.py:count_flags */
uint64_t xb_count_flags(const xb_guest *g, uint64_t start, uint64_t stop, uint8_t mask)
{
    stop = xb_min(stop, g->nr_pfns);
    uint64_t n = 0;
    for (uint64_t at = start; at < stop; at += 240) {
        const uint8_t *flags = g->flags + at;
        uint32_t len = (uint32_t)xb_min(stop - at, 240);
        uint8_t block = 0;
        for (uint32_t i = 0; i < len; i++)
            block += (flags[i] & mask) != 0;
        n += block;
    }
    return n;
}
