/* xenballoon core: declarations shared by the C build and the cffi cdef.
 *
 * This file is parsed by cffi as it is: no preprocessor lines except
 * "#define NAME <integer>", no attributes, no function bodies.
 *
 * Everything is struct-of-arrays: a guest page is a byte of flags plus a
 * 32-bit list link (indexed by pfn); a host frame is a 32-bit data tag plus
 * its slot in the free stack (indexed by mfn); a domain's physmap is a
 * 32-bit mfn per gfn.  Functions return status codes; Python turns them into
 * exceptions, in one place per backend.  xenballoon._pycore implements the
 * same functions in plain Python and is the oracle for this file.
 */

#define XB_NIL 4294967295          /* no pfn / no mfn (list end, unpopulated gfn) */
#define XB_MAX_GFNS 268435456      /* 2^28 pages (1 TiB) of guest physical space */

/* enum bp_state, with the seed's values */
#define XB_BP_DONE 0
#define XB_BP_WAIT 1
#define XB_BP_EAGAIN 2
#define XB_BP_ECANCELED 3
/* xb_balloon_turn's answers besides a state */
#define XB_NO_CREDIT 4             /* credit is 0: nothing to do */
#define XB_NEED_RESERVE 5          /* credit > 0 but the balloon is empty */
#define XB_BUG -1                  /* the hypervisor refused a decrease: BUG_ON */
#define XB_ENOMEM -12
#define XB_EINVAL -22

/* guest page flags (xb_guest.flags[pfn]); a pfn with no state bit is a hole
 * in the guest's physical address space: it does not exist (nor count in
 * total_pages) until balloon_add_region or add_memory makes it exist */
#define XB_PG_FREE 1               /* on a free list of the page allocator */
#define XB_PG_WORKLOAD 2           /* allocated by the workload */
#define XB_PG_BALLOON 4            /* on the balloon list (PageOffline) */
#define XB_PG_HANDED 8             /* handed out by alloc_xenballooned_pages */
#define XB_PG_HIGHMEM 16           /* constant: pfn >= lowmem_pages */
#define XB_PG_OFFLINE 32           /* hotplugged, its memory block not yet onlined */
#define XB_PG_CACHE 64             /* in the page cache: clean file data, reclaimable */
#define XB_PG_MARK 128             /* scratch bit, always clear between calls */

/* a workload page on the workload model's anon list has a link (the last one this
 * end marker); a page the user took with xb_workload_alloc has none (XB_NIL) */
#define XB_ANON_END 4294967294

/* gfp masks understood by the guest allocator */
#define XB_GFP_USER 0              /* lowmem only */
#define XB_GFP_HIGHUSER 1          /* highmem first, then lowmem (GFP_BALLOON) */

typedef struct xb_host {
    uint32_t *free_stack;          /* free mfns; the top is free_stack[free_pages-1] */
    uint32_t *tag;                 /* per mfn: domid whose data it holds, 0 = scrubbed */
    uint64_t total_pages;
    uint64_t free_pages;
    uint64_t leaks;                /* frames handed out still holding another domain's data */
    int scrub_freed;               /* hypervisor scrubs frames released to the pool */
    uint64_t fault_increase_calls; /* the next N populate hypercalls ... */
    uint64_t fault_increase_max;   /* ... populate at most this many frames each */
    uint64_t refs;                 /* its owner's reference + one per domain not yet freed */
} xb_host;

typedef struct xb_domain {
    xb_host *host;
    uint32_t *p2m;                 /* per gfn: mfn, or XB_NIL when unpopulated */
    uint64_t nr_gfns;              /* length of p2m */
    uint64_t tot_pages;
    uint64_t max_pages;
    uint32_t domid;
    uint64_t refs;                 /* its owner's reference + one per guest not yet freed */
} xb_domain;

/* struct balloon_stats, field for field (signed: credit arithmetic) */
typedef struct xb_stats {
    int64_t current_pages;
    int64_t target_pages;
    int64_t target_unpopulated;
    int64_t balloon_low;
    int64_t balloon_high;
    int64_t total_pages;
    int64_t schedule_delay;
    int64_t max_schedule_delay;
    int64_t retry_count;
    int64_t max_retry_count;
} xb_stats;

/* The guest's memory model (vmscan.c): the workload's demand and the counters of
 * what it cost, as /proc/vmstat and /proc/meminfo count them.  Pages, except the
 * two time integrals in seconds. */
