# cython: language_level=3
"""Byte-level escaping for the render kernel, driven by ``program.ESCAPE_TABLES``.

Every escape method is one 256-byte action table (``Action`` codes, 0 = copy). Clean runs
are copied eight bytes at a time after one OR of eight table lookups; only flagged bytes
branch. The rules match ``_reference.escape_value`` byte for byte.
"""

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy

from fastctx._simd cimport FASTCTX_HAVE_SSE2, fastctx_ctz

from fastctx._opcodes cimport (
    ACT_BACKSLASH, ACT_COPY, ACT_CSV_QUOTE, ACT_HEX, ACT_JSON_CTRL, ACT_XML_DROP, ACT_XML_EF,
    ACT_XML_ENTITY,
)

# The longest escape of one input byte: ``\u00XX`` and ``&quot;`` are six bytes.
cdef enum:
    MAX_EXPANSION = 6

cdef extern from *:
    """
    static const char fastctx_hex_digits[17] = "0123456789abcdef";
    """
    const char* HEX_DIGITS "fastctx_hex_digits"


cdef extern from *:
    """
    /* A vector form of an action table, for the clean-value check: a byte is flagged when it
       is below `below` or equals one of `extra`. Derived from the 256-byte table at bind time
       and used only where it matches the table exactly; SSE2 is part of every x86-64 CPU, so
       this needs no CPU detection. Elsewhere the scalar table loop runs. */
    typedef struct {
        unsigned char below;
        unsigned char extra[6];
        int usable;
        /* Every test's bytes repeated 16 times: one unaligned load per vector instead of a
           four-instruction broadcast per call (measured: the broadcasts were a third of the
           clean check). `low` holds below - 1, for the min test of the range. The extras are
           tested as `npair` pairs one bit apart ((v | mask) == a | b holds for v = a or b
           only), then `nsingle` alone. */
        unsigned char low[16];
        int npair, nsingle;
        unsigned char test[6][16];
        unsigned char mask[3][16];
    } fastctx_matcher;

    #if defined(__GNUC__) || defined(__clang__)
    #  define FASTCTX_ALWAYS_INLINE inline __attribute__((always_inline))
    #else
    #  define FASTCTX_ALWAYS_INLINE CYTHON_INLINE
    #endif

    #if FASTCTX_HAVE_SSE2
    static int fastctx_simd_enabled = 1;

    /* The flagged lanes of 16 bytes with the table's shape fixed at compile time: `below`
       (0 or 1: a range [0, below) is flagged), `np` pair tests and `ns` single ones.
       v <= below - 1 is one min and one compare; only the tests the table has are made
       (CLF_BARE: 2 singles; XML: 2 pairs and 2 singles for its 6 extras, measured with
       callgrind, instructions a row: XML 805 -> 774). */
    static FASTCTX_ALWAYS_INLINE __m128i fastctx_hit16_k(const fastctx_matcher *m,
                                                        const unsigned char *p, int below,
                                                        int np, int ns) {
        #define FASTCTX_T(k) _mm_loadu_si128((const __m128i *)m->test[k])
        #define FASTCTX_M(k) _mm_loadu_si128((const __m128i *)m->mask[k])
        #define FASTCTX_B() _mm_loadu_si128((const __m128i *)m->low)
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_setzero_si128();
        int k;
        for (k = 0; k < np; k++)
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_or_si128(v, FASTCTX_M(k)), FASTCTX_T(k)));
        for (k = np; k < np + ns; k++)
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, FASTCTX_T(k)));
        if (below)
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(v, FASTCTX_B()), v));
        #undef FASTCTX_T
        #undef FASTCTX_M
        #undef FASTCTX_B
        return hit;
    }

    /* Bit i set when byte i of the 16 at p is flagged (the table's shape read at run time). */
    static CYTHON_INLINE unsigned fastctx_flags16(const fastctx_matcher *m, const unsigned char *p) {
        return (unsigned)_mm_movemask_epi8(fastctx_hit16_k(m, p, m->below != 0, m->npair, m->nsingle));
    }

    /* 1 when no byte of [p, p + n) is flagged, 0 when one is, -1 when the vector path cannot
       answer (it would read past `end`, or the table has no vector form). */
    static CYTHON_INLINE int fastctx_clean_simd(const fastctx_matcher *m, const unsigned char *p,
                                         Py_ssize_t n, const unsigned char *end) {
        Py_ssize_t i;
        if (!m->usable || !fastctx_simd_enabled) return -1;
        if (n <= 16) {
            if (end - p < 16) return -1;
            return (fastctx_flags16(m, p) & ((1u << n) - 1u)) == 0;
        }
        for (i = 0; n - i > 16; i += 16)
            if (fastctx_flags16(m, p + i)) return 0;
        return fastctx_flags16(m, p + n - 16) == 0;
    }

    /* 32 bytes a step with one test for both halves, then 16: one bound (chunks start below
       both `limit` and end - 15) instead of two compares a step (measured with callgrind,
       instructions a row: CLF 790 -> 741, XML 902 -> 855). */
    static FASTCTX_ALWAYS_INLINE const unsigned char *fastctx_scan_k(
            const fastctx_matcher *m, const unsigned char *p, const unsigned char *limit,
            const unsigned char *end, int below, int np, int ns) {
        Py_ssize_t i = 0, n = end - p - 15;
        __m128i a, b;
        unsigned f;
        if (limit - p < n) n = limit - p;
        for (; i + 16 < n; i += 32) {
            a = fastctx_hit16_k(m, p + i, below, np, ns);
            b = fastctx_hit16_k(m, p + i + 16, below, np, ns);
            if (_mm_movemask_epi8(_mm_or_si128(a, b))) {
                f = (unsigned)_mm_movemask_epi8(a) | ((unsigned)_mm_movemask_epi8(b) << 16);
                return p + i + fastctx_ctz(f);
            }
        }
        for (; i < n; i += 16) {
            f = (unsigned)_mm_movemask_epi8(fastctx_hit16_k(m, p + i, below, np, ns));
            if (f) return p + i + fastctx_ctz(f);
        }
        return p + i;
    }

    /* Scan forward from p, 16 bytes a step, until a flagged byte (returned) or until at
       least `limit` or fewer than 16 bytes before `end` (that position is returned: every
       byte before it is clean). Reads stay below `end`. One loop per table shape, chosen
       once per call of the scan, not per 16 bytes. */
    static const unsigned char *fastctx_scan_simd(const fastctx_matcher *m, const unsigned char *p,
                                                  const unsigned char *limit,
                                                  const unsigned char *end) {
        #define FASTCTX_SCAN_CASE(np, ns) \
            case np * 8 + ns: return m->below ? fastctx_scan_k(m, p, limit, end, 1, np, ns) \
                                              : fastctx_scan_k(m, p, limit, end, 0, np, ns);
        switch (m->npair * 8 + m->nsingle) {
            FASTCTX_SCAN_CASE(0, 1) FASTCTX_SCAN_CASE(0, 2) FASTCTX_SCAN_CASE(0, 3)
            FASTCTX_SCAN_CASE(0, 4) FASTCTX_SCAN_CASE(0, 5) FASTCTX_SCAN_CASE(0, 6)
            FASTCTX_SCAN_CASE(1, 0) FASTCTX_SCAN_CASE(1, 1) FASTCTX_SCAN_CASE(1, 2)
            FASTCTX_SCAN_CASE(1, 3) FASTCTX_SCAN_CASE(1, 4)
            FASTCTX_SCAN_CASE(2, 0) FASTCTX_SCAN_CASE(2, 1) FASTCTX_SCAN_CASE(2, 2)
            default: break;
        }
        #undef FASTCTX_SCAN_CASE
        return m->below ? fastctx_scan_k(m, p, limit, end, 1, 3, 0)
                        : fastctx_scan_k(m, p, limit, end, 0, 3, 0);
    }
    #else
    static int fastctx_simd_enabled = 0;
    static const unsigned char *fastctx_scan_simd(const fastctx_matcher *m, const unsigned char *p,
                                                  const unsigned char *limit,
                                                  const unsigned char *end) {
        (void)m; (void)limit; (void)end;
        return p;
    }
    static CYTHON_INLINE int fastctx_clean_simd(const fastctx_matcher *m, const unsigned char *p,
                                         Py_ssize_t n, const unsigned char *end) {
        (void)m; (void)p; (void)n; (void)end;
        return -1;
    }
    #endif

    /* Build the vector form of `table`; usable only if it reproduces the table exactly. */
    static CYTHON_UNUSED void fastctx_matcher_init(fastctx_matcher *m, const unsigned char *table) {
        int c, k = 0, below = 0;
        memset(m, 0, sizeof(*m));
        while (below < 256 && table[below]) below++;
        if (below > 255) return;
        m->below = (unsigned char)below;
        for (c = below; c < 256; c++) {
            if (!table[c]) continue;
            if (k == 6) return;  /* too many single bytes: no vector form */
            m->extra[k++] = (unsigned char)c;
        }
        if (k == 0) {
            if (below == 0) return;  /* nothing is flagged: the plain method never checks */
            m->extra[k++] = 0;  /* byte 0 is below `below`, so matching it changes nothing */
        }
        memset(m->low, m->below ? m->below - 1 : 0, 16);
        {
            /* the scan's tests: pair extras one bit apart, first come first */
            int used[6] = {0, 0, 0, 0, 0, 0}, i, j, t = 0;
            unsigned char singles[6];
            int ns = 0;
            for (i = 0; i < k; i++) {
                unsigned char a = m->extra[i], x;
                if (used[i]) continue;
                for (j = i + 1; j < k; j++) {
                    x = (unsigned char)(a ^ m->extra[j]);
                    if (!used[j] && (x & (x - 1)) == 0) break;
                }
                if (j < k) {
                    used[i] = used[j] = 1;
                    memset(m->mask[t], a ^ m->extra[j], 16);
                    memset(m->test[t], a | m->extra[j], 16);
                    t++;
                } else {
                    singles[ns++] = a;
                }
            }
            m->npair = t;
            m->nsingle = ns;
            for (i = 0; i < ns; i++) memset(m->test[t + i], singles[i], 16);
        }
        m->usable = 1;
    }
    """
    ctypedef struct fastctx_matcher:
        unsigned char below
        int usable
    int fastctx_simd_enabled
    const uint8_t* scan_simd "fastctx_scan_simd"(const fastctx_matcher* m, const uint8_t* p, const uint8_t* limit, const uint8_t* end) noexcept nogil
    int clean_simd "fastctx_clean_simd"(const fastctx_matcher* m, const uint8_t* p, Py_ssize_t n, const uint8_t* end) noexcept nogil
    void matcher_init "fastctx_matcher_init"(fastctx_matcher* m, const uint8_t* table) noexcept nogil


