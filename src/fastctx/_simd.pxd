# cython: language_level=3
"""What the render and parse kernels share for their vector paths: whether the target has SSE2
(every x86-64 CPU does, so no run-time detection), whether the compiler can build functions
for AVX2 next to it and whether this CPU has AVX2 (checked at run time), the bit scans of
a movemask result, and copies with streaming stores."""

from libc.stdint cimport int64_t

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
    /* Copies into memory that is not read again soon (a threaded render placing what it
       rendered into scratch, a threaded parse joining its chunks' columns): streaming stores
       skip reading each destination line into the cache before writing it. SSE2 from 4 KiB
       (`enabled` 0: a plain copy, which tests compare); a plain copy without SSE2, and for
       the unaligned ends. */
    static CYTHON_UNUSED void fastctx_stream_copy(unsigned char *d, const unsigned char *s,
                                                  size_t n, int enabled) {
        size_t i = 0;
        if (n == 0) return;  /* s may be NULL then (an empty scratch), which memcpy may not take */
    #if FASTCTX_HAVE_SSE2
        if (enabled && n >= 4096) {
            i = (16 - ((size_t)d & 15)) & 15;  /* to a 16-byte boundary of the destination */
            memcpy(d, s, i);
            for (; n - i >= 64; i += 64) {
                __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
                __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
                __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
                __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
                _mm_stream_si128((__m128i *)(d + i), a);
                _mm_stream_si128((__m128i *)(d + i + 16), b);
                _mm_stream_si128((__m128i *)(d + i + 32), c);
                _mm_stream_si128((__m128i *)(d + i + 48), e);
            }
            _mm_sfence();  /* ordered before the plain stores that follow */
        }
    #endif
        memcpy(d + i, s + i, n - i);
    }
    /* d[k] = s[k] + base for k < n, as `fastctx_stream_copy` stores (string offsets moved
       behind the data before them). */
    static CYTHON_UNUSED void fastctx_stream_rebase(int64_t *d, const int64_t *s, int64_t n,
                                                    int64_t base, int enabled) {
        int64_t k = 0;
    #if FASTCTX_HAVE_SSE2
        if (enabled && n >= 512) {
            __m128i b = _mm_set1_epi64x(base);
            for (; k < n && ((size_t)(d + k) & 15); k++) d[k] = s[k] + base;
            for (; n - k >= 2; k += 2)
                _mm_stream_si128((__m128i *)(d + k),
                                 _mm_add_epi64(_mm_loadu_si128((const __m128i *)(s + k)), b));
            _mm_sfence();
        }
    #endif
        for (; k < n; k++) d[k] = s[k] + base;
    }
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
    void stream_copy "fastctx_stream_copy"(unsigned char* d, const unsigned char* s, size_t n, int enabled) noexcept nogil
    void stream_rebase "fastctx_stream_rebase"(int64_t* d, const int64_t* s, int64_t n, int64_t base, int enabled) noexcept nogil
