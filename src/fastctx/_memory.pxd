# Large buffers: anonymous mappings, and the pool that keeps dropped ones for reuse
# (``_memory.pyx``). Shared by the parse kernel's column buffers and the render kernel's output.

from cpython.object cimport PyObject


cdef extern from *:
    """
    /* Large buffers live in their own anonymous mappings on Linux. They grow with mremap,
       which moves page tables and never copies, and a huge-page hint covers the whole
       mapping. A hint on part of a malloc'ed block splits its mapping in two, and then
       glibc's mremap fails (EFAULT) and realloc copies the whole column on every growth: in
       strace, 11 of the 22 growths of a 1M-line CLF parse. A mapping whose parts were given
       different hints (a render output's stages) is still split, so a growth that mremap
       refuses falls back to a new mapping and one copy. */
    #if defined(__linux__)
    #  include <string.h>
    #  include <sys/mman.h>
    #  define FASTCTX_CAN_MAP 1
    static void *fastctx_map_hint(size_t n, int huge) {
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
    #  if defined(MADV_HUGEPAGE)
        if (huge) madvise(p, n, MADV_HUGEPAGE);
    #  endif
        return p;
    }
    static void *fastctx_map(size_t n) { return fastctx_map_hint(n, 1); }
    static void *fastctx_remap(void *p, size_t old, size_t n) {
        void *q = mremap(p, old, n, MREMAP_MAYMOVE);
        if (q != MAP_FAILED) return q;
        if (n <= old) return NULL;
        q = fastctx_map(n);
        if (q == NULL) return NULL;
        memcpy(q, p, old);
        munmap(p, old);
        return q;
    }
    static void fastctx_unmap(void *p, size_t n) { munmap(p, n); }
    /* One hint over a whole mapping again: its parts merge back into one (see above). */
    static void fastctx_map_rejoin(void *p, size_t n) {
    #  if defined(MADV_HUGEPAGE)
        madvise(p, n, MADV_HUGEPAGE);
    #  endif
    }
    #else
    #  define FASTCTX_CAN_MAP 0
    static void *fastctx_map_hint(size_t n, int huge) { (void)n; (void)huge; return NULL; }
    static void *fastctx_map(size_t n) { (void)n; return NULL; }
    static void *fastctx_remap(void *p, size_t old, size_t n) { (void)p; (void)old; (void)n; return NULL; }
    static void fastctx_unmap(void *p, size_t n) { (void)p; (void)n; }
    static void fastctx_map_rejoin(void *p, size_t n) { (void)p; (void)n; }
    #endif
    """
    int FASTCTX_CAN_MAP
    void *fastctx_map_hint(size_t n, int huge) nogil
    void *fastctx_remap(void *p, size_t old, size_t n) nogil
    void fastctx_unmap(void *p, size_t n) nogil
    void fastctx_map_rejoin(void *p, size_t n) nogil


cdef enum:
    MAP_PAGE = 4096

cdef Py_ssize_t map_min() noexcept
cdef int pool_take(Py_ssize_t cap, Py_ssize_t *got, bint fresh) noexcept
cdef void *pool_pop(int k) noexcept
cdef void *pool_fetch(Py_ssize_t cap, Py_ssize_t *got) noexcept
cdef void *map_new(size_t n, int huge) noexcept
cdef void *map_grow(void *p, size_t old, size_t n) noexcept
cdef void pool_give(void *p, Py_ssize_t cap) noexcept
cdef void held_change(Py_ssize_t delta) noexcept
cdef object output_new(Py_ssize_t n, bint *fresh)
cdef int output_resize(PyObject **obj, Py_ssize_t n) except -1
cdef char *output_data(PyObject *obj) noexcept
