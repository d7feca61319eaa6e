# cython: language_level=3
"""The parse kernel: log records -> Arrow-layout columns, following a ``ParsePlan``.

Bytes in the kernel, policy in the wrapper. ``Parser.parse`` (GIL held) normalises the input,
allocates the output columns and calls ``run`` once with the GIL released; ``run`` is a
``noexcept nogil`` loop over a C struct of pointers that splits records, splits each record
into slot spans (two-sided literal anchoring, see ``parseplan``), decodes every value straight
into the output buffers and reports what it could not do as a status: out of room in an
output column (the wrapper grows it geometrically and calls again; the record in progress is
redone), out of memory, or done. Rejected records are kept in a small C array of
(line, record start, length, error code, slot/literal index, byte) that the wrapper turns
into ``Reject`` / ``ParseError``. It mirrors ``_reference_parse`` step for step; the tests
require both to agree.

A format of comma-separated fields (the CSV presets) first tries each record on a shorter
path, ``try_csv``: one vector pass finds the record's end, its commas (outside quotes) and the
bytes its fields may not hold, and the fields are stored as the commas delimit them. It only
accepts records that the general path reads the same way, and hands the rest to it. A format
whose values each end at a byte a clean value never holds (the CLF presets' spaces, the
quotes of the JSON presets, the tags of the XML preset) is split likewise (``try_words``).
"""

cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

from fastctx._calendar cimport days_from_civil, days_in_month
from fastctx._memory cimport (
    FASTCTX_CAN_MAP, MAP_PAGE, fastctx_remap, held_change, map_grow, map_min, map_new,
    pool_fetch, pool_give, pool_pop, pool_take,
)
from fastctx._simd cimport (
    FASTCTX_HAVE_SSE2, fastctx_cpu_avx2, fastctx_ctz64, stream_copy, stream_rebase,
)
from fastctx._opcodes cimport (
    ACT_BACKSLASH, ACT_COPY, ACT_HEX, ESC_CLF_BARE, ESC_CLF_BRACKET, ESC_CLF_QUOTED, ESC_CLF_QUOTED_TOKEN, ESC_CSV,
    ESC_JSON_BARE, ESC_JSON_STR, ESC_NONE, ESC_XML, KIND_INT64, KIND_STRING, KIND_TIMESTAMP,
    MAX_CLF_MS, MIN_CLF_MS, VT_CLF_TIME, VT_EPOCH_MS, VT_INT, VT_QUOTED, VT_TEXT, VT_TOKEN,
)

from functools import partial

import numpy as np

from .batch import Batch, Column, Reject, Stats, _sum_stats
from .errors import ParseError
from .parseplan import as_arrays, describe_error, plan as make_plan, resolution, searchable

__all__ = ["Parser", "ENUMS"]

cdef enum:
    FORM_STOP = 0
    FORM_TIME = 1
    FORM_JSON_BARE = 2
    FORM_CSV = 3

cdef enum:
    D_COPY = 0
    D_BAD = 1
    D_ESC = 2
    D_ODD = 3
    D_XEF = 4

cdef enum:
    E_OK = 0
    E_PREFIX = 1
    E_SUFFIX = 2
    E_LITERAL = 3
    E_INT = 4
    E_RANGE = 5
    E_TIME = 6
    E_ESCAPE = 7
    E_CHAR = 8
    E_QUOTES = 9
    E_UTF8 = 10
    E_DUP = 11
    E_JSON = 12
    E_CSV = 13

cdef enum:
    # how a slot's value is read: one code per slot, so one load picks the path
    FAST_NONE = 0  # the first use of a variable, through decode_value
    FAST_COPY = 1  # token or text scanned up to a stop byte, every byte decodes as itself
    FAST_STR = 2   # token or text scanned up to a stop byte: a copy when the scan found it clean
    FAST_INT = 3   # an int or epoch_ms, not in quotes
    FAST_TIME = 4  # a CLF time, not in quotes
    FAST_DUP = 5   # a later use of a variable: its value must repeat the first one's

cdef enum:
    ASCII_AHEAD = 4096  # bytes checked for ASCII ahead of the record in progress
    LATER_SPLITS = 16   # retries of a rejected record with a later split (later_target)
    SEARCH_STEPS = 32   # steps of the split search per slot of the middle (search_middle)

cdef enum:
    ST_DONE = 0
    ST_NEED_ROWS = 1
    ST_NEED_DATA = 2
    ST_NOMEM = 3
    ST_NEED_INPUT = 4   # a record runs past the end, and more input may follow (a lane)

cdef enum:
    # The most 64-byte words of a record the comma-split and blank-split paths take (longer
    # records take the general split).
    CSV_WORDS = 16
    CSV_GENERAL = 2  # try_csv: not decided here, the general path decides
    # try_words' record passes: which bytes they flag (see ``_word_split_ok``)
    WORDS_OFF = 0
    WORDS_PLAIN = 1   # the controls, the space, '!', '"', DEL, bytes >= 0x80 and '\\'
    WORDS_MARKUP = 2  # the same but '\\', and '&', "'", '<', '>'



cdef struct ColC:
    int32_t kind
    int64_t *values      # int64 values, or n + 1 offsets for strings
    uint8_t *valid       # LSB-first bitmap
    uint8_t *data        # string bytes
    int64_t data_cap
    int32_t t_null       # the record in progress: its value is null


cdef struct SlotC:
    int32_t column
    int32_t vtype
    int32_t esc
    int32_t form
    int32_t skip
    int32_t forward
    int32_t backward
    int32_t raw_quotes       # a quoted value's own quotes are raw around its escaped text
    const uint8_t *stop
    const uint8_t *back
    const uint8_t *dec
    const uint8_t *actions   # the render escape table of this slot's method (CLF canonicity)
    const uint8_t *comb      # bit 0: stop byte, bit 1: a byte decode must look at
    const uint8_t *bcomb     # bit 0: a byte the value never holds (back), bit 1: as in comb
    int32_t plain            # every byte decodes as itself: decoding is a copy
    const uint8_t *after     # the literal after the slot, and its length
    int64_t after_len
    const uint8_t *before    # the literal before the slot, and its length
    int64_t before_len
    int32_t fast             # FAST_*: how the value is read (the common slots skip decoding)
    ColC *col                # the column it fills (this call's)
    const fastctx_vset *vfwd    # comb & 3 in vector form (forward scan)
    const fastctx_vset *vstop   # bcomb & 1 (backward scan)
    const fastctx_vset *vbdec   # bcomb & 2
    const fastctx_vset *vdec    # dec != 0 (is a value clean?)


cdef struct RejectC:
    int64_t line
    int64_t start
    int64_t length
    int32_t code
    int32_t index
    int64_t column


cdef struct Fail:
    int32_t code
    int32_t index
    int64_t column


cdef struct State:
    const uint8_t *buf
    int64_t size
    int64_t rlim               # readable bytes from the record in progress on
    int64_t rlow               # and before it (as a negative index)
    int64_t ascii_until        # every byte of buf before this is ASCII (checked ahead)
    int64_t pos
    int64_t line
    int64_t rows
    int64_t row_cap
    int64_t records
    int64_t accepted
    int64_t rejected
    int64_t empty
    int64_t normalized
    int32_t nmodes
    int32_t nslots
    int32_t ncols
    int32_t csv_quotes
    int32_t stop_at_reject     # on_error="raise"
    int32_t tail_open          # the last record ran to the end of the input, no newline found
    int32_t more_input         # more input may follow the end (a threaded parse's lane)
    int32_t data_cut           # the input goes on past the end: a record that runs to the
                               # end may be cut short there (a lane before the last)
    const uint8_t *time_seen   # a CLF time whose shape a scan has checked: not checked again
    int32_t csv_fast           # mode 0 is comma-separated fields: try_csv first
    int32_t word_fast          # mode 0 is values that end at a flagged byte: try_words first
                               # (WORDS_PLAIN or WORDS_MARKUP: the record pass to run)
    int32_t word_mid           # the marked byte a clean middle value may hold (-1: none)
    int64_t fast_rows          # records the comma-split or blank-split path accepted (tests)
    const fastctx_vset *csv_set  # the bytes (besides commas) no clean string field of mode 0 holds
    int32_t keep_rejects       # on_error="collect"
    int32_t need_col
    int64_t need_bytes
    const SlotC *slots         # nmodes * nslots
    const uint8_t *pool
    const int64_t *lit_off
    ColC *cols
    int64_t *sa
    int64_t *sb
    uint8_t *clean             # per slot: the forward scan saw only bytes that decode as themselves
    uint8_t *scratch
    int64_t scratch_cap
    RejectC *rejects
    int64_t nrejects
    int64_t rejects_cap
    Fail fail
    int32_t later              # occurrences past the leftmost that the split of later_slot skips
    int32_t later_slot         # the slot whose split a retry moves (later_target; -1: none)
    int32_t later_err          # the slot of the last try's error (retry_later)
    int32_t searching          # split the middle by search_middle (the last resort)
    const uint8_t *searchable  # per mode: a record it rejects gets the search
    int64_t *memo              # search_middle's failed states, a hash set of keys (0: empty)
    int64_t memo_cap
    # the date part of the last CLF time whose date is valid and far from the range's ends
    # (parse_time_full), and its day number
    uint64_t date_w0           # its bytes 0-7 and 3-10 (0: none, no time has these bytes)
    uint64_t date_w1
    int64_t date_days
    int64_t date_ms            # date_days in ms


