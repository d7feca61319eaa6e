# cython: language_level=3
"""What the render and parse kernels share for their vector paths: whether the target has SSE2
(every x86-64 CPU does, so no run-time detection), whether the compiler can build functions
for AVX2 next to it and whether this CPU has AVX2 (checked at run time), and the bit scans of
a movemask result."""

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
    /* AVX2 functions (`__attribute__((target("avx2")))`) beside the SSE2 module: GCC and
       Clang on x86-64 only. The kernels call them where `fastctx_cpu_avx2()` says so. */
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #  define FASTCTX_AVX2_TARGET 1
    #  include <immintrin.h>
    static CYTHON_UNUSED int fastctx_cpu_avx2(void) { return __builtin_cpu_supports("avx2") != 0; }
    #else
    #  define FASTCTX_AVX2_TARGET 0
    static CYTHON_UNUSED int fastctx_cpu_avx2(void) { return 0; }
    #endif
    """
    int FASTCTX_HAVE_SSE2
    int fastctx_ctz(unsigned x) noexcept nogil
    int fastctx_msb(unsigned x) noexcept nogil
    int fastctx_ctz64(unsigned long long x) noexcept nogil
    int fastctx_msb64(unsigned long long x) noexcept nogil
    int fastctx_cpu_avx2() noexcept nogil
