# cython: language_level=3
"""Output buffer for the render kernel: an inline ``ensure()`` fast path, an out-of-line grow.

A buffer is ``[start, limit)``; ``pos`` is the write position. Writers may store up to
``BUF_SLACK`` bytes past what they were granted (fixed-size 16-byte copies of short literals
and values, which compile to one vector move instead of a ``memcpy`` call), so ``end`` is
``limit - BUF_SLACK`` and ``ensure`` compares against ``end``; the exact-size path that fills
the last bytes of a caller's buffer never relies on the slack.

Fixed buffers (a ``bytes`` being filled, a caller's ``bytearray``) do not grow inside the
kernel: ``ensure`` reports "no room" and the GIL-holding wrapper decides. Owned buffers
(the per-call scratch used for exact sizing) grow with ``PyMem_RawRealloc``, which needs no
GIL, so the kernel can grow them itself; a failed allocation is a status, never a crash.
"""

cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(_MSC_VER)
    #  define FASTCTX_NOINLINE __declspec(noinline)
    #else
    #  define FASTCTX_NOINLINE __attribute__((noinline))
    #endif
    #define FASTCTX_BUF_SLACK 128

    typedef struct {
        unsigned char *start;
        unsigned char *pos;
        unsigned char *end;    /* limit - slack (never below start) */
        unsigned char *limit;  /* one past the last writable byte */
        int owned;             /* 1: allocated with PyMem_RawMalloc and growable */
    } fastctx_buf;

    static void fastctx_buf_set(fastctx_buf *b, unsigned char *start, size_t used, size_t capacity) {
        b->start = start;
        b->pos = start + used;
        b->limit = start + capacity;
        b->end = capacity > FASTCTX_BUF_SLACK ? b->limit - FASTCTX_BUF_SLACK : start;
    }

    /* Out of line: growing is rare, and keeping it out of the hot loop keeps that loop small.
       Returns 1 when `need` bytes (plus slack) are available, 0 for a fixed buffer that is
       full, -1 when the allocation failed. */
    static FASTCTX_NOINLINE int fastctx_buf_grow(fastctx_buf *b, size_t need) {
        size_t used, capacity, wanted;
        unsigned char *fresh;
        if (!b->owned) return 0;
        used = (size_t)(b->pos - b->start);
        capacity = (size_t)(b->limit - b->start);
        wanted = used + need + FASTCTX_BUF_SLACK;
        if (wanted < 2 * capacity) wanted = 2 * capacity;
        fresh = (unsigned char *)PyMem_RawRealloc(b->start, wanted);
        if (fresh == NULL) return -1;
        fastctx_buf_set(b, fresh, used, wanted);
        return 1;
    }

    static int fastctx_buf_init_owned(fastctx_buf *b, size_t capacity) {
        unsigned char *mem = (unsigned char *)PyMem_RawMalloc(capacity);
        b->owned = 1;
        if (mem == NULL) { fastctx_buf_set(b, NULL, 0, 0); return -1; }
        fastctx_buf_set(b, mem, 0, capacity);
        return 0;
    }

    #if defined(__linux__)
    #  include <sys/mman.h>
    #  include <time.h>
    #  ifndef MADV_HUGEPAGE
    #    define MADV_HUGEPAGE 14  /* Linux 2.6.38 */
    #  endif
    #  ifndef MADV_NOHUGEPAGE
    #    define MADV_NOHUGEPAGE 15  /* Linux 2.6.38 */
    #  endif
    #  ifndef MADV_POPULATE_WRITE
    #    define MADV_POPULATE_WRITE 23  /* Linux 5.14; older kernels refuse it, a no-op */
    #  endif
    /* Preparing a large fresh output region (a new `bytes` to render into). Writing fresh
       memory costs a page fault per 4 KiB page, about 2.4 us each here (160 MB: ~96 ms).
       Two remedies, and which is better depends on how recently the process freed memory:
       - 2 MiB transparent huge pages: one fault per 512 pages, 160 MB in ~21 ms, but only
         while the memory the guest hands out was freed moments ago. On a VM whose balloon
         reports free pages to the host (Firecracker, as under AWS Lambda), memory idle for
         a second or two is given back, and refilling it as huge pages took 350-600 ms.
       - MADV_POPULATE_WRITE of 4 KiB pages: one system call faults them all in, 68 ms warm
         and 85-120 ms cold.
       So huge pages only when the previous large output was finished within
       FASTCTX_WARM_NS (a loop rendering batch after batch frees and reallocates at once),
       pre-faulted 4 KiB pages otherwise (`populate`; a threaded render passes 0 and leaves
       the faults to its threads, which take them in parallel, where one thread's
       pre-faulting would run before any rendering starts). Hints only: errors are ignored. */
    #  define FASTCTX_WARM_NS 300000000LL
    static long long fastctx_fresh_last_ns = -1;

    static long long fastctx_now_ns(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
    }

    static void fastctx_prepare_fresh(void *start, size_t size, int populate) {
        const uintptr_t huge = (uintptr_t)2 << 20;
        uintptr_t lo = ((uintptr_t)start + huge - 1) & ~(huge - 1);
        uintptr_t hi = ((uintptr_t)start + size) & ~(huge - 1);
        long long last = __atomic_load_n(&fastctx_fresh_last_ns, __ATOMIC_RELAXED);
        if (size < 4 * huge || hi <= lo) return;
        if (last >= 0 && fastctx_now_ns() - last < FASTCTX_WARM_NS)
            madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
        else if (populate)
            madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
    }

    /* Called when a large output is complete: the clock that `fastctx_prepare_fresh` reads. */
    static void fastctx_fresh_done(void) {
        __atomic_store_n(&fastctx_fresh_last_ns, fastctx_now_ns(), __ATOMIC_RELAXED);
    }

    /* A one-thread render of 4 stages or more decides by measuring instead
       (`Renderer.render`). Within FASTCTX_RECENT_NS of its last large output it asks for
       huge pages and renders FASTCTX_FRESH_STAGE bytes at a time; two stages in a row slower
       than fastctx_fresh_slow_ns mean huge pages are being refilled from the host, and the
       rest becomes pre-faulted small pages (one slow stage alone may be a core waking up:
       after 3 s idle, switching on the first 16 MiB stage made a 120 ms render take 204 ms).
       Otherwise it takes pre-faulted small pages from the start. Measured on this VM, 1M
       CSV lines (148 MB), median of 3-5 calls, each after 1.5 GB was touched and freed and
       a pause; huge pages / small pages / stages: no pause 102 / 139 / 101 ms (CLF 103 /
       140 / 101); 3 s 181 / 145 / 103, and in another run 135 / 143 / 134; 30 s 572 / 211 /
       319, where the 20 s window now takes small pages from the start. A stage of 8 MiB
       renders in 3-8 ms and its huge pages fault in 1-2 ms when warm, 17-30 ms when cold
       (from the 21 ms and 350-600 ms that 160 MB took). */
    #  define FASTCTX_FRESH_STAGE ((size_t)8 << 20)
    #  define FASTCTX_RECENT_NS 20000000000LL
    static long long fastctx_fresh_slow_ns = 20000000LL;

    /* Whether a large output starts with huge pages: only within FASTCTX_RECENT_NS of the
       last one (a loop, or calls between other work), when the memory the guest hands out
       is likely still backed; otherwise (a first call, or after long idle) it takes
       pre-faulted small pages from the start. */
    static int fastctx_fresh_recent(void) {
        long long last = __atomic_load_n(&fastctx_fresh_last_ns, __ATOMIC_RELAXED);
        return last >= 0 && fastctx_now_ns() - last < FASTCTX_RECENT_NS;
    }

    static void fastctx_fresh_advise(void *start, size_t size, int huge_pages) {
        const uintptr_t huge = (uintptr_t)2 << 20;
        uintptr_t lo = ((uintptr_t)start + huge - 1) & ~(huge - 1);
        uintptr_t hi = ((uintptr_t)start + size) & ~(huge - 1);
        if (hi <= lo) return;
        if (huge_pages) {
            madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
        } else {
            madvise((void *)lo, hi - lo, MADV_NOHUGEPAGE);
            madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
        }
    }
    #else
    static void fastctx_prepare_fresh(void *start, size_t size, int populate) {
        (void)start; (void)size; (void)populate;
    }
    static void fastctx_fresh_done(void) {}
    #  define FASTCTX_FRESH_STAGE ((size_t)8 << 20)
    static long long fastctx_fresh_last_ns = -1;
    static long long fastctx_fresh_slow_ns = 20000000LL;
    static long long fastctx_now_ns(void) { return 0; }
    static int fastctx_fresh_recent(void) { return 1; }
    static void fastctx_fresh_advise(void *start, size_t size, int huge_pages) {
        (void)start; (void)size; (void)huge_pages;
    }
    #endif

    static void fastctx_buf_free(fastctx_buf *b) {
        if (b->owned && b->start != NULL) PyMem_RawFree(b->start);
        b->start = b->pos = b->end = b->limit = NULL;
    }
    """
    enum: BUF_SLACK "FASTCTX_BUF_SLACK"
    ctypedef struct fastctx_buf:
        unsigned char* start
        unsigned char* pos
        unsigned char* end
        unsigned char* limit
        int owned
    void buf_set "fastctx_buf_set"(fastctx_buf* b, unsigned char* start, size_t used, size_t capacity) noexcept nogil
    int buf_grow "fastctx_buf_grow"(fastctx_buf* b, size_t need) noexcept nogil
    int buf_init_owned "fastctx_buf_init_owned"(fastctx_buf* b, size_t capacity) noexcept nogil
    void buf_free "fastctx_buf_free"(fastctx_buf* b) noexcept nogil
    void prepare_fresh "fastctx_prepare_fresh"(void* start, size_t size, int populate) noexcept nogil
    void fresh_done "fastctx_fresh_done"() noexcept nogil
    const size_t FRESH_STAGE "FASTCTX_FRESH_STAGE"
    long long fresh_slow_ns "fastctx_fresh_slow_ns"
    long long fastctx_fresh_slow_ns
    long long fastctx_fresh_last_ns
    long long now_ns "fastctx_now_ns"() noexcept nogil
    int fresh_recent "fastctx_fresh_recent"() noexcept nogil
    void fresh_advise "fastctx_fresh_advise"(void* start, size_t size, int huge_pages) noexcept nogil


cdef inline bint buf_room(const fastctx_buf* b, const unsigned char* pos, Py_ssize_t need) noexcept nogil:
    """The inline fast path of "ensure": one compare of the cached write position ``pos``.

    When it fails, the caller stores ``pos`` in ``b.pos`` and calls ``buf_grow`` out of line
    (which grows an owned buffer or reports a full fixed one), then reloads ``b.pos``.
    """
    return b.end - pos >= need