# -- small helpers ------------------------------------------------------------------------------

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Clear bits a to b - 1 (a < b) of a word array. */
    static inline void fastctx_clear_bits(uint64_t *words, int64_t a, int64_t b) {
        int64_t wa = a >> 6, wb = (b - 1) >> 6, w;
        uint64_t low = ~(uint64_t)0 << (a & 63), high = ~(uint64_t)0 >> (63 - ((b - 1) & 63));
        if (wa == wb) { words[wa] &= ~(low & high); return; }
        words[wa] &= ~low;
        for (w = wa + 1; w < wb; w++) words[w] = 0;
        words[wb] &= ~high;
    }
    /* The first set bit at or after a in words[0, nw), or -1. */
    static inline int64_t fastctx_next_bit(const uint64_t *words, int64_t nw, int64_t a) {
        int64_t w = a >> 6;
        uint64_t m;
        if (w >= nw) return -1;
        m = words[w] & (~(uint64_t)0 << (a & 63));
        while (!m) {
            if (++w >= nw) return -1;
            m = words[w];
        }
        return (w << 6) + fastctx_ctz64(m);
    }
    /* The last set bit before b (b > 0), or -1. */
    static inline int64_t fastctx_prev_bit(const uint64_t *words, int64_t b) {
        int64_t w = (b - 1) >> 6;
        uint64_t m = words[w] & (~(uint64_t)0 >> (63 - ((b - 1) & 63)));
        while (!m) {
            if (--w < 0) return -1;
            m = words[w];
        }
        return (w << 6) + fastctx_msb64(m);
    }
    /* 1 when every byte of r[a, b) marked in `words` is `byte` (-1: when none is marked). */
    static inline int fastctx_marks_only(const uint64_t *words, const uint8_t *r, int64_t a,
                                         int64_t b, int byte) {
        int64_t w, wb;
        uint64_t m;
        if (a >= b) return 1;
        w = a >> 6;
        wb = (b - 1) >> 6;
        m = words[w] & (~(uint64_t)0 << (a & 63));
        for (;;) {
            if (w == wb) m &= ~(uint64_t)0 >> (63 - ((b - 1) & 63));
            for (; m; m &= m - 1)
                if ((int)r[(w << 6) + fastctx_ctz64(m)] != byte) return 0;
            if (w == wb) return 1;
            m = words[++w];
        }
    }
    /* A byte set in vector form: a byte is a member when it equals one of `single` or lies in
       one of the ranges [lo, lo + width]. Built from a slot's 256-byte table when the set has
       at most 8 single bytes and 4 runs (every slot of the presets does), each entry repeated
       16 times so a test costs one load. SSE2 is part of every x86-64 CPU; elsewhere, or when
       `usable` is 0, the table loops run. Values are short (10-40 bytes), so the scans may
       read up to 15 bytes past a value, never past the input buffer. Parse speed, vector
       scans against the table loops in one run (median of 5, 1M lines): CLF 2.38 -> 2.71,
       CSV 1.98 -> 2.44, JSON 1.52 -> 1.82, XML 2.21 -> 2.57 M lines/s. */
    typedef struct {
        int32_t nsingle;
        int32_t invert;  /* 0xFFFF: the entries hold the complement (an integer's stop bytes
                            are every byte but 0-9 and '-': tier 1 instead of 3) */
        int32_t usable;
        int32_t tier;  /* 0: the empty set; 1: singles 0-1 and range 0 hold it; 2: singles
                          0-3 and ranges 0-1; 3: all; -1: not usable, or the vector scans
                          are off (one test per call instead of three) */
        uint8_t single[8][16];
        uint8_t lo[4][16];
        uint8_t width[4][16];
    } fastctx_vset;

    #if FASTCTX_HAVE_SSE2
    static int fastctx_parse_simd = 1;

    /* Bit k set when byte k of the 16 at p is in the set. */
    static inline unsigned fastctx_vmask(const fastctx_vset *s, const uint8_t *p) {
        /* A fixed number of tests, no branch on the entry counts: unused entries repeat a
           member (`vector_set` pads them). Against a switch over the counts, instructions
           per line (callgrind): XML 3,500 -> 3,310, CSV 3,590 -> 3,500, JSON 3,220 -> 3,190;
           with the smallest size for sets of two bytes and a run (JSON strings): CLF 3,200 ->
           3,120 and JSON 3,140 -> 2,990, at 40 more for CSV and XML. */
        __m128i x, zero, hit, d;
        if (s->tier == 0) return 0;
        x = _mm_loadu_si128((const __m128i *)p);
        zero = _mm_setzero_si128();
        #define FASTCTX_SINGLE(k) \
            _mm_cmpeq_epi8(x, _mm_loadu_si128((const __m128i *)s->single[k]))
        /* x - lo, wrapping, is at most width exactly for the members */
        #define FASTCTX_RANGE(k) ( \
            d = _mm_sub_epi8(x, _mm_loadu_si128((const __m128i *)s->lo[k])), \
            _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_loadu_si128((const __m128i *)s->width[k])), zero))
        hit = _mm_or_si128(_mm_or_si128(FASTCTX_SINGLE(0), FASTCTX_SINGLE(1)), FASTCTX_RANGE(0));
        if (s->tier >= 2) {
            hit = _mm_or_si128(hit, _mm_or_si128(FASTCTX_SINGLE(2), FASTCTX_SINGLE(3)));
            hit = _mm_or_si128(hit, FASTCTX_RANGE(1));
        }
        if (s->tier == 3) {
            hit = _mm_or_si128(hit, _mm_or_si128(_mm_or_si128(FASTCTX_SINGLE(4), FASTCTX_SINGLE(5)),
                                                 _mm_or_si128(FASTCTX_SINGLE(6), FASTCTX_SINGLE(7))));
            hit = _mm_or_si128(hit, FASTCTX_RANGE(2));
            hit = _mm_or_si128(hit, FASTCTX_RANGE(3));
        }
        #undef FASTCTX_SINGLE
        #undef FASTCTX_RANGE
        return (unsigned)_mm_movemask_epi8(hit) ^ (unsigned)s->invert;
    }
    /* Lowest i in [i, end) whose byte is in the set (or end); -1 when the vector path cannot
       answer (the block would pass `lim`, the end of readable memory). */
    static inline int64_t fastctx_vfind(const fastctx_vset *s, const uint8_t *r, int64_t i,
                                        int64_t end, int64_t lim) {
        unsigned m;
        if (s->tier < 0) return -1;
        if (s->tier == 0) return end;
        while (i < end) {
            if (i + 16 > lim) return -1;
            m = fastctx_vmask(s, r + i);
            if (m) { i += fastctx_ctz(m); return i < end ? i : end; }
            i += 16;
        }
        return end;
    }
    /* Backward: the start of the run before `i` (down to `front`) with no byte of `stop`;
       *seen gets 2 when a byte of `dec` lies in that run. -1 when the vector path cannot
       answer (a block would start before `low`, the start of readable memory). */
    static inline int64_t fastctx_vfind_back(const fastctx_vset *stop, const fastctx_vset *dec,
                                             const uint8_t *r, int64_t front, int64_t i,
                                             int64_t low, uint8_t *seen) {
        unsigned ms, md, keep;
        int64_t base;
        int k;
        if (stop->tier < 0 || dec->tier < 0) return -1;
        if (stop->tier == 0 && dec->tier == 0) return front;
        while (i > front) {
            base = i - 16;
            if (base < low) return -1;
            ms = fastctx_vmask(stop, r + base);
            md = fastctx_vmask(dec, r + base);
            if (base < front) {
                keep = (0xFFFFu << (front - base)) & 0xFFFFu;
                ms &= keep;
                md &= keep;
            }
            if (ms) {
                k = fastctx_msb(ms);
                if (md >> (k + 1)) *seen |= 2;
                return base + k + 1;
            }
            if (md) *seen |= 2;
            i = base;
        }
        return front;
    }
    /* A CSV record from p, where `avail` bytes are readable: sets *len to the bytes before
       its newline, and bit k of cw[k >> 6] when byte k is a ',' between fields, of sw when
       it is in `s`, and returns the number of words. `s` holds LF and '"', so the newline
       and the quotes are among the bits of sw; the bytes past the record are read, and
       their bits are left for the caller to clear (`fastctx_clear_from`). One pass finds
       the record's end, its fields and the bytes its string fields may not hold.
       With `quotes` (CSV's own quoting), a quote at the start of a field opens a quoted
       field, as `fastctx_csv_end` reads it: its commas are not separators and its newlines
       do not end the record; *quoted is set. 0 when a quote comes anywhere else (or at
       all, without `quotes`), no newline comes within `max` words, or a word would pass
       `avail`: the general path reads that record. */
    /* The body of the pass, around PRE (before the loop: the set's vectors) and CLASSIFY
       (one 64-byte word q: its commas into c, its bytes in the set into b). */
    #define FASTCTX_CSV_RECORD_BODY(PRE, CLASSIFY)                                            \
        int64_t w, open = 0, skip = 0;                                                        \
        int inq = 0;                                                                          \
        const int tier1 = s->tier == 1;                                                       \
        const unsigned invert = (unsigned)s->invert;                                          \
        PRE                                                                                   \
        for (w = 0; w < max && (w << 6) + 64 <= avail; w++) {                                 \
            const uint8_t *q = p + (w << 6);                                                  \
            uint64_t c = 0, b = 0, m;                                                         \
            CLASSIFY                                                                          \
            cw[w] = c;                                                                        \
            sw[w] = b;                                                                        \
            for (m = b; m; m &= m - 1) {                                                      \
                int64_t k = (w << 6) + fastctx_ctz64(m);                                      \
                if (k < skip) continue;                                                       \
                if (inq) {                                                                    \
                    if (p[k] != 34) continue;                                                 \
                    if (k + 1 < avail && p[k + 1] == 34) { skip = k + 2; continue; }  /* "" */\
                    inq = 0;                                                                  \
                    if (k > open + 1) fastctx_clear_bits(cw, open + 1, k);                    \
                } else if (p[k] == 10) {                                                      \
                    *len = k;                                                                 \
                    return w + 1;                                                             \
                } else if (p[k] == 34) {                                                      \
                    if (!quotes || (k > 0 && p[k - 1] != 44)) return 0;                       \
                    inq = 1;                                                                  \
                    open = k;                                                                 \
                    *quoted = 1;                                                              \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        return 0;
    #define FASTCTX_CSV_PRE_SSE2                                                          \
        const __m128i comma = _mm_set1_epi8(',');                                             \
        const __m128i zero = _mm_setzero_si128();                                             \
        const __m128i s0 = _mm_loadu_si128((const __m128i *)s->single[0]);                    \
        const __m128i s1 = _mm_loadu_si128((const __m128i *)s->single[1]);                    \
        const __m128i lo = _mm_loadu_si128((const __m128i *)s->lo[0]);                        \
        const __m128i width = _mm_loadu_si128((const __m128i *)s->width[0]);
    /* The members of a set of tier 1 among the bytes of x, at either vector width: P is the
       intrinsics' prefix (_mm, _mm256), S the suffix of the bitwise ones (si128, si256). */
    #define FASTCTX_CSV_HIT(P, S, x, s0, s1, lo, width, zero)                                  \
        P##_or_##S(P##_or_##S(P##_cmpeq_epi8((x), (s0)), P##_cmpeq_epi8((x), (s1))),          \
                   P##_cmpeq_epi8(P##_subs_epu8(P##_sub_epi8((x), (lo)), (width)), (zero)))
    /* a set of tier 1 (the CSV presets'), tested without the tier branches; the four blocks
       written out: as a loop, its counter and shifts cost about 70 instructions per CSV
       line (callgrind) */
    #define FASTCTX_CSV_BLOCK(j) do {                                                         \
            __m128i x = _mm_loadu_si128((const __m128i *)(q + 16 * j));                       \
            __m128i hit = FASTCTX_CSV_HIT(_mm, si128, x, s0, s1, lo, width, zero);            \
            c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, comma)) << (16 * j); \
            b |= (uint64_t)((unsigned)_mm_movemask_epi8(hit) ^ invert) << (16 * j);           \
        } while (0)
    #define FASTCTX_CSV_CLASSIFY_SSE2                                                         \
            if (tier1) {                                                                      \
                FASTCTX_CSV_BLOCK(0);                                                         \
                FASTCTX_CSV_BLOCK(1);                                                         \
                FASTCTX_CSV_BLOCK(2);                                                         \
                FASTCTX_CSV_BLOCK(3);                                                         \
            } else {                                                                          \
                int j;                                                                        \
                for (j = 0; j < 4; j++) {                                                     \
                    __m128i x = _mm_loadu_si128((const __m128i *)(q + 16 * j));               \
                    c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, comma)) << (16 * j); \
                    b |= (uint64_t)fastctx_vmask(s, q + 16 * j) << (16 * j);                  \
                }                                                                             \
            }
    static inline int64_t fastctx_csv_record_sse2(const fastctx_vset *s, const uint8_t *p,
                                                  int64_t avail, int64_t max, int quotes,
                                                  uint64_t *cw, uint64_t *sw, int64_t *len,
                                                  int *quoted) {
        FASTCTX_CSV_RECORD_BODY(FASTCTX_CSV_PRE_SSE2, FASTCTX_CSV_CLASSIFY_SSE2)
    }
    /* 32 bytes a step where the CPU has AVX2 (the sets of tier 1; other sets as above):
       CSV 1,481 -> 1,384 instructions per line (callgrind). Not inlined, as the function
       for another target cannot be. */
    #if FASTCTX_AVX2_TARGET
    #  define FASTCTX_CSV_PRE_AVX2                                                            \
        FASTCTX_CSV_PRE_SSE2                                                                  \
        const __m256i comma2 = _mm256_set1_epi8(',');                                         \
        const __m256i zero2 = _mm256_setzero_si256();                                         \
        const __m256i s02 = _mm256_broadcastsi128_si256(s0);                                  \
        const __m256i s12 = _mm256_broadcastsi128_si256(s1);                                  \
        const __m256i lo2 = _mm256_broadcastsi128_si256(lo);                                  \
        const __m256i width2 = _mm256_broadcastsi128_si256(width);                            \
        const uint64_t invert2 = (uint64_t)invert * 0x0001000100010001ULL;
    #  define FASTCTX_CSV_HALF(h) do {                                                        \
            __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * h));                    \
            __m256i hit = FASTCTX_CSV_HIT(_mm256, si256, x, s02, s12, lo2, width2, zero2);    \
            c |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, comma2)) << (32 * h); \
            b |= (uint64_t)(uint32_t)_mm256_movemask_epi8(hit) << (32 * h);                   \
        } while (0)
    #  define FASTCTX_CSV_CLASSIFY_AVX2                                                       \
            if (tier1) {                                                                      \
                FASTCTX_CSV_HALF(0);                                                          \
                FASTCTX_CSV_HALF(1);                                                          \
                b ^= invert2;                                                                 \
            } else {                                                                          \
                FASTCTX_CSV_CLASSIFY_SSE2                                                     \
            }
    __attribute__((target("avx2"), noinline))
    static int64_t fastctx_csv_record_avx2(const fastctx_vset *s, const uint8_t *p,
                                           int64_t avail, int64_t max, int quotes,
                                           uint64_t *cw, uint64_t *sw, int64_t *len,
                                           int *quoted) {
        FASTCTX_CSV_RECORD_BODY(FASTCTX_CSV_PRE_AVX2, FASTCTX_CSV_CLASSIFY_AVX2)
    }
    #endif
    /* Clear the bits from n on. */
    static inline void fastctx_clear_from(uint64_t *words, int64_t nw, int64_t n) {
        int64_t w = n >> 6;
        if (w < nw) {
            words[w] &= ((uint64_t)1 << (n & 63)) - 1;
            for (w++; w < nw; w++) words[w] = 0;
        }
    }
    /* A record for `try_words` from p, where `avail` bytes are readable: sets *len to the
       bytes before its newline, and bit k of bw[k >> 6] when byte k is flagged. Two passes:
       - fastctx_word_record (CLF, JSON) flags the controls (LF, which ends the record,
         among them), the space, '!', '"', DEL, the bytes >= 0x80 and the backslash;
       - fastctx_markup_record (XML) the same but the backslash, and '&', '\'', '<', '>'.
       The flagged bytes hold every byte that the string slots of such a format stop at or
       decode (`_word_split_ok` checks it). They are fixed so that the test is a few
       compares: x + 1 below 0x24 (signed) takes the controls, the space, '!', '"', DEL and
       the bytes >= 0x80 at once ('!' only costs a value that holds one its general scan),
       x | 1 == 0x27 takes '&' and '\'', x | 2 == 0x3E '<' and '>'. The newline is
       looked for in a word only when one of its bytes is one. Against marking the flagged
       bytes in a second array and looking for the newline among them, and clearing the
       bits past the record: CLF 1,652 -> 1,575 instructions per line (callgrind), and
       with '!' and '"' in one compare, 1,538. Returns
       the number of words, or 0 when no newline comes within `max` words or a word would
       pass `avail`. The bytes past the record are read too and their bits left set:
       `try_words` looks at none of them. Not inlined in the record loop, whose other
       paths it slowed: JSON 1,998 -> 1,994, XML 2,286 -> 2,280, CLF 11 more. *high is 0
       when no byte of the words read is >= 0x80 (they hold the record: it is ASCII), else
       1, as it is when the function returns 0. */
    #if defined(__GNUC__)
    #  define FASTCTX_NOINLINE_FN __attribute__((noinline))
    #else
    #  define FASTCTX_NOINLINE_FN
    #endif
    /* The pass, with the flag test FLAG(P, S, x) (0xFF where a byte of x is flagged). */
    #define FASTCTX_WORD_RECORD(name, FLAG)                                                   \
    static FASTCTX_NOINLINE_FN int64_t name(const uint8_t *p, int64_t avail, int64_t max,    \
                                            uint64_t *bw, int64_t *len, int *high) {        \
        int64_t w;                                                                          \
        int j;                                                                              \
        __m128i any = _mm_setzero_si128();                                                  \
        const __m128i newline = _mm_set1_epi8(10);                                          \
        for (w = 0; w < max && (w << 6) + 64 <= avail; w++) {                               \
            const uint8_t *q = p + (w << 6);                                                \
            uint64_t c = 0;                                                                 \
            __m128i lf = _mm_setzero_si128();                                               \
            /* the first read of the input: fetch the line a page ahead, where the hardware \
               prefetcher does not go */                                                    \
            _mm_prefetch((const char *)(q + 4096), _MM_HINT_T0);                            \
            for (j = 0; j < 4; j++) {                                                       \
                __m128i x = _mm_loadu_si128((const __m128i *)(q + 16 * j));                 \
                any = _mm_or_si128(any, x);                                                 \
                c |= (uint64_t)(unsigned)_mm_movemask_epi8(FLAG(_mm, si128, x)) << (16 * j); \
                lf = _mm_or_si128(lf, _mm_cmpeq_epi8(x, newline));                          \
            }                                                                               \
            bw[w] = c;                                                                      \
            if (_mm_movemask_epi8(lf)) {                                                    \
                /* the record ends in this word: its first newline */                       \
                for (j = 0; j < 4; j++) {                                                   \
                    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(                \
                        _mm_loadu_si128((const __m128i *)(q + 16 * j)), newline));          \
                    if (m) {                                                                \
                        *len = (w << 6) + 16 * j + fastctx_ctz(m);                          \
                        *high = _mm_movemask_epi8(any) != 0;                                \
                        return w + 1;                                                       \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        *high = 1;                                                                          \
        return 0;                                                                           \
    }
    /* The flag tests at either vector width (P the intrinsics' prefix, _mm or _mm256; S the
       suffix of the bitwise ones, si128 or si256). 0x24 above x + 1, signed: the controls,
       the space, '!', '"', DEL, bytes >= 0x80 */
    #define FASTCTX_FLAG_LOW(P, S, x) \
        P##_cmpgt_epi8(P##_set1_epi8(0x24), P##_add_epi8((x), P##_set1_epi8(1)))
    /* ... and the backslash (CLF, JSON) */
    #define FASTCTX_FLAG_WORDS(P, S, x) \
        P##_or_##S(FASTCTX_FLAG_LOW(P, S, x), P##_cmpeq_epi8((x), P##_set1_epi8(0x5C)))
    /* ... and '&' and '\'' (x | 1 == 0x27), '<' and '>' (x | 2 == 0x3E): XML's markup */
    #define FASTCTX_FLAG_MARKUP(P, S, x) \
        P##_or_##S(FASTCTX_FLAG_LOW(P, S, x), P##_or_##S( \
            P##_cmpeq_epi8(P##_or_##S((x), P##_set1_epi8(1)), P##_set1_epi8(0x27)), \
            P##_cmpeq_epi8(P##_or_##S((x), P##_set1_epi8(2)), P##_set1_epi8(0x3E))))
    FASTCTX_WORD_RECORD(fastctx_word_record_sse2, FASTCTX_FLAG_WORDS)
    FASTCTX_WORD_RECORD(fastctx_markup_record_sse2, FASTCTX_FLAG_MARKUP)
    /* The same passes 32 bytes a step where the CPU has AVX2 (checked at import; GCC and
       Clang on x86-64 only; the rest of the module stays SSE2): instructions per line
       (callgrind), CLF 1,518 -> 1,416, JSON 1,747 -> 1,582, XML 2,030 -> 1,770. */
    #if FASTCTX_AVX2_TARGET
    #  define FASTCTX_WORD_RECORD_AVX2(name, FLAG)                                              \
    __attribute__((target("avx2"), noinline))                                                 \
    static int64_t name(const uint8_t *p, int64_t avail, int64_t max, uint64_t *bw,          \
                        int64_t *len, int *high) {                                            \
        int64_t w;                                                                            \
        __m256i any = _mm256_setzero_si256();                                                 \
        const __m256i newline = _mm256_set1_epi8(10);                                         \
        for (w = 0; w < max && (w << 6) + 64 <= avail; w++) {                                 \
            const uint8_t *q = p + (w << 6);                                                  \
            __m256i a, b;                                                                     \
            uint64_t nl;                                                                      \
            _mm_prefetch((const char *)(q + 4096), _MM_HINT_T0);                              \
            a = _mm256_loadu_si256((const __m256i *)q);                                       \
            b = _mm256_loadu_si256((const __m256i *)(q + 32));                                \
            any = _mm256_or_si256(any, _mm256_or_si256(a, b));                                \
            bw[w] = (uint64_t)(uint32_t)_mm256_movemask_epi8(FLAG(_mm256, si256, a))          \
                    | (uint64_t)(uint32_t)_mm256_movemask_epi8(FLAG(_mm256, si256, b)) << 32; \
            nl = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, newline))      \
                 | (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, newline)) << 32; \
            if (nl) {                                                                         \
                *len = (w << 6) + fastctx_ctz64(nl);                                          \
                *high = _mm256_movemask_epi8(any) != 0;                                       \
                return w + 1;                                                                 \
            }                                                                                 \
        }                                                                                     \
        *high = 1;                                                                            \
        return 0;                                                                             \
    }
    FASTCTX_WORD_RECORD_AVX2(fastctx_word_record_avx2, FASTCTX_FLAG_WORDS)
    FASTCTX_WORD_RECORD_AVX2(fastctx_markup_record_avx2, FASTCTX_FLAG_MARKUP)
    static int fastctx_parse_avx2 = 0;
    static inline int64_t fastctx_word_record(const uint8_t *p, int64_t avail, int64_t max,
                                              uint64_t *bw, int64_t *len, int *high) {
        return fastctx_parse_avx2 ? fastctx_word_record_avx2(p, avail, max, bw, len, high)
                                  : fastctx_word_record_sse2(p, avail, max, bw, len, high);
    }
    static inline int64_t fastctx_markup_record(const uint8_t *p, int64_t avail, int64_t max,
                                                uint64_t *bw, int64_t *len, int *high) {
        return fastctx_parse_avx2 ? fastctx_markup_record_avx2(p, avail, max, bw, len, high)
                                  : fastctx_markup_record_sse2(p, avail, max, bw, len, high);
    }
    static inline int64_t fastctx_csv_record(const fastctx_vset *s, const uint8_t *p,
                                             int64_t avail, int64_t max, int quotes,
                                             uint64_t *cw, uint64_t *sw, int64_t *len,
                                             int *quoted) {
        return fastctx_parse_avx2
            ? fastctx_csv_record_avx2(s, p, avail, max, quotes, cw, sw, len, quoted)
            : fastctx_csv_record_sse2(s, p, avail, max, quotes, cw, sw, len, quoted);
    }
    #else
    static int fastctx_parse_avx2 = 0;
    #  define fastctx_word_record fastctx_word_record_sse2
    #  define fastctx_markup_record fastctx_markup_record_sse2
    #  define fastctx_csv_record fastctx_csv_record_sse2
    #endif
    /* The first byte >= 0x80 in p[i, n), or n; stops early (for the scalar loop to go on)
       where a 16-byte block would pass `lim`. Reading up to `lim`, past the record, lets
       the tail of every record take a whole block too. */
    static inline int64_t fastctx_ascii_run(const uint8_t *p, int64_t i, int64_t n, int64_t lim) {
        unsigned m;
        if (!fastctx_parse_simd) return i;
        /* 64 bytes a step while all are ASCII (XML: 260 -> 150 instructions per line) */
        while (i + 48 < n && i + 64 <= lim) {
            /* this loop is the first to read the input; the hardware prefetcher stops at
               each 4 KiB page, so fetch the next page's line now (CLF, perf samples: this
               loop's loads went from 12% to 8% of the record loop's time) */
            _mm_prefetch((const char *)(p + i + 4096), _MM_HINT_T0);
            __m128i x = _mm_or_si128(
                _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i)),
                             _mm_loadu_si128((const __m128i *)(p + i + 16))),
                _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i + 32)),
                             _mm_loadu_si128((const __m128i *)(p + i + 48))));
            if (_mm_movemask_epi8(x)) break;
            i += 64;
        }
        while (i < n && i + 16 <= lim) {
            m = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(p + i)));
            if (m) { i += fastctx_ctz(m); return i < n ? i : n; }
            i += 16;
        }
        return i < n ? i : n;
    }
    #else
    static inline int64_t fastctx_ascii_run(const uint8_t *p, int64_t i, int64_t n, int64_t lim) { return i; }
    static int fastctx_parse_simd = 0;
    static inline int64_t fastctx_vfind(const fastctx_vset *s, const uint8_t *r, int64_t i,
                                        int64_t end, int64_t lim) { return -1; }
    static inline int64_t fastctx_vfind_back(const fastctx_vset *stop, const fastctx_vset *dec,
                                             const uint8_t *r, int64_t front, int64_t i,
                                             int64_t low, uint8_t *seen) { return -1; }
    static inline int64_t fastctx_csv_record(const fastctx_vset *s, const uint8_t *p,
                                             int64_t avail, int64_t max, int quotes,
                                             uint64_t *cw, uint64_t *sw, int64_t *len,
                                             int *quoted) { return 0; }
    static inline void fastctx_clear_from(uint64_t *words, int64_t nw, int64_t n) {}
    static inline int64_t fastctx_word_record(const uint8_t *p, int64_t avail, int64_t max,
                                              uint64_t *bw, int64_t *len, int *high) {
        *high = 1;
        return 0;
    }
    static inline int64_t fastctx_markup_record(const uint8_t *p, int64_t avail, int64_t max,
                                                uint64_t *bw, int64_t *len, int *high) {
        *high = 1;
        return 0;
    }
    static int fastctx_parse_avx2 = 0;
    #endif
    /* Table-driven byte scans, four bytes per step: the loads are independent, so the CPU
       overlaps them, and one branch covers four bytes. On the CLF preset this cut the
       kernel from about 4,500 to about 3,900 instructions per line (callgrind). */
    static inline int64_t fastctx_scan(const uint8_t *r, int64_t i, int64_t end,
                                       const uint8_t *t, uint8_t mask, uint8_t *seen) {
        uint8_t acc = 0;
        while (i + 4 <= end) {
            uint8_t a = t[r[i]], b = t[r[i + 1]], c = t[r[i + 2]], d = t[r[i + 3]];
            if ((a | b | c | d) & mask) break;
            acc |= (uint8_t)(a | b | c | d);
            i += 4;
        }
        while (i < end) {
            uint8_t a = t[r[i]];
            if (a & mask) break;
            acc |= a;
            i++;
        }
        *seen |= acc;
        return i;
    }
    /* Literals are short (a separator, a JSON key): a byte loop beats a call to memcmp. */
    static inline int fastctx_eq(const uint8_t *a, const uint8_t *b, int64_t n) {
        /* Overlapping words, no loop up to 32 bytes, the sizes tested shortest first: CLF
           separators are 1-3 bytes, JSON keys 8-16, XML's closing-and-opening tags 17-32.
           Against a loop of 8-byte words (callgrind, instructions per line): JSON 3,750 ->
           3,350, XML 3,720 -> 3,470. Then with the 17-32 byte case and the shortest sizes
           tested first: XML 2,723 -> 2,687, CLF 2,647 -> 2,614. */
        uint64_t x, y, x2, y2, x3, y3, x4, y4;
        uint32_t u, v;
        uint16_t p, q;
        int64_t k;
        if (n < 8) {
            if (n >= 4) {
                memcpy(&u, a, 4); memcpy(&v, b, 4);
                if (u != v) return 0;
                memcpy(&u, a + n - 4, 4); memcpy(&v, b + n - 4, 4);
                return u == v;
            }
            if (n >= 2) {
                memcpy(&p, a, 2); memcpy(&q, b, 2);
                return p == q && a[n - 1] == b[n - 1];
            }
            return n == 0 || a[0] == b[0];
        }
        if (n <= 16) {
            memcpy(&x, a, 8); memcpy(&y, b, 8);
            memcpy(&x2, a + n - 8, 8); memcpy(&y2, b + n - 8, 8);
            return ((x ^ y) | (x2 ^ y2)) == 0;
        }
        if (n <= 32) {
            memcpy(&x, a, 8); memcpy(&y, b, 8);
            memcpy(&x2, a + 8, 8); memcpy(&y2, b + 8, 8);
            memcpy(&x3, a + n - 16, 8); memcpy(&y3, b + n - 16, 8);
            memcpy(&x4, a + n - 8, 8); memcpy(&y4, b + n - 8, 8);
            return ((x ^ y) | (x2 ^ y2) | (x3 ^ y3) | (x4 ^ y4)) == 0;
        }
        for (k = 0; k + 8 < n; k += 8) {
            memcpy(&x, a + k, 8); memcpy(&y, b + k, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8); memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    /* Up to 32 bytes with two overlapping fixed-size moves, no byte past `n` touched: most
       values are short ids and addresses. Measured together with dropping a per-record
       memset: a small gain, about 20 instructions per CLF line (callgrind). */
    static inline void fastctx_copy(uint8_t *dst, const uint8_t *src, int64_t n) {
        if (n >= 16 && n <= 32) {
            memcpy(dst, src, 16);
            memcpy(dst + n - 16, src + n - 16, 16);
        } else if (n >= 8 && n < 16) {
            memcpy(dst, src, 8);
            memcpy(dst + n - 8, src + n - 8, 8);
        } else if (n >= 4 && n < 8) {
            memcpy(dst, src, 4);
            memcpy(dst + n - 4, src + n - 4, 4);
        } else if (n < 4) {
            int64_t k;
            for (k = 0; k < n; k++) dst[k] = src[k];
        } else {
            memcpy(dst, src, (size_t)n);
        }
    }
    /* Backward: the start of the run before `i` (down to `front`) whose bytes have no bit 0
       in `t`; the entries passed are OR'ed into *seen. */
    static inline int64_t fastctx_scan_back(const uint8_t *r, int64_t front, int64_t i,
                                            const uint8_t *t, uint8_t *seen) {
        uint8_t acc = 0;
        while (i - 4 >= front) {
            uint8_t a = t[r[i - 1]], b = t[r[i - 2]], c = t[r[i - 3]], d = t[r[i - 4]];
            if ((a | b | c | d) & 1) break;
            acc |= (uint8_t)(a | b | c | d);
            i -= 4;
        }
        while (i > front && !(t[r[i - 1]] & 1)) { acc |= t[r[i - 1]]; i--; }
        *seen |= acc;
        return i;
    }
    /* The end of the CSV record at `pos`: its first newline outside a quoted field, or
       `size`. A '"' opens a quoted field only at a field's start (the record's first byte or
       after a ','); in one, '""' is a quote and the next '"' closes it. Only quotes and
       newlines are looked at (16 bytes a step with SSE2), since the field start is the byte
       before: a ',' there was read outside quotes, as a quoted field ends with '"'. Against
       a byte loop on lines with quotes and two memchr calls on the others: CSV 3,050 ->
       2,853 instructions per line (callgrind). */
    static inline int fastctx_csv_byte(const uint8_t *buf, int64_t size, int64_t pos, int64_t p,
                                       int *inq, int64_t *skip) {
        /* one quote or newline at p; returns 1 when it ends the record */
        if (p < *skip) return 0;
        if (buf[p] == 10) return !*inq;
        if (*inq) {
            if (p + 1 < size && buf[p + 1] == 34) *skip = p + 2;  /* "" inside quotes */
            else *inq = 0;
        } else if (p == pos || buf[p - 1] == 44) {
            *inq = 1;
        }
        return 0;
    }
    static inline int64_t fastctx_csv_end(const uint8_t *buf, int64_t size, int64_t pos) {
        int64_t i = pos, skip = pos;
        int inq = 0;
    #if FASTCTX_HAVE_SSE2
        if (fastctx_parse_simd) {
            const __m128i quote = _mm_set1_epi8(34), newline = _mm_set1_epi8(10);
            while (i + 16 <= size) {
                __m128i x = _mm_loadu_si128((const __m128i *)(buf + i));
                unsigned m = (unsigned)_mm_movemask_epi8(
                    _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, newline)));
                while (m) {
                    int64_t p = i + fastctx_ctz(m);
                    m &= m - 1;
                    if (fastctx_csv_byte(buf, size, pos, p, &inq, &skip)) return p;
                }
                i += 16;
            }
        }
    #endif
        for (; i < size; i++) {
            if ((buf[i] == 34 || buf[i] == 10) && fastctx_csv_byte(buf, size, pos, i, &inq, &skip))
                return i;
        }
        return size;
    }
    """
    ctypedef struct fastctx_vset:
        int32_t usable
    int fastctx_parse_simd
    int fastctx_parse_avx2
    int64_t fastctx_ascii_run(const uint8_t *p, int64_t i, int64_t n, int64_t lim) noexcept nogil
    int64_t fastctx_csv_end(const uint8_t *buf, int64_t size, int64_t pos) noexcept nogil
    int64_t fastctx_vfind(const fastctx_vset *s, const uint8_t *r, int64_t i, int64_t end,
                          int64_t lim) noexcept nogil
    int64_t fastctx_vfind_back(const fastctx_vset *stop, const fastctx_vset *dec, const uint8_t *r,
                               int64_t front, int64_t i, int64_t low, uint8_t *seen) noexcept nogil
    int64_t fastctx_csv_record(const fastctx_vset *s, const uint8_t *p, int64_t avail,
                               int64_t max, int quotes, uint64_t *cw, uint64_t *sw, int64_t *len,
                               int *quoted) noexcept nogil
    int64_t fastctx_word_record(const uint8_t *p, int64_t avail, int64_t max, uint64_t *bw,
                                int64_t *len, int *high) noexcept nogil
    int64_t fastctx_markup_record(const uint8_t *p, int64_t avail, int64_t max, uint64_t *bw,
                                  int64_t *len, int *high) noexcept nogil
    void fastctx_clear_bits(uint64_t *words, int64_t a, int64_t b) noexcept nogil
    int64_t fastctx_next_bit(const uint64_t *words, int64_t nw, int64_t a) noexcept nogil
    int64_t fastctx_prev_bit(const uint64_t *words, int64_t b) noexcept nogil
    bint fastctx_marks_only(const uint64_t *words, const uint8_t *r, int64_t a,
                            int64_t b, int byte) noexcept nogil
    void fastctx_clear_from(uint64_t *words, int64_t nw, int64_t n) noexcept nogil
    bint fastctx_eq(const uint8_t *a, const uint8_t *b, int64_t n) noexcept nogil
    void fastctx_copy(uint8_t *dst, const uint8_t *src, int64_t n) noexcept nogil
    int64_t fastctx_scan(const uint8_t *r, int64_t i, int64_t end, const uint8_t *t,
                         uint8_t mask, uint8_t *seen) noexcept nogil
    int64_t fastctx_scan_back(const uint8_t *r, int64_t front, int64_t i,
                              const uint8_t *t, uint8_t *seen) noexcept nogil


cdef inline bint is_digit(uint8_t c) noexcept nogil:
    return <uint8_t>(c - 48) < 10


cdef inline int hex_value(uint8_t c) noexcept nogil:
    if <uint8_t>(c - 48) < 10:
        return c - 48
    if <uint8_t>(c - 97) < 6:
        return c - 87
    if <uint8_t>(c - 65) < 6:
        return c - 55
    return -1


cdef inline bint is_lower_hex(uint8_t c) noexcept nogil:
    return <uint8_t>(c - 48) < 10 or <uint8_t>(c - 97) < 6


cdef inline bint fail(State *st, int32_t code, int32_t index, int64_t column) noexcept nogil:
    st.fail.code = code
    st.fail.index = index
    st.fail.column = column
    return False


cdef int64_t utf8_invalid_at(const uint8_t *p, int64_t n, int64_t lim) noexcept nogil:
    """Index of the first byte that breaks strict UTF-8 (no overlongs, no surrogates), or -1.

    ``lim`` (>= n) is how many bytes from ``p`` on may be read: the ASCII test then takes
    16 bytes at a time past the end of short records too.
    """
    cdef int64_t i = 0
    cdef uint64_t word, word2
    cdef uint8_t c, c1
    cdef int need
    while i < n:
        i = fastctx_ascii_run(p, i, n, lim)
        # ASCII runs are the common case: test 8 bytes at once.
        while i + 16 <= n:
            memcpy(&word, p + i, 8)
            memcpy(&word2, p + i + 8, 8)
            if (word | word2) & <uint64_t>0x8080808080808080ULL:
                break
            i += 16
        while i + 8 <= n:
            memcpy(&word, p + i, 8)
            if word & <uint64_t>0x8080808080808080ULL:
                break
            i += 8
        if i >= n:
            break
        c = p[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4:
            return i
        if c < 0xE0:
            need = 1
        elif c < 0xF0:
            need = 2
        else:
            need = 3
        if i + need >= n:
            return i
        c1 = p[i + 1]
        if c1 & 0xC0 != 0x80:
            return i
        if c == 0xE0 and c1 < 0xA0:
            return i
        if c == 0xED and c1 > 0x9F:
            return i
        if c == 0xF0 and c1 < 0x90:
            return i
        if c == 0xF4 and c1 > 0x8F:
            return i
        if need >= 2 and p[i + 2] & 0xC0 != 0x80:
            return i
        if need == 3 and p[i + 3] & 0xC0 != 0x80:
            return i
        i += need + 1
    return -1


cdef inline int put_utf8(uint8_t *out, uint32_t cp) noexcept nogil:
    if cp < 0x80:
        out[0] = <uint8_t>cp
        return 1
    if cp < 0x800:
        out[0] = <uint8_t>(0xC0 | (cp >> 6))
        out[1] = <uint8_t>(0x80 | (cp & 0x3F))
        return 2
    if cp < 0x10000:
        out[0] = <uint8_t>(0xE0 | (cp >> 12))
        out[1] = <uint8_t>(0x80 | ((cp >> 6) & 0x3F))
        out[2] = <uint8_t>(0x80 | (cp & 0x3F))
        return 3
    out[0] = <uint8_t>(0xF0 | (cp >> 18))
    out[1] = <uint8_t>(0x80 | ((cp >> 12) & 0x3F))
    out[2] = <uint8_t>(0x80 | ((cp >> 6) & 0x3F))
    out[3] = <uint8_t>(0x80 | (cp & 0x3F))
    return 4


# -- times and numbers --------------------------------------------------------------------------

cdef extern from *:
    """
    /* dd/MMM/dddd:dd:dd:dd sdddd as four 8-byte words (at 0, 8, 16 and 18): the digits and
       separators of each word checked with a few masks instead of 22 byte tests. Little-endian
       hosts only (byte k of a word is v[k]); elsewhere the byte tests run. CLF parse: 3,280 ->
       3,248 instructions per line (callgrind). */
    #if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_M_X64) || defined(_M_ARM64) || defined(_M_IX86)
    #  define FASTCTX_SWAR_TIME 1
    /* the word paths below are on (tests turn them off with the vector scans, so that the
       byte paths big-endian hosts take run here too) */
    static int fastctx_parse_words = 1;
    static inline int fastctx_digits_at(uint64_t x, uint64_t d) {
        /* every byte under mask d is '0'..'9' */
        uint64_t t = x & d, hi = d & 0xF0F0F0F0F0F0F0F0ULL, want = d & 0x3030303030303030ULL;
        return ((t & hi) == want) & ((((t + (d & 0x0606060606060606ULL)) & hi) == want));
    }
    static inline int fastctx_time_words(const uint8_t *v) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, v, 8); memcpy(&w1, v + 8, 8); memcpy(&w2, v + 16, 8); memcpy(&w3, v + 18, 8);
        /* w0 "dd/MMM/y": digits 0 1 7, '/' at 2 and 6 */
        return fastctx_digits_at(w0, 0xFF0000000000FFFFULL)
            & ((w0 & 0x00FF000000FF0000ULL) == 0x002F0000002F0000ULL)
            /* w1 "yyy:HH:m": digits 8 9 10 12 13 15, ':' at 11 and 14 */
            & fastctx_digits_at(w1, 0xFF00FFFF00FFFFFFULL)
            & ((w1 & 0x00FF0000FF000000ULL) == 0x003A00003A000000ULL)
            /* w2 "m:ss +hh": digits 16 18 19 22 23, ':' at 17, ' ' at 20 */
            & fastctx_digits_at(w2, 0xFFFF0000FFFF00FFULL)
            & ((w2 & 0x000000FF0000FF00ULL) == 0x0000002000003A00ULL)
            /* w3 "ss +hhmm": digits 24 25 */
            & fastctx_digits_at(w3, 0xFFFF000000000000ULL);
    }
    /* The clock of a time of checked shape: *sec gets HH:mm:ss less the offset, in seconds,
       *canon whether the offset is +0000; 0 when a field is out of range. Two words,
       "HH:mm:ss" at 12 and "ss +hhmm" at 18: with the digits' low nibbles t, t * 10 +
       (t >> 8) holds 10 * t[k] + t[k + 1] in byte k (at most 99: no carry), so the hour,
       minute and second are bytes 0, 3 and 6 of the first, the offset's hours and minutes
       bytes 4 and 6 of the second. Adding 128 - (limit + 1) to each sets its high bit when
       it is over its limit: one test for the five. A multiply then gives hours * 60 +
       minutes of both. Against five two-digit reads and tests, with the SSE2 shape test
       below, instructions per line (callgrind): CLF 2,297 -> 2,270, CSV 1,580 -> 1,502,
       JSON 2,087 -> 2,054, XML 2,371 -> 2,341 with the fields taken out by shifts and
       masks; then with the two multiplies (and time_shape_words out of line) 2,203, 1,483,
       1,983, 2,270. */
    static inline int fastctx_time_clock(const uint8_t *v, int64_t *sec, int *canon) {
        uint64_t w1, w2, p1, p2, hm, ohm;
        memcpy(&w1, v + 12, 8); memcpy(&w2, v + 18, 8);
        p1 = w1 & 0x0F0F000F0F000F0FULL;
        p1 = p1 * 10 + (p1 >> 8);
        p2 = w2 & 0x0F0F0F0F00000000ULL;
        p2 = p2 * 10 + (p2 >> 8);
        /* p2's bytes under p1's tested ones (0, 3, 6) and p1's under p2's (4) are at most
           99: one mask tests both sums (CLF 2,171 -> 2,167, CSV 1,446 -> 1,442, JSON
           1,950 -> 1,946, XML 2,237 -> 2,234 instructions per line, callgrind) */
        if (((p1 + 0x0044000044000068ULL) | (p2 + 0x0044006800000000ULL)) & 0x0080008080000080ULL)
            return 0;
        /* hour at bit 0 and minute at bit 24: times (1 + 60 << 24) puts 60 * hour + minute
           at bit 24; the offset's, at bits 32 and 48, likewise at bit 16 after >> 32 */
        hm = (((p1 & 0xFF0000FFULL) * (1 + (60ULL << 24))) >> 24) & 0xFFFFFF;
        ohm = ((((p2 >> 32) & 0x00FF00FFULL) * (1 + (60ULL << 16))) >> 16) & 0xFFFF;
        *sec = ((int64_t)hm + (v[21] == 45 ? (int64_t)ohm : -(int64_t)ohm)) * 60
            + (int64_t)((p1 >> 48) & 0xFF);
        *canon = (w2 >> 24) == 0x303030302BULL;  /* "+0000" */
        return 1;
    }
    /* The n (1-4) bytes that end at end as a decimal number, or -1 when one is not a digit.
       In the word of the 4 bytes that end at end, the top n are the digits; the bytes below
       cleared read as leading zeros, and the pairs, then all four combine in two multiplies
       (byte 0 holds the most significant digit). 32-bit: every constant fits an
       instruction; an 8-byte form for 1-8 digits cost 7 instructions more per line. */
    static inline int64_t fastctx_digits4(const uint8_t *end, int64_t n) {
        uint32_t w, t, d = ~0U << (32 - 8 * n), hi = d & 0xF0F0F0F0U, want = d & 0x30303030U;
        memcpy(&w, end - 4, 4);
        t = w & d;
        if (((t & hi) != want) | (((t + (d & 0x06060606U)) & hi) != want)) return -1;
        t &= 0x0F0F0F0FU;
        t = t * 10 + (t >> 8);                                    /* bytes 0 and 2: 2 digits */
        return (int64_t)(((t & 0x00FF00FFU) * (1 + (100U << 16))) >> 16);
    }
    #else
    #  define FASTCTX_SWAR_TIME 0
    static int fastctx_parse_words = 0;
    static inline int64_t fastctx_digits4(const uint8_t *end, int64_t n) { return -1; }
    static inline int fastctx_time_words(const uint8_t *v) { return 0; }
    static inline int fastctx_time_clock(const uint8_t *v, int64_t *sec, int *canon) { return 0; }
    #endif
    #if FASTCTX_HAVE_SSE2
    /* The shape in two 16-byte loads, bytes 0-15 and 10-25 (inside the 26 bytes: nothing
       past the time is read, wherever it lies). A byte passes when ((x | fold) - lo), less
       width saturating, is 0: a digit is lo '0' width 9, a separator lo itself width 0, a
       letter fold 0x20 lo 'a' width 25, the sign lo '+' width 2 (',' between '+' and '-'
       is tested apart). Its gain is counted with fastctx_time_clock's. */
    static inline int fastctx_time_shape_sse(const uint8_t *v) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)v);
        __m128i x1 = _mm_loadu_si128((const __m128i *)(v + 10));
        x0 = _mm_or_si128(x0, _mm_setr_epi8(0, 0, 0, 0x20, 0x20, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        x0 = _mm_sub_epi8(x0, _mm_setr_epi8(0x30, 0x30, 0x2F, 0x61, 0x61, 0x61, 0x2F, 0x30,
                                            0x30, 0x30, 0x30, 0x3A, 0x30, 0x30, 0x3A, 0x30));
        x0 = _mm_subs_epu8(x0, _mm_setr_epi8(9, 9, 0, 25, 25, 25, 0, 9, 9, 9, 9, 0, 9, 9, 0, 9));
        x1 = _mm_sub_epi8(x1, _mm_setr_epi8(0x30, 0x3A, 0x30, 0x30, 0x3A, 0x30, 0x30, 0x3A,
                                            0x30, 0x30, 0x20, 0x2B, 0x30, 0x30, 0x30, 0x30));
        x1 = _mm_subs_epu8(x1, _mm_setr_epi8(9, 0, 9, 9, 0, 9, 9, 0, 9, 9, 0, 2, 9, 9, 9, 9));
        return (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(x0, x1), _mm_setzero_si128()))
                == 0xFFFF) & (v[21] != 44);
    }
    #else
    static inline int fastctx_time_shape_sse(const uint8_t *v) { return 0; }
    #endif
    """
    int FASTCTX_SWAR_TIME
    int fastctx_parse_words
    bint fastctx_time_words(const uint8_t *v) noexcept nogil
    bint fastctx_time_shape_sse(const uint8_t *v) noexcept nogil
    bint fastctx_time_clock(const uint8_t *v, int64_t *sec, bint *canon) noexcept nogil
    int64_t fastctx_digits4(const uint8_t *end, int64_t n) noexcept nogil


cdef inline bint is_letter(uint8_t c) noexcept nogil:
    return <uint8_t>((c | 0x20) - 97) < 26


cdef bint time_shape_words(const uint8_t *v) noexcept nogil:
    """time_shape without SSE2 (out of line: inlined beside the SSE2 test, its registers
    cost the scans and parse_time on every time)."""
    if fastctx_parse_words:
        return (fastctx_time_words(v) and (v[21] == 43 or v[21] == 45) and is_letter(v[3])
                and is_letter(v[4]) and is_letter(v[5]))
    cdef int k
    if not (is_digit(v[0]) and is_digit(v[1]) and v[2] == 47 and v[6] == 47 and v[11] == 58
            and v[14] == 58 and v[17] == 58 and v[20] == 32 and (v[21] == 43 or v[21] == 45)):
        return False
    for k in range(3, 6):
        if not is_letter(v[k]):
            return False
    return (is_digit(v[7]) and is_digit(v[8]) and is_digit(v[9]) and is_digit(v[10])
            and is_digit(v[12]) and is_digit(v[13]) and is_digit(v[15]) and is_digit(v[16])
            and is_digit(v[18]) and is_digit(v[19]) and is_digit(v[22]) and is_digit(v[23])
            and is_digit(v[24]) and is_digit(v[25]))


cdef inline bint time_shape(const uint8_t *v) noexcept nogil:
    """dd/MMM/dddd:dd:dd:dd sdddd (26 bytes at v)."""
    if fastctx_parse_simd:
        return fastctx_time_shape_sse(v)
    return time_shape_words(v)


cdef enum:
    # the clock of a CLF time less its offset, in seconds: 00:00:00 +2359 to 23:59:59 -2359
    MIN_CLOCK = -(23 * 3600 + 59 * 60)
    MAX_CLOCK = 86399 + 23 * 3600 + 59 * 60


cdef inline int month_of(const uint8_t *v) noexcept nogil:
    cdef uint32_t key = (<uint32_t>v[0] << 16) | (<uint32_t>v[1] << 8) | v[2]
    if key == 0x4A616E: return 1   # Jan
    if key == 0x466562: return 2   # Feb
    if key == 0x4D6172: return 3   # Mar
    if key == 0x417072: return 4   # Apr
    if key == 0x4D6179: return 5   # May
    if key == 0x4A756E: return 6   # Jun
    if key == 0x4A756C: return 7   # Jul
    if key == 0x417567: return 8   # Aug
    if key == 0x536570: return 9   # Sep
    if key == 0x4F6374: return 10  # Oct
    if key == 0x4E6F76: return 11  # Nov
    if key == 0x446563: return 12  # Dec
    return 0


cdef inline int64_t two(const uint8_t *v) noexcept nogil:
    return (v[0] - 48) * 10 + (v[1] - 48)


cdef bint parse_time_full(State *st, const uint8_t *r, int64_t a, int64_t b, int32_t slot,
                          int64_t *out, bint *canon) noexcept nogil:
    """parse_time on every path. Apart from parse_time (it has two callers, so it is not
    inlined there), so that the common case saves few registers."""
    cdef const uint8_t *v = r + a
    cdef int64_t day, month, year, hour, minute, second, oh, om, offset, days, clock
    cdef uint64_t w0, w1
    if b - a != 26 or (v != st.time_seen and not time_shape(v)):
        return fail(st, E_TIME, slot, a)
    memcpy(&w0, v, 8)
    memcpy(&w1, v + 3, 8)
    if w0 == st.date_w0 and w1 == st.date_w1:
        days = st.date_days
    else:
        month = month_of(v + 3)
        day = two(v)
        year = two(v + 7) * 100 + two(v + 9)
        if month == 0:
            return fail(st, E_TIME, slot, a)
        if day < 1 or day > days_in_month(year, month):
            return fail(st, E_TIME, slot, a)
        days = days_from_civil(year, month, day)
        # cached only when no clock and offset takes the date out of the range a CLF time
        # can show, so that a time of a cached date needs no range test (parse_time)
        if (days * 86400 + MIN_CLOCK) * 1000 >= MIN_CLF_MS and (
                days * 86400 + MAX_CLOCK) * 1000 <= MAX_CLF_MS:
            st.date_w0 = w0
            st.date_w1 = w1
            st.date_days = days
            st.date_ms = days * 86400000
    if fastctx_parse_words:
        if not fastctx_time_clock(v, &clock, canon):
            return fail(st, E_TIME, slot, a)
    else:
        hour = two(v + 12)
        minute = two(v + 15)
        second = two(v + 18)
        oh = two(v + 22)
        om = two(v + 24)
        if hour > 23 or minute > 59 or second > 59 or oh > 23 or om > 59:
            return fail(st, E_TIME, slot, a)
        offset = (oh * 60 + om) * 60
        if v[21] == 45:
            offset = -offset
        clock = hour * 3600 + minute * 60 + second - offset
        canon[0] = v[21] == 43 and oh == 0 and om == 0
    out[0] = (days * 86400 + clock) * 1000
    if out[0] < MIN_CLF_MS or out[0] > MAX_CLF_MS:
        # 31/Dec/9999:23:59:59 -1400 is in the year 10000 in UTC, which a CLF time cannot
        # show: a value parsed must render again
        return fail(st, E_TIME, slot, a)
    return True


cdef bint parse_time(State *st, const uint8_t *r, int64_t a, int64_t b, int32_t slot,
                     int64_t *out, bint *canon) noexcept nogil:
    """A CLF time ``r[a:b]`` into epoch ms; ``canon`` cleared unless the offset is +0000.

    Logs are written in time order, so the date part (dd/MMM/yyyy) nearly always repeats
    the record before it: its day number is reused when the 11 bytes (two words, at 0 and
    3) match. Together with the 16-byte ASCII step of utf8_invalid_at: 3,480 -> 3,380
    instructions per CLF line (callgrind). That case, with the shape known (a scan checked
    it, or SSE2 checks it here) and the clock read by words, is taken here, with no range
    test (a cached date has none to fail); the rest goes to parse_time_full. Split so:
    CLF 2,203 -> 2,187, CSV 1,483 -> 1,463, JSON 1,983 -> 1,967, XML 2,270 -> 2,254
    instructions per line (callgrind). Inlined in put_number instead: CSV 1,457, but CLF
    2,222, JSON 2,003, XML 2,290."""
    cdef const uint8_t *v = r + a
    cdef int64_t clock
    cdef uint64_t w0, w1
    if fastctx_parse_words and b - a == 26 and (
            v == st.time_seen or (fastctx_parse_simd and fastctx_time_shape_sse(v))):
        memcpy(&w0, v, 8)
        memcpy(&w1, v + 3, 8)
        if w0 == st.date_w0 and w1 == st.date_w1 and fastctx_time_clock(v, &clock, canon):
            out[0] = st.date_ms + clock * 1000
            return True
    return parse_time_full(st, r, a, b, slot, out, canon)


cdef bint parse_int_full(State *st, const uint8_t *r, int64_t a, int64_t b, int32_t slot,
                         int64_t *out, bint *canon) noexcept nogil:
    """parse_int on every path (apart, as parse_time_full)."""
    cdef int64_t i = a
    cdef bint negative = False
    cdef uint64_t value = 0, limit
    cdef uint8_t c
    if i < b and r[i] == 45:
        negative = True
        i += 1
    if i >= b:
        return fail(st, E_INT, slot, a)
    canon[0] = not (b - i > 1 and r[i] == 48)
    if b - i <= 18:
        # at most 18 digits never leave int64: no range test (a division per digit) needed
        while i < b:
            c = <uint8_t>(r[i] - 48)
            if c > 9:
                return fail(st, E_INT, slot, a)
            value = value * 10 + c
            i += 1
        if negative:
            if value == 0:
                canon[0] = False
            out[0] = -<int64_t>value
        else:
            out[0] = <int64_t>value
        return True
    limit = (<uint64_t>1 << 63) if negative else ((<uint64_t>1 << 63) - 1)
    while i < b:
        c = r[i]
        if not is_digit(c):
            # the reference checks every byte is a digit before it checks the range
            while i < b:
                if not is_digit(r[i]):
                    return fail(st, E_INT, slot, a)
                i += 1
            return fail(st, E_INT, slot, a)
        if value > (limit - (c - 48)) // 10:
            while i < b:
                if not is_digit(r[i]):
                    return fail(st, E_INT, slot, a)
                i += 1
            return fail(st, E_RANGE, slot, a)
        value = value * 10 + (c - 48)
        i += 1
    if negative:
        if value == 0:
            canon[0] = False
        out[0] = -<int64_t>(value - 1) - 1
    else:
        out[0] = <int64_t>value
    return True


cdef bint parse_int(State *st, const uint8_t *r, int64_t a, int64_t b, int32_t slot,
                    int64_t *out, bint *canon) noexcept nogil:
    """``-?[0-9]+`` ``r[a:b]`` into ``out``; ``canon`` cleared for leading zeros and -0.

    1 to 4 digits with no sign (a status) are read as one word, the 4 bytes that end at
    ``b`` (``r[0:b]`` is readable); the rest goes to parse_int_full. Against the digit loop:
    CLF 2,187 -> 2,171, CSV 1,463 -> 1,446, JSON 1,967 -> 1,950, XML 2,254 -> 2,237
    instructions per line (callgrind)."""
    cdef int64_t v
    if fastctx_parse_words and b - a <= 4 and b >= 4 and b > a:
        v = fastctx_digits4(r + b, b - a)
        if v >= 0:
            out[0] = v
            canon[0] = b - a == 1 or r[a] != 48
            return True
    return parse_int_full(st, r, a, b, slot, out, canon)


cdef bint is_json_number(const uint8_t *p, int64_t n) noexcept nogil:
    cdef int64_t i = 0, start
    if i < n and p[i] == 45:
        i += 1
    if i >= n:
        return False
    if p[i] == 48:
        i += 1
    elif p[i] >= 49 and p[i] <= 57:
        while i < n and is_digit(p[i]):
            i += 1
    else:
        return False
    if i < n and p[i] == 46:
        i += 1
        start = i
        while i < n and is_digit(p[i]):
            i += 1
        if i == start:
            return False
    if i < n and (p[i] == 101 or p[i] == 69):
        i += 1
        if i < n and (p[i] == 43 or p[i] == 45):
            i += 1
        start = i
        while i < n and is_digit(p[i]):
            i += 1
        if i == start:
            return False
    return i == n


# -- splitting a record into spans ----------------------------------------------------------------

cdef inline bint is_json_number_char(uint8_t c) noexcept nogil:
    return is_digit(c) or c == 43 or c == 45 or c == 46 or c == 101 or c == 69


cdef inline int64_t csv_quoted_end(const uint8_t *r, int64_t front, int64_t back) noexcept nogil:
    """Just past the '"' that closes the quoted CSV field opened at ``front`` (the first one
    not doubled) in ``r[:back]``, or -1 if none does."""
    cdef int64_t i = front + 1
    while i < back:
        if r[i] == 34:
            if i + 1 < back and r[i + 1] == 34:
                i += 2
                continue
            return i + 1
        i += 1
    return -1


cdef int64_t scan_forward_form(State *st, const uint8_t *r, int64_t front, int64_t back,
                               const SlotC *sp, int32_t slot) noexcept nogil:
    """The end of a value of a fixed or self-delimiting form: a CLF time, a bare JSON value,
    a quoted CSV field."""
    cdef int64_t i
    cdef uint8_t c
    if sp.form == FORM_TIME:
        if back - front >= 26 and time_shape(r + front):
            st.time_seen = r + front
            return front + 26
        if front < back and r[front] == 45:
            return front + 1
        fail(st, E_TIME, slot, front)
        return -1
    if sp.form == FORM_JSON_BARE:
        if front + 4 <= back and memcmp(r + front, b"null", 4) == 0:
            return front + 4
        if front < back and r[front] == 34:
            i = front + 1
            while i < back:
                c = r[i]
                if c == 34:
                    return i + 1
                i += 2 if c == 92 else 1
            fail(st, E_JSON, slot, front)
            return -1
        if front < back and (is_digit(r[front]) or r[front] == 45):
            i = front
            while i < back and is_json_number_char(r[i]):
                i += 1
            return i
        fail(st, E_JSON, slot, front)
        return -1
    i = csv_quoted_end(r, front, back)  # a quoted CSV field
    if i >= 0:
        return i
    fail(st, E_CSV, slot, front)
    return -1


cdef int64_t scan_stop(State *st, const uint8_t *r, int64_t i, int64_t back, const SlotC *sp,
                       int32_t slot) noexcept nogil:
    """From ``i`` on, the first stop byte of the slot (or ``back``), stepping over the bytes
    that need decoding and noting them (``st.clean``)."""
    cdef const uint8_t *comb = sp.comb
    cdef int64_t k
    cdef uint8_t c, t, seen = 0
    while True:
        # fast over plain bytes; stop at a stop byte or at one that decode must look at
        k = fastctx_vfind(sp.vfwd, r, i, back, st.rlim)
        i = k if k >= 0 else fastctx_scan(r, i, back, comb, 3, &seen)
        if i >= back:
            break
        c = r[i]
        t = comb[c]
        if t & 1:
            break
        seen |= t
        i += 2 if (sp.skip and c == 92) else 1
    st.clean[slot] = seen == 0
    return i if i < back else back


cdef inline int64_t scan_forward(State *st, const uint8_t *r, int64_t front, int64_t back,
                                 const SlotC *sp, int32_t slot) noexcept nogil:
    """The end of the slot's value from ``front``, or -1 (``st.fail`` set).

    One pass finds the end and notes whether any byte needs decoding, so a clean value is
    later copied as it is. Inline only the common case (the first byte of the set is the stop
    byte): the full function around every call cost about 25 instructions of register saves.
    """
    cdef int64_t k
    if sp.form == FORM_TIME or sp.form == FORM_JSON_BARE or (
            sp.form == FORM_CSV and front < back and r[front] == 34):
        st.clean[slot] = 0
        return scan_forward_form(st, r, front, back, sp, slot)
    k = fastctx_vfind(sp.vfwd, r, front, back, st.rlim)
    if k >= back or (k >= 0 and sp.comb[r[k]] & 1):
        st.clean[slot] = 1
        return k if k < back else back
    return scan_stop(st, r, front, back, sp, slot)


cdef inline int64_t scan_backward(State *st, const uint8_t *r, int64_t front, int64_t back,
                           const SlotC *sp, int32_t slot) noexcept nogil:
    cdef int64_t i
    cdef uint8_t seen
    st.clean[slot] = 0
    if sp.form == FORM_TIME:
        if back > front and r[back - 1] == 45:
            return back - 1
        if back - front >= 26 and time_shape(r + back - 26):
            st.time_seen = r + back - 26
            return back - 26
        fail(st, E_TIME, slot, back - 26 if back - 26 > front else front)
        return -1
    # like the forward scan, note whether any byte needs decoding (bit 1 of bcomb): a clean
    # value is then copied as it is (3,310 -> 2,950 instructions per CLF line, callgrind)
    seen = 0
    i = fastctx_vfind_back(sp.vstop, sp.vbdec, r, front, back, st.rlow, &seen)
    if i < 0:
        seen = 0
        i = fastctx_scan_back(r, front, back, sp.bcomb, &seen)
    st.clean[slot] = seen == 0
    return i


cdef int64_t value_floor(const uint8_t *r, int64_t front, int64_t back, const SlotC *sp) noexcept nogil:
    """Where the slot's value ending at ``back`` can start at the earliest: just after the
    last byte before ``back`` that the value never holds (out of line: split is inlined in
    the record loop, and this runs only for a split before a slot that takes the rest)."""
    cdef uint8_t seen = 0
    return fastctx_scan_back(r, front, back, sp.bcomb, &seen)


cdef inline int64_t first_never(State *st, const uint8_t *r, int64_t i, int64_t stop,
                                const SlotC *sp) noexcept nogil:
    """The first byte of ``r[i:stop]`` that the slot's value never holds, or ``stop``."""
    cdef int64_t k = fastctx_vfind(sp.vstop, r, i, stop, st.rlim)
    if k >= 0:
        return k  # -1: the vector sets are off, or a block would pass the readable end
    while i < stop and not (sp.bcomb[r[i]] & 1):
        i += 1
    return i


