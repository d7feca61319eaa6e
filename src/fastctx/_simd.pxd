# cython: language_level=3
"""What the render and parse kernels share for their SSE2 paths: whether the target has SSE2
(every x86-64 CPU does, so no run-time detection), and the bit scans of a movemask result."""

cdef extern from *:
    """
    #if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
    #  include <emmintrin.h>
    #  define FASTCTX_HAVE_SSE2 1
    #else
    #  define FASTCTX_HAVE_SSE2 0
    #endif
    /* The lowest and the highest set bit of a non-zero mask (32 and 64 bits). */
    #if defined(_MSC_VER) && !defined(__clang__)
    #  include <intrin.h>
    static __inline int fastctx_ctz(unsigned x) { unsigned long k; _BitScanForward(&k, x); return (int)k; }
    static __inline int fastctx_msb(unsigned x) { unsigned long k; _BitScanReverse(&k, x); return (int)k; }
    static __inline int fastctx_ctz64(unsigned long long x) {
        return (unsigned)x ? fastctx_ctz((unsigned)x) : 32 + fastctx_ctz((unsigned)(x >> 32));
    }
    static __inline int fastctx_msb64(unsigned long long x) {
        return (x >> 32) ? 32 + fastctx_msb((unsigned)(x >> 32)) : fastctx_msb((unsigned)x);
    }
    #else
    #  define fastctx_ctz(x) __builtin_ctz(x)
    #  define fastctx_msb(x) (31 - __builtin_clz(x))
    #  define fastctx_ctz64(x) __builtin_ctzll(x)
    #  define fastctx_msb64(x) (63 - __builtin_clzll(x))
    #endif
    """
    int FASTCTX_HAVE_SSE2
    int fastctx_ctz(unsigned x) noexcept nogil
    int fastctx_msb(unsigned x) noexcept nogil
    int fastctx_ctz64(unsigned long long x) noexcept nogil
    int fastctx_msb64(unsigned long long x) noexcept nogil
