/* balloon.c: the balloon list (PageOffline pages, lowmem at the head and
 * highmem at the tail) and the steps that move pages between it, the page
 * allocator and the hypervisor.
 *
 * increase_reservation and decrease_reservation are the hot path.  They do
 * what the Python core's per-page helpers do, in the same order where the order shows
 * (list links, free stack, counters), but in a few tight loops over locals
 * and without waiting on each list link (xb_follow). */
#include "xb_impl.h"

/* twin: core/_py/balloon.py:balloon_append */
void xb_balloon_append(xb_guest *g, uint32_t pfn)
{
    if (pfn < g->nr_pfns) /* the Python core raises IndexError */
        xb_append_page(g, pfn);
}

/* balloon_retrieve: take the page at the balloon head, if there is one (and,
 * with require_lowmem, if it is lowmem)
 * twin: core/_py/balloon.py:balloon_retrieve */
uint32_t xb_balloon_retrieve(xb_guest *g, int require_lowmem)
{
    uint32_t pfn = g->balloon_head;
    if (pfn == XB_NIL)
        return XB_NIL;
    uint8_t f = g->flags[pfn];
    if (require_lowmem && (f & XB_PG_HIGHMEM))
        return XB_NIL;
    g->balloon_head = g->next[pfn];
    if (g->balloon_head == XB_NIL)
        g->balloon_tail = XB_NIL;
    g->next[pfn] = XB_NIL;
    if (f & XB_PG_HIGHMEM)
        g->stats.balloon_high--;
    else
        g->stats.balloon_low--;
    g->flags[pfn] = (uint8_t)(f & ~XB_PG_BALLOON);
    return pfn;
}

/* increase_reservation's walk, 64 pages at once: when the 64 balloon pages from *pfn on
 * are a run of consecutive pfns, up or down (each but the last linked to the next), all
 * in the physmap, unpopulated and of one zone, each is done as the page by page walk
 * does it: populated with the frame below *top (the first page the top one), its gfn in
 * fl[], its tags or-ed into *data, and freed to its zone's list (the list's head in
 * *head0 or *head1, *high counting highmem pages); *pfn becomes the last one's link.
 * Returns 0 (nothing done) when they are not such a run.  The loops are vectorised but
 * for the tags' gather.
 * twin: core/_py/balloon.py:increase_reservation (its three loops) */
static inline int populate_run(xb_guest *g, uint32_t *p2m, const uint32_t *tag,
                               uint64_t nr_gfns, uint32_t *pfn, uint64_t *fl,
                               const uint32_t *top, uint32_t *head0, uint32_t *head1,
                               uint64_t *high, uint32_t *data)
{
    uint8_t *flags = g->flags;
    uint32_t *next = g->next;
    uint32_t first = *pfn, lo, step;
    /* within the physmap and the guest's arrays (a physmap may be the larger) */
    uint64_t bound = xb_min(nr_gfns, g->nr_pfns);
    if (first >= bound)
        return 0;
    if (next[first] == first + 1 && first + 64 <= bound) {
        lo = first;
        step = 1;
    } else if (next[first] == first - 1 && first >= 63) {
        lo = first - 63;
        step = UINT32_MAX; /* -1 */
    } else {
        return 0;
    }
    const uint32_t from = lo + (step != 1);
    const uint32_t *links = next + from;
    uint32_t *mfns = p2m + lo;
    uint8_t *f = flags + lo;
    const uint8_t hi = f[0] & XB_PG_HIGHMEM;
    uint32_t off = 0, mapped = 0;
    uint8_t zones = 0;
    for (uint32_t t = 0; t < 63; t++)
        off |= links[t] ^ (from + t + step);
    for (uint32_t u = 0; u < 64; u++)
        mapped |= mfns[u] ^ XB_NIL;
    for (uint32_t u = 0; u < 64; u++)
        zones |= (f[u] & XB_PG_HIGHMEM) ^ hi;
    if (off | mapped | zones)
        return 0;
    const uint32_t last = first + 63 * step, link = next[last];
    /* page t (= first + t * step) takes the frame top[-1 - t] = pool[63 - t] */
    const uint32_t *pool = top - 64;
    uint32_t held = 0;
    if (step == 1) {
        for (uint32_t u = 0; u < 64; u++) {
            mfns[u] = pool[63 - u];
            fl[u] = lo + u;
        }
    } else {
        for (uint32_t u = 0; u < 64; u++) {
            mfns[u] = pool[u];
            fl[u] = lo + 63 - u;
        }
    }
    for (uint32_t u = 0; u < 64; u++)
        held |= tag[pool[u]];
    for (uint32_t u = 0; u < 64; u++)
        f[u] = (uint8_t)((f[u] & ~XB_PG_STATE) | XB_PG_FREE);
    /* pushed on the free list in turn: each links to the one before, the first to the
     * old head, and the last is the new head */
    uint32_t *head = hi ? head1 : head0;
    if (step == 1) {
        next[lo] = *head;
        for (uint32_t u = 1; u < 64; u++)
            next[lo + u] = lo + u - 1;
    } else {
        next[lo + 63] = *head;
        for (uint32_t u = 0; u < 63; u++)
            next[lo + u] = lo + u + 1;
    }
    *head = last;
    *high += hi ? 64 : 0;
    *data |= held;
    *pfn = link;
    return 1;
}