cdef int64_t split_before_token(State *st, const uint8_t *r, int64_t front, int64_t back,
                               int64_t end, const SlotC *sp, const SlotC *nx) noexcept nogil:
    """The split of ``sp``'s value (the leftmost is at ``end``) when the slot after it, ``nx``,
    is a token or number split at its own literal: the first of at most ``LATER_SPLITS + 1``
    occurrences that leaves it, up to its leftmost split, no byte it never holds
    (``r1,Mozilla/5.0 (KHTML, like Gecko),1.2.3.4,200``: the User-Agent up to the second
    comma, not the first, which left the token `` like Gecko)``). Otherwise the leftmost,
    whose error is then reported. Each try is a pass over the bytes up to the token's end,
    so the work stays linear.

    Where neither value is escaped (``none`` mode, or a number after the text), every
    occurrence is in reach: the token's literal found once serves every try that starts
    before it, and a try goes straight to the first occurrence past the last byte before
    that literal that the token never holds (the ones before it would hold that byte), so no
    byte is looked at twice (``a,b,b,...,b,200,r``: the user up to the last ``b`` however
    many it holds)."""
    cdef int64_t first = end, start, stop = -1, i, lo
    cdef int32_t tries
    if not sp.skip and not nx.skip:
        while True:
            start = end + sp.after_len
            if stop <= start:  # (the leftmost occurrence after ``start`` is still ``stop``)
                stop = find_split(r, start, back, nx.after, nx.after_len, 0, 0)
                if stop < 0:
                    return first
            i = stop
            while i > start and not (nx.bcomb[r[i - 1]] & 1):
                i -= 1
            if i == start:
                return end
            lo = i - sp.after_len  # the value must start past byte i - 1
            end = find_split(r, front, back, sp.after, sp.after_len, 0, lo if lo > end else end + 1)
            if end < 0:
                return first
    for tries in range(LATER_SPLITS + 1):
        start = end + sp.after_len
        stop = find_split(r, start, back, nx.after, nx.after_len, nx.skip, 0)
        if stop < 0:
            return first  # the token's own literal is missing after every later split too
        if first_never(st, r, start, stop, nx) == stop:
            return end
        end = find_split(r, front, back, sp.after, sp.after_len, sp.skip, end + 1)
        if end < 0:
            return first
    return first