cdef inline bint chunk_clean(const uint8_t* t, const uint8_t* p) noexcept nogil:
    # One OR of eight lookups instead of eight branches: on values without flagged bytes
    # (93-97% of them) this is the whole cost of the scan.
    return (t[p[0]] | t[p[1]] | t[p[2]] | t[p[3]] | t[p[4]] | t[p[5]] | t[p[6]] | t[p[7]]) == 0


cdef inline bint all_clean(const uint8_t* t, const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """True when no byte of ``[p, p + n)`` has an action: the value is copied as it is.

    Branch-free over each 8-byte chunk, with one overlapping chunk for the tail, so the
    common clean value costs a few ORs; escaping proper (``escape_with_table``) runs only for
    the few values that need it.
    """
    cdef uint8_t acc = 0
    cdef Py_ssize_t i = 0
    if n >= 8:
        while n - i > 8:
            if not chunk_clean(t, p + i):
                return False
            i += 8
        return chunk_clean(t, p + n - 8)
    while i < n:
        acc |= t[p[i]]
        i += 1
    return acc == 0


cdef inline bint is_clean(
    const fastctx_matcher* m, const uint8_t* t, const uint8_t* p, Py_ssize_t n, const uint8_t* end
) noexcept nogil:
    """True when ``[p, p + n)`` needs no escaping: SSE2 where it can, else the table."""
    cdef int r = clean_simd(m, p, n, end)
    if r >= 0:
        return r
    return all_clean(t, p, n)


cdef inline const uint8_t* scan_clean(
    const fastctx_matcher* m, bint vec, const uint8_t* t, const uint8_t* p, const uint8_t* limit,
    const uint8_t* end
) noexcept nogil:
    """The first flagged byte of ``[p, end)``, or a position at or past ``limit`` (and at most
    ``end``) before which every byte from ``p`` is clean.

    For the render loop's per-column clean span: one long scan serves many short values
    (``vec``: the SSE2 form of ``t`` may be used).
    """
    if vec:
        p = scan_simd(m, p, limit, end)
    else:
        while p < limit and end - p >= 8:
            if not chunk_clean(t, p):
                break
            p += 8
    while p < limit and p < end:
        if t[p[0]]:
            return p
        p += 1
    return p


cdef inline bint any_flagged(const uint8_t* t, const uint8_t* p, const uint8_t* e) noexcept nogil:
    """True when a byte of ``[p, e)`` has a non-zero action."""
    while e - p >= 8:
        if not chunk_clean(t, p):
            return True
        p += 8
    while p < e:
        if t[p[0]]:
            return True
        p += 1
    return False


cdef inline unsigned char* write_xml_entity(unsigned char* o, uint8_t c) noexcept nogil:
    if c == b'&':
        memcpy(o, b"&amp;", 5)
        return o + 5
    if c == b'<':
        memcpy(o, b"&lt;", 4)
        return o + 4
    if c == b'>':
        memcpy(o, b"&gt;", 4)
        return o + 4
    if c == b'"':
        memcpy(o, b"&quot;", 6)
        return o + 6
    if c == b"'":
        memcpy(o, b"&apos;", 6)
        return o + 6
    if c == b'\t':
        memcpy(o, b"&#9;", 4)
        return o + 4
    if c == b'\n':
        memcpy(o, b"&#10;", 5)
        return o + 5
    memcpy(o, b"&#13;", 5)  # '\r', the last byte the XML table marks as an entity
    return o + 5


cdef inline unsigned char* escape_byte(
    uint8_t action, uint8_t c, unsigned char* o, const uint8_t** pp, const uint8_t* e, int64_t* dropped
) noexcept nogil:
    """Write the escape of flagged byte ``c`` (``*pp`` is just past it; it moves on past a
    dropped U+FFFE / U+FFFF)."""
    cdef const uint8_t* p = pp[0]
    if action == ACT_BACKSLASH:
        o[0] = b'\\'
        o[1] = c
        return o + 2
    if action == ACT_HEX:
        o[0] = b'\\'
        o[1] = b'x'
        o[2] = HEX_DIGITS[c >> 4]
        o[3] = HEX_DIGITS[c & 15]
        return o + 4
    if action == ACT_JSON_CTRL:
        o[0] = b'\\'
        if c == b'\n':
            o[1] = b'n'
            return o + 2
        if c == b'\r':
            o[1] = b'r'
            return o + 2
        if c == b'\t':
            o[1] = b't'
            return o + 2
        o[1] = b'u'
        o[2] = b'0'
        o[3] = b'0'
        o[4] = HEX_DIGITS[c >> 4]
        o[5] = HEX_DIGITS[c & 15]
        return o + 6
    if action == ACT_XML_ENTITY:
        return write_xml_entity(o, c)
    if action == ACT_XML_DROP:
        dropped[0] += 1
        return o
    if action == ACT_XML_EF:  # U+FFFE / U+FFFF (EF BF BE / EF BF BF) are not XML characters
        if e - p >= 2 and p[0] == 0xBF and (p[1] == 0xBE or p[1] == 0xBF):
            pp[0] = p + 2
            dropped[0] += 1
            return o
    o[0] = c  # COPY, CSV_QUOTE (CSV quotes whole fields), or an EF that starts another character
    return o + 1


cdef inline unsigned char* escape_with_table(
    const uint8_t* t, const uint8_t* p, const uint8_t* e, unsigned char* o, int64_t* dropped
) noexcept nogil:
    """Escape ``[p, e)`` into ``o`` (room for ``MAX_EXPANSION`` bytes per input byte).

    Handles every action but ``CSV_QUOTE`` (CSV quotes whole fields, see ``csv_double``).
    Returns the new write position; characters dropped for XML are added to ``dropped``.
    """
    cdef uint8_t c, action
    cdef const uint8_t* stop
    while p < e:
        if e - p >= 8 and chunk_clean(t, p):
            memcpy(o, p, 8)
            o += 8
            p += 8
            continue
        # A chunk with a flagged byte: take its bytes one by one, without re-testing a whole
        # chunk at every byte.
        stop = p + 8 if e - p > 8 else e
        while p < stop:
            c = p[0]
            p += 1
            action = t[c]
            if action == ACT_COPY:
                o[0] = c
                o += 1
            else:
                o = escape_byte(action, c, o, &p, e, dropped)
    return o


cdef extern from *:
    """
    /* The 16-byte steps of csv_double: each step's bytes are stored whole, then the output
       moves past the step's first quote only, doubled, or past the step. A step is taken
       while 3 input bytes are left, so its 16-byte store stays inside the room of 6 bytes an
       input byte that every caller gives; reads may go past e up to lim (the end of the
       column's data). Returns where the byte loop takes over. */
    static inline const unsigned char *fastctx_csv_double16(const unsigned char *p,
                                                            const unsigned char *e,
                                                            const unsigned char *lim,
                                                            unsigned char **out) {
    #if FASTCTX_HAVE_SSE2
        const __m128i quote = _mm_set1_epi8('"');
        unsigned char *o = *out;
        __m128i v;
        unsigned m;
        Py_ssize_t r, k;
        while (e - p >= 3 && lim - p >= 16) {
            v = _mm_loadu_si128((const __m128i *)p);
            m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
            r = e - p;
            if (r < 16) m &= (1u << r) - 1u;
            _mm_storeu_si128((__m128i *)o, v);
            if (!m) {
                k = r < 16 ? r : 16;
                p += k;
                o += k;
                continue;
            }
            k = fastctx_ctz(m) + 1;
            o[k] = '"';
            o += k + 1;
            p += k;
        }
        *out = o;
    #endif
        return p;
    }
    """
    const uint8_t* csv_double16 "fastctx_csv_double16"(const uint8_t* p, const uint8_t* e, const uint8_t* lim, unsigned char** out) noexcept nogil


cdef inline unsigned char* csv_double(
    const uint8_t* p, const uint8_t* e, const uint8_t* lim, unsigned char* o
) noexcept nogil:
    """Copy ``[p, e)`` doubling every ``"`` (the inside of an RFC 4180 quoted field); bytes
    up to ``lim`` may be read.

    Sixteen bytes a step with SSE2, then byte by byte for the last two bytes, or where fewer
    than 16 are left before ``lim`` (measured with callgrind, instructions a row of the CSV
    preset: 664 -> 655).
    """
    cdef uint8_t c
    p = csv_double16(p, e, lim, &o)
    while p < e:
        c = p[0]
        p += 1
        o[0] = c
        o += 1
        if c == b'"':
            o[0] = b'"'
            o += 1
    return o


cdef inline bint is_digit(uint8_t c) noexcept nogil:
    return <uint8_t>(c - c'0') < 10


cdef inline bint is_json_number(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """``-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?``, the whole of ``[p, p + n)``."""
    cdef Py_ssize_t i = 0
    if i < n and p[i] == b'-':
        i += 1
    if i >= n:
        return False
    if p[i] == b'0':
        i += 1
    elif is_digit(p[i]):
        while i < n and is_digit(p[i]):
            i += 1
    else:
        return False
    if i < n and p[i] == b'.':
        i += 1
        if i >= n or not is_digit(p[i]):
            return False
        while i < n and is_digit(p[i]):
            i += 1
    if i < n and (p[i] == b'e' or p[i] == b'E'):
        i += 1
        if i < n and (p[i] == b'+' or p[i] == b'-'):
            i += 1
        if i >= n or not is_digit(p[i]):
            return False
        while i < n and is_digit(p[i]):
            i += 1
    return i == n


cdef inline bint is_integer(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """``-?(0|[1-9][0-9]*)`` in the int64 range, the whole of ``[p, p + n)`` (a parse
    reads an int into int64: a longer one would render a line that does not parse back)."""
    cdef Py_ssize_t i = 0, k
    cdef const char* limit = b"9223372036854775808" if n and p[0] == b'-' else b"9223372036854775807"
    if i < n and p[i] == b'-':
        i += 1
    if i >= n:
        return False
    if p[i] == b'0':
        return i + 1 == n
    for k in range(i, n):
        if not is_digit(p[k]):
            return False
    if n - i != 19:
        return n - i < 19
    for k in range(19):  # as many digits as the limit: compare them in order
        if p[i + k] != <uint8_t>limit[k]:
            return p[i + k] < <uint8_t>limit[k]
    return True
