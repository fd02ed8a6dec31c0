/* The hypervisor's pool of machine frames: a stack of free mfns and, per
 * mfn, the domid whose data the frame holds (0 = scrubbed).  A frame handed
 * to a domain while holding another domain's data is a leak. */
#include "xb_impl.h"

/* twin: core/_py/host.py:host_new */
xb_host *xb_host_new(uint64_t total_pages, int scrub_freed)
{
    /* mfns are 32-bit and XB_NIL is reserved */
    if (total_pages > XB_NIL || total_pages > SIZE_MAX / sizeof(uint32_t))
        return NULL;
    xb_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->free_stack = xb_alloc_array(xb_nz(total_pages) * sizeof(uint32_t));
    h->tag = xb_alloc_array(xb_nz(total_pages) * sizeof(uint32_t));
    h->refs = 1;
    if (!h->free_stack || !h->tag) {
        xb_host_free(h);
        return NULL;
    }
    /* zeroed now rather than by calloc's lazy mapping, which would fault on
     * the first scrub of each page of tags inside the hot loops */
    memset(h->tag, 0, (size_t)total_pages * sizeof(uint32_t));
    /* mfn 0 on top of the stack, so frames are handed out in mfn order */
    for (uint64_t i = 0; i < total_pages; i++)
        h->free_stack[i] = (uint32_t)(total_pages - 1 - i);
    h->total_pages = total_pages;
    h->free_pages = total_pages;
    h->scrub_freed = scrub_freed;
    return h;
}

/* Drops one reference (the owner's, or a freed domain's); the last frees the memory.
 * twin: none (memory only: Python drops a Host) */
void xb_host_free(xb_host *h)
{
    if (!h || --h->refs > 0)
        return;
    free(h->free_stack);
    free(h->tag);
    free(h);
}

/* twin: core/_py/host.py:host_state_bytes */
uint64_t xb_host_state_bytes(const xb_host *h)
{
    return h->total_pages * (4 + 4);
}

/* set bit `bit` of the bitmap; nonzero if it was set already
 * twin: none (the Python core marks a list of bools) */
static inline int test_and_set(uint64_t *bits, uint32_t bit)
{
    uint64_t mask = (uint64_t)1 << (bit % 64), word = bits[bit / 64];
    bits[bit / 64] = word | mask;
    return (word & mask) != 0;
}

/* Mark the 64 frames [lo, lo + 64) (lo + 64 <= the bitmap's bits): 0 if one was marked
 * already.  At most two words.
 * twin: none (the Python core marks a list of bools) */
static inline int mark_run64(uint64_t *bits, uint64_t lo)
{
    uint64_t w = lo / 64, sh = lo % 64;
    uint64_t head = UINT64_MAX << sh;
    int ok = (bits[w] & head) == 0;
    bits[w] |= head;
    if (sh) {
        uint64_t tail = UINT64_MAX >> (64 - sh);
        ok &= (bits[w + 1] & tail) == 0;
        bits[w + 1] |= tail;
    }
    return ok;
}

/* Mark list[0..n) one mfn at a time (NIL entries skipped); 0 if one was marked already or
 * is beyond the host, else *count += the others.  Runs of consecutive frames gather a
 * word's bits in a register and merge them once.
 * twin: none (the Python core marks a list of bools) */
static int mark_each(uint64_t *bits, const uint32_t *list, uint64_t n, uint64_t total,
                     uint64_t *count)
{
    uint64_t word = UINT64_MAX, acc = 0, marked = 0;
    int ok = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t mfn = list[i];
        if (mfn == XB_NIL)
            continue;
        if (mfn >= total)
            return 0;
        uint64_t mask = (uint64_t)1 << (mfn % 64);
        if (mfn / 64 != word) {
            if (word != UINT64_MAX) {
                ok &= (bits[word] & acc) == 0;
                bits[word] |= acc;
            }
            word = mfn / 64;
            acc = 0;
        }
        ok &= (acc & mask) == 0;
        acc |= mask;
        marked++;
    }
    if (word != UINT64_MAX) {
        ok &= (bits[word] & acc) == 0;
        bits[word] |= acc;
    }
    *count += marked;
    return ok;
}

/* Mark the n mfns of `list` (NIL entries skipped) in the bitmap; 0 if one was marked
 * already or is beyond the host, and *count the others.  The pool and the physmaps are
 * mostly runs of consecutive frames, up or down: a block of 64 entries that is one such
 * run is recognised by a loop the compiler vectorises and marked as a range (two words);
 * any other block goes frame by frame.
 * twin: none (the Python core marks a list of bools) */