cdef int64_t split_before_time(const uint8_t *r, int64_t front, int64_t back, int64_t end,
                              const SlotC *sp, const SlotC *nx) noexcept nogil:
    """The split of ``sp``'s value (the leftmost is at ``end``) when the slot after it, ``nx``,
    is a CLF time with a literal after it: the first occurrence followed by a time's shape
    (or ``-``) and that literal, else the leftmost, whose error is then reported
    (``1.2.3.4,a,b,c,<time>,...``: the user up to the time however many commas it holds).
    Each try looks at the 26 bytes of a time; with escapes in the text, where finding its
    next occurrence starts over from its start, at most ``LATER_SPLITS + 1`` tries."""
    cdef int64_t first = end, start, stop
    cdef int32_t tries = 0
    while True:
        start = end + sp.after_len
        stop = -1
        if back - start >= 26 and time_shape(r + start):
            stop = start + 26
        elif start < back and r[start] == 45:
            stop = start + 1
        if stop >= 0 and stop + nx.after_len <= back and fastctx_eq(r + stop, nx.after, nx.after_len):
            return end
        if sp.skip:
            tries += 1
            if tries > LATER_SPLITS:
                return first
        end = find_split(r, front, back, sp.after, sp.after_len, sp.skip, end + 1)
        if end < 0:
            return first


cdef int64_t quoted_end(const uint8_t *r, int64_t front, int64_t back, const SlotC *sp) noexcept nogil:
    """The end of a ``quoted`` value at ``front`` that no literal follows (the next slot is
    adjacent): just past its closing quote, as its escape writes a quote (``"``, ``\\"`` or
    ``&quot;``); -1 if it does not start with one, never closes, or is CSV (which delimits
    itself)."""
    cdef const uint8_t *q
    cdef int64_t qlen, close
    if sp.raw_quotes:
        q, qlen = <const uint8_t *>b'"', 1
    elif sp.esc == ESC_JSON_STR or sp.esc == ESC_CLF_QUOTED or sp.esc == ESC_CLF_QUOTED_TOKEN:
        q, qlen = <const uint8_t *>b'\\"', 2
    elif sp.esc == ESC_XML:
        q, qlen = <const uint8_t *>b"&quot;", 6
    elif sp.esc == ESC_NONE or sp.esc == ESC_CLF_BRACKET or sp.esc == ESC_CLF_BARE:
        q, qlen = <const uint8_t *>b'"', 1
    else:
        return -1
    if back - front < 2 * qlen or memcmp(r + front, q, <size_t>qlen) != 0:
        return -1
    close = find_split(r, front, back, q, qlen, sp.skip, front + qlen)
    return -1 if close < 0 else close + qlen


cdef int64_t find_split(const uint8_t *r, int64_t front, int64_t back, const uint8_t *lit,
                        int64_t size, bint skip, int64_t lo) noexcept nogil:
    """The leftmost start ``> front`` and ``>= lo`` of ``lit`` in ``r[front:back]`` that is
    not inside an escape, or -1."""
    cdef int64_t i = front
    cdef const void *hit
    cdef int64_t step
    if size == 0:
        # adjacent slots: the shortest value that is not empty, not half an escape and not
        # half a UTF-8 character
        step = 1
        if front < back:
            if skip and r[front] == 92:
                step = 2
            elif r[front] >= 0xF0:
                step = 4
            elif r[front] >= 0xE0:
                step = 3
            elif r[front] >= 0xC0:
                step = 2
        return front + step if front + step <= back else -1
    if not skip:
        # memchr finds candidates for the first byte; every byte is looked at a bounded
        # number of times (the literal is at most 3 KB).
        i = front + 1 if front + 1 > lo else lo
        while i + size <= back:
            hit = memchr(r + i, lit[0], <size_t>(back - size + 1 - i))
            if hit == NULL:
                return -1
            i = <const uint8_t *>hit - r
            if memcmp(r + i, lit, <size_t>size) == 0:
                return i
            i += 1
        return -1
    while i + size <= back:
        if i > front and i >= lo and r[i] == lit[0] and memcmp(r + i, lit, <size_t>size) == 0:
            return i
        i += 2 if r[i] == 92 else 1
    return -1


cdef int64_t memo_start(State *st, int64_t limit) noexcept nogil:
    """An empty set of at least twice ``limit`` keys (a search adds at most one per step):
    its number of places, or -1 when there is no memory for it."""
    cdef int64_t cap = 64
    cdef int64_t *fresh
    while cap < 2 * limit:
        cap *= 2
    if cap > st.memo_cap:
        fresh = <int64_t *>realloc(st.memo, <size_t>cap * sizeof(int64_t))
        if fresh == NULL:
            return -1
        st.memo = fresh
        st.memo_cap = cap
    memset(st.memo, 0, <size_t>cap * sizeof(int64_t))
    return cap


cdef inline int64_t memo_find(State *st, int64_t key, int64_t cap) noexcept nogil:
    """The place of ``key`` (> 0) in the set of ``cap`` places, or the empty one it would
    take (linear probing; the set is at most half full)."""
    cdef int64_t h = <int64_t>((<uint64_t>key * 0x9E3779B97F4A7C15ULL) >> 24) & (cap - 1)
    while st.memo[h] != 0 and st.memo[h] != key:
        h = (h + 1) & (cap - 1)
    return h


cdef inline int search_shape(const uint8_t *r, int64_t a, int64_t b, const SlotC *sp) noexcept nogil:
    """Whether ``r[a:b]`` has the shape of the slot's value (0), or not but a longer one may
    (1), or no longer one can either (2): an int is ``-?[0-9]+`` or ``-`` (its other bytes
    are ones it never holds), a ``quoted`` value ``-`` or in its quotes."""
    if sp.form == FORM_JSON_BARE or sp.form == FORM_CSV:
        return 0
    if sp.vtype == VT_INT or sp.vtype == VT_EPOCH_MS:
        return 2 if b - a > 1 and memchr(r + a + 1, 45, <size_t>(b - a - 1)) != NULL else 0
    if sp.vtype == VT_QUOTED:
        if r[a] != 34:
            return 0 if b - a == 1 and r[a] == 45 else 2
        return 0 if b - a >= 2 and r[b - 1] == 34 else 1
    return 0


cdef bint search_middle(State *st, const uint8_t *r, int64_t front, int64_t back,
                        int32_t i, int32_t j, const SlotC *slots) noexcept nogil:
    """Spans of slots ``i`` to ``j`` (the middle, ``r[front:back]``) in ``st.sa``/``st.sb``:
    the leftmost split in which no value is empty, holds a byte its slot never holds or lacks
    its shape (``search_shape``); False if none is found. (A line written by API Gateway or
    fastctx has no empty value: null is ``-``.)

    The last resort for a record every other split left invalid: several free texts in a row
    whose values hold their separators (``issuerDN,serial,subjectDN,...`` in ``none`` mode,
    every DN holding commas), where moving one split at a time does not reach a valid one.
    Depth first, leftmost occurrence first; a slot that ends at its own byte has one end. A
    slot that cannot start at a position is remembered (``memo``), so no state is explored
    twice, and the search stops after ``SEARCH_STEPS`` steps per slot of the middle, so the
    work stays linear in the record. Values are then checked in full, as any split's. The
    reference parser's ``search_middle`` takes the same steps."""
    cdef int64_t limit = SEARCH_STEPS * (j - i + 1), steps = 0, a, end, prev, key
    cdef int64_t width = back + 1, cap = 0  # the memo's places, once it is started
    cdef int32_t k = i
    cdef bint first_descent = True  # no step back yet: the memo is empty (and not cleared)
    cdef const SlotC *sp
    cdef int64_t floor = value_floor(r, front, back, slots + j)  # the last slot's earliest start
    cdef int shaped
    st.sa[i] = front
    st.sb[i] = -1
    while True:
        steps += 1
        if steps > limit:
            return fail(st, E_LITERAL, i + 1, front)
        sp = slots + k
        a = st.sa[k]
        if k == j:
            if floor <= a < back and search_shape(r, a, back, sp) == 0:
                st.sb[j] = back
                break
            end = -1
        elif sp.forward:
            end = -1
            if st.sb[k] < 0:
                end = scan_forward(st, r, a, back, sp, k)
                # its literal next, and its shape: an int's scan takes `2024-01`, which is
                # no int (a route `GET /items,2024-01` before a status, in unescaped CSV)
                if end >= 0 and (end == a or end + sp.after_len > back
                                 or not fastctx_eq(r + end, sp.after, sp.after_len)
                                 or search_shape(r, a, end, sp) != 0):
                    end = -1
        else:
            prev = st.sb[k]
            end = find_split(r, a, back, sp.after, sp.after_len, 0, prev + 1 if prev >= 0 else 0)
            if end < 0 and prev < 0 and first_descent:
                # every slot is at its earliest start until the first step back: its literal
                # occurs nowhere after it, so no split has it
                return fail(st, E_LITERAL, i + 1, front)
            # the value up to it holds no byte its slot never holds, else no later one can
            # (the bytes before the last candidate were checked with it)
            if end >= 0 and first_never(st, r, prev if prev > a else a, end, sp) != end:
                end = -1
            shaped = search_shape(r, a, end, sp) if end >= 0 else 0
            if shaped == 1:
                st.sb[k] = end  # the next candidate, a step later
                continue
            if shaped == 2:
                end = -1
        if end < 0:
            if first_descent:
                # most records the search is tried on are of another format and end here
                # or before, so the memo is cleared only now
                cap = memo_start(st, limit)
                if cap < 0:
                    return fail(st, E_LITERAL, i + 1, front)
                first_descent = False
            key = k * width + a + 1
            st.memo[memo_find(st, key, cap)] = key
            k -= 1
            if k < i:
                return fail(st, E_LITERAL, i + 1, front)
            continue
        st.sb[k] = end
        a = end + sp.after_len
        key = (k + 1) * width + a + 1
        if not first_descent and st.memo[memo_find(st, key, cap)] == key:
            continue
        k += 1
        st.sa[k] = a
        st.sb[k] = -1
    for k in range(i, j + 1):
        st.clean[k] = fastctx_vfind(slots[k].vdec, r, st.sa[k], st.sb[k], st.rlim) == st.sb[k]
    return True


cdef inline bint split_ends(State *st, const uint8_t *r, int64_t n, const SlotC *slots,
                            int64_t *span, int32_t *middle) noexcept nogil:
    """The anchored part of ``split``: the prefix and the suffix, then the slots that find
    their own end from the left and their own start from the right. False with ``st.fail``
    set; else the middle left between them is ``r[span[0]:span[1]]``, slots ``middle[0]`` to
    ``middle[1]`` (-1: a template with no slot)."""
    cdef int32_t nslots = st.nslots
    cdef const uint8_t *pool = st.pool
    cdef const int64_t *lo = st.lit_off
    cdef int64_t first_len = lo[1] - lo[0]
    cdef int64_t last_len = lo[nslots + 1] - lo[nslots]
    cdef int64_t front, back, end, start, llen
    cdef const uint8_t *lit
    cdef int32_t i, j
    cdef const SlotC *sp
    if n < first_len or not fastctx_eq(r, pool + lo[0], first_len):
        return fail(st, E_PREFIX, 0, 0)
    front = first_len
    if nslots == 0:
        if n != front:
            return fail(st, E_SUFFIX, 0, front if front < n else n)
        middle[1] = -1
        return True
    if n - front < last_len or not fastctx_eq(r + n - last_len, pool + lo[nslots], last_len):
        return fail(st, E_SUFFIX, nslots, front if front > n - last_len else n - last_len)
    back = n - last_len
    i = 0
    j = nslots - 1
    # from the left, while each slot finds its own end
    while i < j and slots[i].forward:
        sp = slots + i
        lit = sp.after
        llen = sp.after_len
        end = scan_forward(st, r, front, back, sp, i)
        if end < 0:
            return False
        if end + llen > back or not fastctx_eq(r + end, lit, llen):
            return fail(st, E_LITERAL, i + 1, end)
        st.sa[i] = front
        st.sb[i] = end
        front = end + llen
        i += 1
    # from the right, while each slot finds its own start
    while j > i and slots[j].backward:
        sp = slots + j
        lit = sp.before
        llen = sp.before_len
        start = scan_backward(st, r, front, back, sp, j)
        if start < 0:
            return False
        if start - llen < front or not fastctx_eq(r + start - llen, lit, llen):
            return fail(st, E_LITERAL, j, start)
        st.sa[j] = start
        st.sb[j] = back
        back = start - llen
        j -= 1
    span[0] = front
    span[1] = back
    middle[0] = i
    middle[1] = j
    return True


ctypedef bint (*split_fn_t)(State *st, const uint8_t *r, int64_t n, const SlotC *slots) noexcept nogil


cdef bint split_searched(State *st, const uint8_t *r, int64_t n, const SlotC *slots) noexcept nogil:
    """``split`` with the middle found by ``search_middle`` (the last resort for a record)."""
    cdef int64_t span[2]
    cdef int32_t middle[2]
    if not split_ends(st, r, n, slots, span, middle):
        return False
    return middle[1] < 0 or search_middle(st, r, span[0], span[1], middle[0], middle[1], slots)


# Called through a pointer, so that the compiler does not inline it into ``try_mode``: with
# the search reachable from the record loop's split, the WebSocket CSV preset in ``none``
# mode parsed its lines 4% slower, though the search never ran on them.
cdef split_fn_t split_searched_fn = split_searched


cdef inline bint split(State *st, const uint8_t *r, int64_t n, const SlotC *slots) noexcept nogil:
    cdef int64_t span[2]
    cdef int32_t middle[2]
    cdef int64_t front, back, end, start, llen, least
    cdef const uint8_t *lit
    cdef int32_t i, j, k
    cdef const SlotC *sp
    if not split_ends(st, r, n, slots, span, middle):
        return False
    if middle[1] < 0:
        return True
    front, back, i, j = span[0], span[1], middle[0], middle[1]
    # the middle: leftmost split, the last slot takes the rest
    while i < j:
        sp = slots + i
        lit = sp.after
        llen = sp.after_len
        if sp.forward:
            end = scan_forward(st, r, front, back, sp, i)
            if end < 0:
                return False
            if end + llen > back or not fastctx_eq(r + end, lit, llen):
                return fail(st, E_LITERAL, i + 1, end)
        else:
            least = 0
            if i == j - 1 and slots[j].form == FORM_STOP:
                # The slot after this split takes the rest up to `back`: a split that would
                # leave it a byte it never holds (a space in a token) is not a split. Start
                # from the first one that leaves it none (`r1,a, b,c1,200` with a token
                # after a free text: `a, b` and `c1`, not `a` and ` b,c1`; `abc200` read by
                # `$context.requestId$context.status`: `abc` and `200`).
                least = value_floor(r, front, back, slots + j) - llen
            end = -1
            if llen == 0 and sp.vtype == VT_QUOTED:  # an adjacent slot: the closing quote
                end = quoted_end(r, front, back, sp)
            if end < 0:
                end = find_split(r, front, back, lit, llen, sp.skip, least)
                if llen == 0 and front < end < least < back:
                    # adjacent: the shortest value reaches the floor (which follows a byte
                    # the next value never holds, so it cuts no escape or character)
                    end = least
            if end < 0 and least > front:  # no such split: the leftmost, to report its error
                end = find_split(r, front, back, lit, llen, sp.skip, 0)
            if end < 0:
                return fail(st, E_LITERAL, i + 1, front)
            if (i + 1 < j and llen > 0 and slots[i + 1].after_len > 0
                    and (slots[i + 1].vtype == VT_TOKEN or slots[i + 1].vtype == VT_INT
                         or slots[i + 1].vtype == VT_EPOCH_MS)):
                # forward or not: a forward token ends at its first blank, so the leftmost
                # split of a free text holding one failed it in the escaped mode too
                end = split_before_token(st, r, front, back, end, sp, slots + i + 1)
            elif (i + 1 < j and llen > 0 and slots[i + 1].after_len > 0
                    and slots[i + 1].form == FORM_TIME):
                end = split_before_time(r, front, back, end, sp, slots + i + 1)
            if i == st.later_slot:
                # a retry of the record (``later_target``) takes a later occurrence
                for k in range(st.later):
                    end = find_split(r, front, back, lit, llen, sp.skip, end + 1)
                    if end < 0:
                        st.later_slot = -1  # none left: no further retry
                        return fail(st, E_LITERAL, i + 1, front)
            st.clean[i] = fastctx_vfind(sp.vdec, r, front, end, st.rlim) == end
        st.sa[i] = front
        st.sb[i] = end
        front = end + llen
        i += 1
    # the slot that takes the rest: a value with no byte to decode is copied as it is
    # (CLF: its routeKey went through the escape decoder, 160 instructions per line)
    st.clean[i] = fastctx_vfind(slots[i].vdec, r, front, back, st.rlim) == back
    st.sa[i] = front
    st.sb[i] = back
    return True