/* increase_reservation: populate up to batch pages from the balloon head and
 * give them to the allocator.  One walk does the Python core's three loops (gather
 * frame_list, XENMEM_populate_physmap, balloon_retrieve + free_reserved_page):
 * page i is retrieved only once it is populated, which is what rc pages of
 * retrieves after the hypercall amount to.
 * twin: core/_py/balloon.py:increase_reservation */
int xb_increase_reservation(xb_guest *g, uint64_t nr_pages)
{
    xb_domain *d = g->dom;
    xb_host *h = d->host;
    nr_pages = xb_min(nr_pages, g->batch);
    uint64_t limit = xb_populate_limit(d, nr_pages);

    uint8_t *flags = g->flags;
    uint32_t *next = g->next, *p2m = d->p2m;
    const uint32_t *tag = h->tag;
    uint64_t *const frame_list = g->frame_list, *fl = frame_list, *end = frame_list + limit;
    uint32_t *const pool = h->free_stack + h->free_pages;
    uint32_t *top = pool;
    uint64_t nr_gfns = d->nr_gfns;
    uint32_t head0 = g->free_head[0], head1 = g->free_head[1];
    uint32_t pfn = g->balloon_head, step = 1, data = 0;
    uint64_t high = 0;
    uint32_t retry = 0;
    /* the list's end, XB_NIL, is >= nr_gfns and stops the walk like a gfn
     * the hypercall refuses */
    for (; fl < end; fl++) {
        if (end - fl >= 64 && !retry) {
            if (populate_run(g, p2m, tag, nr_gfns, &pfn, fl, top, &head0, &head1, &high,
                             &data)) {
                fl += 63; /* and the loop's one */
                top -= 64;
                continue;
            }
            retry = 64; /* not a run: page by page for a while */
        }
        retry -= retry > 0;
        /* XENMEM_populate_physmap (the leak check is below) */
        if (pfn >= nr_gfns || p2m[pfn] != XB_NIL)
            break;
        *fl = pfn;
        uint32_t mfn = *--top;
        p2m[pfn] = mfn;
        data |= tag[mfn];
        /* balloon_retrieve, then free_reserved_page */
        uint32_t link = next[pfn];
        uint8_t f = flags[pfn];
        flags[pfn] = (uint8_t)((f & ~XB_PG_STATE) | XB_PG_FREE);
        if (f & XB_PG_HIGHMEM) {
            next[pfn] = head1;
            head1 = pfn;
            high++;
        } else {
            next[pfn] = head0;
            head0 = pfn;
        }
        pfn = xb_follow(pfn, link, &step);
    }
    uint64_t rc = (uint64_t)(fl - frame_list);
    if (rc > 0) {
        g->balloon_head = pfn;
        if (pfn == XB_NIL)
            g->balloon_tail = XB_NIL;
    }
    /* the rest of frame_list, as the Python core gathers it before the hypercall */
    for (uint64_t i = rc; i < nr_pages && pfn != XB_NIL; i++) {
        frame_list[i] = pfn;
        pfn = next[pfn];
    }

    /* the frames handed out holding another domain's data: none unless one
     * held any data at all (scrubbing keeps the pool clean), which keeps the
     * walk above to one load and an or per frame */
    uint64_t leaks = 0;
    if (data != 0) {
        uint32_t domid = d->domid;
        for (uint64_t i = 0; i < rc; i++) {
            uint32_t t = tag[top[i]];
            leaks += (t != 0) & (t != domid);
        }
    }
    h->free_pages -= rc;
    h->leaks += leaks;
    d->tot_pages += rc;
    if (rc == 0)
        return XB_BP_EAGAIN;
    g->free_head[0] = head0;
    g->free_head[1] = head1;
    g->nr_free[0] += rc - high;
    g->nr_free[1] += high;
    g->stats.balloon_low -= (int64_t)(rc - high);
    g->stats.balloon_high -= (int64_t)high;
    g->totalram_pages += rc;
    g->stats.current_pages += (int64_t)rc;
    return XB_BP_DONE;
}