typedef struct xb_vmstat {
    uint64_t nr_anon;              /* the model's resident anonymous pages (anon list) */
    uint64_t anon_demand;          /* the workload's anonymous demand at the last step */
    uint64_t killed;               /* of it, the OOM killer's victims' share */
    uint64_t file_ws;              /* the workload's file working set at the last step */
    uint64_t kill_unit;            /* pages per "process" the OOM killer kills; 0: all */
    uint64_t swap_pages;           /* SwapTotal */
    uint64_t swap_used;            /* SwapTotal - SwapFree */
    uint64_t pswpout;              /* pages swapped out */
    uint64_t pswpin;               /* pages swapped in */
    uint64_t refaults;             /* file working set not in the cache, per step */
    uint64_t pgsteal;              /* cache pages reclaimed for the workload */
    uint64_t balloon_reclaimed;    /* cache pages reclaimed for the balloon's allocations */
    uint64_t oom_kills;
    uint64_t oom_killed_pages;
    uint64_t steps;
    double unmet_page_seconds;     /* integral of (anon demand - resident anon) dt */
    double pressure_seconds;       /* time in steps under memory pressure */
} xb_vmstat;

typedef struct xb_guest {
    xb_domain *dom;
    uint8_t *flags;                /* per pfn: XB_PG_* */
    uint32_t *next;                /* per pfn: next pfn on its list, XB_NIL at the end */
    uint64_t nr_pfns;              /* pfns that exist; arrays hold capacity entries */
    uint64_t capacity;
    uint64_t lowmem_pages;
    uint32_t balloon_head;
    uint32_t balloon_tail;
    uint32_t free_head[2];         /* [0] lowmem, [1] highmem; LIFO */
    uint64_t nr_free[2];
    uint64_t totalram_pages;
    uint64_t totalreserve_pages;
    uint64_t fail_page_allocs;     /* fault: the next N page allocations fail */
    int scrub_pages;               /* xen_scrub_pages */
    uint64_t batch;                /* frame_list entries */
    uint64_t *frame_list;
    xb_stats stats;
    uint32_t anon_head;            /* the model's anonymous pages, LIFO, XB_ANON_END-ended */
    uint32_t cache_head[2];        /* the page cache per zone, oldest first (FIFO) */
    uint32_t cache_tail[2];
    uint64_t nr_cache[2];
    xb_vmstat vm;
} xb_guest;

/* What one turn of balloon_process costs, in simulated nanoseconds, as the driver
 * prices it from its cost model (all 0: the instantaneous model) */
typedef struct xb_turn_cost {
    double hypercall;              /* per reservation hypercall */
    double page_out;               /* per page ballooned out (decrease_reservation) */
    double page_in;                /* per page populated back (increase_reservation) */
    double lowmem_page;            /* more per lowmem page moved (PV: update_va_mapping) */
    double reclaim;                /* per page cache page reclaimed for the balloon */
} xb_turn_cost;

/* what xb_balloon_turns did */
typedef struct xb_turns {
    uint64_t done;                 /* turns run (xb_balloon_turn calls) */
    double ns;                     /* what they cost */
} xb_turns;

/* Return conventions: hypercalls return how many gfns they did (stopping at
 * the first they cannot do); functions taking a pfn array return n when
 * every pfn was accepted, else the index of the first pfn refused (and then
 * change nothing); balloon.c steps return an XB_BP_* state, or XB_BUG,
 * XB_ENOMEM or XB_EINVAL (and then change nothing). */

/* Lifetime: each object is freed once its owner has called *_free and every child
 * (a host's domains, a domain's guests) has been freed, in any order: a child keeps its
 * parent's memory alive, so freeing a parent first never leaves a child dangling. */

/* host: the pool of machine frames; initially mfn 0 is handed out first */
xb_host *xb_host_new(uint64_t total_pages, int scrub_freed);
void xb_host_free(xb_host *h);
int xb_host_check(const xb_host *h, xb_domain **doms, uint64_t nr_doms, char *msg, uint64_t msg_len);
uint64_t xb_host_state_bytes(const xb_host *h);

/* domains: created with gfns 0..memory-1 populated from the pool (NULL when
 * the pool lacks them, or on allocation failure); released = every frame
 * back to the pool (it stays usable, with nothing populated) */
xb_domain *xb_domain_new(xb_host *h, uint32_t domid, uint64_t memory, uint64_t max_pages);
void xb_domain_release(xb_domain *d);
void xb_domain_free(xb_domain *d);
int xb_domain_grow(xb_domain *d, uint64_t nr_gfns);
int64_t xb_xenmem_populate_physmap(xb_domain *d, const uint64_t *gfns, uint64_t n);
int64_t xb_xenmem_decrease_reservation(xb_domain *d, const uint64_t *gfns, uint64_t n);
uint64_t xb_domain_state_bytes(const xb_domain *d);

/* guest: pfns 0..nr_pfns-1; the populated ones start on the free lists in
 * ascending pfn order (the lowest is allocated first), the rest are holes */