cdef inline bint same_bytes(const uint8_t *a, const uint8_t *b, int64_t n) noexcept nogil:
    """``a[:n] == b[:n]`` for the short rest of a literal after or before its space (0-2
    bytes in the CLF presets): a byte loop, where ``fastctx_eq``'s size dispatch cost 109
    instructions per CLF line in the blank-split path (callgrind)."""
    cdef int64_t k
    for k in range(n):
        if a[k] != b[k]:
            return False
    return True


# -- decoding -------------------------------------------------------------------------------------

cdef inline bint is_xml_char(uint32_t cp) noexcept nogil:
    return (cp == 9 or cp == 10 or cp == 13 or (cp >= 0x20 and cp <= 0xD7FF)
            or (cp >= 0xE000 and cp <= 0xFFFD) or (cp >= 0x10000 and cp <= 0x10FFFF))


cdef int32_t hex4(const uint8_t *p) noexcept nogil:
    cdef int32_t value = 0, h
    cdef int k
    for k in range(4):
        h = hex_value(p[k])
        if h < 0:
            return -1
        value = value * 16 + h
    return value


cdef bint decode_escaped(State *st, const uint8_t *r, int64_t a, int64_t b, const SlotC *sp,
                         int32_t slot, uint8_t *out, int64_t *outlen, bint *canon) noexcept nogil:
    """Undo the slot's escaping over r[a:b] into out (room for b - a bytes)."""
    cdef const uint8_t *table = sp.dec
    cdef int32_t esc = sp.esc
    cdef int64_t i = a, o = 0, run, semi, k, digits_len
    cdef uint8_t c, code
    cdef int kind, h1, h2
    cdef int32_t cp, low
    cdef uint32_t xcp
    cdef bint hexa, check_utf8 = False, ok
    cdef uint8_t dummy = 0
    while i < b:
        # copy the clean run in one go: most values hold no escape at all
        run = fastctx_scan(r, i, b, table, 0xFF, &dummy)
        if run > i:
            fastctx_copy(out + o, r + i, run - i)
            o += run - i
            i = run
            if i >= b:
                break
        c = r[i]
        kind = table[c]
        if kind == D_BAD:
            return fail(st, E_CHAR, slot, i)
        if kind == D_ODD:
            out[o] = c
            o += 1
            canon[0] = False
            i += 1
            continue
        if kind == D_XEF:
            if i + 3 <= b and r[i + 1] == 0xBF and (r[i + 2] == 0xBE or r[i + 2] == 0xBF):
                return fail(st, E_CHAR, slot, i)
            out[o] = c
            o += 1
            i += 1
            continue
        # an escape sequence
        if esc == ESC_JSON_STR or esc == ESC_JSON_BARE:
            if i + 1 >= b:
                return fail(st, E_ESCAPE, slot, i)
            code = r[i + 1]
            if code == 34 or code == 92:
                out[o] = code
                o += 1
                i += 2
            elif code == 110 or code == 114 or code == 116:
                out[o] = 10 if code == 110 else (13 if code == 114 else 9)
                o += 1
                i += 2
            elif code == 47 or code == 98 or code == 102:
                out[o] = 47 if code == 47 else (8 if code == 98 else 12)
                o += 1
                canon[0] = False
                i += 2
            elif code == 117:
                cp = hex4(r + i + 2) if i + 6 <= b else -1
                if cp < 0 or (cp >= 0xDC00 and cp <= 0xDFFF):
                    return fail(st, E_ESCAPE, slot, i)
                if cp >= 0xD800 and cp <= 0xDBFF:
                    low = -1
                    if i + 12 <= b and r[i + 6] == 92 and r[i + 7] == 117:
                        low = hex4(r + i + 8)
                    if low < 0xDC00 or low > 0xDFFF:
                        return fail(st, E_ESCAPE, slot, i)
                    xcp = 0x10000 + ((<uint32_t>(cp - 0xD800)) << 10) + <uint32_t>(low - 0xDC00)
                    o += put_utf8(out + o, xcp)
                    canon[0] = False
                    i += 12
                else:
                    if not (cp < 0x20 and cp != 9 and cp != 10 and cp != 13
                            and is_lower_hex(r[i + 2]) and is_lower_hex(r[i + 3])
                            and is_lower_hex(r[i + 4]) and is_lower_hex(r[i + 5])):
                        canon[0] = False
                    o += put_utf8(out + o, <uint32_t>cp)
                    i += 6
            else:
                return fail(st, E_ESCAPE, slot, i)
        elif esc == ESC_XML:
            semi = -1
            k = i + 1
            while k < b and k < i + 12:
                if r[k] == 59:
                    semi = k
                    break
                k += 1
            if semi < 0:
                return fail(st, E_ESCAPE, slot, i)
            k = semi - i - 1  # name length
            if k == 3 and memcmp(r + i + 1, b"amp", 3) == 0:
                out[o] = 38
                o += 1
            elif k == 2 and memcmp(r + i + 1, b"lt", 2) == 0:
                out[o] = 60
                o += 1
            elif k == 2 and memcmp(r + i + 1, b"gt", 2) == 0:
                out[o] = 62
                o += 1
            elif k == 4 and memcmp(r + i + 1, b"quot", 4) == 0:
                out[o] = 34
                o += 1
            elif k == 4 and memcmp(r + i + 1, b"apos", 4) == 0:
                out[o] = 39
                o += 1
            elif k >= 2 and r[i + 1] == 35:
                hexa = r[i + 2] == 120 or r[i + 2] == 88
                digits_len = k - (2 if hexa else 1)
                if digits_len <= 0:
                    return fail(st, E_ESCAPE, slot, i)
                xcp = 0
                for k in range(semi - digits_len, semi):
                    if hexa:
                        h1 = hex_value(r[k])
                    else:
                        h1 = r[k] - 48 if is_digit(r[k]) else -1
                    if h1 < 0:
                        return fail(st, E_ESCAPE, slot, i)
                    if xcp > 0x10FFFF:
                        xcp = 0x110000  # saturate: already out of range
                    else:
                        xcp = xcp * (16 if hexa else 10) + <uint32_t>h1
                if not is_xml_char(xcp):
                    return fail(st, E_ESCAPE, slot, i)
                o += put_utf8(out + o, xcp)
                # canonical only for &#9; &#10; &#13;
                ok = False
                if not hexa:
                    if semi - i == 3 and r[i + 2] == 57:
                        ok = True
                    elif semi - i == 4 and r[i + 2] == 49 and (r[i + 3] == 48 or r[i + 3] == 51):
                        ok = True
                if not ok:
                    canon[0] = False
            else:
                return fail(st, E_ESCAPE, slot, i)
            i = semi + 1
        else:  # CLF backslash escapes
            if i + 1 >= b:
                return fail(st, E_ESCAPE, slot, i)
            code = r[i + 1]
            if code == 92:
                out[o] = 92
                o += 1
                i += 2
            elif code == 34:
                out[o] = 34
                o += 1
                if sp.actions[34] != ACT_BACKSLASH:
                    canon[0] = False
                i += 2
            elif code == 120:
                if i + 4 > b:
                    return fail(st, E_ESCAPE, slot, i)
                h1 = hex_value(r[i + 2])
                h2 = hex_value(r[i + 3])
                if h1 < 0 or h2 < 0:
                    return fail(st, E_ESCAPE, slot, i)
                c = <uint8_t>(h1 * 16 + h2)
                out[o] = c
                o += 1
                if sp.actions[c] != ACT_HEX or not is_lower_hex(r[i + 2]) or not is_lower_hex(r[i + 3]):
                    canon[0] = False
                if c >= 0x80:
                    check_utf8 = True
                i += 4
            elif code == 110 or code == 114 or code == 116 or code == 98 or code == 118 or code == 102:
                if code == 110:
                    out[o] = 10
                elif code == 114:
                    out[o] = 13
                elif code == 116:
                    out[o] = 9
                elif code == 98:
                    out[o] = 8
                elif code == 118:
                    out[o] = 11
                else:
                    out[o] = 12
                o += 1
                canon[0] = False
                i += 2
            else:
                return fail(st, E_ESCAPE, slot, i)
    if check_utf8 and utf8_invalid_at(out, o, o) >= 0:
        return fail(st, E_UTF8, slot, a)
    outlen[0] = o
    return True


cdef inline bint token_ok(const uint8_t *v, int64_t n) noexcept nogil:
    """A token never holds whitespace or '"' (SPEC section 1), escaped or not."""
    cdef int64_t k
    cdef uint8_t c
    for k in range(n):
        c = v[k]
        if c == 32 or c == 34 or (c >= 9 and c <= 13):
            return False
    return True


cdef bint csv_unquote(State *st, const uint8_t *r, int64_t a, int64_t b, int32_t slot,
                      uint8_t *out, int64_t *outlen) noexcept nogil:
    cdef int64_t i, o = 0
    if b - a < 2 or r[b - 1] != 34:
        return fail(st, E_CSV, slot, a)
    i = a + 1
    while i < b - 1:
        if r[i] == 34:
            if i + 1 < b - 1 and r[i + 1] == 34:
                out[o] = 34
                o += 1
                i += 2
                continue
            return fail(st, E_CSV, slot, i)
        out[o] = r[i]
        o += 1
        i += 1
    outlen[0] = o
    return True


cdef bint decode_value(State *st, const uint8_t *r, int64_t a, int64_t b, const SlotC *sp,
                       int32_t slot, uint8_t *out, int64_t *outlen, int64_t *ival, int32_t *isnull,
                       bint *canon) noexcept nogil:
    """One value into out / ival; isnull set; canon cleared when not canonical."""
    cdef int32_t vtype = sp.vtype
    cdef bint numeric = vtype == VT_INT or vtype == VT_EPOCH_MS
    cdef bint ok = True, quoted_csv, c2
    cdef int64_t n, i
    isnull[0] = 0
    outlen[0] = 0
    if sp.form == FORM_JSON_BARE:
        if b - a == 4 and memcmp(r + a, b"null", 4) == 0:
            isnull[0] = 1
            return True
        if b > a and r[a] == 34:
            if b - a < 2 or r[b - 1] != 34:
                return fail(st, E_JSON, slot, a)
            if numeric:
                return fail(st, E_INT, slot, a)
            if vtype == VT_CLF_TIME:
                if not parse_time(st, r, a + 1, b - 1, slot, ival, &ok):
                    return False
                if not ok:
                    canon[0] = False
                return True
            if not decode_escaped(st, r, a + 1, b - 1, sp, slot, out, outlen, &ok):
                return False
            if vtype == VT_TOKEN and not token_ok(out, outlen[0]):
                return fail(st, E_CHAR, slot, a)
            if outlen[0] == 0:
                isnull[0] = 1
                canon[0] = False
                return True
            # text that is a number renders bare, but a `quoted` value always in quotes
            if not ok or (vtype != VT_QUOTED and is_json_number(out, outlen[0])):
                canon[0] = False
            return True
        if not is_json_number(r + a, b - a):
            return fail(st, E_JSON, slot, a)
        if numeric:
            if not parse_int(st, r, a, b, slot, ival, &ok):
                return False
            if not ok:
                canon[0] = False
            return True
        if vtype == VT_CLF_TIME:
            return fail(st, E_TIME, slot, a)
        if vtype == VT_QUOTED:
            canon[0] = False  # rendered as "200", not 200
        memcpy(out, r + a, <size_t>(b - a))
        outlen[0] = b - a
        return True
    if b - a == 1 and r[a] == 45:
        isnull[0] = 1
        return True
    if a == b:
        isnull[0] = 1
        canon[0] = False
        return True
    quoted_csv = sp.form == FORM_CSV and r[a] == 34
    if numeric or vtype == VT_CLF_TIME:
        if quoted_csv:
            # a number or a time never needs CSV quotes
            if not csv_unquote(st, r, a, b, slot, st.scratch, &n):
                return False
            canon[0] = False
            if numeric:
                ok = parse_int_full(st, st.scratch, 0, n, slot, ival, &c2)
            else:
                ok = parse_time_full(st, st.scratch, 0, n, slot, ival, &c2)
            if not ok:
                st.fail.column = a
                return False
        elif numeric:
            if not parse_int(st, r, a, b, slot, ival, &c2):
                return False
        else:
            if not parse_time(st, r, a, b, slot, ival, &c2):
                return False
        if not c2:
            canon[0] = False
        return True
    if sp.form == FORM_CSV:
        if quoted_csv:
            if not csv_unquote(st, r, a, b, slot, out, outlen):
                return False
            ok = False
            for i in range(outlen[0]):
                if out[i] == 44 or out[i] == 34 or out[i] == 13 or out[i] == 10:
                    ok = True
                    break
            if not ok:
                canon[0] = False
        else:
            for i in range(a, b):
                if sp.stop[r[i]]:
                    return fail(st, E_CHAR, slot, i)
            memcpy(out, r + a, <size_t>(b - a))
            outlen[0] = b - a
    elif sp.raw_quotes:
        # its quotes as they are around its escaped text: dropped, the text decoded
        if b - a < 2 or r[a] != 34 or r[b - 1] != 34:
            return fail(st, E_QUOTES, slot, a)
        if not decode_escaped(st, r, a + 1, b - 1, sp, slot, out, outlen, &ok):
            return False
        if not ok:
            canon[0] = False
    elif sp.plain or st.clean[slot]:
        memcpy(out, r + a, <size_t>(b - a))
        outlen[0] = b - a
    else:
        if not decode_escaped(st, r, a, b, sp, slot, out, outlen, &ok):
            return False
        if not ok:
            canon[0] = False
    if vtype == VT_TOKEN and not token_ok(out, outlen[0]):
        return fail(st, E_CHAR, slot, a)
    if vtype == VT_QUOTED and not sp.raw_quotes:
        n = outlen[0]
        if n < 2 or out[0] != 34 or out[n - 1] != 34:
            return fail(st, E_QUOTES, slot, a)
        if n > 2:
            memmove(out, out + 1, <size_t>(n - 2))  # drop the quotes
        outlen[0] = n - 2
    if outlen[0] == 0:
        isnull[0] = 1
        canon[0] = False
    return True


# -- records --------------------------------------------------------------------------------------

cdef inline int64_t record_end(const uint8_t *buf, int64_t size, int64_t pos, bint csv_quotes) noexcept nogil:
    cdef const void *hit
    if csv_quotes:
        return fastctx_csv_end(buf, size, pos)
    hit = memchr(buf + pos, 10, <size_t>(size - pos))
    return size if hit == NULL else <const uint8_t *>hit - buf


cdef inline int put_clean_text(State *st, const SlotC *sp, const uint8_t *r, int64_t a, int64_t b,
                               int64_t row, uint8_t bit, bint *canon) noexcept nogil:
    """A clean token or text ``r[a:b]`` into its column at ``row``: '-' is null, anything
    else is copied as it is. 1, or -1 when the column needs room."""
    cdef ColC *col = sp.col
    cdef int64_t size = b - a
    cdef int64_t start = col.values[row]
    if start + size + 16 > col.data_cap:
        st.need_col = sp.column
        st.need_bytes = start + size + 16
        return -1
    if size > 1 or (size == 1 and r[a] != 45):
        col.t_null = 0
        fastctx_copy(col.data + start, r + a, size)
        col.values[row + 1] = start + size
    else:
        if size == 0:
            canon[0] = False
        col.t_null = 1
        col.valid[row >> 3] |= bit
        col.values[row + 1] = start
    return 1


cdef inline bint put_number(State *st, const SlotC *sp, int32_t s, int32_t fast, const uint8_t *r,
                            int64_t a, int64_t b, int64_t row, uint8_t bit,
                            bint *canon) noexcept nogil:
    """An integer (``fast`` is ``FAST_INT``) or a CLF time (``FAST_TIME``) ``r[a:b]``, not a quoted CSV
    field, into its column at ``row``: '-' (or nothing) is null. False when it does not parse
    (``st.fail`` set)."""
    cdef ColC *col = sp.col
    cdef bint ok
    if b - a <= 1 and (a == b or r[a] == 45):
        if a == b:
            canon[0] = False
        col.t_null = 1
        col.valid[row >> 3] |= bit
        col.values[row] = 0
        return True
    if fast == FAST_INT:
        if not parse_int(st, r, a, b, s, col.values + row, &ok):
            return False
    elif not parse_time(st, r, a, b, s, col.values + row, &ok):
        return False
    if not ok:
        canon[0] = False
    col.t_null = 0
    return True


cdef inline int decode_into(State *st, const uint8_t *r, int64_t a, int64_t b, const SlotC *sp,
                            int32_t s, int64_t row, bint *canon) noexcept nogil:
    """The value ``r[a:b]`` of slot ``s`` through ``decode_value`` into its column at ``row``
    (string bytes straight into the column; a number through the scratch buffer): 1 stored,
    0 rejected (st.fail), -1 the column needs room."""
    cdef ColC *col = sp.col
    cdef int64_t start, outlen, ival
    cdef int32_t isnull
    cdef uint8_t *out
    if col.kind == KIND_STRING:
        start = col.values[row]
        if start + (b - a) > col.data_cap:
            st.need_col = sp.column
            st.need_bytes = start + (b - a)
            return -1
        out = col.data + start
    else:
        out = st.scratch
    if not decode_value(st, r, a, b, sp, s, out, &outlen, &ival, &isnull, canon):
        return 0
    if col.kind == KIND_STRING:
        # values[row] loaded again, not `start` kept across the call: keeping it live cost 43
        # instructions per CLF line in try_mode's loop (callgrind)
        col.values[row + 1] = col.values[row] + outlen
    else:
        col.values[row] = ival
    col.t_null = isnull
    if isnull:
        col.valid[row >> 3] |= <uint8_t>(1 << (row & 7))
    return 1


cdef int try_mode(State *st, const uint8_t *r, int64_t n, int32_t mode, bint *canon) noexcept nogil:
    """1 accepted (values written at row ``st.rows``), 0 rejected (st.fail), -1 a column needs
    room.

    Values go straight to their row: a string's bytes after the row's start offset
    (``values[row]``, the end of the row before) and its end offset to ``values[row + 1]``, an
    int to ``values[row]``, a null as a set bit in the validity buffer, which holds null bits
    until the run ends (``null_bits_to_validity``). Accepting a record is then ``rows += 1``;
    a rejected one leaves nothing but its null bits, which ``clear_row`` takes back. This
    replaced staging every value and committing each column per record (CLF: 2,570 -> 2,414
    instructions per line, callgrind).
    """
    cdef const SlotC *slots = st.slots + mode * st.nslots
    cdef const SlotC *sp
    cdef ColC *col
    cdef int32_t s
    cdef int64_t a, b, outlen, ival, start
    cdef int64_t row = st.rows
    cdef int32_t isnull, fast
    cdef int result
    cdef uint8_t bit = <uint8_t>(1 << (row & 7))
    if not (split_searched_fn(st, r, n, slots) if st.searching else split(st, r, n, slots)):
        return 0
    canon[0] = True
    for s in range(st.nslots):
        sp = slots + s
        col = sp.col
        a = st.sa[s]
        b = st.sb[s]
        fast = sp.fast
        if fast != FAST_DUP:
            if fast == FAST_COPY or (fast == FAST_STR and st.clean[s]):
                if put_clean_text(st, sp, r, a, b, row, bit, canon) < 0:
                    return -1
                continue
            if (fast == FAST_INT or fast == FAST_TIME) and (a == b or r[a] != 34):
                # as decode_value reads a number or a time that is not a quoted CSV field,
                # without its call and dispatch (CSV: two calls per line)
                if not put_number(st, sp, s, fast, r, a, b, row, bit, canon):
                    return 0
                continue
            result = decode_into(st, r, a, b, sp, s, row, canon)
            if result != 1:
                return result
        else:
            if not decode_value(st, r, a, b, sp, s, st.scratch, &outlen, &ival, &isnull, canon):
                return 0
            if isnull != col.t_null:
                return fail(st, E_DUP, s, a)
            if not isnull:
                if col.kind == KIND_STRING:
                    start = col.values[row]
                    if (outlen != col.values[row + 1] - start
                            or memcmp(st.scratch, col.data + start, <size_t>outlen) != 0):
                        return fail(st, E_DUP, s, a)
                elif ival != col.values[row]:
                    return fail(st, E_DUP, s, a)
    return 1


cdef inline int store_word(State *st, const SlotC *sp, int32_t s, const uint8_t *r, int64_t a,
                           int64_t b, bint clean, int64_t row, uint8_t bit,
                           bint *canon) noexcept nogil:
    """``try_mode``'s store of one value, for the slots ``_word_split_ok`` admits (the first
    use of an integer, a CLF time, or a token or text read by its stop scan): 1 stored, 0
    rejected, -1 the column needs room."""
    cdef int32_t fast = sp.fast
    if fast == FAST_INT or fast == FAST_TIME:
        # a value of a word holds no '"' (it is flagged), so it is not a quoted CSV field
        return 1 if put_number(st, sp, s, fast, r, a, b, row, bit, canon) else 0
    if fast == FAST_COPY or clean:
        return put_clean_text(st, sp, r, a, b, row, bit, canon)
    # decode_value copies a value its slot's clean flag marks: that flag may be left from
    # the last record the general path split
    st.clean[s] = 0
    return decode_into(st, r, a, b, sp, s, row, canon)