/* decrease_reservation's commit, first half, for frame_list[from..to): each
 * page leaves the allocator for the balloon (its flags), and its frame goes
 * back to Xen (XENMEM_decrease_reservation; scrub is xen_scrub_pages or the
 * hypervisor's own, a constant in each inlined copy).  Returns nonzero if a
 * page's zone is not `zone`, that of the free list it came from.
 * twin: core/_py/balloon.py:decrease_reservation (its commit loop) */
static inline unsigned release_staged(xb_guest *g, uint64_t from, uint64_t to, unsigned zone,
                                      const int scrub)
{
    xb_domain *d = g->dom;
    xb_host *h = d->host;
    uint8_t *flags = g->flags;
    uint32_t *p2m = d->p2m, *stack = h->free_stack, *tag = h->tag;
    const uint64_t *fl = g->frame_list;
    uint64_t total = h->total_pages, top = h->free_pages;
    unsigned mixed = 0;
    uint64_t i = from;
    for (; i + 64 <= to; i += 64) {
        /* a run of 64 pfns, up or down, all backed: the page by page loop below, as
         * loops over the run the compiler vectorises (the scrub is a gather) */
        const uint64_t *run = fl + i;
        uint64_t first = run[0], lo, off = 0;
        int up = run[1] == first + 1;
        if (up)
            for (uint32_t u = 0; u < 64; u++)
                off |= run[u] ^ (first + u);
        else
            for (uint32_t u = 0; u < 64; u++)
                off |= run[u] ^ (first - u);
        lo = up ? first : first - 63;
        if (off != 0 || (!up && first < 63) || lo + 64 > xb_min(d->nr_gfns, g->nr_pfns) ||
            total > XB_NIL)
            break;
        uint32_t *mfns = p2m + lo, *dst = stack + top;
        const uint32_t frames = (uint32_t)total;
        uint32_t beyond = 0;
        for (uint32_t u = 0; u < 64; u++)
            beyond |= mfns[u] >= frames;
        if (beyond)
            break;
        uint8_t *f = flags + lo, zones = 0;
        for (uint32_t u = 0; u < 64; u++) {
            zones |= (f[u] & XB_PG_HIGHMEM) ^ zone;
            f[u] = (uint8_t)((f[u] & ~XB_PG_STATE) | XB_PG_BALLOON);
        }
        mixed |= zones;
        if (up)
            for (uint32_t u = 0; u < 64; u++)
                dst[u] = mfns[u];
        else
            for (uint32_t u = 0; u < 64; u++)
                dst[u] = mfns[63 - u];
        if (scrub) {
            uint32_t data = 0;
            for (uint32_t u = 0; u < 64; u++)
                data |= tag[dst[u]];
            for (uint32_t u = 0; data && u < 64; u++)
                if (tag[dst[u]] != 0)
                    tag[dst[u]] = 0;
        }
        memset(mfns, 0xff, 64 * sizeof(uint32_t)); /* XB_NIL */
        top += 64;
    }
    for (; i < to; i++) {
        uint32_t pfn = (uint32_t)fl[i];
        uint8_t f = flags[pfn];
        mixed |= (f & XB_PG_HIGHMEM) ^ zone;
        flags[pfn] = (uint8_t)((f & ~XB_PG_STATE) | XB_PG_BALLOON);
        /* a page met twice (only on a corrupt list) is not freed twice */
        uint32_t mfn = p2m[pfn];
        if (XB_LIKELY(mfn < total)) {
            p2m[pfn] = XB_NIL;
            /* a clean frame is not written: its cache line stays clean */
            if (scrub && tag[mfn] != 0)
                tag[mfn] = 0;
            stack[top++] = mfn;
        }
    }
    d->tot_pages -= top - h->free_pages;
    h->free_pages = top;
    return mixed;
}