xb_guest *xb_guest_new(xb_domain *d, uint64_t nr_pfns, uint64_t lowmem_pages,
                       uint64_t reserve_pages, uint64_t batch, int scrub_pages);
void xb_guest_free(xb_guest *g);
int xb_guest_grow(xb_guest *g, uint64_t nr_pfns);
int xb_guest_set_batch(xb_guest *g, uint64_t batch); /* a new, zeroed frame_list */
int xb_guest_check(const xb_guest *g, char *msg, uint64_t msg_len);
/* pfns in [start, stop) (clamped to nr_pfns) whose flags have a bit of `mask` set */
uint64_t xb_count_flags(const xb_guest *g, uint64_t start, uint64_t stop, uint8_t mask);
uint64_t xb_guest_state_bytes(const xb_guest *g);

/* the workload: all-or-nothing (XB_ENOMEM); writes the domain's tag into each
 * frame it takes; freeing leaves the data in place */
int xb_workload_alloc(xb_guest *g, uint64_t n, uint64_t *out);
int64_t xb_workload_free(xb_guest *g, const uint64_t *pfns, uint64_t n);

/* balloon.c */
void xb_balloon_append(xb_guest *g, uint32_t pfn);
uint32_t xb_balloon_retrieve(xb_guest *g, int require_lowmem); /* a pfn, or XB_NIL */
int xb_increase_reservation(xb_guest *g, uint64_t nr_pages);
int xb_decrease_reservation(xb_guest *g, uint64_t nr_pages, int gfp);
/* one turn of balloon_process's loop up to update_schedule: current_credit(),
 * then one frame_list of increase_reservation, or of decrease_reservation
 * capped by si_mem_available() (GFP_BALLOON); a state, XB_BUG, XB_NO_CREDIT
 * or XB_NEED_RESERVE (reserve_additional_memory's turn, nothing done) */
int xb_balloon_turn(xb_guest *g);
/* several turns in one call: while each ends BP_DONE (credit left), fewer than
 * max_turns ran and their cost is below budget_ns (the time until the next other
 * event); the first turn always runs.  Returns the last turn's answer: BP_DONE
 * when it stopped on max_turns or the budget, else what ended the loop */
int xb_balloon_turns(xb_guest *g, uint64_t max_turns, double budget_ns,
                     const xb_turn_cost *cost, xb_turns *out);
int xb_alloc_xenballooned_pages(xb_guest *g, uint64_t nr_pages, uint64_t *out);
int64_t xb_free_xenballooned_pages(xb_guest *g, const uint64_t *pfns, uint64_t n);
int xb_balloon_add_region(xb_guest *g, uint64_t start_pfn, uint64_t n);
uint64_t xb_ballooned_pfns(const xb_guest *g, uint64_t *out, uint64_t max);

/* the memory model (vmscan.c).  si_mem_available: free - totalreserve + page cache -
 * min(page cache / 2, low watermark), never negative.  direct_reclaim: before an
 * allocation of nr_pages with gfp, the oldest cache pages go back to the allocator so
 * that it need not dip below the reserve; returns how many (counted in
 * vm.balloon_reclaimed).  workload_step: apply one step of a workload (anonymous demand,
 * file working set, pages) over dt seconds: shrink, allocate, reclaim, swap, OOM-kill,
 * swap in, fill the cache; returns the OOM kills.  workloads_step: the same for n guests
 * at once, kills[i] per guest, returning their sum. */
uint64_t xb_wmark_low(const xb_guest *g);
uint64_t xb_si_mem_available(const xb_guest *g);
uint64_t xb_direct_reclaim(xb_guest *g, uint64_t nr_pages, int gfp);
uint64_t xb_workload_step(xb_guest *g, uint64_t anon, uint64_t file, double dt);
uint64_t xb_workloads_step(xb_guest **gs, uint64_t n, const uint64_t *anon,
                           const uint64_t *file, double dt, uint64_t *kills);
/* every guest's xb_vmstat into vm[i], and into mem[4*i..4*i+3] its totalram, free,
 * page cache and si_mem_available pages: the metrics of n guests in one call */
void xb_read_vmstats(xb_guest **gs, uint64_t n, xb_vmstat *vm, uint64_t *mem);

/* memory hotplug: add_memory makes the holes start_pfn..start_pfn+n-1 exist,
 * offline (the arrays and the domain's physmap grow; their gfns stay
 * unpopulated); online_pages is xen_online_page for a range: each offline
 * page goes to the balloon, in ascending pfn order.  XB_EINVAL (nothing
 * changed) if a pfn is not a hole / not offline, or a gfn is populated. */
int xb_add_memory(xb_guest *g, uint64_t start_pfn, uint64_t n);
int xb_online_pages(xb_guest *g, uint64_t start_pfn, uint64_t n);
