# cython: language_level=3
"""CSV and JSON Lines text of a Batch's columns, row after row in one pass without the GIL.

The rules are ``tabletext``'s (RFC 4180 CSV with minimal quoting; JSON Lines as
``json.dumps(row, ensure_ascii=False)``; timestamps as ISO 8601 UTC to the millisecond),
and ``tabletext``'s row-by-row writers are the reference the tests hold this to. Times of
years 0 to 9999 are formatted here; ``tabletext`` hands a column holding any other year
over as text that numpy formatted.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastctx._calendar cimport civil_from_days
from fastctx._escape cimport csv_double
# SSE2 (emmintrin.h) where the target has it, and fastctx_ctz, for the C below
from fastctx._simd cimport FASTCTX_HAVE_SSE2, fastctx_ctz

cdef extern from *:
    """
    /* The index of the first byte of p[0:n] a JSON string escapes (a control, a quote or a
       backslash), or n; sixteen bytes a step, reading up to ``end`` (the column's last byte)
       past the value, so that a short value takes one step. */
    static Py_ssize_t fastctx_json_clean(const unsigned char *p, Py_ssize_t n,
                                         const unsigned char *end) {
        Py_ssize_t i = 0;
    #if FASTCTX_HAVE_SSE2
        const __m128i quote = _mm_set1_epi8(0x22), slash = _mm_set1_epi8(0x5C);
        const __m128i control = _mm_set1_epi8(0x1F);
        __m128i v, hit;
        unsigned bits;
        for (;; i += 16) {
            if (p + i + 16 > end) break;  /* past the column's bytes: byte by byte */
            v = _mm_loadu_si128((const __m128i *)(p + i));
            hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                               _mm_cmpeq_epi8(_mm_min_epu8(v, control), v));
            bits = (unsigned)_mm_movemask_epi8(hit);
            if (n - i < 16) bits &= (1u << (n - i)) - 1;  /* the bytes after the value */
            if (bits) return i + fastctx_ctz(bits);
            if (n - i <= 16) return n;
        }
    #endif
        for (; i < n; i++)
            if (p[i] < 0x20 || p[i] == 0x22 || p[i] == 0x5C) return i;
        return n;
    }
    /* Whether p[0:n] holds a byte that makes a CSV field quoted: comma, quote, CR, LF. */
    static int fastctx_csv_special(const unsigned char *p, Py_ssize_t n, const unsigned char *end) {
        Py_ssize_t i = 0;
    #if FASTCTX_HAVE_SSE2
        const __m128i comma = _mm_set1_epi8(0x2C), quote = _mm_set1_epi8(0x22);
        const __m128i cr = _mm_set1_epi8(0x0D), lf = _mm_set1_epi8(0x0A);
        __m128i v, hit;
        unsigned bits;
        for (; i < n; i += 16) {
            if (p + i + 16 > end) break;
            v = _mm_loadu_si128((const __m128i *)(p + i));
            hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            bits = (unsigned)_mm_movemask_epi8(hit);
            if (n - i < 16) bits &= (1u << (n - i)) - 1;
            if (bits) return 1;
        }
    #endif
        for (; i < n; i++)
            if (p[i] == 0x2C || p[i] == 0x22 || p[i] == 0x0D || p[i] == 0x0A) return 1;
        return 0;
    }
    """
    Py_ssize_t fastctx_json_clean(const uint8_t *p, Py_ssize_t n, const uint8_t *end) noexcept nogil
    bint fastctx_csv_special(const uint8_t *p, Py_ssize_t n, const uint8_t *end) noexcept nogil


cdef extern from "Python.h":
    # on failure the object is freed and the pointer set to NULL
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize) except -1

__all__ = ["write_rows", "ISO_MIN_MS", "ISO_MAX_MS"]

cdef enum:
    K_STRING = 0
    K_NUMBER = 1
    K_TIME = 2

cdef enum:
    DAY_MS = 86400000
    ROW_BLOCK = 256  # rows a room check covers
#: The epoch milliseconds of 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
ISO_MIN_MS = -62167219200000
ISO_MAX_MS = 253402300799999

cdef const char *HEX = b"0123456789abcdef"
cdef const char *DIGITS2 = (b"00010203040506070809101112131415161718192021222324252627282930"
                            b"31323334353637383940414243444546474849505152535455565758596061"
                            b"62636465666768697071727374757677787980818283848586878889909192"
                            b"93949596979899")

cdef struct Col:
    int kind
    const int64_t *values
    const uint8_t *data
    const uint8_t *data_end  # past the column's last byte
    const uint8_t *valid   # NULL: no nulls
    const uint8_t *key     # JSON: '{"name": ' or ', "name": '
    Py_ssize_t key_len

# JSON: 1 for a two-character escape, 2 for \u00XX.
cdef uint8_t JSON_ESCAPE[256]
cdef uint8_t JSON_SHORT[256]


cdef void _tables():
    cdef int c
    for c in range(256):
        JSON_ESCAPE[c] = 2 if c < 32 else 0
        JSON_SHORT[c] = 0
    for c, short in ((34, 34), (92, 92), (8, 98), (12, 102), (10, 110), (13, 114), (9, 116)):
        JSON_ESCAPE[c] = 1
        JSON_SHORT[c] = short


_tables()


cdef inline uint8_t *write_i64(uint8_t *o, int64_t value) noexcept nogil:
    cdef uint8_t tmp[20]
    cdef int n = 0
    cdef uint64_t v = <uint64_t>value
    if value < 0:
        o[0] = b'-'
        o += 1
        v = <uint64_t>0 - v  # also right for the most negative value
    while True:
        tmp[19 - n] = <uint8_t>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    memcpy(o, &tmp[20 - n], <size_t>n)
    return o + n


cdef inline uint8_t *write_iso(uint8_t *o, int64_t ms) noexcept nogil:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of a time of a year 0 to 9999."""
    cdef int64_t days = ms // DAY_MS, rest, year, month, day
    if ms - days * DAY_MS < 0:  # C division truncates: floor for times before 1970
        days -= 1
    rest = ms - days * DAY_MS
    civil_from_days(days, &year, &month, &day)
    memcpy(o, DIGITS2 + 2 * (year // 100), 2)
    memcpy(o + 2, DIGITS2 + 2 * (year % 100), 2)
    o[4] = b'-'
    memcpy(o + 5, DIGITS2 + 2 * month, 2)
    o[7] = b'-'
    memcpy(o + 8, DIGITS2 + 2 * day, 2)
    o[10] = b'T'
    memcpy(o + 11, DIGITS2 + 2 * (rest // 3600000), 2)
    o[13] = b':'
    memcpy(o + 14, DIGITS2 + 2 * (rest // 60000 % 60), 2)
    o[16] = b':'
    memcpy(o + 17, DIGITS2 + 2 * (rest // 1000 % 60), 2)
    o[19] = b'.'
    o[20] = <uint8_t>(48 + rest % 1000 // 100)
    memcpy(o + 21, DIGITS2 + 2 * (rest % 100), 2)
    o[23] = b'Z'
    return o + 24


cdef inline uint8_t *csv_field(uint8_t *o, const uint8_t *p, Py_ssize_t n,
                               const uint8_t *end) noexcept nogil:
    if not fastctx_csv_special(p, n, end):
        memcpy(o, p, <size_t>n)
        return o + n
    o[0] = b'"'
    o = csv_double(p, p + n, end, o + 1)
    o[0] = b'"'
    return o + 1


cdef inline uint8_t *json_string(uint8_t *o, const uint8_t *p, Py_ssize_t n,
                                 const uint8_t *end) noexcept nogil:
    cdef Py_ssize_t k
    cdef uint8_t c
    o[0] = b'"'
    o += 1
    while True:
        k = fastctx_json_clean(p, n, end)
        memcpy(o, p, <size_t>k)
        o += k
        if k == n:
            break
        c = p[k]
        o[0] = b'\\'
        if JSON_ESCAPE[c] == 1:
            o[1] = JSON_SHORT[c]
            o += 2
        else:
            memcpy(o + 1, b"u00", 3)
            o[4] = HEX[c >> 4]
            o[5] = HEX[c & 15]
            o += 6
        p += k + 1
        n -= k + 1
    o[0] = b'"'
    return o + 1


cdef Py_ssize_t write_all(Col *cols, int ncols, Py_ssize_t start, Py_ssize_t rows, bint json,
                          uint8_t *out, Py_ssize_t *length, Py_ssize_t cap) noexcept nogil:
    """Rows from ``start`` on at ``out + length[0]``, a block of rows at a time while the
    block's worst case fits in ``cap``; returns the first row not written."""
    cdef Py_ssize_t r, n, bound, fixed = 4, block, stop
    cdef int k
    cdef Col *c
    cdef bint valid
    cdef uint8_t *o = out + length[0]
    cdef uint8_t *row_start
    # a row's worst case: per field its key or comma and 26 bytes for a number or a time
    # with quotes, or null; six bytes a string byte (\u00XX); the row's end
    for k in range(ncols):
        fixed += cols[k].key_len + 26
    block = start
    while block < rows:
        stop = min(block + ROW_BLOCK, rows)
        bound = fixed * (stop - block)
        for k in range(ncols):
            c = cols + k
            if c.kind == K_STRING:  # the block's string bytes, from two offsets
                bound += 6 * (c.values[stop] - c.values[block])
        if (o - out) + bound > cap:
            length[0] = o - out
            return block
        for r in range(block, stop):
            row_start = o
            for k in range(ncols):
                c = cols + k
                valid = c.valid == NULL or (c.valid[r >> 3] >> (r & 7)) & 1
                if json:
                    memcpy(o, c.key, <size_t>c.key_len)
                    o += c.key_len
                elif k:
                    o[0] = b','
                    o += 1
                if not valid:
                    if json:
                        memcpy(o, b"null", 4)
                        o += 4
                elif c.kind == K_STRING:
                    n = c.values[r + 1] - c.values[r]
                    if json:
                        o = json_string(o, c.data + c.values[r], n, c.data_end)
                    else:
                        o = csv_field(o, c.data + c.values[r], n, c.data_end)
                elif c.kind == K_NUMBER:
                    o = write_i64(o, c.values[r])
                elif json:
                    o[0] = b'"'
                    o = write_iso(o + 1, c.values[r])
                    o[0] = b'"'
                    o += 1
                else:
                    o = write_iso(o, c.values[r])
            if json:
                memcpy(o, b"}\n", 2)
                o += 2
            else:
                if ncols == 1 and o == row_start:  # not a blank line, which readers skip
                    memcpy(o, b'""', 2)
                    o += 2
                o[0] = b'\n'
                o += 1
        block = stop
    length[0] = o - out
    return rows


cdef bint _offsets_ok(const int64_t *v, Py_ssize_t rows, Py_ssize_t size) noexcept nogil:
    """Every value of rows ``[0, rows)`` lies inside the column's ``size`` bytes."""
    cdef Py_ssize_t r
    cdef bint ok = v[0] >= 0 and v[rows] <= size
    for r in range(rows):
        ok &= v[r] <= v[r + 1]
    return ok


# where an empty string column's bytes point: never NULL, which memcpy may not be given even
# for no bytes
cdef uint8_t _NO_BYTES[1]


cdef const uint8_t *_u8(object array):
    cdef const uint8_t[::1] view
    if array is None or len(array) == 0:
        return NULL
    view = array
    return &view[0]


cdef const int64_t *_i64(object array):
    cdef const int64_t[::1] view = array
    return &view[0]


def write_rows(list columns, Py_ssize_t rows, bint json):
    """Every row of the columns as CSV (``json`` false, no header) or JSON Lines, UTF-8.

    ``columns``: per column ``(kind, values, data, validity, key)``: kind 0 a string (int64
    offsets, uint8 data), 1 a number (int64 values), 2 a time (int64 epoch milliseconds of
    years 0-9999, written as ISO text); ``validity`` a bitmap or None; ``key`` the bytes
    before the value in JSON (``{"name": `` first, ``, "name": `` after). At least one column.

    The text is written straight into the bytes object returned, reserved at the size rows
    without escapes take (pages never written are never touched) and shrunk at the end.
    """
    cdef int ncols = len(columns), k
    if ncols == 0:
        raise ValueError("no columns to write")
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows}")
    for k, column in enumerate(columns):
        if column[0] not in (K_STRING, K_NUMBER, K_TIME):
            raise ValueError(f"column {k}: kind {column[0]!r} is not 0, 1 or 2")
    cdef Col *cols = <Col *>malloc(ncols * sizeof(Col))
    cdef Py_ssize_t cap = 4096, length = 0, row = 0
    cdef PyObject *text = NULL
    cdef uint8_t *out
    if cols == NULL:
        raise MemoryError()
    try:
        for k, (kind, values, data, validity, key) in enumerate(columns):
            if len(values) < rows + (1 if kind == K_STRING else 0):
                raise ValueError(f"column {k} is shorter than {rows} rows")
            if validity is not None and len(validity) < (rows + 7) // 8:
                raise ValueError(f"column {k}'s validity is shorter than {rows} rows")
            cols[k].kind = kind
            cols[k].values = _i64(values)
            if kind == K_STRING and not _offsets_ok(cols[k].values, rows, len(data)):
                raise ValueError(f"column {k}'s offsets are not non-decreasing within its "
                                 f"{len(data)} bytes")
            cols[k].data = _u8(data)
            if cols[k].data == NULL:
                cols[k].data = _NO_BYTES
            cols[k].data_end = cols[k].data + (len(data) if data is not None else 0)
            cols[k].valid = _u8(validity)
            if not isinstance(key, bytes):
                raise TypeError(f"column {k}'s key must be bytes, not {type(key).__name__}")
            cols[k].key = <const uint8_t *>(<bytes>key)
            cols[k].key_len = len(key)
            cap += rows * (len(key) + 26) + (values[rows] - values[0] if kind == K_STRING else 0)
        result = PyBytes_FromStringAndSize(NULL, cap)
        text = <PyObject *>result
        Py_INCREF(result)
        del result
        while True:
            out = <uint8_t *>PyBytes_AS_STRING(<object>text)
            with nogil:
                row = write_all(cols, ncols, row, rows, json, out, &length, cap)
            if row == rows:
                break
            cap *= 2  # escapes: rare
            _PyBytes_Resize(&text, cap)
        _PyBytes_Resize(&text, length)
        result = <object>text
        Py_DECREF(result)
        text = NULL
        return result
    finally:
        if text != NULL:
            Py_DECREF(<object>text)
        free(cols)