/* ... second half: balloon_append's links, page by page in frame_list order.
 * Returns the number of highmem pages.
 * twin: core/_py/balloon.py:decrease_reservation (balloon_append per page) */
static uint64_t link_staged(xb_guest *g, uint64_t k)
{
    const uint8_t *flags = g->flags;
    uint32_t *next = g->next;
    const uint64_t *fl = g->frame_list;
    uint32_t head = g->balloon_head, tail = g->balloon_tail;
    uint64_t high = 0;
    for (uint64_t i = 0; i < k; i++) {
        uint32_t pfn = (uint32_t)fl[i];
        if (flags[pfn] & XB_PG_HIGHMEM) {
            next[pfn] = XB_NIL;
            if (tail == XB_NIL)
                head = pfn;
            else
                next[tail] = pfn;
            tail = pfn;
            high++;
        } else {
            next[pfn] = head;
            head = pfn;
            if (tail == XB_NIL)
                tail = pfn;
        }
    }
    g->balloon_head = head;
    g->balloon_tail = tail;
    return high;
}

/* The same links when every page has its list's zone (always, unless flags
 * were changed from Python): the lowmem pages go to the balloon head in the
 * order their free list chained them, so they keep its links but the last;
 * only the highmem pages, reversed at the tail, are relinked.
 * twin: core/_py/balloon.py:decrease_reservation (balloon_append per page) */
static void link_staged_by_zone(xb_guest *g, uint64_t nl, uint64_t k)
{
    uint32_t *next = g->next;
    const uint64_t *fl = g->frame_list;
    if (nl > 0) {
        next[fl[0]] = g->balloon_head;
        g->balloon_head = (uint32_t)fl[nl - 1];
        if (g->balloon_tail == XB_NIL)
            g->balloon_tail = (uint32_t)fl[0];
    }
    if (k > nl) {
        if (g->balloon_tail == XB_NIL)
            g->balloon_head = (uint32_t)fl[nl];
        else
            next[g->balloon_tail] = (uint32_t)fl[nl];
        for (uint64_t i = nl; i + 1 < k; i++)
            next[fl[i]] = (uint32_t)fl[i + 1];
        next[fl[k - 1]] = XB_NIL;
        g->balloon_tail = (uint32_t)fl[k - 1];
    }
}

/* decrease's first pass, 64 pages at once: when the 64 pages of a free list from *pfn
 * on are a run of consecutive pfns, up or down (each but the last linked to the next),
 * all below `bound` (the physmap's and the guest's sizes) and backed by a frame of the
 * host, they are staged as the page by page walk would stage them, at dst[-1], dst[-2],
 * ..., and *pfn becomes the last one's link.  Returns 0 (nothing done) when they are
 * not.  The tests and the stores are loops the compiler vectorises.
 * twin: core/_py/balloon.py:decrease_reservation (its gather loop) */
static inline int stage_run(const uint32_t *next, const uint32_t *p2m, uint64_t bound,
                            uint64_t total, uint32_t *pfn, uint64_t *dst)
{
    uint32_t first = *pfn, lo, step;
    if (first >= bound || total > XB_NIL) /* total: 32-bit compares below */
        return 0;
    if (next[first] == first + 1 && first + 64 <= bound) {
        lo = first;
        step = 1;
    } else if (next[first] == first - 1 && first >= 63) {
        lo = first - 63;
        step = UINT32_MAX; /* -1 */
    } else {
        return 0;
    }
    const uint32_t from = lo + (step != 1);
    const uint32_t *links = next + from, *mfns = p2m + lo;
    const uint32_t frames = (uint32_t)total;
    uint32_t off = 0, beyond = 0;
    for (uint32_t t = 0; t < 63; t++)
        off |= links[t] ^ (from + t + step);
    for (uint32_t t = 0; t < 64; t++)
        beyond |= mfns[t] >= frames;
    if (off | beyond)
        return 0;
    /* page t of the run goes to dst[-1 - t] */
    uint64_t *out = dst - 64;
    if (step == 1)
        for (uint32_t u = 0; u < 64; u++)
            out[u] = lo + 63 - u;
    else
        for (uint32_t u = 0; u < 64; u++)
            out[u] = lo + u;
    *pfn = next[first + 63 * step];
    return 1;
}

