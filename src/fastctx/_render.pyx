# cython: language_level=3
"""The render kernel: runs a compiled ``Program`` over a batch's columns, writing log lines.

Layout (pandas ``_libs`` / numcodecs style): the Python-facing ``Renderer`` binds columns
through ``const`` typed memoryviews into a C struct of pointers, releases the GIL, and calls
one ``noexcept nogil`` loop (``render_range``) that knows no Python objects. The loop reports
back a status plus a small result struct (next row, error slot, error code); the wrapper
grows the output or raises. The rules are those of ``_reference.render_value``, byte for byte.

Output sizing. ``render`` computes the literal and raw string bytes of the rows exactly (from
the offsets), measures what numbers, times and escapes add on up to 512 sampled records, and
allocates one ``bytes`` of that size plus 0.5% (``output_new`` in ``_memory.pyx``). From 4 MiB
that is a ``PooledBytes`` in its own mapping, which a dropped output gives back to the pool of
memory fastctx keeps, so the next large render writes into pages the process already holds.
A fresh mapping's pages are hinted: an output of 32 MiB or more, within 20 s of the last one,
is written 8 MiB at a time with huge pages until two stages in a row are slow enough to show
they are refilled from the host, and the rest becomes pre-faulted small pages, as the whole
output does otherwise (``fastctx_fresh_advise`` in ``_buffer.pxd``); a smaller one gets huge
pages right after another large output and pre-faulted small pages otherwise
(``prepare_fresh``). The kernel stops at the last whole record that fits; in the rare case
that is not the last row, the wrapper grows the output (``output_resize``) by the average
record size so far times the rows left. The final shrink gives the padding back (a pooled
mapping keeps at most a quarter more than its output). ``render_into`` runs the same loop on
a caller's buffer and simply stops when it is full.

Exact fit. The hot path asks for an upper bound of room per block of 128 records (6 bytes
per value byte, the longest escape, from two offsets per string column) plus ``BUF_SLACK``
for 16-byte over-copies; the record-by-record loop asks per value. Near the end of a fixed
buffer that bound fails before the space really runs out, so the record is rendered again
into a small growable scratch buffer and copied over if its exact size fits: ``render_into``
always writes every whole record that fits.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from fastctx._buffer cimport (
    BUF_SLACK, FRESH_STAGE, buf_free, buf_grow, buf_init_owned, buf_room, buf_set, fastctx_buf,
    fresh_advise, fresh_done, fresh_recent, fresh_slow_ns, now_ns, prepare_fresh,
)
from fastctx._escape cimport (
    MAX_EXPANSION, all_clean, csv_double, escape_with_table, fastctx_matcher, is_clean, is_integer,
    is_json_number, matcher_init, scan_clean,
)
from fastctx cimport _buffer, _escape
from fastctx._memory cimport output_data, output_new, output_resize
from fastctx._opcodes cimport *
from fastctx._simd cimport FASTCTX_HAVE_SSE2, fastctx_cpu_avx2, stream_copy

from array import array

from .errors import RenderError, timestamps_not_taken
from .program import ESCAPE_TABLES, VTYPE_TAKES, Op, VType, Esc

__all__ = ["Renderer", "BoundColumns", "enum_values"]


cdef extern from *:
    """
    /* Branch hints: room checks and errors almost never fire; keeping their code out of
       the straight-line path of the loop keeps the hot code dense. */
    #if defined(__GNUC__) || defined(__clang__)
    #  define FASTCTX_UNLIKELY(x) __builtin_expect(!!(x), 0)
    #else
    #  define FASTCTX_UNLIKELY(x) (x)
    #endif
    /* "00".."99": integers and times are written two digits per table load. */
    static const char fastctx_digits2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    static const char fastctx_months[37] = "JanFebMarAprMayJunJulAugSepOctNovDec";

    /* Offsets check of the block loop: 1 when one of the offsets v[0..n] is negative or
       smaller than the one before, or v[n] > data_len (the sign bit of an OR). Once
       every offset is non-negative the steps cannot overflow, so a clear sign bit means
       non-decreasing offsets inside [0, data_len]. Branch-free, so the compiler
       vectorizes it (measured with callgrind: 12 -> 4.5 instructions an offset, CLF 852 -> 785
       instructions a row). */
    #define FASTCTX_OFFSETS_BAD_BODY                                                         \
        /* unsigned arithmetic: the wrap-around is defined, the sign bits are the same */    \
        const uint64_t *u = (const uint64_t *)v;                                              \
        uint64_t acc = u[0] | ((uint64_t)data_len - u[n]);                                    \
        Py_ssize_t i;                                                                         \
        for (i = 1; i <= n; i++) acc |= u[i] | (u[i] - u[i - 1]);                             \
        return (int)(acc >> 63);
    static int fastctx_offsets_bad_base(const int64_t *v, Py_ssize_t n, int64_t data_len) {
        FASTCTX_OFFSETS_BAD_BODY
    }
    /* The same loop, four offsets a step where the CPU has AVX2 (checked at import; GCC and
       Clang on x86-64 only). Instructions a row (callgrind): CSV 655 -> 638; CLF, JSON and
       XML about the same (671, 667, 755 -> 672, 669, 756), as the row loop compiles a little
       worse around the call. */
    #if FASTCTX_AVX2_TARGET
    __attribute__((target("avx2"), noinline))
    static int fastctx_offsets_bad_avx2(const int64_t *v, Py_ssize_t n, int64_t data_len) {
        FASTCTX_OFFSETS_BAD_BODY
    }
    static int fastctx_render_avx2 = 0;
    static inline int fastctx_offsets_bad(const int64_t *v, Py_ssize_t n, int64_t data_len) {
        return fastctx_render_avx2 ? fastctx_offsets_bad_avx2(v, n, data_len)
                                   : fastctx_offsets_bad_base(v, n, data_len);
    }
    #else
    static int fastctx_render_avx2 = 0;
    #  define fastctx_offsets_bad fastctx_offsets_bad_base
    #endif

    static CYTHON_INLINE int fastctx_ctz8(unsigned z) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_ctz(z);
    #else
        int b = 0;
        while (!(z & 1u)) { z >>= 1; b++; }
        return b;
    #endif
    }

    /* 1 when every null row r of [start, stop) (bit clear in the LSB-first bitmap) is also
       empty (v[r] == v[r + 1]). Eight bitmap bytes are tested at once for "all valid"; only
       the clear bits of other bytes are visited. */
    static int fastctx_nulls_empty(const unsigned char *bits, const int64_t *v,
                                   Py_ssize_t start, Py_ssize_t stop) {
        Py_ssize_t r = start, j, row;
        unsigned long long w;
        unsigned z;
        while (r < stop && (r & 63)) {
            if (!((bits[r >> 3] >> (r & 7)) & 1) && v[r + 1] != v[r]) return 0;
            r++;
        }
        for (; stop - r >= 64; r += 64) {
            memcpy(&w, bits + (r >> 3), 8);
            if (w == ~0ULL) continue;
            for (j = 0; j < 8; j++) {
                z = ~(unsigned)bits[(r >> 3) + j] & 0xFFu;
                while (z) {
                    row = r + 8 * j + fastctx_ctz8(z);
                    if (v[row + 1] != v[row]) return 0;
                    z &= z - 1;
                }
            }
        }
        for (; r < stop; r++)
            if (!((bits[r >> 3] >> (r & 7)) & 1) && v[r + 1] != v[r]) return 0;
        return 1;
    }
    /* Streaming stores for a range's copy from scratch to the output (see `stream_copy` in
       _simd.pxd): under two threads 1.60 -> 1.71x (CLF), 1.64 -> 1.72x, 1.56 -> 1.64x and
       1.34 -> 1.49x (CSV, JSON, XML) for a `render_into` of 1M rows (same-process A/B,
       median of 11). On unless a test turns them off. */
    static int fastctx_render_stream = 1;
    /* The output offset of a threaded render's range, which another thread may store at any
       time (an aligned 8-byte store): read anew on every call, never cached. */
    static CYTHON_INLINE int64_t fastctx_load_offset(const int64_t *p) {
    #if defined(__GNUC__) || defined(__clang__)
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    #else
        return *(const volatile int64_t *)p;
    #endif
    }
    """
    int offsets_bad "fastctx_offsets_bad"(const int64_t* v, Py_ssize_t n, int64_t data_len) noexcept nogil
    int64_t load_offset "fastctx_load_offset"(const int64_t* p) noexcept nogil
    int fastctx_render_stream
    int fastctx_render_avx2
    int nulls_empty "fastctx_nulls_empty"(const uint8_t* bits, const int64_t* v, Py_ssize_t start, Py_ssize_t stop) noexcept nogil
    const char* DIGITS2 "fastctx_digits2"
    const char* MONTHS "fastctx_months"
    bint unlikely "FASTCTX_UNLIKELY"(bint condition) noexcept nogil


# How each slot is written, fixed when the columns are bound (it depends on the column kind).
cdef enum Mode:
    M_MISSING = 0        # no column: '-' (or 'null' in a bare JSON position)
    M_NUMBER = 1         # int64 / timestamp column: decimal
    M_CLF = 2            # int64 / timestamp column in a clf_time slot
    M_NUMBER_QUOTED = 3  # int64 column in a quoted slot: decimal, then the string rules
    M_STR_INT = 4        # string column in an int slot: checked, written as is (`-`: missing)
    M_STR = 5            # string column: escaped per slot

cdef enum Status:
    ST_OK = 0
    ST_NOSPACE = 1   # a fixed buffer is full; res.row is the first record not written
    ST_ERROR = 2     # res.err_code / err_slot / row say what and where

cdef enum ErrCode:
    ERR_NONE = 0
    ERR_NOT_INT = 1     # a string in an int slot is not an integer
    ERR_CLF_RANGE = 2   # epoch ms outside the years 0000-9999
    ERR_OFFSETS = 3     # string offsets outside the data buffer
    ERR_NOMEM = 4


# How the block loop (``render_row_fast``) writes a slot: the mode and escape method resolved
# into one switch. The string kinds come last (``kind >= K_STR_INT``: a string column).
cdef enum Kind:
    K_MISSING = 0
    K_NUMBER = 1
    K_CLF = 2            # clf_time, bare
    K_CLF_QUOTED = 3     # clf_time in a bare JSON position: quoted
    K_NUMBER_QUOTED = 4
    K_STR_INT = 5
    K_STR_COPY = 6       # no escaping, no quotes: copied as it is
    K_STR_CHECK = 7      # copied as it is when clean (the column's clean span), else escaped
    K_STR_ESCAPE = 8     # always through write_string (quoted, bare JSON)


ctypedef struct SlotRT:
    # hot fields first: the block loop reads these for every value
    int kind
    const uint8_t* fast_validity  # the bitmap, or NULL where the block loop need not look
    const int64_t* values        # int64 values, or string offsets (n + 1)
    const uint8_t* data
    const unsigned char* lit     # the literal after this slot (padded pool)
    Py_ssize_t lit_len
    const char* missing          # "-" or "null", padded to 4 bytes
    Py_ssize_t missing_len
    const uint8_t* clean_until   # data from the block's first value (or the last scan's
                                 # start) up to here is known to be clean
    const uint8_t* block_data_end  # end of this block's bytes of the column: where scans stop
    int64_t safe64               # values starting at or below this offset may be read 64 at once
    bint vec_ok                  # the SSE2 matcher is usable (and enabled)
    int mode
    int esc
    bint quoted
    bint raw_quotes              # a quoted slot's own quotes as they are (``Program.raw_quotes``)
    int64_t data_len
    const uint8_t* validity      # LSB-first bitmap or NULL
    const uint8_t* table         # 256-byte action table of this slot's escape method
    bint plain_ok                # a clean value is copied as it is (no quotes, no number check)
    int64_t clf_day_ms           # first ms of the day whose "dd/MMM/yyyy:" starts clf_text
    int64_t clf_sod              # second of that day that clf_text holds (-1: none)
    unsigned char clf_text[32]   # "dd/MMM/yyyy:HH:mm:ss +0000"
    fastctx_matcher matcher      # the table in vector form, for the clean check

ctypedef struct Ctx:
    Py_ssize_t nslots
    SlotRT* slots
    const unsigned char* lit0
    Py_ssize_t lit0_len
    Py_ssize_t row_fixed         # a record's bytes beyond MAX_EXPANSION per value byte

ctypedef struct RunResult:
    int status
    Py_ssize_t row        # next row to render (the failing row on error)
    int64_t dropped
    Py_ssize_t need       # exact size of record `row` when it did not fit
    Py_ssize_t err_slot
    int err_code
    int64_t err_value


cdef const char* MISSING_DASH = b"-\0\0\0"
cdef const char* MISSING_NULL = b"null"
cdef const uint8_t* QUOTE = <const uint8_t*>b'"'


# -- small writers ------------------------------------------------------------------------

cdef inline unsigned char* copy_lit(unsigned char* o, const unsigned char* lit, Py_ssize_t n) noexcept nogil:
    # Literals are short (1-4 bytes between variables): fixed 16-byte copies compile to one
    # vector move each, where memcpy(n) is a call and a size dispatch. The pool is padded by
    # 16 bytes and writers have BUF_SLACK bytes of room, so over-reading and over-writing
    # are safe. The first move is unconditional and the loop only runs past 32 bytes
    # (measured with callgrind, instructions a row: CLF 897 -> 852, XML 1022 -> 966).
    cdef Py_ssize_t i
    memcpy(o, lit, 16)
    if n > 16:
        memcpy(o + 16, lit + 16, 16)
        i = 32
        while i < n:
            memcpy(o + i, lit + i, 16)
            i += 16
    return o + n


cdef inline unsigned char* copy_value(
    unsigned char* o, const uint8_t* p, Py_ssize_t n, const uint8_t* data_end
) noexcept nogil:
    # Most values are under 32 bytes: one or two fixed-size 16-byte moves when the bytes can
    # be read, instead of a memcpy call with its size dispatch.
    if n <= 16 and data_end - p >= 16:
        memcpy(o, p, 16)
    elif n <= 32 and data_end - p >= 32:
        memcpy(o, p, 16)
        memcpy(o + 16, p + 16, 16)
    else:
        memcpy(o, p, n)
    return o + n


cdef inline int digits_u64(uint64_t u) noexcept nogil:
    cdef int n = 1
    while u >= 10000:
        u //= 10000
        n += 4
    if u >= 1000:
        return n + 3
    if u >= 100:
        return n + 2
    if u >= 10:
        return n + 1
    return n


cdef inline unsigned char* write_i64(unsigned char* o, int64_t v) noexcept nogil:
    cdef uint64_t u, q
    cdef uint32_t h
    cdef int n
    cdef unsigned char* p
    if <uint64_t>v < 1000:
        # Status codes: three digits without the digit count and the loop (measured with
        # callgrind, instructions a row: CLF 741 -> 719).
        if v >= 100:
            h = <uint32_t>v // 100
            o[0] = <unsigned char>(c'0' + h)
            memcpy(o + 1, DIGITS2 + 2 * (<uint32_t>v - h * 100), 2)
            return o + 3
        if v >= 10:
            memcpy(o, DIGITS2 + 2 * v, 2)
            return o + 2
        o[0] = <unsigned char>(c'0' + v)
        return o + 1
    if v < 0:
        o[0] = b'-'
        o += 1
        u = <uint64_t>0 - <uint64_t>v  # also right for INT64_MIN
    else:
        u = <uint64_t>v
    n = digits_u64(u)
    p = o + n
    while u >= 100:
        q = u // 100
        p -= 2
        memcpy(p, DIGITS2 + 2 * (u - q * 100), 2)
        u = q
    if u >= 10:
        memcpy(p - 2, DIGITS2 + 2 * u, 2)
    else:
        (p - 1)[0] = <unsigned char>(c'0' + u)
    return o + n


cdef inline int64_t floordiv(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b  # C division truncates toward zero (cdivision)
    if (a % b != 0) and (a < 0):
        q -= 1
    return q


cdef void clf_day_prefix(int64_t days, unsigned char* out) noexcept nogil:
    """``dd/MMM/yyyy:`` for a day number since 1970-01-01 (Hinnant's civil_from_days)."""
    cdef int64_t z = days + 719468
    cdef int64_t era = floordiv(z, 146097)
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t year = yoe + era * 400
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t day = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t month = mp + 3 if mp < 10 else mp - 9
    if month <= 2:
        year += 1
    memcpy(out, DIGITS2 + 2 * day, 2)
    out[2] = b'/'
    memcpy(out + 3, MONTHS + 3 * (month - 1), 3)
    out[6] = b'/'
    memcpy(out + 7, DIGITS2 + 2 * (year // 100), 2)
    memcpy(out + 9, DIGITS2 + 2 * (year % 100), 2)
    out[11] = b':'


cdef inline unsigned char* write_clf(SlotRT* s, unsigned char* o, int64_t ms) noexcept nogil:
    """``dd/MMM/yyyy:HH:mm:ss +0000``; ``ms`` already checked to be in years 0000-9999."""
    cdef int64_t d = ms - s.clf_day_ms
    cdef int64_t days
    cdef uint32_t sod, h, r, m
    cdef unsigned char* t = s.clf_text
    # Log rows come in time order, many per second: the text is built once per second and
    # copied otherwise (measured: the time slot went from ~8.5 to ~4 ns a row and the
    # WebSocket presets render 4-9% faster). The cache is keyed by the day's first
    # millisecond, so a row of the same day needs no 64-bit floor division, and the time of
    # day is 32-bit arithmetic (measured with callgrind on the CLF preset: 1269 -> 1231
    # instructions a row).
    if unlikely(<uint64_t>d >= 86400000):
        days = floordiv(ms, 86400000)
        s.clf_day_ms = days * 86400000
        clf_day_prefix(days, t)
        s.clf_sod = -1
        d = ms - s.clf_day_ms
    sod = <uint32_t>d // 1000
    if sod != s.clf_sod:
        h = sod // 3600
        r = sod - h * 3600
        m = r // 60
        memcpy(t + 12, DIGITS2 + 2 * h, 2)
        t[14] = b':'
        memcpy(t + 15, DIGITS2 + 2 * m, 2)
        t[17] = b':'
        memcpy(t + 18, DIGITS2 + 2 * (r - m * 60), 2)
        memcpy(t + 20, b" +0000", 6)
        s.clf_sod = sod
    memcpy(o, t, 32)  # 26 bytes of text; writers have BUF_SLACK bytes of room
    return o + 26


cdef inline unsigned char* write_string(
    SlotRT* s, const uint8_t* p, Py_ssize_t n, const uint8_t* data_end, unsigned char* o,
    int64_t* dropped,
) noexcept nogil:
    """A non-empty string value, escaped for the slot (room for 6 * (n + 2) + 2 bytes)."""
    cdef const uint8_t* e = p + n
    cdef unsigned char* mark
    cdef unsigned char* inner
    cdef int esc = s.esc
    if esc == ESC_NONE:
        if s.quoted:
            o[0] = b'"'
            o = copy_value(o + 1, p, n, data_end)
            o[0] = b'"'
            return o + 1
        return copy_value(o, p, n, data_end)
    if esc == ESC_CSV:
        # RFC 4180: a field holding , " CR or LF is quoted with its quotes doubled; a quoted
        # slot's own quotes make it always quoted.
        if s.quoted:
            memcpy(o, b'"""', 3)
            o = csv_double(p, e, data_end, o + 3)
            memcpy(o, b'"""', 3)
            return o + 3
        if all_clean(s.table, p, n):
            return copy_value(o, p, n, data_end)
        o[0] = b'"'
        o = csv_double(p, e, data_end, o + 1)
        o[0] = b'"'
        return o + 1
    if esc == ESC_JSON_BARE:
        # A bare JSON value: numbers as they are, anything else as a JSON string (a quoted
        # slot's value without its quotes).
        if not s.quoted and is_json_number(p, n):
            return copy_value(o, p, n, data_end)
        o[0] = b'"'
        o = escape_with_table(s.table, p, e, o + 1, dropped)
        o[0] = b'"'
        return o + 1
    if not s.quoted and all_clean(s.table, p, n):
        return copy_value(o, p, n, data_end)
    mark = o
    if s.raw_quotes:
        o[0] = b'"'
        inner = o + 1
        o = escape_with_table(s.table, p, e, inner, dropped)
        if o == inner:
            o = mark  # every character was dropped (XML): a missing value, as below
        o[0] = b'"' if o != mark else b'-'
        return o + 1
    if s.quoted:
        o = escape_with_table(s.table, QUOTE, QUOTE + 1, o, dropped)
    inner = o
    o = escape_with_table(s.table, p, e, o, dropped)
    if s.quoted and o != inner:
        o = escape_with_table(s.table, QUOTE, QUOTE + 1, o, dropped)
    elif o == inner:
        # every character was dropped (XML): still a value, so not an empty element nor a
        # pair of quotes, but a missing one
        o = mark
        o[0] = b'-'
        o += 1
    return o


cdef unsigned char* write_flagged(
    SlotRT* s, const uint8_t* p, Py_ssize_t n, unsigned char* o, int64_t* dropped
) noexcept nogil:
    """A value of a ``K_STR_CHECK`` slot known to hold a flagged byte: ``write_string``
    without its clean test, which the span has answered (measured with callgrind,
    instructions a row: CLF 711 -> 691)."""
    cdef unsigned char* mark = o
    if s.esc == ESC_CSV:
        o[0] = b'"'
        o = csv_double(p, p + n, s.data + s.data_len, o + 1)
        o[0] = b'"'
        return o + 1
    o = escape_with_table(s.table, p, p + n, o, dropped)
    if o == mark:
        # every character was dropped (XML): still a value, so not an empty element
        o[0] = b'-'
        o += 1
    return o


# -- the loop -----------------------------------------------------------------------------

cdef unsigned char* make_room(fastctx_buf* b, unsigned char* o, Py_ssize_t need, RunResult* res) noexcept nogil:
    """Slow path of the room check: grow an owned buffer, or report a full fixed one."""
    cdef int r
    b.pos = o
    r = buf_grow(b, <size_t>need)
    if r == 1:
        return b.pos
    if r == 0:
        res.status = ST_NOSPACE
    else:
        res.status = ST_ERROR
        res.err_code = ERR_NOMEM
    return NULL


cdef int render_row(Ctx* c, Py_ssize_t row, fastctx_buf* b, int64_t* dropped, RunResult* res) noexcept nogil:
    """One record (its literals, values and the closing newline) at ``b.pos``."""
    cdef unsigned char* o = b.pos
    cdef SlotRT* s
    cdef Py_ssize_t k, n, need
    cdef int64_t v, begin, end
    cdef int mode
    cdef unsigned char tmp[48]
    need = c.lit0_len + 1  # never 0: copy_lit writes 16 bytes, which a tiny buffer lacks
    if unlikely(not buf_room(b, o, need)):
        o = make_room(b, o, need, res)
        if o == NULL:
            return res.status
    o = copy_lit(o, c.lit0, c.lit0_len)
    for k in range(c.nslots):
        s = &c.slots[k]
        mode = s.mode
        if s.validity != NULL and unlikely(not ((s.validity[row >> 3] >> (row & 7)) & 1)):
            mode = M_MISSING
        if mode == M_STR or mode == M_STR_INT:
            begin = s.values[row]
            end = s.values[row + 1]
            if unlikely(begin < 0 or end < begin or end > s.data_len):
                res.err_code = ERR_OFFSETS
                res.err_slot = k
                return ST_ERROR
            n = <Py_ssize_t>(end - begin)
            # empty text is a missing value, and so is `-` as int text: what a parse reads
            # back as null (a log table read as text has it where values were missing)
            if n == 0 or (mode == M_STR_INT and n == 1 and s.data[begin] == 45):
                mode = M_MISSING
            else:
                need = MAX_EXPANSION * (n + 2) + 2 + s.lit_len
                if unlikely(not buf_room(b, o, need)):
                    o = make_room(b, o, need, res)
                    if o == NULL:
                        return res.status
                if mode == M_STR:
                    # The common case inline: a value that needs no escaping is copied.
                    if (s.esc == ESC_NONE and not s.quoted) or (
                            s.plain_ok and is_clean(&s.matcher, s.table, s.data + begin, n, s.data + s.data_len)):
                        o = copy_value(o, s.data + begin, n, s.data + s.data_len)
                    else:
                        o = write_string(s, s.data + begin, n, s.data + s.data_len, o, dropped)
                else:
                    if not is_integer(s.data + begin, n):
                        res.err_code = ERR_NOT_INT
                        res.err_slot = k
                        return ST_ERROR
                    o = copy_value(o, s.data + begin, n, s.data + s.data_len)
                o = copy_lit(o, s.lit, s.lit_len)
                continue
        need = 64 + s.lit_len  # a number, a time or a missing value
        if unlikely(not buf_room(b, o, need)):
            o = make_room(b, o, need, res)
            if o == NULL:
                return res.status
        if mode == M_NUMBER:
            o = write_i64(o, s.values[row])
        elif mode == M_MISSING:
            memcpy(o, s.missing, 4)
            o += s.missing_len
        elif mode == M_CLF:
            v = s.values[row]
            if unlikely(v < MIN_CLF_MS or v > MAX_CLF_MS):
                res.err_code = ERR_CLF_RANGE
                res.err_slot = k
                res.err_value = v
                return ST_ERROR
            if s.esc == ESC_JSON_BARE:
                o[0] = b'"'
                o = write_clf(s, o + 1, v)
                o[0] = b'"'
                o += 1
            else:
                o = write_clf(s, o, v)
        else:  # M_NUMBER_QUOTED: the decimal goes through the string rules
            n = write_i64(tmp, s.values[row]) - tmp
            o = write_string(s, tmp, n, tmp + sizeof(tmp), o, dropped)
        o = copy_lit(o, s.lit, s.lit_len)
    b.pos = o
    return ST_OK


# -- the block loop ------------------------------------------------------------------------
#
# When every string column's offsets over the rows are valid (non-decreasing, inside the
# data), a block of rows can be checked for room once: its value bytes are the difference of
# two offsets per column, so the bound is BLOCK_ROWS * row_fixed + MAX_EXPANSION * bytes. The
# rows of a block that fits are then written by ``render_row_fast`` with no room or offset
# checks; errors it can still meet (not an integer, time out of range) come in the same row
# and slot order as in ``render_row``. Blocks that do not fit, and batches with bad offsets,
# take ``render_row``, which also reports bad offsets where they are. Measured with callgrind
# (instructions a row, 100,000 WebSocket CLF events, render and render_into): 1231 -> 1084,
# with the slot kinds resolved into one switch and 32/64-byte value copies.

cdef enum:
    BLOCK_ROWS = 128
    # How often a range of a threaded render rendered into scratch looks whether its place
    # in the output is known (``Renderer.render_placed``).
    PLACED_POLL_ROWS = 256


cdef bint prepare_block(
    Ctx* c, Py_ssize_t start, Py_ssize_t stop, int64_t* value_bytes
) noexcept nogil:
    """True when the block loop may run rows ``[start, stop)``; sets ``fast_validity`` and
    the rows' string bytes.

    Checks every string column's offsets (``offsets_bad``) just before the block is
    rendered, while they are in cache (one pass over all rows first would read 56 MB of
    offsets twice for 1,000,000 CLF rows; per block costs 5 more instructions a row). A
    string column's bitmap is skipped by the block loop when each null row is also empty
    (Arrow writers do that): an empty value renders as a null does.
    """
    cdef SlotRT* s
    cdef Py_ssize_t k
    cdef int64_t total = 0
    for k in range(c.nslots):
        s = &c.slots[k]
        s.fast_validity = s.validity
        if s.kind < K_STR_INT:
            continue
        if offsets_bad(s.values + start, stop - start, s.data_len):
            return False
        total += s.values[stop] - s.values[start]
        s.block_data_end = s.data + s.values[stop]
        # an empty clean span at the block's first value: the values that follow (their
        # offsets were just checked to rise) lie past its start, so only its end is tested
        s.clean_until = s.data + s.values[start]
        if s.validity != NULL and nulls_empty(s.validity, s.values, start, stop):
            s.fast_validity = NULL
    value_bytes[0] = total
    return True


cdef bint refresh_clean(SlotRT* s, const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Extend the slot's clean span from ``p``; True when ``[p, p + n)`` lies inside it.

    One scan up to the end of the block's bytes of the column (or its first flagged byte)
    serves the next values of the column, whose bytes follow, so most values are judged clean
    by two compares instead of a vector check of their own with its partial last 16 bytes
    (measured with callgrind, instructions a row: CLF 1084 -> 897, XML 1123 -> 1022; scanning
    to the block's end rather than 512 bytes past the value: CLF 719 -> 711, XML 833 -> 825).
    Stopping at the block's end keeps a render of a few rows from scanning far past them.
    """
    s.clean_until = scan_clean(
        &s.matcher, s.vec_ok, s.table, p, s.block_data_end, s.data + s.data_len
    )
    return p + n <= s.clean_until


cdef inline unsigned char* copy_value_fast(
    SlotRT* s, unsigned char* o, const uint8_t* p, Py_ssize_t n, int64_t begin
) noexcept nogil:
    # Two or four fixed 16-byte moves for values up to 64 bytes (request ids are 36) where
    # the column has 64 bytes to read; memcpy only for longer values.
    if n <= 32 and begin <= s.safe64:
        memcpy(o, p, 16)
        memcpy(o + 16, p + 16, 16)
    elif n <= 64 and begin <= s.safe64:
        memcpy(o, p, 16)
        memcpy(o + 16, p + 16, 16)
        memcpy(o + 32, p + 32, 16)
        memcpy(o + 48, p + 48, 16)
    else:
        memcpy(o, p, n)
    return o + n


cdef unsigned char* render_row_fast(
    Ctx* c, Py_ssize_t row, unsigned char* o, int64_t* dropped, RunResult* res
) noexcept nogil:
    """One record at ``o`` whose room and offsets the block loop has checked; NULL on error."""
    cdef SlotRT* s = c.slots
    cdef SlotRT* last = c.slots + c.nslots
    cdef int kind
    cdef int64_t begin, v
    cdef Py_ssize_t n
    cdef const uint8_t* p
    cdef unsigned char tmp[48]
    o = copy_lit(o, c.lit0, c.lit0_len)
    while s < last:
        kind = s.kind
        if s.fast_validity != NULL and unlikely(not ((s.fast_validity[row >> 3] >> (row & 7)) & 1)):
            kind = K_MISSING
        if kind >= K_STR_INT:
            begin = s.values[row]
            n = <Py_ssize_t>(s.values[row + 1] - begin)
            p = s.data + begin
            if n == 0:
                memcpy(o, s.missing, 4)
                o += s.missing_len
            elif kind == K_STR_CHECK:
                if p + n <= s.clean_until or refresh_clean(s, p, n):
                    o = copy_value_fast(s, o, p, n, begin)
                else:
                    o = write_flagged(s, p, n, o, dropped)
            elif kind == K_STR_COPY:
                o = copy_value_fast(s, o, p, n, begin)
            elif kind == K_STR_ESCAPE:
                o = write_string(s, p, n, s.data + s.data_len, o, dropped)
            elif n == 1 and p[0] == 45:  # K_STR_INT `-`: missing (see render_row)
                memcpy(o, s.missing, 4)
                o += s.missing_len
            else:  # K_STR_INT
                if not is_integer(p, n):
                    res.err_code = ERR_NOT_INT
                    res.err_slot = s - c.slots
                    return NULL
                o = copy_value_fast(s, o, p, n, begin)
        elif kind == K_MISSING:
            memcpy(o, s.missing, 4)
            o += s.missing_len
        elif kind == K_NUMBER:
            o = write_i64(o, s.values[row])
        elif kind == K_NUMBER_QUOTED:
            n = write_i64(tmp, s.values[row]) - tmp
            o = write_string(s, tmp, n, tmp + sizeof(tmp), o, dropped)
        else:  # K_CLF, K_CLF_QUOTED
            v = s.values[row]
            if unlikely(v < MIN_CLF_MS or v > MAX_CLF_MS):
                res.err_code = ERR_CLF_RANGE
                res.err_slot = s - c.slots
                res.err_value = v
                return NULL
            if kind == K_CLF:
                o = write_clf(s, o, v)
            else:
                o[0] = b'"'
                o = write_clf(s, o + 1, v)
                o[0] = b'"'
                o += 1
        o = copy_lit(o, s.lit, s.lit_len)
        s += 1
    return o


cdef int render_range(
    Ctx* c, fastctx_buf* out, fastctx_buf* scratch, Py_ssize_t start, Py_ssize_t stop,
    RunResult* res,
) noexcept nogil:
    """Rows ``[start, stop)`` into ``out``, whole records only; the hot loop (no GIL)."""
    cdef Py_ssize_t row = start, n, block_end, checked_end = start
    cdef int64_t bytes_
    cdef unsigned char* saved
    cdef unsigned char* o
    cdef int64_t dropped
    cdef int st
    res.status = ST_OK
    while row < stop:
        if row >= checked_end:
            block_end = row + BLOCK_ROWS if stop - row > BLOCK_ROWS else stop
            if prepare_block(c, row, block_end, &bytes_) and (
                    out.end - out.pos >= (block_end - row) * c.row_fixed + MAX_EXPANSION * bytes_):
                o = out.pos
                dropped = 0
                while row < block_end:
                    o = render_row_fast(c, row, o, &dropped, res)
                    if o == NULL:
                        res.row = row
                        res.status = ST_ERROR
                        return ST_ERROR
                    row += 1
                out.pos = o
                res.dropped += dropped
                continue
            checked_end = block_end  # near the end of the buffer, or bad offsets: record by record
        saved = out.pos
        dropped = 0
        st = render_row(c, row, out, &dropped, res)
        if st == ST_OK:
            res.dropped += dropped
            row += 1
            continue
        res.row = row
        if st == ST_ERROR:
            return ST_ERROR
        # The upper bound did not fit: render the record at its exact size and see.
        out.pos = saved
        scratch.pos = scratch.start
        dropped = 0
        st = render_row(c, row, scratch, &dropped, res)
        if st != ST_OK:
            return ST_ERROR  # an owned buffer never reports "full"
        n = scratch.pos - scratch.start
        if n > out.limit - out.pos:
            res.need = n
            res.status = ST_NOSPACE
            return ST_NOSPACE
        memcpy(out.pos, scratch.start, n)
        out.pos += n
        res.dropped += dropped
        row += 1
    res.row = row
    return ST_OK


# -- the Python-facing wrapper ------------------------------------------------------------

cdef inline const int64_t* i64_ptr(const int64_t[::1] view) noexcept:
    return &view[0] if view.shape[0] else NULL


cdef inline const uint8_t* u8_ptr(const uint8_t[::1] view) noexcept:
    return &view[0] if view.shape[0] else NULL


cdef int _kind_code(str kind) except -1:
    if kind == "int64":
        return KIND_INT64
    if kind == "timestamp":
        return KIND_TIMESTAMP
    if kind == "string":
        return KIND_STRING
    raise TypeError(f"unknown column kind {kind!r}")


cdef class BoundColumns


cdef class Renderer:
    """Renders the rows of bound columns with one compiled ``Program``.

    Immutable after construction; every call keeps its state on its own, so one
    ``Renderer`` may be used from many threads at once (the loop runs without the GIL).

    Parameters
    ----------
    program : fastctx.program.Program

    Examples
    --------
    >>> import fastctx
    >>> from fastctx.batch import Column
    >>> from fastctx._render import Renderer
    >>> fmt = fastctx.compile("$context.requestId $context.status")
    >>> r = Renderer(fmt.program)
    >>> r.render([Column.from_strings(["a", "b"]), Column.from_ints([200, None])], 0, 2)
    (b'a 200\\nb -\\n', 0)
    """

    cdef readonly object program
    cdef bytes _pool          # L0 .. Ln + '\n', padded with 16 zero bytes
    cdef bytes _tables        # ESCAPE_TABLES
    cdef Py_ssize_t nslots
    cdef Py_ssize_t ncolumns
    cdef Py_ssize_t lits_total  # literal bytes per record, newline included
    cdef int32_t* slot_column
    cdef int32_t* slot_vtype
    cdef int32_t* slot_esc
    cdef Py_ssize_t* lit_off   # nslots + 1 literals
    cdef Py_ssize_t* lit_len

    def __cinit__(self, program):
        cdef Py_ssize_t k
        self.program = program
        slots = tuple(program.slots)
        literals = list(program.literals())
        ops = [int(op) for op, _, _ in program.instructions.tolist()]
        expected = [Op.LIT] + [Op.VAR, Op.LIT] * len(slots)
        if ops != [int(op) for op in expected] or len(literals) != len(slots) + 1:
            raise ValueError("a Program must alternate LIT VAR LIT ... VAR LIT")
        self.nslots = len(slots)
        self.ncolumns = len(program.columns)
        literals[len(literals) - 1] += b"\n"
        self.slot_column = <int32_t*>PyMem_Malloc(sizeof(int32_t) * (self.nslots + 1))
        self.slot_vtype = <int32_t*>PyMem_Malloc(sizeof(int32_t) * (self.nslots + 1))
        self.slot_esc = <int32_t*>PyMem_Malloc(sizeof(int32_t) * (self.nslots + 1))
        self.lit_off = <Py_ssize_t*>PyMem_Malloc(sizeof(Py_ssize_t) * (self.nslots + 1))
        self.lit_len = <Py_ssize_t*>PyMem_Malloc(sizeof(Py_ssize_t) * (self.nslots + 1))
        if (self.slot_column == NULL or self.slot_vtype == NULL or self.slot_esc == NULL
                or self.lit_off == NULL or self.lit_len == NULL):
            raise MemoryError()
        for k, slot in enumerate(slots):
            if not 0 <= slot.column < self.ncolumns:
                raise ValueError(f"slot {k} refers to column {slot.column} of {self.ncolumns}")
            self.slot_column[k] = slot.column
            self.slot_vtype[k] = int(VType(slot.vtype))
            self.slot_esc[k] = int(Esc(slot.esc))
        offset = 0
        for k, literal in enumerate(literals):
            self.lit_off[k] = offset
            self.lit_len[k] = len(literal)
            offset += len(literal)
        self.lits_total = offset
        self._pool = b"".join(literals) + bytes(16)
        self._tables = bytes(ESCAPE_TABLES)
        if len(self._tables) != ESC_COUNT * 256:
            raise ValueError("ESCAPE_TABLES does not hold one 256-byte table per escape method")

    def __dealloc__(self):
        PyMem_Free(self.slot_column)
        PyMem_Free(self.slot_vtype)
        PyMem_Free(self.slot_esc)
        PyMem_Free(self.lit_off)
        PyMem_Free(self.lit_len)

    def __reduce__(self):
        return (Renderer, (self.program,))

    # -- binding --------------------------------------------------------------------------

    cdef int _bind(self, list columns, Py_ssize_t stop, SlotRT* slots, list keep) except -1:
        """Fill one ``SlotRT`` per slot from the columns, checking every length."""
        cdef Py_ssize_t k
        cdef SlotRT* s
        cdef const int64_t[::1] values
        cdef const uint8_t[::1] data
        cdef const uint8_t[::1] validity
        cdef const unsigned char* pool = <const unsigned char*><char*>self._pool
        cdef const uint8_t* tables = <const uint8_t*><char*>self._tables
        cdef int kind, vtype
        if len(columns) != self.ncolumns:
            raise ValueError(
                f"expected {self.ncolumns} columns (one per program column, or None), got {len(columns)}"
            )
        for k in range(self.nslots):
            s = &slots[k]
            memset(s, 0, sizeof(SlotRT))
            vtype = self.slot_vtype[k]
            s.esc = self.slot_esc[k]
            s.quoted = vtype == VT_QUOTED
            s.raw_quotes = self.program.raw_quotes(self.program.slots[k])
            s.table = tables + 256 * s.esc
            matcher_init(&s.matcher, s.table)
            s.plain_ok = not s.quoted and s.esc != ESC_NONE and s.esc != ESC_JSON_BARE
            s.vec_ok = s.matcher.usable and _escape.fastctx_simd_enabled
            s.lit = pool + self.lit_off[k + 1]
            s.lit_len = self.lit_len[k + 1]
            s.clf_day_ms = -(1 << 62)  # nothing cached yet: every time is out of its day
            s.clf_sod = -1
            if s.esc == ESC_JSON_BARE:
                s.missing = MISSING_NULL
                s.missing_len = 4
            else:
                s.missing = MISSING_DASH
                s.missing_len = 1
            column = columns[self.slot_column[k]]
            if column is None:
                s.mode = M_MISSING
                s.kind = K_MISSING
                continue
            name = self.program.slots[k].name
            kind = _kind_code(column.kind)
            if kind == KIND_TIMESTAMP and vtype != VT_EPOCH_MS and vtype != VT_CLF_TIME:
                raise timestamps_not_taken(name, VTYPE_TAKES[VType(vtype)])
            values = column.values
            keep.append(values)
            need = stop + 1 if kind == KIND_STRING else stop
            if values.shape[0] < need:
                raise ValueError(f"column {name!r} has {values.shape[0]} values, rendering needs {need}")
            s.values = i64_ptr(values)
            if column.validity is not None:
                validity = column.validity
                keep.append(validity)
                if validity.shape[0] < (stop + 7) // 8:
                    raise ValueError(f"column {name!r}: validity bitmap shorter than {stop} rows")
                s.validity = u8_ptr(validity)
            if kind == KIND_STRING:
                data = column.data
                keep.append(data)
                s.data = u8_ptr(data)
                s.data_len = data.shape[0]
                s.safe64 = s.data_len - 64
                s.mode = M_STR_INT if vtype == VT_INT else M_STR
                if vtype == VT_INT:
                    s.kind = K_STR_INT
                elif s.esc == ESC_NONE and not s.quoted:
                    s.kind = K_STR_COPY
                elif s.plain_ok:
                    s.kind = K_STR_CHECK
                else:
                    s.kind = K_STR_ESCAPE
            elif vtype == VT_CLF_TIME:
                s.mode = M_CLF
                s.kind = K_CLF_QUOTED if s.esc == ESC_JSON_BARE else K_CLF
            elif vtype == VT_QUOTED:
                s.mode = M_NUMBER_QUOTED
                s.kind = K_NUMBER_QUOTED
            else:
                s.mode = M_NUMBER
                s.kind = K_NUMBER
        return 0

    cdef Py_ssize_t _estimate(self, Ctx* ctx, fastctx_buf* scratch, Py_ssize_t start, Py_ssize_t stop):
        """Expected output bytes: literal and string bytes exactly, the rest from a sample.

        Literals and raw string bytes (known from the offsets) are most of a record; what
        numbers, times, missing values and escapes add is measured by rendering up to 512
        records, in 16 evenly spaced runs of consecutive ones. The result is padded by 0.5%:
        running out means growing the ``bytes``, which a huge-page hint on the buffer can
        turn from an in-place ``mremap`` into a copy, while the padding is given back by the
        final shrink.
        """
        cdef Py_ssize_t rows = stop - start, k, i, row, n, runs
        cdef Py_ssize_t base = self.lits_total * rows, samples, counted = 0
        cdef int64_t extra = 0, row_strings, dropped = 0
        cdef RunResult res
        cdef SlotRT* s
        for k in range(self.nslots):
            s = &ctx.slots[k]
            if s.mode == M_STR or s.mode == M_STR_INT:
                base += max(0, <Py_ssize_t>(s.values[stop] - s.values[start]))
        samples = min(rows, 512)
        runs = min(samples, 16)
        memset(&res, 0, sizeof(res))
        for i in range(runs * (samples // runs)):
            # runs of consecutive records, evenly spaced: each record of a run is in the
            # cache lines its neighbour brought in (512 lone records spread over 1M rows
            # missed the cache for every column: about 0.8 ms after a render, 0.15 warm)
            row = start + (i // (samples // runs)) * rows // runs + i % (samples // runs)
            scratch.pos = scratch.start
            if render_row(ctx, row, scratch, &dropped, &res) != ST_OK:
                continue  # the real pass reports the error at the first bad row
            n = scratch.pos - scratch.start
            row_strings = 0
            for k in range(self.nslots):
                s = &ctx.slots[k]
                if s.mode == M_STR or s.mode == M_STR_INT:
                    row_strings += s.values[row + 1] - s.values[row]
            extra += n - self.lits_total - row_strings
            counted += 1
        if counted:
            base += <Py_ssize_t>(max(extra, 0) * rows // counted)
        return base + base // 200 + 4096

    cdef _raise(self, RunResult* res, list columns):
        code = res.err_code
        if code == ERR_NOMEM:
            raise MemoryError("out of memory while rendering")
        slot = self.program.slots[res.err_slot]
        row = res.row
        if code == ERR_NOT_INT:
            column = columns[slot.column]
            begin, end = int(column.values[row]), int(column.values[row + 1])
            shown = column.data[begin:end].tobytes()[:40].decode("utf-8", "replace")
            raise RenderError(f"value {shown!r} is not an integer in the int64 range", slot.name, row)
        if code == ERR_CLF_RANGE:
            raise RenderError(
                f"epoch milliseconds {res.err_value} is outside the years 0000-9999", slot.name, row
            )
        if code == ERR_OFFSETS:
            column = columns[slot.column]
            raise RenderError(
                f"string offsets {int(column.values[row])}..{int(column.values[row + 1])} are "
                f"outside the column's {len(column.data)} data bytes", slot.name, row
            )
        raise RuntimeError(f"render kernel failed with code {code}")

    cdef SlotRT* _prepare(self, list columns, Py_ssize_t stop, list keep, Ctx* ctx,
                          fastctx_buf* scratch) except NULL:
        """Bind ``columns`` (rows below ``stop``) into a new slot array and ``ctx``, and give
        ``scratch`` 4 KiB. The caller frees both (``PyMem_Free``, ``buf_free``); on an error
        nothing is left allocated but ``scratch``, which ``buf_free`` handles."""
        cdef SlotRT* slots = <SlotRT*>PyMem_Malloc(sizeof(SlotRT) * (self.nslots + 1))
        if slots == NULL:
            raise MemoryError()
        try:
            self._bind(columns, stop, slots, keep)
            self._init_ctx(ctx, slots)
            if buf_init_owned(scratch, 4096) < 0:
                raise MemoryError()
        except BaseException:
            PyMem_Free(slots)
            raise
        return slots

    cdef void _init_ctx(self, Ctx* ctx, SlotRT* slots):
        cdef Py_ssize_t k
        ctx.nslots = self.nslots
        ctx.slots = slots
        ctx.lit0 = <const unsigned char*><char*>self._pool
        ctx.lit0_len = self.lit_len[0]
        # What a record can take besides MAX_EXPANSION bytes per value byte: the literals,
        # a string's quotes (escaped) or a missing value, or up to 64 bytes of a number/time.
        ctx.row_fixed = self.lits_total
        for k in range(self.nslots):
            ctx.row_fixed += MAX_EXPANSION * 2 + 2 if slots[k].kind >= K_STR_INT else 64

    # -- entry points ---------------------------------------------------------------------

    def render(self, list columns, Py_ssize_t start, Py_ssize_t stop):
        """Render rows ``[start, stop)``; returns ``(lines, dropped)``.

        ``columns`` is aligned with ``program.columns``: a ``Column`` or None (renders
        ``-``). ``dropped`` counts characters removed because XML 1.0 cannot hold them.
        Raises ``RenderError`` naming the column and row of a value that cannot be rendered.
        """
        cdef Ctx ctx
        cdef RunResult res
        cdef fastctx_buf out, scratch
        cdef PyObject* obj = NULL
        cdef Py_ssize_t cap, used, done, remaining, avg, grow_to, limit, prepared
        cdef int st
        cdef bint fresh, staged, huge_pages  # huge pages: only for a staged output
        cdef long long began
        cdef int slow = 0
        if start < 0 or stop < start:
            raise ValueError(f"bad row range [{start}, {stop})")
        if stop == start:
            return b"", 0
        cdef SlotRT* slots = NULL
        keep = []
        memset(&res, 0, sizeof(res))
        scratch.start = NULL
        scratch.owned = 1
        try:
            slots = self._prepare(columns, stop, keep, &ctx, &scratch)
            cap = self._estimate(&ctx, &scratch, start, stop) + BUF_SLACK
            made = output_new(cap, &fresh)
            obj = <PyObject*>made
            Py_INCREF(made)
            made = None
            out.owned = 0
            used = 0
            prepared = 0  # the fresh bytes advised so far
            res.row = start
            # A large fresh output is written in stages, each timed: slow stages mean its huge
            # pages are refilled from the host, and the rest becomes pre-faulted small pages
            # (`fastctx_fresh_advise` in _buffer.pxd). Memory from the pool was written before.
            staged = fresh and cap >= 4 * <Py_ssize_t>FRESH_STAGE
            huge_pages = staged and fresh_recent()
            while True:
                # (a stage holds at least the record that did not fit the last one)
                limit = (min(cap, used + max(<Py_ssize_t>FRESH_STAGE, res.need))
                         if huge_pages else cap)
                buf_set(&out, <unsigned char*>output_data(obj), used, limit)
                with nogil:
                    if fresh and not staged:  # smaller: huge pages right after another large output
                        prepare_fresh(out.start + used, cap - used, 1)
                    elif staged and prepared < cap:
                        fresh_advise(out.start + prepared, cap - prepared, huge_pages)
                        prepared = cap
                    began = now_ns()
                    st = render_range(&ctx, &out, &scratch, res.row, stop, &res)
                used = out.pos - out.start
                if st == ST_OK:
                    fresh_done()
                    break
                if st == ST_ERROR:
                    self._raise(&res, columns)
                if limit < cap:  # the end of a stage, not of the output
                    # two slow stages in a row: one alone may be a core waking from idle
                    slow = slow + 1 if now_ns() - began > fresh_slow_ns else 0
                    if slow == 2:
                        huge_pages = False
                        prepared = used  # the rest: small pages, faulted in now
                    continue
                # Full (rare, the estimate is padded): grow by the average record so far times
                # the rows left (+3%).
                done = res.row - start
                remaining = stop - res.row
                avg = used // done if done else res.need
                grow_to = used + res.need + <Py_ssize_t>(avg * remaining * 1.03) + BUF_SLACK
                grow_to = max(grow_to, cap + cap // 64)
                output_resize(&obj, grow_to)
                cap = grow_to
            if used != cap:
                output_resize(&obj, used)
            result = <object>obj
            return result, res.dropped
        finally:
            Py_XDECREF(obj)
            buf_free(&scratch)
            PyMem_Free(slots)

    def estimate(self, list columns, Py_ssize_t start, Py_ssize_t stop):
        """Expected output bytes of rows ``[start, stop)``: what ``render`` allocates.

        Literal and raw string bytes are exact; what numbers, times, missing values and
        escapes add is measured on up to 512 sampled records; 0.5% + 4 KiB of padding. Not
        an upper bound: a caller sizing a buffer from it must handle ``render_into`` stopping
        early. Costs about as much as rendering the samples.
        """
        cdef Ctx ctx
        cdef fastctx_buf scratch
        if start < 0 or stop < start:
            raise ValueError(f"bad row range [{start}, {stop})")
        if stop == start:
            return 0
        cdef SlotRT* slots = NULL
        keep = []
        scratch.start = NULL
        scratch.owned = 1
        try:
            slots = self._prepare(columns, stop, keep, &ctx, &scratch)
            return self._estimate(&ctx, &scratch, start, stop)
        finally:
            buf_free(&scratch)
            PyMem_Free(slots)

    def render_into(self, list columns, Py_ssize_t start, Py_ssize_t stop, out):
        """Render rows from ``start`` into the writable buffer ``out``, whole records only.

        Returns ``(nbytes, rows_written, dropped)``; stops at the first record that does
        not fit, so ``rows_written < stop - start`` means the buffer is full.
        """
        cdef Ctx ctx
        cdef RunResult res
        cdef fastctx_buf target, scratch
        cdef unsigned char[::1] view
        cdef int st
        if start < 0 or stop < start:
            raise ValueError(f"bad row range [{start}, {stop})")
        mv = memoryview(out)
        if mv.readonly:
            raise TypeError("render_into needs a writable buffer (bytearray, numpy array, mmap...)")
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        view = mv
        if stop == start:
            return 0, 0, 0
        cdef SlotRT* slots = NULL
        keep = []
        memset(&res, 0, sizeof(res))
        scratch.start = NULL
        scratch.owned = 1
        try:
            slots = self._prepare(columns, stop, keep, &ctx, &scratch)
            target.owned = 0
            if view.shape[0]:
                buf_set(&target, &view[0], 0, view.shape[0])
            else:
                buf_set(&target, NULL, 0, 0)
            res.row = start
            with nogil:
                st = render_range(&ctx, &target, &scratch, start, stop, &res)
            if st == ST_ERROR:
                self._raise(&res, columns)
            return target.pos - target.start, res.row - start, res.dropped
        finally:
            buf_free(&scratch)
            PyMem_Free(slots)

    def bind(self, list columns, Py_ssize_t stop):
        """``columns`` checked and bound once for rows below ``stop``: a ``BoundColumns`` that
        renders ranges of them (a threaded render's many calls) without binding each time."""
        cdef BoundColumns bound = BoundColumns.__new__(BoundColumns)
        if stop < 0:
            raise ValueError(f"bad row count {stop}")
        bound.slots = <SlotRT*>PyMem_Malloc(sizeof(SlotRT) * (self.nslots + 1))
        if bound.slots == NULL:
            raise MemoryError()
        bound.renderer = self
        bound.columns = columns
        bound.keep = []
        bound.stop = stop
        self._bind(columns, stop, bound.slots, bound.keep)
        return bound

    def render_placed(self, list columns, Py_ssize_t start, Py_ssize_t stop, scratch, out,
                      const int64_t[::1] offsets, Py_ssize_t index, Py_ssize_t used=0):
        """``bind(columns, stop).render_placed(start, stop, ...)``: see ``BoundColumns``."""
        return self.bind(columns, stop).render_placed(start, stop, scratch, out, offsets, index,
                                                      used)


cdef class BoundColumns:
    """A ``Renderer`` with its columns checked and bound (``Renderer.bind``), for the many
    calls of a threaded render. Binding takes a memoryview of every buffer of every column
    (about 15 us for a WebSocket preset) with the GIL held; a threaded render of 1M rows
    makes over a hundred calls, and the other thread, back from its kernel, waits for the GIL
    meanwhile. Each call copies the bound slots (their caches are per call) and runs without
    the GIL."""

    cdef readonly Renderer renderer
    cdef SlotRT* slots
    cdef list keep       # the memoryviews the slots point into
    cdef readonly list columns
    cdef Py_ssize_t stop

    def __dealloc__(self):
        PyMem_Free(self.slots)

    def render_into(self, Py_ssize_t start, Py_ssize_t stop, out, Py_ssize_t used=0):
        """Render rows ``[start, stop)`` into the writable buffer ``out`` after the ``used``
        bytes it holds, whole records only: ``(nbytes, rows, dropped)``, ``nbytes`` with
        ``used`` included and ``rows < stop - start`` when ``out`` is full. Raises
        ``RenderError`` as ``Renderer.render_into``. (A range whose place is never known:
        ``render_placed`` keeps it in ``out``.)"""
        nbytes, rows, dropped, _ = self.render_placed(start, stop, out, _NOWHERE, _UNPLACED, 0,
                                                      used)
        return nbytes, rows, dropped

    def render_placed(self, Py_ssize_t start, Py_ssize_t stop, scratch, out,
                      const int64_t[::1] offsets, Py_ssize_t index, Py_ssize_t used=0):
        """Render rows ``[start, stop)`` as part of a threaded render's range ``index``.

        The range's place in ``out`` is ``offsets[index]``, which another thread stores
        (>= 0) once every range before it is rendered; -1 until then. The rows go into
        ``scratch``, after the ``used`` bytes the range already has there, until the offset
        is known, checked every ``PLACED_POLL_ROWS`` rows; then the bytes so far are copied
        to ``out`` at the offset and the remaining rows are rendered straight into ``out``.
        A range started while the one before it is still being rendered so copies only what
        it rendered before that one ended.

        Returns ``(nbytes, rows, dropped, offset)``: ``nbytes`` the range's bytes (``used``
        included), ``rows`` and ``dropped`` of these rows. ``offset`` >= 0: the bytes are in
        ``out`` from there, and ``rows < stop - start`` when ``out`` is full (0 rows when not
        even the bytes in scratch fit). ``offset`` -1: the bytes are in ``scratch``, the
        offset still unknown, and ``rows < stop - start`` when ``scratch`` is full. Raises
        ``RenderError`` as ``render_into``.
        """
        cdef Renderer r = self.renderer
        cdef Ctx ctx
        cdef RunResult res
        cdef fastctx_buf held, target, exact
        cdef unsigned char[::1] held_view, out_view
        cdef int64_t place = -1
        cdef Py_ssize_t size, chunk_end
        cdef int st = ST_OK
        if start < 0 or stop < start or stop > self.stop:
            raise ValueError(f"bad row range [{start}, {stop}) of {self.stop} bound rows")
        if not 0 <= index < offsets.shape[0]:
            raise IndexError(f"range {index} has no offset slot ({offsets.shape[0]})")
        held_view = _writable(scratch)
        out_view = _writable(out)
        if not 0 <= used <= held_view.shape[0]:
            raise ValueError(f"{used} bytes used of a scratch of {held_view.shape[0]}")
        size = out_view.shape[0]
        cdef unsigned char* out_ptr = &out_view[0] if size else NULL
        cdef SlotRT* slots = <SlotRT*>PyMem_Malloc(sizeof(SlotRT) * (r.nslots + 1))
        if slots == NULL:
            raise MemoryError()
        memcpy(slots, self.slots, sizeof(SlotRT) * r.nslots)
        memset(&res, 0, sizeof(res))
        exact.start = NULL
        exact.owned = 1
        try:
            r._init_ctx(&ctx, slots)
            if buf_init_owned(&exact, 4096) < 0:
                raise MemoryError()
            held.owned = 0
            target.owned = 0
            if held_view.shape[0]:
                buf_set(&held, &held_view[0], used, held_view.shape[0])
            else:
                buf_set(&held, NULL, 0, 0)
            res.row = start
            with nogil:
                # (a range with its offset never known, or a full scratch, ends with place -1)
                while True:
                    place = load_offset(&offsets[index])
                    if place >= 0 or res.row >= stop:
                        break
                    chunk_end = min(res.row + PLACED_POLL_ROWS, stop)
                    st = render_range(&ctx, &held, &exact, res.row, chunk_end, &res)
                    if st != ST_OK:
                        break
                used = held.pos - held.start
                if place >= 0:
                    if place >= size or used > size - place:
                        used = 0  # not even the bytes in scratch fit: nothing placed
                        res.row = start
                    else:
                        stream_copy(out_ptr + place, held.start, used, fastctx_render_stream)
                        if res.row < stop:
                            buf_set(&target, out_ptr + place, used, size - place)
                            st = render_range(&ctx, &target, &exact, res.row, stop, &res)
                            used = target.pos - target.start
            if st == ST_ERROR:
                r._raise(&res, self.columns)
            return used, res.row - start, res.dropped, place
        finally:
            buf_free(&exact)
            PyMem_Free(slots)


# ``BoundColumns.render_into``: an offset that is never known, and an output never written.
_UNPLACED = array("q", [-1])
_NOWHERE = bytearray()


cdef unsigned char[::1] _writable(buffer):
    """A writable buffer as bytes (TypeError for a read-only one)."""
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError("render_placed needs writable buffers")
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    return view


def prepare_output(size_t address, size_t size, bint populate=True):
    """Prepare the fresh pages of an output being built in place (the threaded render's
    ``bytes``) as ``render`` prepares its own, without pre-faulting them unless
    ``populate``; see ``prepare_fresh`` in ``_buffer.pxd``."""
    with nogil:
        prepare_fresh(<void*>address, size, populate)


def _fresh_slow_ns(long long ns):
    """Tests: the stage time above which ``render`` turns the rest of a large fresh output
    into pre-faulted small pages (0: after the first two stages; huge: never); returns the
    old."""
    old = _buffer.fastctx_fresh_slow_ns
    _buffer.fastctx_fresh_slow_ns = ns
    return old


def _forget_output():
    """Tests: as if no large output was ever made (the next large ``render`` takes
    pre-faulted small pages from the start)."""
    _buffer.fastctx_fresh_last_ns = -1


def output_done():
    """Note that a large output was just completed (read by ``prepare_output``)."""
    fresh_done()


def _use_stream(bint enabled):
    """Streaming stores for a threaded render's copies from scratch on (where the target has
    SSE2) or off (tests run both); returns the previous setting. Process-wide and not meant
    for use while other threads render."""
    global fastctx_render_stream
    cdef bint old = fastctx_render_stream and FASTCTX_HAVE_SSE2
    fastctx_render_stream = enabled
    return old


def _use_simd(bint enabled):
    """Turn the SSE2 clean-value check on or off (tests run both paths); returns the old state.

    Process-wide and not meant for use while other threads render.
    """
    old = _escape.fastctx_simd_enabled
    _escape.fastctx_simd_enabled = enabled and FASTCTX_HAVE_SSE2
    return bool(old)


fastctx_render_avx2 = fastctx_cpu_avx2()


def _use_avx2(bint enabled):
    """Turn the AVX2 offsets check on (where the CPU has AVX2) or off (tests run both);
    returns the previous setting. Process-wide and not meant for use while other threads
    render."""
    global fastctx_render_avx2
    cdef bint old = fastctx_render_avx2
    fastctx_render_avx2 = enabled and fastctx_cpu_avx2()
    return old


def enum_values():
    """The C enum values the kernel was compiled with, for checking against ``program.py``."""
    return {
        "Op": {"LIT": OP_LIT, "VAR": OP_VAR},
        "VType": {
            "INT": VT_INT, "EPOCH_MS": VT_EPOCH_MS, "CLF_TIME": VT_CLF_TIME,
            "TOKEN": VT_TOKEN, "TEXT": VT_TEXT, "QUOTED": VT_QUOTED,
        },
        "Esc": {
            "NONE": ESC_NONE, "JSON_STR": ESC_JSON_STR, "JSON_BARE": ESC_JSON_BARE,
            "XML": ESC_XML, "CSV": ESC_CSV, "CLF_QUOTED": ESC_CLF_QUOTED,
            "CLF_BRACKET": ESC_CLF_BRACKET, "CLF_BARE": ESC_CLF_BARE,
            "CLF_QUOTED_TOKEN": ESC_CLF_QUOTED_TOKEN,
        },
        "Action": {
            "COPY": ACT_COPY, "BACKSLASH": ACT_BACKSLASH, "HEX": ACT_HEX,
            "JSON_CTRL": ACT_JSON_CTRL, "XML_ENTITY": ACT_XML_ENTITY, "XML_DROP": ACT_XML_DROP,
            "XML_EF": ACT_XML_EF, "CSV_QUOTE": ACT_CSV_QUOTE,
        },
        "ColumnKind": {"int64": KIND_INT64, "timestamp": KIND_TIMESTAMP, "string": KIND_STRING},
    }