cdef int try_words(State *st, const uint8_t *r, int64_t n, const uint64_t *bw, int64_t nw,
                   bint *canon) noexcept nogil:
    """Mode 0 of a format whose values end at a flagged byte (``st.word_fast``: CLF's
    blank-separated values, JSON's quoted ones, XML's elements), read off the record's bits
    (``fastctx_word_record`` or ``fastctx_markup_record``): ``bw`` marks its flagged bytes.
    1 accepted, -1 a column needs room, 0 when the general path must decide. Each value is
    stored as soon as its span is known, as ``try_mode`` stores it after ``split``: the same
    spans, clean flags and values, so every record this accepts, the general path accepts
    alike.

    A forward slot's value ends at the first marked byte from its start and a backward
    slot's value starts after the last one before its end; when that byte is the first
    byte of the literal after it (the last byte of the literal before it) -- a space in
    CLF, '"' in JSON, '<' in XML -- the span is the value and it is clean.
    ``_word_split_ok`` checked that every byte a string slot's scans stop at or decode is
    flagged, and that the literal's byte is one of its stop bytes, so the general scan ends
    at that same byte and finds the value clean. When the byte is another one, the slot's
    general scan decides its span. A time reads its 26 bytes itself, an integer's span runs
    to the marked byte and is checked by ``parse_int`` (it rejects any byte that would have
    ended the general scan earlier, and the record then goes to the general path), and the
    slot left takes the middle. Every slot is its variable's first use, so the order of
    the stores (from both ends) does not matter.

    Split first and stored by ``try_mode``'s loop, CLF took 1,796 instructions per line
    (callgrind); stored here, 1,652. JSON and XML, split by ``split``: 1,997 and 2,282;
    here 1,747 and 2,030.
    """
    cdef const SlotC *slots = st.slots
    cdef int32_t nslots = st.nslots
    cdef const int64_t *lo = st.lit_off
    cdef int64_t first_len = lo[1] - lo[0]
    cdef int64_t last_len = lo[nslots + 1] - lo[nslots]
    cdef int64_t front = first_len, back = n - last_len, end, start, llen
    cdef int32_t i = 0, j = nslots - 1
    cdef const SlotC *sp
    cdef int64_t row = st.rows
    cdef uint8_t bit = <uint8_t>(1 << (row & 7))
    cdef bint clean
    cdef int result
    if (back < front or not fastctx_eq(r, st.pool + lo[0], first_len)
            or not fastctx_eq(r + back, st.pool + lo[nslots], last_len)):
        return 0
    canon[0] = True
    # from the left, while each slot finds its own end
    while i < j and slots[i].forward:
        sp = slots + i
        llen = sp.after_len
        clean = False
        if sp.form == FORM_TIME:
            # scan_forward_form's reading of a time, without its calls
            if back - front >= 26 and time_shape(r + front):
                st.time_seen = r + front
                end = front + 26
            elif front < back and r[front] == 45:
                end = front + 1
            else:
                return 0
            if end + llen > back or not fastctx_eq(r + end, sp.after, llen):
                return 0
        else:
            end = fastctx_next_bit(bw, nw, front)
            if end < 0 or end >= back:
                return 0
            if r[end] == sp.after[0]:
                # the literal starts with this byte: the rest of it is compared
                clean = True
                if end + llen > back or not (
                        same_bytes(r + end + 1, sp.after + 1, llen - 1) if llen <= 4
                        else fastctx_eq(r + end + 1, sp.after + 1, llen - 1)):
                    return 0
            elif sp.fast == FAST_INT:
                return 0  # not an integer (parse_int would reject the span)
            else:
                end = scan_forward(st, r, front, back, sp, i)
                if end < 0 or end + llen > back or not fastctx_eq(r + end, sp.after, llen):
                    return 0
                clean = st.clean[i]
        result = store_word(st, sp, i, r, front, end, clean, row, bit, canon)
        if result != 1:
            return result
        front = end + llen
        i += 1
    # from the right, while each slot finds its own start
    while j > i and slots[j].backward:
        sp = slots + j
        start = fastctx_prev_bit(bw, back) + 1 if back > 0 else 0
        if start < front:
            return 0
        llen = sp.before_len
        if start > front and r[start - 1] == sp.before[llen - 1]:
            # the literal ends with this byte: the rest of it is compared
            clean = True
            if start - llen < front or not (
                    same_bytes(r + start - llen, sp.before, llen - 1) if llen <= 4
                    else fastctx_eq(r + start - llen, sp.before, llen - 1)):
                return 0
        elif sp.fast == FAST_INT:
            return 0  # not an integer (parse_int would reject the span)
        else:
            start = scan_backward(st, r, front, back, sp, j)
            if (start < 0 or start - llen < front
                    or not fastctx_eq(r + start - llen, sp.before, llen)):
                return 0
            clean = st.clean[j]
        result = store_word(st, sp, j, r, start, back, clean, row, bit, canon)
        if result != 1:
            return result
        back = start - llen
        j -= 1
    # the slot left takes the rest (``_word_split_ok`` admits no plan with more than one)
    clean = (fastctx_marks_only(bw, r, front, back, st.word_mid)
             or fastctx_vfind(slots[i].vdec, r, front, back, st.rlim) == back)
    return store_word(st, slots + i, i, r, front, back, clean, row, bit, canon)


cdef int csv_quoted(State *st, const uint8_t *r, int64_t front, int64_t end, const SlotC *sp,
                    int32_t s, uint64_t *sw, bint *canon) noexcept nogil:
    """A quoted field of ``try_csv`` (only with CSV's own quoting: fastctx_csv_record leaves
    any other quote to the general path), read as the general path reads it. There, its
    span ends at its closing quote and the comma must follow; here, the span runs to the
    comma, and decode_value (the general path's decoder) rejects it unless it ends with the
    closing quote (fastctx_csv_record sent a quote after it to the general path). Out of
    line: inlined in the field loop, the call cost 100 instructions per line on records
    with no quoted field (callgrind)."""
    cdef int result
    fastctx_clear_bits(sw, front, end)
    result = decode_into(st, r, front, end, sp, s, st.rows, canon)
    return CSV_GENERAL if result == 0 else result


cdef int try_csv(State *st, const uint8_t *r, int64_t n, uint64_t *cw, uint64_t *sw,
                 int64_t nw, bint quoted, bint *canon) noexcept nogil:
    """Mode 0 of a comma-separated format (``st.csv_fast``) in one pass over the record's
    words (``fastctx_csv_record``): 1 accepted, -1 a column needs room, ``CSV_GENERAL``
    when the general path must decide (a field count off, a byte a string field does not
    hold as it is, a value that does not parse).

    Field ``s`` is the span before comma ``s`` (the commas inside quoted fields are not
    among them). A string field with no bit in ``sw`` (no byte its scan stops at or must
    decode) is what the general scan finds and copies; an integer or a time field is
    checked by its parser, a quoted field (``quoted``: the record has one) by the general
    decoder, and their bits of ``sw`` (the blank in a time) are cleared; any bit left at the
    end sends the record to the general path. So every record this accepts, the general
    path accepts with the same values and the same ``canon``. Instructions per line of the
    CSV preset (callgrind, 100,000 lines of which 14% hold a quoted field): 2,265 -> 1,577;
    1,396 over the records without one.
    """
    cdef const SlotC *slots = st.slots
    cdef const SlotC *sp
    cdef int32_t s, fast, nslots = st.nslots
    cdef int64_t front = 0, end = 0, w = 0
    cdef int64_t row = st.rows
    cdef uint8_t bit = <uint8_t>(1 << (row & 7))
    cdef uint64_t commas
    cdef uint64_t left = 0
    cdef int result
    # a comma at n ends the last field: every field ends at the next comma (n is before the
    # record's newline, which is in the last word)
    cw[n >> 6] |= <uint64_t>1 << (n & 63)
    commas = cw[0]  # the commas of word w not yet taken
    canon[0] = True
    for s in range(nslots):
        sp = slots + s
        fast = sp.fast
        while commas == 0:
            w += 1
            if w >= nw:
                return CSV_GENERAL  # too few fields
            commas = cw[w]
        end = (w << 6) + fastctx_ctz64(commas)
        commas &= commas - 1
        if quoted and front < end and r[front] == 34:
            result = csv_quoted(st, r, front, end, sp, s, sw, canon)
            if result != 1:
                return result
        elif fast == FAST_COPY or fast == FAST_STR:
            if put_clean_text(st, sp, r, front, end, row, bit, canon) < 0:
                return -1
        else:
            if end > front:
                fastctx_clear_bits(sw, front, end)
            if not put_number(st, sp, s, fast, r, front, end, row, bit, canon):
                return CSV_GENERAL
        front = end + 1
    if end != n:
        return CSV_GENERAL  # a field too many
    # a byte of the set left is in a string field
    for w in range(nw):
        left |= sw[w]
    return CSV_GENERAL if left else 1


cdef inline int32_t error_slot(Fail f) noexcept nogil:
    """The slot of an error: a literal not found is the one after slot ``index - 1``."""
    return f.index - 1 if f.code == E_LITERAL else f.index


cdef int32_t later_target(State *st, const SlotC *slots, int32_t below) noexcept nogil:
    """The slot whose split the retries of a record ``try_mode`` just rejected move to later
    occurrences of its literal, or -1 (no retry): the last slot before ``below``, and at or
    before the error's, that ``split`` resolves by search (a slot of the middle that does not
    find its own end). The values from it to the error were all placed by that split: one it
    cut short, or typed values after it that do not parse (``a,5,4,<time>,r`` read by
    ``routeKey,status,requestTime,...`` leaves the time ``4,10/...``). When those retries find
    nothing, the one before it is tried the same way (``below``: the slot just tried), as a
    value may be wrong for the split before it: ``a<b<92-r`` read by ``routeKey<status-...``
    leaves the status ``b<92``, whose own split has no later ``-``. The leftmost split still
    wins wherever it gives a valid record, and ``retry_later`` bounds the retries, so the
    work stays linear. The CSV preset in ``none`` mode reads ``1.2.3.4,c, "x,y",u,-,...``
    with the caller ``c`` and the user `` "x,y",u`` (the time after the user takes no
    comma)."""
    cdef int32_t code = st.fail.code
    if code == E_PREFIX or code == E_SUFFIX or code == E_UTF8:
        return -1
    return middle_target(st, slots, error_slot(st.fail), below)


cdef int32_t middle_target(State *st, const SlotC *slots, int32_t slot, int32_t below) noexcept nogil:
    """``later_target`` for a value in ``slot``: the last slot before ``below``, and at or
    before ``slot``, that ``split`` resolves by search, or -1."""
    cdef int32_t i = 0, j = st.nslots - 1, k
    if slot < 0:
        return -1
    # the middle as split finds it (it depends on the plan alone)
    while i < j and slots[i].forward:
        i += 1
    while j > i and slots[j].backward:
        j -= 1
    k = slot if slot < j else j - 1
    if k >= below:
        k = below - 1
    while k >= i:
        if not slots[k].forward and slots[k].after_len > 0:
            return k
        k -= 1
    return -1


cdef inline bint retry_later(State *st) noexcept nogil:
    """Whether the try just rejected is followed by one more (see ``later_target``): while its
    error lies in the slot whose split it moves or the next one, or in a slot after the last
    try's error (a later split may leave a value further on wrong that a later one still
    leaves right: the CSV preset in ``none`` mode, ``1.2.3.4,c, "a,b" <x&y>,-,<time>,...``).
    A record of another format is still tried up to 33 times in all: JSON or CLF lines read
    with the WebSocket CSV preset in ``none`` mode were rejected 6-8x slower than with a
    retry of the first split for an error in its slot or the next only, which rejected 2.4%
    of the preset's own lines."""
    cdef int32_t code = st.fail.code
    cdef int32_t slot = error_slot(st.fail)
    cdef bint again = (st.later_slot >= 0 and st.later < LATER_SPLITS
                       and (st.later_slot <= slot <= st.later_slot + 1 or slot > st.later_err
                            or (code == E_DUP and slot > st.later_slot))
                       and code != E_PREFIX and code != E_SUFFIX and code != E_UTF8)
    st.later_err = slot
    return again


cdef int later_splits(State *st, const uint8_t *r, int64_t n, int32_t mode,
                      bint *canon) noexcept nogil:
    """The retries of a record ``try_mode`` rejected: later splits of ``st.later_slot`` while
    ``retry_later`` lets them go on. In mode 0 a split read in a form fastctx never writes
    does not end them: the first one read in canonical form is taken, else the first that
    was read at all (``$context.error.messageString $context.requestId"$context.identity.
    userAgent`` reads `` " a" " -"-`` as the message `` a" `` and two nulls, not the message
    `` a`` and an empty requestId). 1 accepted, 0 rejected, -1 a column needs room."""
    cdef int32_t first = 0, slot = st.later_slot
    cdef int result
    while True:
        clear_row(st)
        st.later += 1
        result = try_mode(st, r, n, mode, canon)
        if result < 0 or (result == 1 and (mode > 0 or canon[0])):
            return result
        if result == 1:  # not in canonical form: a later split may be
            if first == 0:
                first = st.later
            if st.later >= LATER_SPLITS:
                break
        elif not retry_later(st):
            break
    if first == 0:
        return 0
    clear_row(st)
    st.later = first
    st.later_slot = slot  # (a split with no occurrence left clears it)
    return try_mode(st, r, n, mode, canon)


cdef int canonical_split(State *st, const uint8_t *r, int64_t n, bint *canon) noexcept nogil:
    """A record whose leftmost split mode 0 accepted with a value not in canonical form, read
    again for the canonical one: the first later split of the slot that placed that value
    (``middle_target`` of it, which must be that slot or the one before), then of the one
    before that, where every value is canonical, else the leftmost again. ``r "" a" k`` read by ``$context.requestId
    $context.error.messageString $context.routeKey``: the leftmost split leaves the message
    ``""`` (null, which renders ``-``) and the route ``a" k``; the next one ``" a`` and ``k``,
    the values fastctx wrote it from (SPEC 4: a canonical record reads back to itself). The
    retries go on as ``retry_later`` lets those of a rejected record, so the work stays
    bounded; a record no split of the middle places pays nothing. 1 accepted, -1 a column
    needs room."""
    cdef const SlotC *slots = st.slots
    cdef const SlotC *sp
    cdef int32_t s, odd = -1, target
    cdef int64_t outlen, ival
    cdef int32_t isnull
    cdef bint ok
    cdef int result
    if middle_target(st, slots, st.nslots - 1, st.nslots) < 0:
        return 1  # no split is searched: there is no other one
    # the leftmost split again, for its spans (try_words and try_csv leave none)
    clear_row(st)
    st.later = 0
    st.later_slot = -1
    result = try_mode(st, r, n, 0, canon)
    if result != 1 or canon[0]:
        return result
    for s in range(st.nslots):
        ok = True
        if not decode_value(st, r, st.sa[s], st.sb[s], slots + s, s, st.scratch, &outlen, &ival,
                            &isnull, &ok):
            return 1  # (as try_mode read it: not reached)
        if not ok:
            odd = s
            break
    target = middle_target(st, slots, odd, st.nslots)
    if target < 0 or odd > target + 1 or slots[odd].form == FORM_TIME:
        # that value is not one a split placed (a CLF time's span is its shape's, so its
        # offset is not canonical wherever it starts): the row stands
        return 1
    # that split, then the one before it (`a "" - -` read by `userAgent
    # error.messageString routeKey`: the agent is `a ""`, the message and the route null)
    for _ in range(2):
        sp = slots + target
        # (spans of the leftmost split: its literal occurring no further on, it has no later)
        if find_split(r, st.sa[target], n, sp.after, sp.after_len, sp.skip, st.sb[target] + 1) >= 0:
            st.later_slot = target
            st.later = 0
            st.later_err = odd
            result = later_splits(st, r, n, 0, canon)
            if result < 0 or (result == 1 and canon[0]):
                return result
            # the spans of the leftmost split again, for the one before
            clear_row(st)
            st.later = 0
            st.later_slot = -1
            result = try_mode(st, r, n, 0, canon)
            if result != 1:
                return result  # (not reached: it was accepted, and columns only grow)
        target = middle_target(st, slots, odd, target)
        if target < 0:
            break
    return 1  # the leftmost split's row, written again


cdef void clear_row(State *st) noexcept nogil:
    """Take back the null bits a record that was not accepted wrote at row ``st.rows``."""
    cdef int32_t c
    cdef uint8_t keep = <uint8_t>~(1 << (st.rows & 7))
    for c in range(st.ncols):
        st.cols[c].valid[st.rows >> 3] &= keep


cdef extern from *:
    """
    static CYTHON_INLINE int fastctx_popcount64(uint64_t w) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_popcountll(w);
    #else
        w = w - ((w >> 1) & 0x5555555555555555ULL);
        w = (w & 0x3333333333333333ULL) + ((w >> 2) & 0x3333333333333333ULL);
        w = (w + (w >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
        return (int)((w * 0x0101010101010101ULL) >> 56);
    #endif
    }
    """
    int fastctx_popcount64(uint64_t w) noexcept nogil


cdef int64_t null_bits_to_validity(uint8_t *bits, int64_t rows) noexcept nogil:
    """Turn the kernel's null bits for ``rows`` rows into an Arrow validity bitmap in place
    (bits past the last row stay zero, as the join expects); returns the null count."""
    cdef int64_t nbytes = (rows + 7) // 8, k, nulls = 0
    cdef uint64_t w
    k = 0
    while k + 8 <= nbytes:
        memcpy(&w, bits + k, 8)
        nulls += fastctx_popcount64(w)
        w = ~w
        memcpy(bits + k, &w, 8)
        k += 8
    while k < nbytes:
        nulls += fastctx_popcount64(bits[k])
        bits[k] = <uint8_t>~bits[k]
        k += 1
    if rows & 7:
        # the last byte's bits past the last row were 0 and are now 1: back to 0
        bits[nbytes - 1] &= <uint8_t>((1 << (rows & 7)) - 1)
    return nulls


cdef int add_reject(State *st, int64_t start, int64_t length) noexcept nogil:
    cdef RejectC *fresh
    cdef int64_t cap
    if st.nrejects == st.rejects_cap:
        cap = 16 if st.rejects_cap == 0 else st.rejects_cap * 2
        fresh = <RejectC *>realloc(st.rejects, <size_t>cap * sizeof(RejectC))
        if fresh == NULL:
            return -1
        st.rejects = fresh
        st.rejects_cap = cap
    st.rejects[st.nrejects].line = st.line
    st.rejects[st.nrejects].start = start
    st.rejects[st.nrejects].length = length
    st.rejects[st.nrejects].code = st.fail.code
    st.rejects[st.nrejects].index = st.fail.index
    st.rejects[st.nrejects].column = st.fail.column
    st.nrejects += 1
    return 0


cdef int grow_scratch(State *st, int64_t n) noexcept nogil:
    """The scratch holds one decoded value, never longer than its record."""
    cdef int64_t cap = n if n > 2 * st.scratch_cap else 2 * st.scratch_cap
    cdef uint8_t *fresh = <uint8_t *>realloc(st.scratch, <size_t>cap)
    if fresh == NULL:
        return -1
    st.scratch = fresh
    st.scratch_cap = cap
    return 0


cdef bint csv_well_formed(const uint8_t *r, int64_t n) noexcept nogil:
    """True when every field of the CSV record ``r[:n]`` that starts with '"' is closed by a
    '"' that is not doubled, right before a ',' or the end (``_reference_parse``'s, and
    ``io._cut`` frames records by the same rule)."""
    cdef int64_t i = 0
    while i < n:
        if r[i] == 34:
            i = csv_quoted_end(r, i, n)
            if i < 0:
                return False  # never closed
            if i < n and r[i] != 44:
                return False  # the closing quote is not the field's end
        while i < n and r[i] != 44:  # the rest of an unquoted field
            i += 1
        i += 1  # past the comma: a field starts
    return True


cdef int run(State *st) noexcept nogil:
    """Parse records from st.pos on; returns an ST_* status (resumable after a grow)."""
    cdef const uint8_t *buf = st.buf
    cdef int64_t size = st.size
    cdef int64_t pos, end, n, k, bad, lines
    cdef const uint8_t *r
    cdef int32_t mode, below, tries
    cdef int result
    cdef bint canon, have_fail
    cdef const uint8_t *newline  # a multi-line CSV record's first newline
    cdef Fail first_fail, mode_fail
    cdef uint64_t cw[CSV_WORDS]
    cdef uint64_t sw[CSV_WORDS]
    cdef int64_t nw = 0
    cdef int quoted = 0
    cdef int high = 1
    while st.pos < size:
        if st.rows >= st.row_cap:
            return ST_NEED_ROWS
        pos = st.pos
        if st.csv_fast:
            quoted = 0
            nw = fastctx_csv_record(st.csv_set, buf + pos, size - pos, CSV_WORDS, st.csv_quotes,
                                    cw, sw, &n, &quoted)
        elif st.word_fast == WORDS_PLAIN:
            # cw: the record's flagged bytes (try_words)
            nw = fastctx_word_record(buf + pos, size - pos, CSV_WORDS, cw, &n, &high)
        elif st.word_fast == WORDS_MARKUP:
            nw = fastctx_markup_record(buf + pos, size - pos, CSV_WORDS, cw, &n, &high)
        if nw:
            end = pos + n  # the newline that ends the record
        else:
            end = record_end(buf, size, pos, st.csv_quotes)
            n = end - pos
        if end >= size and st.more_input:
            return ST_NEED_INPUT  # this record is redone with more input, or as the last
        st.tail_open = end >= size
        if end < size and n > 0 and buf[end - 1] == 13:
            n -= 1
        newline = NULL
        if st.csv_quotes and (nw == 0 or quoted) and (end < size or not st.data_cut) and n > 0:
            newline = <const uint8_t *>memchr(buf + pos, 10, <size_t>n)
        if newline != NULL and not csv_well_formed(buf + pos, n):
            # A quoted field holds the newline, but the record's quoting is not well-formed:
            # the quote was a stray one (a raw line's `"`), and the record is its first line.
            # Read as one record, an unescaped retry joined the lines after it (SPEC 4: an
            # unescaped record is one line). Not where the data ends before the input does: the
            # field may close further on (a lane before the last; its caller parses again).
            end = newline - buf
            n = end - pos
            if n > 0 and buf[end - 1] == 13:
                n -= 1
            nw = 0
            st.tail_open = False
        if nw and st.csv_fast:
            # (try_words looks at no bit past its record's last value)
            fastctx_clear_from(cw, nw, n)
            fastctx_clear_from(sw, nw, n)
        r = buf + pos
        st.rlim = size - pos
        st.rlow = -pos
        if n == 0:
            st.empty += 1
        else:
            have_fail = False
            result = 0
            # ASCII input (the common case) is checked ahead in windows of ASCII_AHEAD bytes,
            # not record by record: 2,800 -> 2,690 instructions per CLF line (callgrind). The
            # blank-split record pass notes whether the words it read hold a byte >= 0x80
            # (``high``); when none does, there is nothing to check (CLF 1,538 -> 1,515)
            bad = -1
            if high:
                if pos + n > st.ascii_until:
                    k = pos if pos > st.ascii_until else st.ascii_until
                    st.ascii_until = fastctx_ascii_run(buf, k, min(size, k + ASCII_AHEAD), size)
                if pos + n > st.ascii_until:
                    bad = utf8_invalid_at(r, n, size - pos)
            if bad >= 0:
                fail(st, E_UTF8, -1, bad)
                first_fail = st.fail
                have_fail = True
            else:
                if n > st.scratch_cap and grow_scratch(st, n) < 0:
                    return ST_NOMEM
                mode = 0
                if nw:
                    if st.csv_fast:
                        result = try_csv(st, r, n, cw, sw, nw, quoted, &canon)
                    else:
                        result = try_words(st, r, n, cw, nw, &canon)
                    st.fast_rows += result == 1
                    if result == 1 and not canon:
                        result = canonical_split(st, r, n, &canon)
                    if result < 0:
                        clear_row(st)
                        return ST_NEED_DATA  # this record is redone after the grow
                    if result != 1:
                        clear_row(st)
                        result = 0
                for mode in range(st.nmodes if result != 1 else 0):
                    st.later = 0
                    st.later_slot = -1
                    result = try_mode(st, r, n, mode, &canon)
                    if result == 1 and mode == 0 and not canon:
                        result = canonical_split(st, r, n, &canon)
                    if result == 0:
                        mode_fail = st.fail  # the leftmost split's error is the one reported
                        below = st.nslots
                        # the split before the error, then the one before; for a later use of
                        # a variable not repeating its first, every one before it
                        for tries in range(st.nslots if mode_fail.code == E_DUP else 2):
                            st.fail = mode_fail
                            st.later_slot = later_target(st, st.slots + mode * st.nslots, below)
                            if st.later_slot < 0:
                                break
                            below = st.later_slot
                            st.later = 0
                            # progress is an error after the leftmost split's
                            st.later_err = error_slot(mode_fail)
                            result = later_splits(st, r, n, mode, &canon)
                            if result != 0:
                                break
                        if (result == 0 and st.searchable[mode] and mode_fail.code != E_PREFIX
                                and mode_fail.code != E_SUFFIX):
                            # the last resort: a search for the leftmost split whose values
                            # all hold only their own bytes, in their shape (search_middle)
                            clear_row(st)
                            st.searching = 1
                            st.later_slot = -1
                            result = try_mode(st, r, n, mode, &canon)
                            st.searching = 0
                        if result == 0:
                            st.fail = mode_fail
                    if result == 1:
                        break
                    clear_row(st)
                    if result < 0:
                        return ST_NEED_DATA  # this record is redone after the grow
                    if not have_fail or error_slot(st.fail) > error_slot(first_fail):
                        # the mode whose error lies in a later value names it: a raw line's
                        # quote stops the escaped mode, its unescaped retry finds the bad value
                        first_fail = st.fail
                        have_fail = True
            if result == 1:
                st.rows += 1
                st.accepted += 1
                if mode > 0 or not canon:
                    st.normalized += 1
            else:
                st.fail = first_fail
                st.rejected += 1
                if st.stop_at_reject or st.keep_rejects:
                    if add_reject(st, pos, n) < 0:
                        st.rejected -= 1
                        return ST_NOMEM
                    if st.stop_at_reject:
                        st.records += 1
                        return ST_DONE
        st.records += 1
        # the next record's line: one line per newline, newlines inside CSV quotes included
        lines = 1
        if (nw == 0 or quoted) and st.csv_quotes and end > pos and memchr(buf + pos, 10, <size_t>(end - pos)) != NULL:
            k = pos
            while k < end:
                if buf[k] == 10:
                    lines += 1
                k += 1
        st.line += lines
        st.pos = end + 1
    return ST_DONE