/* decrease_reservation with GFP gfp; *taken = pages moved to the balloon.
 *
 * Pass 1 walks the free lists without changing them and stages the pages in
 * frame_list in the order the Python core hands them to Xen (the reverse of allocation:
 * list_add() reversed them); a page Xen could not take back makes it XB_BUG
 * with nothing changed, as the Python core's undo leaves it.  Pass 2 commits.
 * twin: core/_py/balloon.py:decrease_reservation */
static int decrease(xb_guest *g, uint64_t nr_pages, int gfp, uint64_t *taken)
{
    *taken = 0;
    nr_pages = xb_min(nr_pages, g->batch);
    if (nr_pages == 0)
        return XB_BP_DONE;
    if (g->fail_page_allocs > 0) { /* the first alloc_page() fails */
        g->fail_page_allocs--;
        return XB_BP_EAGAIN;
    }
    /* short of free pages above the reserve: reclaim clean cache first (never
     * anonymous memory: GFP_BALLOON has __GFP_NORETRY, so no OOM killer) */
    xb_direct_reclaim(g, nr_pages, gfp);
    uint64_t nh = gfp == XB_GFP_HIGHUSER ? xb_min(nr_pages, g->nr_free[1]) : 0;
    uint64_t nl = xb_min(nr_pages - nh, g->nr_free[0]);
    uint64_t k = nh + nl;

    const xb_domain *d = g->dom;
    const xb_host *h = d->host;
    const uint32_t *next = g->next, *p2m = d->p2m;
    uint64_t *frame_list = g->frame_list;
    uint64_t nr_gfns = d->nr_gfns, total = h->total_pages;

    /* Xen must take back every frame (BUG_ON otherwise): check first.  The
     * pool can lack room only if a frame is mapped twice (corrupt p2m). */
    if (h->free_pages > total || k > total - h->free_pages)
        return XB_BUG;
    /* highmem first (GFP_HIGHUSER), then lowmem; a list shorter than its
     * count ends in XB_NIL, which is >= nr_gfns */
    uint32_t new_head[2];
    uint64_t i = 0;
    for (int z = 1; z >= 0; z--) {
        uint32_t pfn = g->free_head[z], step = 1, retry = 0;
        for (uint64_t end = z ? nh : k; i < end;) {
            if (end - i >= 64 && !retry) {
                if (stage_run(next, p2m, xb_min(nr_gfns, g->nr_pfns), total, &pfn,
                              frame_list + (k - i))) {
                    i += 64;
                    continue;
                }
                retry = 64; /* not a run: page by page for a while */
            }
            retry -= retry > 0;
            if (pfn >= nr_gfns || p2m[pfn] >= total)
                return XB_BUG;
            frame_list[k - 1 - i] = pfn;
            pfn = xb_follow(pfn, next[pfn], &step);
            i++;
        }
        new_head[z] = pfn;
    }

    /* frame_list: the nl lowmem pages, then the nh highmem ones */
    unsigned mixed;
    if (g->scrub_pages || h->scrub_freed)
        mixed = release_staged(g, 0, nl, 0, 1) | release_staged(g, nl, k, XB_PG_HIGHMEM, 1);
    else
        mixed = release_staged(g, 0, nl, 0, 0) | release_staged(g, nl, k, XB_PG_HIGHMEM, 0);
    uint64_t high = nh;
    if (mixed)
        high = link_staged(g, k);
    else
        link_staged_by_zone(g, nl, k);
    g->free_head[0] = new_head[0];
    g->free_head[1] = new_head[1];
    g->nr_free[0] -= nl;
    g->nr_free[1] -= nh;
    g->stats.balloon_low += (int64_t)(k - high);
    g->stats.balloon_high += (int64_t)high;
    g->totalram_pages -= k;
    g->stats.current_pages -= (int64_t)k;
    *taken = k;
    return k < nr_pages ? XB_BP_EAGAIN : XB_BP_DONE;
}