static int mark_frames(uint64_t *bits, const uint32_t *list, uint64_t n, uint64_t total,
                       uint64_t *count)
{
    uint64_t i = 0;
    int ok = 1;
    *count = 0;
    for (; i + 64 <= n; i += 64) {
        const uint32_t *b = list + i;
        /* the direction from the first step; no wrap and below total: none is NIL or
         * beyond the host */
        uint32_t base = b[0], step = b[1] - base, off = 0;
        uint64_t lo = step == 1 ? base : (uint64_t)base - 63;
        if ((step == 1 || step == UINT32_MAX) && base >= 63 * (step != 1) && lo + 64 <= total) {
            if (step == 1)
                for (uint32_t k = 0; k < 64; k++)
                    off |= b[k] ^ (base + k);
            else
                for (uint32_t k = 0; k < 64; k++)
                    off |= b[k] ^ (base - k);
            if (off == 0) {
                ok &= mark_run64(bits, lo);
                *count += 64;
                continue;
            }
        }
        if (!mark_each(bits, b, 64, total, count))
            return 0;
    }
    return mark_each(bits, list + i, n - i, total, count) && ok;
}

/* The whole check without naming anything: 1 if it passes.
 * twin: none (the Python core runs the named rules directly) */
static int host_looks_sound(const xb_host *h, xb_domain **doms, uint64_t nr_doms,
                            uint64_t *bits)
{
    uint64_t held = 0, n;
    if (h->free_pages > h->total_pages ||
        !mark_frames(bits, h->free_stack, h->free_pages, h->total_pages, &n))
        return 0;
    for (uint64_t k = 0; k < nr_doms; k++) {
        if (!mark_frames(bits, doms[k]->p2m, doms[k]->nr_gfns, h->total_pages, &n) ||
            n != doms[k]->tot_pages)
            return 0;
        held += n;
    }
    return h->free_pages + held == h->total_pages;
}

/* Every frame in exactly one place; tot_pages matches the physmap; nothing lost.
 * twin: core/_py/host.py:host_check */
int xb_host_check(const xb_host *h, xb_domain **doms, uint64_t nr_doms, char *msg, uint64_t msg_len)
{
    typedef unsigned long long ull;
    const uint64_t total = h->total_pages;
    /* one bit per frame: 4 MiB for a 128 GiB host, which stays in the cache while the
     * pool and the physmaps scatter their marks over it */
    const size_t words = (size_t)(total / 64 + 1);
    uint64_t *seen = xb_alloc_array(words * sizeof(uint64_t));
    int rc = 0;
    if (!seen) {
        snprintf(msg, (size_t)msg_len, "out of memory");
        return XB_ENOMEM;
    }
    memset(seen, 0, words * sizeof(uint64_t));
    if (host_looks_sound(h, doms, nr_doms, seen))
        goto out;
    /* something is wrong: the rules one by one, to name it */
    memset(seen, 0, words * sizeof(uint64_t));
    /* the Python core would raise IndexError here: the field was written from Python */
    if (h->free_pages > total)
        FAIL("the pool holds %llu frames but the host has only %llu",
             (ull)h->free_pages, (ull)total);
    for (uint64_t i = 0; i < h->free_pages; i++) {
        uint32_t mfn = h->free_stack[i];
        if (mfn >= total)
            FAIL("pool slot %llu holds mfn %lu, beyond the host's %llu frames",
                 (ull)i, (unsigned long)mfn, (ull)total);
        if (test_and_set(seen, mfn))
            FAIL("mfn %lu is in the pool twice", (unsigned long)mfn);
    }
    uint64_t held = 0;
    for (uint64_t k = 0; k < nr_doms; k++) {
        const xb_domain *d = doms[k];
        uint64_t populated = 0;
        for (uint64_t gfn = 0; gfn < d->nr_gfns; gfn++) {
            uint32_t mfn = d->p2m[gfn];
            if (mfn == XB_NIL)
                continue;
            if (mfn >= total)
                FAIL("domain %lu gfn %llu maps mfn %lu, beyond the host's frames",
                     (unsigned long)d->domid, (ull)gfn, (unsigned long)mfn);
            if (test_and_set(seen, mfn))
                FAIL("mfn %lu is held twice (found again at domain %lu gfn %llu)",
                     (unsigned long)mfn, (unsigned long)d->domid, (ull)gfn);
            populated++;
        }
        if (populated != d->tot_pages)
            FAIL("domain %lu has tot_pages %llu but %llu populated gfns",
                 (unsigned long)d->domid, (ull)d->tot_pages, (ull)populated);
        held += populated;
    }
    if (h->free_pages + held != total) {
        for (uint64_t mfn = 0; mfn < total; mfn++)
            if (!(seen[mfn / 64] >> (mfn % 64) & 1))
                FAIL("mfn %llu is lost: pool %llu + domains %llu != total %llu",
                     (ull)mfn, (ull)h->free_pages, (ull)held, (ull)total);
    }
out:
    free(seen);
    return rc;
}