#: The kernel's view of the plan and program enums, for a test that checks they agree.
ENUMS = {
    "form": {"STOP": FORM_STOP, "TIME": FORM_TIME, "JSON_BARE": FORM_JSON_BARE, "CSV": FORM_CSV},
    "decode": {"COPY": D_COPY, "BAD": D_BAD, "ESC": D_ESC, "ODD": D_ODD, "XEF": D_XEF},
    "esc": {"NONE": ESC_NONE, "JSON_STR": ESC_JSON_STR, "JSON_BARE": ESC_JSON_BARE, "XML": ESC_XML,
            "CSV": ESC_CSV, "CLF_QUOTED": ESC_CLF_QUOTED, "CLF_BRACKET": ESC_CLF_BRACKET,
            "CLF_BARE": ESC_CLF_BARE, "CLF_QUOTED_TOKEN": ESC_CLF_QUOTED_TOKEN},
    "vtype": {"INT": VT_INT, "EPOCH_MS": VT_EPOCH_MS, "CLF_TIME": VT_CLF_TIME, "TOKEN": VT_TOKEN,
              "TEXT": VT_TEXT, "QUOTED": VT_QUOTED},
    "error": {"PREFIX": E_PREFIX, "SUFFIX": E_SUFFIX, "LITERAL": E_LITERAL, "INT": E_INT,
              "RANGE": E_RANGE, "TIME": E_TIME, "ESCAPE": E_ESCAPE, "CHAR": E_CHAR,
              "QUOTES": E_QUOTES, "UTF8": E_UTF8, "DUP": E_DUP, "JSON": E_JSON, "CSV": E_CSV},
    "action": {"COPY": ACT_COPY, "BACKSLASH": ACT_BACKSLASH, "HEX": ACT_HEX},
}


#: The comma-split and blank-split paths (``try_csv``, ``try_words``) are built where SSE2
#: is (every x86-64 CPU); elsewhere the general path reads every record.
FAST_PATHS = bool(FASTCTX_HAVE_SSE2)
cdef Py_ssize_t PAGE = MAP_PAGE