/* twin: core/_py/balloon.py:decrease_reservation */
int xb_decrease_reservation(xb_guest *g, uint64_t nr_pages, int gfp)
{
    uint64_t taken;
    return decrease(g, nr_pages, gfp, &taken);
}

/* balloon_process's loop body, up to update_schedule (the Python core's balloon_turn).
 * The Python worker calls it once per turn: one call instead of a dozen
 * field reads and three calls through the cffi boundary per frame_list.
 * twin: core/_py/balloon.py:balloon_turn */
int xb_balloon_turn(xb_guest *g)
{
    const xb_stats *s = &g->stats;
    int64_t credit;
    if (xb_sub_overflow(s->target_pages, s->current_pages, &credit)) /* corrupt stats */
        credit = s->target_pages > s->current_pages ? INT64_MAX : INT64_MIN;
    if (credit > 0) {
        if (s->balloon_low || s->balloon_high)
            return xb_increase_reservation(g, (uint64_t)credit);
        return XB_NEED_RESERVE;
    }
    if (credit < 0) {
        uint64_t want = 0 - (uint64_t)credit;
        uint64_t n_pages = xb_min(want, xb_si_mem_available(g)), taken;
        int state = decrease(g, n_pages, XB_GFP_HIGHUSER, &taken);
        if (state == XB_BP_DONE && n_pages != want && n_pages < g->totalreserve_pages)
            state = XB_BP_EAGAIN;
        return state;
    }
    return XB_NO_CREDIT;
}

/* balloon_process's loop for as long as it needs no decision from Python: turn
 * after turn while each ends BP_DONE, up to max_turns and while their cost stays
 * below budget_ns.  A turn's cost comes from what it moved: one hypercall, each
 * page in or out, each lowmem page once more (update_va_mapping of a PV guest), and
 * each page of cache reclaimed to find the pages (vm.balloon_reclaimed's growth).
 * twin: core/_py/balloon.py:balloon_turns */
int xb_balloon_turns(xb_guest *g, uint64_t max_turns, double budget_ns,
                     const xb_turn_cost *cost, xb_turns *out)
{
    const xb_stats *s = &g->stats;
    uint64_t done = 0;
    double ns = 0.0;
    int state;
    for (;;) {
        int64_t cur0 = s->current_pages, high0 = s->balloon_high;
        uint64_t rec0 = g->vm.balloon_reclaimed;
        state = xb_balloon_turn(g);
        done++;
        if (state == XB_NO_CREDIT || state == XB_NEED_RESERVE || state == XB_BUG)
            break; /* nothing moved: no hypercall was made */
        /* the counters moved by what the turn did: wrap-free on sane stats */
        uint64_t moved, high;
        double page;
        if (s->current_pages >= cur0) {
            moved = (uint64_t)s->current_pages - (uint64_t)cur0;
            high = (uint64_t)high0 - (uint64_t)s->balloon_high;
            page = cost->page_in;
        } else {
            moved = (uint64_t)cur0 - (uint64_t)s->current_pages;
            high = (uint64_t)s->balloon_high - (uint64_t)high0;
            page = cost->page_out;
        }
        /* separate statements, in the Python core's order (no fused multiply-add) */
        double c = cost->hypercall;
        c += (double)moved * page;
        c += (double)(moved - high) * cost->lowmem_page;
        c += (double)(g->vm.balloon_reclaimed - rec0) * cost->reclaim;
        ns += c;
        if (state != XB_BP_DONE || done >= max_turns || !(ns < budget_ns))
            break;
    }
    out->done = done;
    out->ns = ns;
    return state;
}

/* alloc_xenballooned_pages, all or nothing: refuses up front where the seed
 * would fail, then takes lowmem pages from the balloon, ballooning more
 * (add_ballooned_pages) when it runs dry.
 * twin: core/_py/balloon.py:alloc_xenballooned_pages */
