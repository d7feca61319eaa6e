# cython: language_level=3
"""Byte-level escaping for the render kernel, driven by ``program.ESCAPE_TABLES``.

Every escape method is one 256-byte action table (``Action`` codes, 0 = copy). Clean runs
are copied eight bytes at a time after one OR of eight table lookups; only flagged bytes
branch. The rules match ``_reference.escape_value`` byte for byte.
"""

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy

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


cdef inline unsigned char* escape_with_table(
    const uint8_t* t, const uint8_t* p, const uint8_t* e, unsigned char* o, int64_t* dropped
) noexcept nogil:
    """Escape ``[p, e)`` into ``o`` (room for ``MAX_EXPANSION`` bytes per input byte).

    Handles every action but ``CSV_QUOTE`` (CSV quotes whole fields, see ``csv_double``).
    Returns the new write position; characters dropped for XML are added to ``dropped``.
    """
    cdef uint8_t c, action
    while p < e:
        if e - p >= 8 and chunk_clean(t, p):
            memcpy(o, p, 8)
            o += 8
            p += 8
            continue
        c = p[0]
        p += 1
        action = t[c]
        if action == ACT_COPY or action == ACT_CSV_QUOTE:
            o[0] = c
            o += 1
        elif action == ACT_BACKSLASH:
            o[0] = b'\\'
            o[1] = c
            o += 2
        elif action == ACT_HEX:
            o[0] = b'\\'
            o[1] = b'x'
            o[2] = HEX_DIGITS[c >> 4]
            o[3] = HEX_DIGITS[c & 15]
            o += 4
        elif action == ACT_JSON_CTRL:
            o[0] = b'\\'
            if c == b'\n':
                o[1] = b'n'
                o += 2
            elif c == b'\r':
                o[1] = b'r'
                o += 2
            elif c == b'\t':
                o[1] = b't'
                o += 2
            else:
                o[1] = b'u'
                o[2] = b'0'
                o[3] = b'0'
                o[4] = HEX_DIGITS[c >> 4]
                o[5] = HEX_DIGITS[c & 15]
                o += 6
        elif action == ACT_XML_ENTITY:
            o = write_xml_entity(o, c)
        elif action == ACT_XML_DROP:
            dropped[0] += 1
        else:  # ACT_XML_EF: U+FFFE / U+FFFF (EF BF BE / EF BF BF) are not XML characters
            if e - p >= 2 and p[0] == 0xBF and (p[1] == 0xBE or p[1] == 0xBF):
                p += 2
                dropped[0] += 1
            else:
                o[0] = c
                o += 1
    return o


cdef inline unsigned char* csv_double(const uint8_t* p, const uint8_t* e, unsigned char* o) noexcept nogil:
    """Copy ``[p, e)`` doubling every ``"`` (the inside of an RFC 4180 quoted field)."""
    cdef uint8_t c
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
    """``-?(0|[1-9][0-9]*)``, the whole of ``[p, p + n)``."""
    cdef Py_ssize_t i = 0
    if i < n and p[i] == b'-':
        i += 1
    if i >= n:
        return False
    if p[i] == b'0':
        return i + 1 == n
    while i < n:
        if not is_digit(p[i]):
            return False
        i += 1
    return True