cdef class _Buffer:
    """Output memory the kernel fills, handed to numpy at the end without a copy.

    Small buffers are ``realloc``'ed; large ones are anonymous mappings grown with
    ``mremap`` (see ``_memory.pxd``), taken from the pool of dropped mappings where one fits
    and given back to it when dropped. New bytes are not written (numpy's ``resize``
    zero-fills them, which made every page of the spare capacity resident: the parse peak
    was 1.25x the output). Only validity bitmaps ask for zeroed growth. ``array`` shrinks a
    block much larger than its final size and returns a numpy view that keeps this object
    alive.
    """

    cdef char *ptr
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t cap      # bytes mapped (a multiple of PAGE) when mapped
    cdef bint mapped
    cdef Py_ssize_t shape[1]
    cdef bint zero
    cdef bint frozen

    def __cinit__(self, Py_ssize_t nbytes, bint zero=False):
        self.ptr = NULL
        self.nbytes = 0
        self.cap = 0
        self.mapped = False
        self.zero = zero
        self.frozen = False
        self.resize(nbytes)

    cdef int resize(self, Py_ssize_t nbytes) except -1:
        cdef char *fresh
        cdef Py_ssize_t cap, keep, got = 0
        cdef int k
        if self.frozen:
            raise RuntimeError("buffer already exported")
        if nbytes < 1:
            nbytes = 1
        if self.mapped or (FASTCTX_CAN_MAP and nbytes >= map_min()):
            cap = (nbytes + PAGE - 1) // PAGE * PAGE
            if self.mapped:
                if cap > self.cap:
                    k = pool_take(cap, &got, False)
                    if k >= 0:
                        # a pooled mapping that holds the new size: copying into pages the
                        # process holds is cheaper than faulting in new ones
                        fresh = <char *>pool_pop(k)
                        memcpy(fresh, self.ptr, <size_t>self.nbytes)
                        pool_give(self.ptr, self.cap)
                        self.ptr = fresh
                        self.cap = cap = got
                    else:
                        fresh = <char *>map_grow(self.ptr, <size_t>self.cap, <size_t>cap)
                        if fresh == NULL:
                            raise MemoryError(f"cannot allocate {nbytes} bytes for a parsed column")
                        self.ptr = fresh
                else:
                    cap = self.cap  # a pooled mapping keeps its size
                # bytes of the old pages past the old size may hold data; new pages are zero
                if self.zero and nbytes > self.nbytes:
                    keep = min(nbytes, self.cap)
                    if keep > self.nbytes:
                        memset(self.ptr + self.nbytes, 0, <size_t>(keep - self.nbytes))
                self.cap = cap
                held_change(nbytes - self.nbytes)
                self.nbytes = nbytes
                return 0
            fresh = <char *>pool_fetch(cap, &got)
            if fresh != NULL:
                if self.zero:
                    memset(fresh, 0, <size_t>min(nbytes, got))
            else:
                fresh = <char *>map_new(<size_t>cap, 1)
                got = cap
            if fresh != NULL:
                if self.ptr != NULL:
                    memcpy(fresh, self.ptr, <size_t>min(self.nbytes, nbytes))
                    free(self.ptr)
                self.ptr = fresh
                self.cap = got
                self.mapped = True
                held_change(nbytes - self.nbytes)
                self.nbytes = nbytes
                return 0
        fresh = <char *>realloc(self.ptr, <size_t>nbytes)
        if fresh == NULL:
            raise MemoryError(f"cannot allocate {nbytes} bytes for a parsed column")
        if self.zero and nbytes > self.nbytes:
            memset(fresh + self.nbytes, 0, <size_t>(nbytes - self.nbytes))
        self.ptr = fresh
        held_change(nbytes - self.nbytes)
        self.nbytes = nbytes
        return 0

    cdef object array(self, dtype, Py_ssize_t count):
        cdef Py_ssize_t size, cap
        cdef char *fresh
        itemsize = np.dtype(dtype).itemsize
        size = count * itemsize
        self.resize(size)
        if self.mapped:
            # give back the spare capacity of a block more than twice its content (a pooled
            # one, or an estimate far off). Not less: a pooled block that a smaller column
            # took came back shrunk, the column it was sized for grew another block into new
            # pages, and in a loop of parses of one size that went on for good (2 threads,
            # 1M CLF lines after other work: 340 page faults a call, joins of median 10.5 ms;
            # with 2x, none and 4.8-5.3 ms).
            cap = max(PAGE, (size + PAGE - 1) // PAGE * PAGE)
            if self.cap > 2 * cap:
                fresh = <char *>fastctx_remap(self.ptr, <size_t>self.cap, <size_t>cap)
                if fresh != NULL:
                    self.ptr = fresh
                    self.cap = cap
        self.frozen = True
        return np.frombuffer(self, dtype=dtype, count=count)

    def __getbuffer__(self, Py_buffer *view, int flags):
        self.shape[0] = self.nbytes
        view.buf = self.ptr
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = b"B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        held_change(-self.nbytes)
        if self.mapped:
            pool_give(self.ptr, self.cap)
        else:
            free(self.ptr)


def _kept_after_array(Py_ssize_t capacity, Py_ssize_t size):
    """The bytes a mapped column buffer of ``capacity`` bytes keeps once handed out as an
    array of ``size`` bytes (for tests; 0 if the buffer is not mapped)."""
    cdef _Buffer buffer = _Buffer(capacity)
    buffer.array(np.uint8, size)
    return buffer.cap if buffer.mapped else 0


# -- the wrapper ----------------------------------------------------------------------------------

# sizeof(fastctx_vset): four int32 then 16 entries of 16 bytes
VSET_SIZE = 16 + 16 * 16
_VSET_SINGLES = 8
_VSET_RANGES = 4


def _vector_entries(members):
    """``(usable, tier, singles, ranges)`` of a byte set: runs of one byte become single
    bytes and longer runs ranges (``(start, width)``)."""
    singles, ranges = [], []
    k = 0
    while k < 256:
        if not members[k]:
            k += 1
            continue
        start = k
        while k < 256 and members[k]:
            k += 1
        (singles.append(start) if k - start == 1 else ranges.append((start, k - 1 - start)))
    if len(singles) > _VSET_SINGLES or len(ranges) > _VSET_RANGES:
        return False, 4, [], []
    tier = (0 if not singles and not ranges else
            1 if len(singles) <= 2 and len(ranges) <= 1 else
            2 if len(singles) <= 4 and len(ranges) <= 2 else 3)
    return True, tier, singles, ranges


# Bytes rare in access logs that a forward scan's set may take in addition to its own
# when that makes it smaller: control characters, '!' and DEL.
_RARE = [set(range(0x20)), {0x21}, {0x7F}]


def vector_set(members, relax=False) -> bytes:
    """A 256-entry table (nonzero = member) as the kernel's ``fastctx_vset`` bytes.

    Runs of one byte become single bytes and longer runs ranges. When the complement takes
    fewer tests, the entries hold the complement and ``invert`` flips the mask. A set with
    more of either than the struct holds (and whose complement does too) is marked
    unusable, and the kernel uses the table for it.

    ``relax``: the set may be a superset of ``members`` made of rare bytes (``_RARE``) when
    that puts it in a smaller tier. Only for the forward scan, which checks every byte it
    stops at against its table and goes on past the extra ones: the CSV fields' set
    (LF, CR, '"', ',') takes VT and FF and becomes one range and two bytes. Instructions
    per line (callgrind): CLF 2,680 -> 2,647, CSV 2,853 -> 2,657.
    """
    members = [bool(x) for x in members]
    usable, tier, singles, ranges = _vector_entries(members)
    if relax and usable and tier > 1:
        for pick in range(1, 1 << len(_RARE)):
            extra = set().union(*(_RARE[k] for k in range(len(_RARE)) if pick >> k & 1))
            wider = [member or byte in extra for byte, member in enumerate(members)]
            result = _vector_entries(wider)
            if result[0] and 0 < result[1] < tier:
                usable, tier, singles, ranges = result
    invert = 0
    if tier > 1:
        c_usable, c_tier, c_singles, c_ranges = _vector_entries([not x for x in members])
        if c_usable and 0 < c_tier < tier:
            usable, tier, singles, ranges, invert = True, c_tier, c_singles, c_ranges, 0xFFFF
    if not usable:
        tier = -1
    if singles or ranges:
        # the kernel tests a fixed number of entries: the unused ones repeat a member
        count_singles, count_ranges = len(singles), len(ranges)
        singles = singles + [singles[0] if singles else ranges[0][0]] * (_VSET_SINGLES - count_singles)
        ranges = ranges + [ranges[0] if ranges else (singles[0], 0)] * (_VSET_RANGES - count_ranges)
    out = bytearray(VSET_SIZE)
    out[0:16] = np.array([len(singles), invert, int(usable), tier], dtype=np.int32).tobytes()
    for index, byte in enumerate(singles):
        out[16 + 16 * index: 32 + 16 * index] = bytes([byte]) * 16
    for index, (lo, width) in enumerate(ranges):
        base = 16 + 16 * (_VSET_SINGLES + index)
        out[base: base + 16] = bytes([lo]) * 16
        base += 16 * _VSET_RANGES
        out[base: base + 16] = bytes([width]) * 16
    return bytes(out)


# What a value of an integer or a CLF time can hold and still parse (``parse_int``,
# ``parse_time``): a scan set that holds none of these never ends such a value early.
_INT_BYTES = b"0123456789-"
_TIME_BYTES = b"0123456789-+/: JFMASONDabceglnoprtuvy"


def _csv_split_set(ints, comb, decode, literals):
    """The ``fastctx_vset`` bytes of the set ``try_csv`` checks string fields against, or
    None when mode 0 is not a row of comma-separated fields it can read.

    It can when the literals are ``,`` between the slots and nothing around them, and every
    slot is the first use of its variable and read on a fast path: a token or text (copied
    when clean), an integer or a CLF time (checked by its parser), each ended by a comma
    (every slot but the last scans forward with ``,`` as a stop byte). The set is every
    byte but ``,`` that the string slots' scans stop at or must decode: a string field free
    of them and of commas is a value the general scan reads the same way.
    """
    nslots = comb.shape[1]
    # (no negative indices: this module turns wraparound off)
    if nslots == 0 or literals[0] or literals[nslots] or any(
            literals[k] != b"," for k in range(1, nslots)):
        return None
    members = np.zeros(256, dtype=bool)
    for s in range(nslots):
        form, vtype, first, forward = ints[0, s, 4], ints[0, s, 2], ints[0, s, 1], ints[0, s, 6]
        if not first or form not in (FORM_CSV, FORM_STOP):
            return None
        if s + 1 < nslots and not (forward and comb[0, s, 0x2C] & 1):
            return None
        scanned = (comb[0, s] & 3) != 0
        if vtype in (VT_TOKEN, VT_TEXT):
            clean = scanned if form == FORM_CSV else decode[0, s] != 0
            members |= scanned | clean
        elif vtype in (VT_INT, VT_EPOCH_MS, VT_CLF_TIME):
            held = _TIME_BYTES if vtype == VT_CLF_TIME else _INT_BYTES
            if any(scanned[b] for b in held):
                return None
        else:
            return None
    members[0x2C] = False
    members[0x0A] = members[0x22] = True  # how fastctx_csv_record finds the record's end
    usable, _, _, _ = _vector_entries(members)
    return vector_set(members) if usable else None


# What the record passes of ``try_words`` flag: ``fastctx_word_record`` the controls, the
# space, '!', '"', DEL, every byte >= 0x80 and the backslash; ``fastctx_markup_record`` the
# same but the backslash, and '&', "'", '<' and '>'.
_FLAGGED_LOW = np.zeros(256, dtype=bool)
_FLAGGED_LOW[:0x23] = _FLAGGED_LOW[0x7F:] = True
_WORD_FLAGGED = _FLAGGED_LOW.copy()
_WORD_FLAGGED[0x5C] = True
_MARKUP_FLAGGED = _FLAGGED_LOW.copy()
_MARKUP_FLAGGED[[0x26, 0x27, 0x3C, 0x3E]] = True
_WORD_PASSES = ((WORDS_PLAIN, _WORD_FLAGGED), (WORDS_MARKUP, _MARKUP_FLAGGED))


def _word_split_ok(plan, ints, comb, bcomb, decode):
    """Whether ``try_words`` can split mode 0, and how: ``(pass, mid)``, the record pass
    (``WORDS_PLAIN`` or ``WORDS_MARKUP``, ``WORDS_OFF`` when it cannot) and the marked byte a
    clean middle value may hold (-1: none).

    It can when every slot is the first use of its variable and the plan's resolution
    (``parseplan.resolution``) is forward slots, one middle slot and backward slots (no
    leftmost split), where a forward slot is a CLF time or ends at a flagged byte that starts
    the literal after it and is one of its stop bytes (a space in CLF, '"' in JSON, '<' or
    '"' in XML), a backward slot starts after a flagged stop byte that ends the literal
    before it, each of them an integer (checked by its parser) or a token or text whose
    scans stop at and decode no byte the pass does not flag, and the middle slot is a token
    or text that decodes no byte the pass does not flag, or an integer. Then a span that
    ends at such a byte with no flagged byte before it is what the general scan finds, and
    clean.
    """
    slots = plan.modes[0]
    roles = resolution(slots)
    if not slots or "split" in roles:
        return WORDS_OFF, -1
    for pass_, flagged in _WORD_PASSES:
        mid = _word_split_mid(plan, ints, comb, bcomb, decode, roles, flagged)
        if mid is not None:
            return pass_, mid
    return WORDS_OFF, -1


def _word_split_mid(plan, ints, comb, bcomb, decode, roles, flagged):
    """``_word_split_ok`` for one record pass (its ``flagged`` bytes): None when it cannot
    split, else the marked byte a clean middle value may hold: the space when the middle
    slot does not decode it and the pass marks it, else -1 (no marked byte at all)."""
    mid = -1
    for s, role in enumerate(roles):
        form, vtype, first = ints[0, s, 4], ints[0, s, 2], ints[0, s, 1]
        if not first or form not in (FORM_STOP, FORM_TIME):
            return None
        text = vtype in (VT_TOKEN, VT_TEXT)
        if role == "middle":
            if form != FORM_STOP:
                return None
            if vtype in (VT_INT, VT_EPOCH_MS):
                continue  # its parser checks the whole rest
            if not text or np.any((decode[0, s] != 0) & ~flagged):
                return None
            if not decode[0, s, 0x20]:
                mid = 0x20
            continue
        if form == FORM_TIME:
            if role != "forward" or vtype != VT_CLF_TIME:
                return None
            continue
        if role == "forward":
            edge = plan.literals[s + 1][:1]
            ends = edge and flagged[edge[0]] and comb[0, s, edge[0]] & 1
        else:
            literal = plan.literals[s]
            edge = literal[len(literal) - 1:]  # no negative index: wraparound is off here
            ends = edge and flagged[edge[0]] and bcomb[0, s, edge[0]] & 1
        if not ends:
            return None
        if vtype in (VT_INT, VT_EPOCH_MS):
            continue
        if not text:
            return None
        scanned = ((comb[0, s] & 3) != 0) | ((bcomb[0, s] & 3) != 0)
        if np.any(scanned & ~flagged):
            return None
    return mid


# A set the kernel never uses (tier -1), for every scan of a parse with the vector scans off.
_VSET_OFF = np.frombuffer(vector_set([1 if k % 2 else 0 for k in range(256)]), dtype=np.uint8)


cdef int64_t last_fast_rows = 0


def _fast_rows():
    """How many records the comma-split or blank-split path (``try_csv``, ``try_words``)
    accepted in the last parse on this process (tests check that it ran)."""
    return last_fast_rows


def _use_simd(bint enabled):
    """Turn the vector scans and the word-at-a-time number paths on or off (tests run both);
    returns the previous setting."""
    global fastctx_parse_simd
    global fastctx_parse_words
    cdef bint old = fastctx_parse_simd
    fastctx_parse_simd = enabled and FASTCTX_HAVE_SSE2
    fastctx_parse_words = enabled and FASTCTX_SWAR_TIME
    return old


fastctx_parse_avx2 = fastctx_cpu_avx2()


def _use_avx2(bint enabled):
    """Turn the 32-byte record passes of ``try_words`` on (where the CPU has AVX2) or off
    (the 16-byte ones; tests run both); returns the previous setting."""
    global fastctx_parse_avx2
    cdef bint old = fastctx_parse_avx2
    fastctx_parse_avx2 = enabled and fastctx_cpu_avx2()
    return old


_KIND_NAMES = ("int64", "timestamp", "string")
_ON_ERROR = ("raise", "skip", "collect")


cdef class _Chunk:
    """One ``parse_chunk`` result: column buffers that can still grow, counts and rejects."""

    cdef public list values, datas, valids, data_len, nulls, rejects
    cdef public int64_t rows
    cdef public object stats
    cdef public bint used
    # The last record ran to the end of the data without a newline. For a chunk of a larger
    # input that ends with a newline, that newline was inside a quoted CSV field.
    cdef public bint tail_open
    # The bytes parsed (less than the data given when a lane stopped short).
    cdef public int64_t size


# The join's copies use streaming stores (``stream_copy`` in _simd.pxd): 2-thread parse of 1M
# rows, same-process A/B, median of 11, two runs: CLF 1.35 -> 1.38x and 1.21 -> 1.37x, CSV
# 1.49 -> 1.65x and 1.27 -> 1.29x, JSON 1.28 -> 1.33x and 1.22 -> 1.27x, XML 1.28 -> 1.41x
# and 1.19 -> 1.19x (a busy machine). On unless a test turns them off (``_use_stream``).
cdef bint join_stream = True


def _use_stream(bint enabled):
    """Streaming stores for a threaded parse's join on or off (tests run both); returns the
    previous setting. Process-wide and not meant for use while other threads parse."""
    global join_stream
    cdef bint old = join_stream
    join_stream = enabled
    return old


def _append_values(_Chunk first, _Chunk part, int c, int64_t row0, int64_t base):
    """Copy column ``c`` of ``part`` into ``first``'s grown buffers at row ``row0`` (string
    data at byte ``base``), without the GIL."""
    cdef int64_t n = part.rows
    cdef int64_t *dst = <int64_t *>(<_Buffer>first.values[c]).ptr
    cdef const int64_t *src = <const int64_t *>(<_Buffer>part.values[c]).ptr
    cdef uint8_t *dst_data
    cdef const uint8_t *src_data
    cdef int64_t size
    if part.datas[c] is None:
        with nogil:
            stream_copy(<unsigned char *>(dst + row0), <const unsigned char *>src,
                        <size_t>(n * 8), join_stream)
        return
    dst_data = <uint8_t *>(<_Buffer>first.datas[c]).ptr
    src_data = <const uint8_t *>(<_Buffer>part.datas[c]).ptr
    size = part.data_len[c]
    with nogil:
        stream_copy(dst_data + base, src_data, <size_t>size, join_stream)
        # src[0] is 0: the offsets after it, moved behind the data before them
        stream_rebase(dst + row0 + 1, src + 1, n, base, join_stream)


def _append_bits(_Chunk first, list chunks, int c):
    """The validity bits of column ``c`` of every later chunk after ``first``'s (the kernel
    keeps every bitmap, nulls or not; bits past a chunk's rows are zero)."""
    cdef uint8_t *dst = <uint8_t *>(<_Buffer>first.valids[c]).ptr
    cdef const uint8_t *src
    cdef int64_t at = first.rows, n, j, nbytes
    cdef int shift
    cdef _Chunk part
    for item in chunks[1:]:
        part = item
        src = <const uint8_t *>(<_Buffer>part.valids[c]).ptr
        n = part.rows
        nbytes = (n + 7) // 8
        shift = at & 7
        with nogil:
            if shift == 0:
                memcpy(dst + (at >> 3), src, <size_t>nbytes)
            else:
                for j in range(nbytes):
                    dst[(at >> 3) + j] |= <uint8_t>(src[j] << shift)
                    if src[j] >> (8 - shift):
                        dst[(at >> 3) + j + 1] |= <uint8_t>(src[j] >> (8 - shift))
        at += n


cdef class Parser:
    """Parses records of one compiled ``Program`` into a ``Batch``.

    Immutable after construction and safe to use from several threads at once: every call
    has its own state and output buffers.

    Parameters
    ----------
    program : fastctx.program.Program

    Examples
    --------
    >>> import fastctx
    >>> from fastctx._parse import Parser
    >>> fmt = fastctx.compile('$context.requestId $context.status')
    >>> Parser(fmt.program).parse(b"r1 200\\nr2 -\\n").to_pydict()
    {'requestId': ['r1', 'r2'], 'status': [200, None]}
    """

    cdef readonly object plan
    cdef object _ints
    cdef object _tables
    cdef object _actions
    cdef bytes _pool
    cdef object _lit_off
    cdef object _kinds
    cdef object _comb
    cdef object _bcomb
    cdef object _plain
    cdef object _vsets
    cdef object _csv_set
    cdef object _searchable
    cdef int _word_fast, _word_mid
    # as the last parse found (None at first): string bytes per row of each column, and input
    # bytes per accepted row
    cdef object _bytes_per_row
    cdef double _input_per_row

    def __init__(self, program):
        from .program import ESCAPE_TABLES

        self.plan = make_plan(program)
        self._bytes_per_row = None
        arrays = as_arrays(self.plan)
        self._ints = arrays["ints"]
        self._tables = arrays["tables"]
        self._pool = arrays["pool"] + b"\0"  # never an empty buffer
        self._lit_off = arrays["lit_offsets"]
        self._kinds = arrays["kinds"]
        self._actions = np.frombuffer(ESCAPE_TABLES, dtype=np.uint8).reshape(-1, 256)
        stop, decode = self._tables[:, :, 0, :], self._tables[:, :, 2, :]
        self._comb = np.ascontiguousarray(stop | ((decode != 0).astype(np.uint8) << 1))
        back = self._tables[:, :, 1, :]
        self._bcomb = np.ascontiguousarray(back | ((decode != 0).astype(np.uint8) << 1))
        self._plain = np.ascontiguousarray((decode == 0).all(axis=2).astype(np.uint8))
        # per mode and slot, four byte sets in vector form: forward stops, backward stops,
        # backward bytes to decode, bytes to decode
        sets = []
        for m in range(self._comb.shape[0]):
            for s in range(self._comb.shape[1]):
                # a CSV field decodes as a copy only when unquoted and free of its stop bytes
                clean = self._comb[m, s] & 3 if self._ints[m, s, 4] == FORM_CSV else decode[m, s]
                sets += [vector_set(self._comb[m, s] & 3, relax=True), vector_set(self._bcomb[m, s] & 1),
                         vector_set(self._bcomb[m, s] & 2), vector_set(clean)]
        self._vsets = np.frombuffer(b"".join(sets) or bytes(VSET_SIZE), dtype=np.uint8)
        self._searchable = np.array([searchable(slots, self.plan.literals) for slots in self.plan.modes]
                                    or [False], dtype=np.uint8)
        csv_set = _csv_split_set(self._ints, self._comb, decode, self.plan.literals)
        self._csv_set = None if csv_set is None else np.frombuffer(csv_set, dtype=np.uint8)
        self._word_fast, self._word_mid = (WORDS_OFF, -1) if csv_set is not None else (
            _word_split_ok(self.plan, self._ints, self._comb, self._bcomb, decode))
        for array in (self._ints, self._tables, self._lit_off, self._kinds, self._comb, self._bcomb,
                      self._plain):
            array.setflags(write=False)

    def parse(self, data, on_error="raise", line_base=1, offset_base=0):
        """Parse ``data`` into a Batch with ``stats`` (and ``rejects`` when collecting).

        Parameters
        ----------
        data : bytes, bytearray, memoryview, mmap or str
            Records ending in ``\\n`` (the last one may lack it).
        on_error : {"raise", "skip", "collect"}
        line_base, offset_base : int
            Line number and byte offset of ``data[0]`` in a larger input.
        """
        return self._batch(self.parse_chunk(data, on_error, line_base, offset_base))

    def join(self, chunks, submit=None):
        """One Batch of ``chunks`` (from ``parse_chunk`` on consecutive pieces of an input).

        The first chunk's buffers are grown in place (a large block moves by remapping its
        pages, not by copying) and the later chunks are copied after it, so only they are
        copied, once. ``submit(fn)`` runs a copy (now or on a thread; the copies release the
        GIL) and returns an object with ``result()`` or None. Every chunk is used up.
        Measured on 2 threads, 1M CLF lines: joining the halves into new buffers took about
        60 ms; this copies half the bytes.
        """
        chunks = list(chunks)
        if not chunks:
            raise ValueError("nothing to join")
        for chunk in chunks:
            if (<_Chunk>chunk).used:
                raise ValueError("a parsed chunk can be joined only once")
            (<_Chunk>chunk).used = True
        cdef _Chunk first = chunks[0], part
        cdef int c, k
        cdef int64_t rows, size
        if len(chunks) == 1:
            return self._batch(first)
        if submit is None:
            def submit(fn):
                fn()
        total_rows = sum((<_Chunk>chunk).rows for chunk in chunks)
        pending = []
        for c in range(len(self.plan.names)):
            string = first.datas[c] is not None
            (<_Buffer>first.values[c]).resize((total_rows + (1 if string else 0)) * 8)
            (<_Buffer>first.valids[c]).resize((total_rows + 7) // 8 + 1)
            if string:
                size = sum((<_Chunk>chunk).data_len[c] for chunk in chunks)
                (<_Buffer>first.datas[c]).resize(size + 64)
            rows, size = first.rows, first.data_len[c]
            for k in range(1, len(chunks)):
                part = chunks[k]
                pending.append(submit(partial(_append_values, first, part, c, rows, size)))
                rows += part.rows
                size += part.data_len[c] if string else 0
            # the bitmaps of neighbouring chunks share a byte: one job per column
            pending.append(submit(partial(_append_bits, first, chunks, c)))
        for job in pending:
            if job is not None:
                job.result()
        for k in range(1, len(chunks)):
            part = chunks[k]
            for c in range(len(self.plan.names)):
                first.data_len[c] += part.data_len[c]
                first.nulls[c] += part.nulls[c]
            first.rejects += part.rejects
        first.stats = _sum_stats(chunks)
        first.rows = total_rows
        return self._batch(first)

    def parse_chunk(self, data, on_error="raise", line_base=1, offset_base=0, reserve=0,
                    end=None, more=None, bint last=True):
        """``parse`` up to, not including, building the Batch: the result goes to ``join``.

        Raises ``ParseError`` as ``parse`` does. The chunk's ``rejects`` (a list of
        ``Reject``) and ``stats`` may be adjusted before the join. ``reserve``: size the
        output for this many input bytes if more than ``data`` (the first chunk of a join,
        which then grows no buffer).

        ``end`` (a threaded parse's lane of pieces): parse ``data[:end]`` only, then ask
        ``more(end)`` for a further end and go on to it, as one chunk, until ``more`` gives
        None. ``end`` must follow a newline. ``more`` is asked when the records so far end
        at ``end``, or when one runs past it (a quoted CSV field holds the newline there),
        which is then parsed again with the further end, or as the last record when there
        is none; not after an error stopped the parse. The chunk's ``size`` is the bytes
        parsed. ``last``: ``data`` ends where the input does (False for a lane before the
        last one; then a CSV record left open at the lane's end is not framed as its first
        line, see ``run``, and stays open, for the caller to parse the input again).
        """
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(_ON_ERROR)}, got {on_error!r}")
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        cdef const uint8_t[::1] buf = view if view.nbytes else b"\0"
        cdef int64_t size = view.nbytes
        cdef const int32_t[:, :, ::1] ints = self._ints
        cdef const uint8_t[:, :, :, ::1] tables = self._tables
        cdef const uint8_t[:, ::1] actions = self._actions
        cdef const uint8_t[::1] pool = self._pool
        cdef const int64_t[::1] lit_off = self._lit_off
        cdef const int32_t[::1] kinds = self._kinds
        cdef const uint8_t[:, :, ::1] comb = self._comb
        cdef const uint8_t[:, :, ::1] bcomb = self._bcomb
        cdef const uint8_t[:, ::1] plain = self._plain
        cdef const uint8_t[::1] vsets = self._vsets
        cdef const uint8_t[::1] csv_set = self._csv_set if self._csv_set is not None else _VSET_OFF
        cdef const uint8_t[::1] off = _VSET_OFF
        cdef const fastctx_vset *unusable = <const fastctx_vset *>&off[0]
        cdef int64_t vk
        cdef int32_t nmodes = len(self.plan.modes)
        cdef int32_t nslots = len(self.plan.slot_names)
        cdef int32_t ncols = len(self.plan.names)
        cdef State st
        cdef int status, m, s, c
        cdef SlotC *slot_ptr

        # Row capacity from the last parse's rates, with 5% more rows and 3% more string
        # bytes: the buffers then rarely grow (with 3% more rows, a 2-thread parse of 1M CLF
        # lines grew them and took ~10,000 page faults per call), and a parse reserves about
        # 1.07x its output, not 1.15x. A first parse takes the mean line length of the first
        # 64 KiB, +10% (the first line alone gave half the rows of a 1M-line CLF chunk whose
        # first line was long: its row buffers grew, and moved to mappings, mid-parse), and
        # its buffers grow geometrically if short.
        expect = max(size, reserve)
        per_row = self._bytes_per_row
        if per_row:
            row_cap = int(expect / max(self._input_per_row, 1.0) * 1.05) + 16
        else:
            head = view[: min(size, 1 << 16)].tobytes()
            lines = head.count(b"\n")
            per_line = len(head) / lines if lines else max(size, 1)
            row_cap = int(expect / max(per_line, 1) * 1.1) + 16

        slots = np.zeros(max(nmodes * nslots, 1) * sizeof(SlotC), dtype=np.uint8)
        spans = np.zeros(2 * max(nslots, 1), dtype=np.int64)
        clean = np.zeros(max(nslots, 1), dtype=np.uint8)
        cdef uint8_t[::1] clean_v = clean
        cdef const uint8_t[::1] searchable_v = self._searchable
        cols_mem = np.zeros(max(ncols, 1) * sizeof(ColC), dtype=np.uint8)
        cdef int64_t[::1] spans_v = spans
        cdef uint8_t[::1] slots_v = slots
        cdef uint8_t[::1] cols_v = cols_mem

        slot_ptr = <SlotC *>&slots_v[0]
        for m in range(nmodes):
            for s in range(nslots):
                slot_ptr[m * nslots + s].column = ints[m, s, 0]
                slot_ptr[m * nslots + s].col = (<ColC *>&cols_v[0]) + ints[m, s, 0]
                slot_ptr[m * nslots + s].vtype = ints[m, s, 2]
                slot_ptr[m * nslots + s].esc = ints[m, s, 3]
                slot_ptr[m * nslots + s].form = ints[m, s, 4]
                slot_ptr[m * nslots + s].skip = ints[m, s, 5]
                slot_ptr[m * nslots + s].forward = ints[m, s, 6]
                slot_ptr[m * nslots + s].backward = ints[m, s, 7]
                slot_ptr[m * nslots + s].raw_quotes = ints[m, s, 8]
                slot_ptr[m * nslots + s].stop = &tables[m, s, 0, 0]
                slot_ptr[m * nslots + s].back = &tables[m, s, 1, 0]
                slot_ptr[m * nslots + s].dec = &tables[m, s, 2, 0]
                slot_ptr[m * nslots + s].actions = &actions[ints[m, s, 3], 0]
                slot_ptr[m * nslots + s].comb = &comb[m, s, 0]
                slot_ptr[m * nslots + s].bcomb = &bcomb[m, s, 0]
                slot_ptr[m * nslots + s].plain = plain[m, s]
                slot_ptr[m * nslots + s].before = &pool[lit_off[s]]
                slot_ptr[m * nslots + s].before_len = lit_off[s + 1] - lit_off[s]
                slot_ptr[m * nslots + s].after = &pool[lit_off[s + 1]]
                slot_ptr[m * nslots + s].after_len = lit_off[s + 2] - lit_off[s + 1]
                vk = (m * nslots + s) * 4 * VSET_SIZE
                slot_ptr[m * nslots + s].vfwd = <const fastctx_vset *>&vsets[vk]
                slot_ptr[m * nslots + s].vstop = <const fastctx_vset *>&vsets[vk + VSET_SIZE]
                slot_ptr[m * nslots + s].vbdec = <const fastctx_vset *>&vsets[vk + 2 * VSET_SIZE]
                slot_ptr[m * nslots + s].vdec = <const fastctx_vset *>&vsets[vk + 3 * VSET_SIZE]
                if not fastctx_parse_simd:  # the vector scans off: the table loops run
                    slot_ptr[m * nslots + s].vfwd = slot_ptr[m * nslots + s].vstop = unusable
                    slot_ptr[m * nslots + s].vbdec = slot_ptr[m * nslots + s].vdec = unusable
                slot_ptr[m * nslots + s].fast = FAST_NONE
                if ints[m, s, 4] == FORM_CSV:
                    # a forward-scanned unquoted field holds no , " CR LF: copied as it is
                    slot_ptr[m * nslots + s].plain = 0
                if ints[m, s, 4] == FORM_CSV or ints[m, s, 4] == FORM_STOP:
                    if ints[m, s, 2] == VT_TOKEN or ints[m, s, 2] == VT_TEXT:
                        slot_ptr[m * nslots + s].fast = FAST_STR
                    elif ints[m, s, 2] == VT_INT or ints[m, s, 2] == VT_EPOCH_MS:
                        slot_ptr[m * nslots + s].fast = FAST_INT
                if ints[m, s, 4] != FORM_JSON_BARE and ints[m, s, 2] == VT_CLF_TIME:
                    slot_ptr[m * nslots + s].fast = FAST_TIME
                if slot_ptr[m * nslots + s].fast == FAST_STR and slot_ptr[m * nslots + s].plain:
                    slot_ptr[m * nslots + s].fast = FAST_COPY
                if not ints[m, s, 1]:  # not the variable's first use
                    slot_ptr[m * nslots + s].fast = FAST_DUP

        values, datas, valids = [], [], []
        for c in range(ncols):
            kind = kinds[c]
            if kind == KIND_STRING:
                values.append(_Buffer((row_cap + 1) * 8))
                (<int64_t *>(<_Buffer>values[c]).ptr)[0] = 0  # the first offset
                # a string column never holds more bytes than the input; without the last
                # parse's bytes per row, start at 16 and double
                guess = int(row_cap * (per_row[c] * 1.03 if per_row else 16))
                datas.append(_Buffer(min(expect, guess) + 64))
            else:
                values.append(_Buffer(row_cap * 8))
                datas.append(None)
            valids.append(_Buffer((row_cap + 7) // 8 + 1, True))

        if end is not None:
            if not 0 <= end <= size:
                raise ValueError(f"end {end} outside the {size} bytes given")
            size = end
        st.buf = &buf[0]
        st.size = size
        st.pos = 0
        st.line = line_base
        st.rows = 0
        st.row_cap = row_cap
        st.records = st.accepted = st.rejected = st.empty = st.normalized = 0
        st.fast_rows = 0
        st.nmodes = nmodes
        st.nslots = nslots
        st.ncols = ncols
        st.csv_quotes = self.plan.csv_quotes
        st.stop_at_reject = on_error == "raise"
        st.tail_open = False
        st.more_input = more is not None
        st.data_cut = not last
        st.time_seen = NULL
        st.csv_fast = self._csv_set is not None and fastctx_parse_simd
        st.csv_set = <const fastctx_vset *>&csv_set[0]
        st.word_fast = self._word_fast if fastctx_parse_simd else WORDS_OFF
        st.word_mid = self._word_mid
        st.keep_rejects = on_error == "collect"
        st.slots = slot_ptr
        st.pool = &pool[0]
        st.lit_off = &lit_off[0]
        st.cols = <ColC *>&cols_v[0]
        st.sa = &spans_v[0]
        st.sb = &spans_v[max(nslots, 1)]
        st.clean = &clean_v[0]
        st.rejects = NULL
        st.nrejects = 0
        st.rejects_cap = 0
        st.fail.code = 0
        st.date_w0 = st.date_w1 = 0
        st.ascii_until = 0

        st.scratch = NULL
        st.scratch_cap = 0
        st.searching = 0
        st.searchable = &searchable_v[0]
        st.memo = NULL
        st.memo_cap = 0
        try:
            while True:
                self._bind(&st, values, datas, valids, kinds)
                with nogil:
                    status = run(&st)
                if status == ST_DONE and (not st.more_input or st.pos < st.size):
                    break  # the end, or an error stopped the parse
                if status == ST_DONE or status == ST_NEED_INPUT:
                    # A lane: its records so far end at st.size, or one runs past it (a
                    # quoted CSV field holds the newline there). On to the next piece.
                    end = more(st.size)
                    if end is None:
                        st.more_input = False
                        st.data_cut = not last or st.size < view.nbytes
                        if status == ST_DONE:
                            break
                        continue  # the record that runs past is the last one: redo it so
                    if not st.size < end <= view.nbytes:
                        raise ValueError(f"more() gave {end}: not past {st.size}, within {view.nbytes}")
                    st.size = end
                    continue
                if status == ST_NOMEM:
                    raise MemoryError("out of memory while parsing")
                if status == ST_NEED_ROWS:
                    new_cap = int(st.row_cap * 2) + 16
                    for c in range(ncols):
                        (<_Buffer>values[c]).resize((new_cap + (1 if datas[c] is not None else 0)) * 8)
                        (<_Buffer>valids[c]).resize((new_cap + 7) // 8 + 1)
                    st.row_cap = new_cap
                else:  # ST_NEED_DATA: the record in progress is redone after the grow
                    c = st.need_col
                    (<_Buffer>datas[c]).resize(max(2 * (<_Buffer>datas[c]).nbytes, st.need_bytes + 64))
            return self._collect(&st, view, values, datas, valids, on_error, offset_base)
        finally:
            free(st.rejects)
            free(st.scratch)
            free(st.memo)
            st.rejects = NULL
            st.scratch = NULL
            st.memo = NULL

    cdef void _bind(self, State *st, list values, list datas, list valids, const int32_t[::1] kinds):
        cdef int c
        cdef ColC *col
        for c in range(st.ncols):
            col = st.cols + c
            col.kind = kinds[c]
            col.values = <int64_t *>(<_Buffer>values[c]).ptr
            col.valid = <uint8_t *>(<_Buffer>valids[c]).ptr
            if datas[c] is not None:
                col.data = <uint8_t *>(<_Buffer>datas[c]).ptr
                col.data_cap = (<_Buffer>datas[c]).nbytes
            else:
                col.data = NULL
                col.data_cap = 0

    cdef object _collect(self, State *st, view, list values, list datas, list valids, str on_error,
                         int64_t offset_base):
        cdef int64_t k
        cdef RejectC *rj
        cdef int c
        cdef _Chunk chunk = _Chunk()
        chunk.values, chunk.datas, chunk.valids = values, datas, valids
        chunk.rows = st.rows
        chunk.stats = Stats(st.records, st.accepted, st.rejected, st.empty, st.normalized)
        global last_fast_rows
        last_fast_rows = st.fast_rows
        # a string column's bytes end where its last offset points
        chunk.data_len = [st.cols[c].values[st.rows] if st.cols[c].kind == KIND_STRING else 0
                          for c in range(st.ncols)]
        chunk.size = st.size
        if st.rows >= 1024:  # the next parse's first guess: its buffers then rarely grow
            self._bytes_per_row = [n / st.rows for n in chunk.data_len]
            self._input_per_row = st.size / st.rows
        chunk.nulls = [null_bits_to_validity(st.cols[c].valid, st.rows) for c in range(st.ncols)]
        chunk.used = False
        chunk.tail_open = st.tail_open
        rejects = chunk.rejects = []
        for k in range(st.nrejects):
            rj = st.rejects + k
            raw = view[rj.start : rj.start + rj.length].tobytes()
            reason, expected = describe_error(self.plan, rj.code, rj.index, raw, rj.column)
            if on_error == "raise":
                raise ParseError(reason, rj.line, offset_base + rj.start + rj.column, rj.column,
                                 expected, raw)
            rejects.append(Reject(rj.line, offset_base + rj.start,
                                  f"{reason}; expected {expected} at byte {rj.column}", raw))
        return chunk

    cdef object _batch(self, _Chunk chunk):
        cdef int c
        rows = chunk.rows
        columns = {}
        for c in range(len(self.plan.names)):
            name = self.plan.names[c]
            nulls = chunk.nulls[c]
            validity = (<_Buffer>chunk.valids[c]).array(np.uint8, (rows + 7) // 8) if nulls else None
            if chunk.datas[c] is not None:
                offsets = (<_Buffer>chunk.values[c]).array(np.int64, rows + 1)
                data = (<_Buffer>chunk.datas[c]).array(np.uint8, chunk.data_len[c])
                columns[name] = Column._built("string", offsets, data, validity, nulls)
            else:
                vals = (<_Buffer>chunk.values[c]).array(np.int64, rows)
                columns[name] = Column._built(_KIND_NAMES[self._kinds[c]], vals, None, validity, nulls)
        return Batch(columns, rows, stats=chunk.stats, rejects=chunk.rejects)