int xb_alloc_xenballooned_pages(xb_guest *g, uint64_t nr_pages, uint64_t *out)
{
    int64_t bl = g->stats.balloon_low;
    uint64_t short_;
    if (bl >= 0) {
        short_ = nr_pages - xb_min(nr_pages, (uint64_t)bl);
    } else { /* corrupt stats: short = nr_pages - balloon_low, saturated */
        uint64_t neg = (uint64_t)(-(bl + 1)) + 1;
        short_ = nr_pages > UINT64_MAX - neg ? UINT64_MAX : nr_pages + neg;
    }
    if (short_ > 0) {
        /* lowmem cache is reclaimed for it (GFP_USER) */
        if (xb_si_mem_available(g) < short_ || g->nr_free[0] + g->nr_cache[0] < short_ ||
            g->fail_page_allocs > 0)
            return XB_ENOMEM;
        const xb_domain *d = g->dom;
        uint32_t pfn = g->free_head[0];
        for (uint64_t i = 0; i < xb_min(short_, g->nr_free[0]); i++) {
            if (pfn >= d->nr_gfns || d->p2m[pfn] == XB_NIL)
                return XB_BUG;
            pfn = g->next[pfn];
        }
    }
    g->stats.target_unpopulated += (int64_t)nr_pages;
    uint64_t pgno = 0;
    while (pgno < nr_pages) {
        uint32_t pfn = xb_balloon_retrieve(g, 1);
        if (pfn != XB_NIL) {
            g->flags[pfn] |= XB_PG_HANDED;
            out[pgno++] = pfn;
            continue;
        }
        uint64_t fail_before = g->fail_page_allocs, taken;
        int rc = decrease(g, nr_pages - pgno, XB_GFP_USER, &taken);
        if (rc == XB_BUG || (taken == 0 && g->fail_page_allocs == fail_before)) {
            /* Nothing changed, so the Python core would loop here for ever (batch 0,
             * or balloon_low larger than the list).  Give up as the kernel's
             * out_undo does: the pages back to the balloon, and the target. */
            for (uint64_t i = 0; i < pgno; i++) {
                g->flags[out[i]] &= (uint8_t)~XB_PG_HANDED;
                xb_append_page(g, (uint32_t)out[i]);
            }
            g->stats.target_unpopulated -= (int64_t)nr_pages;
            return rc == XB_BUG ? XB_BUG : XB_ENOMEM;
        }
    }
    return 0;
}

/* twin: core/_py/balloon.py:free_xenballooned_pages */
int64_t xb_free_xenballooned_pages(xb_guest *g, const uint64_t *pfns, uint64_t n)
{
    uint64_t bad = xb_mark_all(g, pfns, n, XB_PG_HANDED);
    if (bad != n)
        return (int64_t)bad;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t pfn = (uint32_t)pfns[i];
        g->flags[pfn] &= (uint8_t)~(XB_PG_HANDED | XB_PG_MARK);
        xb_append_page(g, pfn);
    }
    g->stats.target_unpopulated -= (int64_t)n;
    return (int64_t)n;
}

/* balloon_add_region: unpopulated, stateless pfns (hotplugged or offline
 * address space) go to the balloon and count as the driver's total.
 * twin: core/_py/balloon.py:balloon_add_region */
int xb_balloon_add_region(xb_guest *g, uint64_t start_pfn, uint64_t n)
{
    if (n > g->nr_pfns || start_pfn > g->nr_pfns - n)
        return XB_EINVAL;
    for (uint64_t pfn = start_pfn; pfn < start_pfn + n; pfn++)
        if (g->flags[pfn] & XB_PG_STATE)
            return XB_EINVAL;
    for (uint64_t pfn = start_pfn; pfn < start_pfn + n; pfn++)
        xb_append_page(g, (uint32_t)pfn);
    g->stats.total_pages += (int64_t)n;
    return 0;
}

/* twin: core/_py/balloon.py:ballooned_pfns */
uint64_t xb_ballooned_pfns(const xb_guest *g, uint64_t *out, uint64_t max)
{
    uint32_t pfn = g->balloon_head;
    uint64_t i = 0;
    for (; pfn != XB_NIL && i < max; i++) {
        out[i] = pfn;
        pfn = g->next[pfn];
    }
    return i;
}
