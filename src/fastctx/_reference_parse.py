"""Pure-Python parser of ``Program`` records: the test oracle for the ``_parse`` kernel.

It follows the parse plan of ``parseplan.py`` step for step, written for clarity, not speed;
every kernel parse test runs against it and both must agree on values, counts and rejects.

Values that do not survive a round trip, by design (SPEC section 2): a rendered ``-`` is null,
so a string value ``"-"`` or ``""`` reads back as ``None`` (except ``"-"`` in a JSON bare
position, written as the JSON string ``"-"``); timestamps are rendered to the second, so
milliseconds are lost; XML drops characters XML 1.0 cannot hold.
"""

from __future__ import annotations

from .batch import Batch, Column, Reject, Stats
from ._reference import MAX_CLF_MS, MIN_CLF_MS, is_json_number
from .errors import ParseError
from .parseplan import (
    D_BAD,
    D_COPY,
    D_ESC,
    D_ODD,
    D_XEF,
    E_CHAR,
    E_CSV,
    E_DUP,
    E_ESCAPE,
    E_INT,
    E_JSON,
    E_LITERAL,
    E_PREFIX,
    E_QUOTES,
    E_RANGE,
    E_SUFFIX,
    E_TIME,
    E_UTF8,
    FORM_CSV,
    FORM_JSON_BARE,
    FORM_STOP,
    FORM_TIME,
    ParsePlan,
    describe_error,
    plan as make_plan,
    searchable,
)
from .program import ESCAPE_TABLES, Action, Esc, Program, VType

__all__ = ["parse", "normalize_input", "ON_ERROR"]

ON_ERROR = ("raise", "skip", "collect")
MONTHS = {m: i + 1 for i, m in enumerate(
    (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"))}
_HEX = b"0123456789abcdefABCDEF"
_LOWER_HEX = b"0123456789abcdef"
_JSON_NUMBER_CHARS = b"+-.eE0123456789"
_TIME_SHAPE = b"dd/MMM/dddd:dd:dd:dd sdddd"
_XML_NAMED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}
_CLF_SHORT = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("v"): 11, ord("f"): 12}
INT64_MAX = 2**63 - 1


class _Fail(Exception):
    """A record that does not parse: error code, slot or literal index, byte position."""

    def __init__(self, code: int, index: int, column: int):
        self.code = code
        self.index = index
        self.column = column


def normalize_input(data) -> memoryview:
    """bytes, bytearray, memoryview, mmap or str -> a 1-D byte memoryview."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view


# -- record boundaries ------------------------------------------------------------------------


def record_end(data: bytes, pos: int, csv_quotes: bool) -> int:
    """Index of the newline ending the record at ``pos`` (``len(data)`` if none)."""
    if not csv_quotes:
        end = data.find(b"\n", pos)
        return len(data) if end < 0 else end
    # RFC 4180: a field that starts with '"' runs to the '"' not doubled; newlines inside it
    # belong to the record. Quotes elsewhere in a field are plain bytes here.
    index = pos
    field_start = True
    length = len(data)
    while index < length:
        byte = data[index]
        if byte == 0x0A:
            return index
        if field_start and byte == 0x22:
            index = _closing_quote(data, index) + 1
            field_start = False
            continue
        field_start = byte == 0x2C
        index += 1
    return length


def _closing_quote(data: bytes, opening: int) -> int:
    """Index of the '"' that closes the CSV field opened at ``opening`` (the first one not
    doubled), or ``len(data)`` if none does."""
    index, length = opening + 1, len(data)
    while index < length:
        if data[index] == 0x22:
            if data[index + 1 : index + 2] != b'"':
                return index
            index += 1
        index += 1
    return length


# -- splitting a record into slot spans -------------------------------------------------------


def _time_shape(rec: bytes, start: int) -> bool:
    if len(rec) - start < 26:
        return False
    for index, kind in enumerate(_TIME_SHAPE):
        byte = rec[start + index]
        if kind == ord("d"):
            ok = 0x30 <= byte <= 0x39
        elif kind == ord("M"):
            ok = 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A
        elif kind == ord("s"):
            ok = byte in b"+-"
        else:
            ok = byte == kind
        if not ok:
            return False
    return True


def scan_forward(rec: bytes, front: int, back: int, sp) -> int:
    """End of the value starting at ``front`` (the slot can find it by itself)."""
    if sp.form == FORM_TIME:
        if back - front >= 26 and _time_shape(rec[: front + 26], front):
            return front + 26
        if front < back and rec[front] == 0x2D:
            return front + 1
        raise _Fail(E_TIME, -1, front)
    if sp.form == FORM_JSON_BARE:
        if rec[front : front + 4] == b"null" and front + 4 <= back:
            return front + 4
        if front < back and rec[front] == 0x22:
            index = front + 1
            while index < back:
                byte = rec[index]
                if byte == 0x22:
                    return index + 1
                index += 2 if byte == 0x5C else 1
            raise _Fail(E_JSON, -1, front)
        if front < back and rec[front] in b"-0123456789":
            index = front
            while index < back and rec[index] in _JSON_NUMBER_CHARS:
                index += 1
            return index
        raise _Fail(E_JSON, -1, front)
    if sp.form == FORM_CSV and front < back and rec[front] == 0x22:
        index = front + 1
        while index < back:
            if rec[index] == 0x22:
                if index + 1 < back and rec[index + 1] == 0x22:
                    index += 2
                    continue
                return index + 1
            index += 1
        raise _Fail(E_CSV, -1, front)
    stop = sp.stop
    index = front
    while index < back:
        byte = rec[index]
        if stop[byte]:
            break
        index += 2 if (sp.skip and byte == 0x5C) else 1
    return min(index, back)


def scan_backward(rec: bytes, front: int, back: int, sp) -> int:
    """Start of the value ending at ``back`` (the slot can find it by itself)."""
    if sp.form == FORM_TIME:
        if back > front and rec[back - 1] == 0x2D:
            return back - 1
        if back - front >= 26 and _time_shape(rec, back - 26):
            return back - 26
        raise _Fail(E_TIME, -1, max(front, back - 26))
    table = sp.back
    index = back
    while index > front and not table[rec[index - 1]]:
        index -= 1
    return index


def find_split(rec: bytes, front: int, back: int, literal: bytes, skip: bool, least: int = 0) -> int:
    """Leftmost start ``> front`` and ``>= least`` of ``literal`` in ``rec[front:back]``, not
    inside an escape."""
    index = front
    size = len(literal)
    if size == 0:
        # adjacent slots: the shortest value that is not empty, not half an escape and not
        # half a UTF-8 character
        step = 1
        if front < back:
            lead = rec[front]
            if skip and lead == 0x5C:
                step = 2
            elif lead >= 0xF0:
                step = 4
            elif lead >= 0xE0:
                step = 3
            elif lead >= 0xC0:
                step = 2
        return front + step if front + step <= back else -1
    if not skip:  # no escapes to step over: the search may start where a split may be
        return rec.find(literal, max(front + 1, least), back)
    while index + size <= back:
        if index > front and index >= least and rec[index : index + size] == literal:
            return index
        index += 2 if (skip and rec[index] == 0x5C) else 1
    return -1


def quoted_end(rec: bytes, front: int, back: int, sp) -> int:
    """The end of a ``quoted`` value at ``front`` that no literal follows (the next slot is
    adjacent): just past its closing quote, as its escape writes a quote (``"``, ``\\"`` or
    ``&quot;``); -1 if it does not start with one, never closes, or is CSV (which delimits
    itself)."""
    if sp.raw_quotes:
        quote = b'"'
    elif sp.esc in (Esc.JSON_STR, Esc.CLF_QUOTED, Esc.CLF_QUOTED_TOKEN):
        quote = b'\\"'
    elif sp.esc == Esc.XML:
        quote = b"&quot;"
    elif sp.esc in (Esc.NONE, Esc.CLF_BRACKET, Esc.CLF_BARE):
        quote = b'"'
    else:
        return -1
    size = len(quote)
    if back - front < 2 * size or rec[front : front + size] != quote:
        return -1
    close = find_split(rec, front, back, quote, sp.skip, front + size)
    return -1 if close < 0 else close + size


#: Retries of a rejected record with a later first split (see ``parse_record``).
LATER_SPLITS = 16
#: Steps of the split search per slot of the middle (see ``search_middle``).
SEARCH_STEPS = 32


def search_middle(rec: bytes, front: int, back: int, i: int, j: int, literals, slots) -> list:
    """Spans of slots ``i`` to ``j`` (the middle, ``rec[front:back]``): the leftmost split in
    which no value is empty, holds a byte its slot never holds or lacks its shape
    (``shape``), or ``_Fail``. (A line written by API Gateway or fastctx has no empty value:
    null is ``-``.)

    Depth first, leftmost occurrence first; a slot that ends at its own byte (``forward``)
    has one end. A slot that cannot start at a position is remembered, so no state is
    explored twice, and the search stops after ``SEARCH_STEPS`` steps per slot: the work
    stays linear in the record. The values are checked in full afterwards, as any split's.
    """
    def shape(k: int, a: int, b: int) -> int:
        """Whether ``rec[a:b]`` has the shape of slot ``k``'s value (0), or not but a longer
        one may (1), or no longer one can either (2): an int is ``-?[0-9]+`` or ``-`` (its
        other bytes are ones it never holds), a ``quoted`` value ``-`` or in its quotes."""
        sp = slots[k]
        if sp.form in (FORM_JSON_BARE, FORM_CSV):
            return 0
        if sp.vtype in (VType.INT, VType.EPOCH_MS):
            return 2 if 0x2D in rec[a + 1 : b] else 0
        if sp.vtype == VType.QUOTED:
            if rec[a] != 0x22:
                return 0 if b - a == 1 and rec[a] == 0x2D else 2
            return 0 if b - a >= 2 and rec[b - 1] == 0x22 else 1
        return 0

    limit = SEARCH_STEPS * (j - i + 1)
    # the last slot's earliest start: just past the last byte before the end it never holds
    floor = back
    while floor > front and not slots[j].back[rec[floor - 1]]:
        floor -= 1
    failed = set()
    starts, ends = [0] * (j + 1), [-1] * (j + 1)
    starts[i] = front
    k, steps, first_descent = i, 0, True
    while True:
        steps += 1
        if steps > limit:
            raise _Fail(E_LITERAL, i + 1, front)
        sp, a = slots[k], starts[k]
        if k == j:
            if floor <= a < back and shape(j, a, back) == 0:
                ends[j] = back
                return [(starts[m], ends[m]) for m in range(i, j + 1)]
            end = -1
        elif sp.forward:
            end = -1
            if ends[k] < 0:
                try:
                    end = scan_forward(rec, a, back, sp)
                except _Fail:
                    end = -1
                literal = literals[k + 1]
                if end >= 0 and (end == a or end + len(literal) > back
                                 or rec[end : end + len(literal)] != literal
                                 or shape(k, a, end) != 0):
                    end = -1  # (an int's scan takes `2024-01`, which is no int)
        else:
            prev = ends[k]
            end = find_split(rec, a, back, literals[k + 1], False, prev + 1 if prev >= 0 else 0)
            if end < 0 and prev < 0 and first_descent:
                # every slot is at its earliest start until the first step back: its literal
                # occurs nowhere after it, so no split has it
                raise _Fail(E_LITERAL, i + 1, front)
            # the value up to the candidate holds no byte its slot never holds, else no later
            # candidate can (the bytes before the previous one were checked with it)
            if end >= 0 and any(sp.back[byte] for byte in rec[max(prev, a) : end]):
                end = -1
            shaped = shape(k, a, end) if end >= 0 else 0
            if shaped == 1:
                ends[k] = end  # the next candidate, a step later
                continue
            if shaped == 2:
                end = -1
        if end < 0:
            failed.add((k, a))
            first_descent = False
            k -= 1
            if k < i:
                raise _Fail(E_LITERAL, i + 1, front)
            continue
        ends[k] = end
        start = end + len(literals[k + 1])
        if (k + 1, start) in failed:
            continue
        starts[k + 1], ends[k + 1] = start, -1
        k += 1


def split(rec: bytes, literals, slots, later: int = 0, target: list | None = None,
          search: bool = False) -> list:
    """Spans ``(start, end)`` of every slot, or ``_Fail``.

    The split of slot ``target[0]`` (a slot of the middle that does not find its own end)
    takes the ``later``-th occurrence of its literal after the one it would take; where there
    is none, ``target[0]`` becomes -1 (no further retry). ``search``: the middle is split by
    ``search_middle`` instead.
    """
    if target is None:
        target = [-1]
    n = len(slots)
    first, last = literals[0], literals[n]
    if not rec.startswith(first):
        raise _Fail(E_PREFIX, 0, 0)
    front = len(first)
    if n == 0:
        if len(rec) != front:
            raise _Fail(E_SUFFIX, 0, min(front, len(rec)))
        return []
    if len(rec) - front < len(last) or not rec.endswith(last):
        raise _Fail(E_SUFFIX, n, max(front, len(rec) - len(last)))
    back = len(rec) - len(last)
    spans: list = [None] * n
    i, j = 0, n - 1

    def before_token(k: int, end: int) -> int:
        """The split of slot ``k`` (the leftmost at ``end``) before a token or number split
        at its own literal: the first that leaves it no byte it never holds up to its
        leftmost split (of at most ``LATER_SPLITS + 1`` where either is escaped), else the
        leftmost."""
        literal, nx, after = literals[k + 1], slots[k + 1], literals[k + 2]
        first = end
        if not slots[k].skip and not nx.skip:
            # neither escaped: every occurrence, each byte looked at once (see the kernel's
            # split_before_token)
            stop = -1
            while True:
                start = end + len(literal)
                if stop <= start:
                    stop = find_split(rec, start, back, after, False)
                    if stop < 0:
                        return first
                last = next((i for i in range(stop - 1, start - 1, -1) if nx.back[rec[i]]), -1)
                if last < 0:
                    return end
                # past the last byte the token never holds
                end = find_split(rec, front, back, literal, False, max(end + 1, last + 1 - len(literal)))
                if end < 0:
                    return first
        for _ in range(LATER_SPLITS + 1):
            start = end + len(literal)
            stop = find_split(rec, start, back, after, nx.skip)
            if stop < 0:
                return first
            if not any(nx.back[byte] for byte in rec[start:stop]):
                return end
            end = find_split(rec, front, back, literal, slots[k].skip, end + 1)
            if end < 0:
                return first
        return first

    def before_time(k: int, end: int) -> int:
        """The split of slot ``k`` (the leftmost at ``end``) before a CLF time with a literal
        after it: the first followed by a time's shape (or ``-``) and that literal, else the
        leftmost; with escapes in the text at most ``LATER_SPLITS + 1`` tries."""
        literal, after, sp = literals[k + 1], literals[k + 2], slots[k]
        first, tries = end, 0
        while True:
            start = end + len(literal)
            stop = (start + 26 if back - start >= 26 and _time_shape(rec, start)
                    else start + 1 if start < back and rec[start] == 0x2D else -1)
            if stop >= 0 and stop + len(after) <= back and rec[stop : stop + len(after)] == after:
                return end
            if sp.skip:
                tries += 1
                if tries > LATER_SPLITS:
                    return first
            end = find_split(rec, front, back, literal, sp.skip, end + 1)
            if end < 0:
                return first

    def take_forward(k: int, least: int = 0) -> None:
        nonlocal front
        sp = slots[k]
        literal = literals[k + 1]
        if sp.forward:
            try:
                end = scan_forward(rec, front, back, sp)
            except _Fail as fail:
                raise _Fail(fail.code, k, fail.column) from None
            if end + len(literal) > back or rec[end : end + len(literal)] != literal:
                raise _Fail(E_LITERAL, k + 1, end)
        else:
            end = -1
            if not literal and sp.vtype == VType.QUOTED:  # an adjacent slot: the closing quote
                end = quoted_end(rec, front, back, sp)
            if end < 0:
                end = find_split(rec, front, back, literal, sp.skip, least)
                if not literal and front < end < least < back:
                    end = least  # adjacent: the shortest value reaches the floor
            if end < 0 and least > front:  # no split leaves the next slot valid: the leftmost
                end = find_split(rec, front, back, literal, sp.skip)
            if end < 0:
                raise _Fail(E_LITERAL, k + 1, front)
            if (k + 1 < j and literal and literals[k + 2]
                    and slots[k + 1].vtype in (VType.TOKEN, VType.INT, VType.EPOCH_MS)):
                # forward or not: a forward token ends at its first blank, so the leftmost
                # split of a free text holding one failed it in the escaped mode too
                end = before_token(k, end)
            elif k + 1 < j and literal and literals[k + 2] and slots[k + 1].form == FORM_TIME:
                end = before_time(k, end)
            if k == target[0]:
                for _ in range(later):
                    end = find_split(rec, front, back, literal, sp.skip, end + 1)
                    if end < 0:
                        target[0] = -1
                        raise _Fail(E_LITERAL, k + 1, front)
        spans[k] = (front, end)
        front = end + len(literal)

    while i < j and slots[i].forward:
        take_forward(i)
        i += 1
    while j > i and slots[j].backward:
        sp = slots[j]
        literal = literals[j]
        try:
            start = scan_backward(rec, front, back, sp)
        except _Fail as fail:
            raise _Fail(fail.code, j, fail.column) from None
        if start - len(literal) < front or rec[start - len(literal) : start] != literal:
            raise _Fail(E_LITERAL, j, start)
        spans[j] = (start, back)
        back = start - len(literal)
        j -= 1
    if search:
        spans[i : j + 1] = search_middle(rec, front, back, i, j, literals, slots)
        return spans
    while i < j:
        least = 0
        if i == j - 1 and slots[j].form == FORM_STOP:
            # the last slot takes the rest: the split before it must not leave it a byte it
            # never holds (``r1,a, b,c1,200``: ``a, b`` and ``c1``, not ``a`` and `` b,c1``;
            # ``abc200`` read by ``$context.requestId$context.status``: ``abc`` and ``200``)
            least = scan_backward(rec, front, back, slots[j]) - len(literals[i + 1])
        take_forward(i, least)
        i += 1
    spans[i] = (front, back)
    return spans


# -- decoding one value -----------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Howard Hinnant's (year, month, day) -> days since 1970-01-01, proleptic Gregorian."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_time(rec: bytes, a: int, b: int, slot: int):
    """``dd/MMM/yyyy:HH:mm:ss +hhmm`` -> ``(epoch ms, canonical)``."""
    if b - a != 26 or not _time_shape(rec[:b], a):
        raise _Fail(E_TIME, slot, a)
    v = rec[a:b]
    month = MONTHS.get(bytes(v[3:6]))
    day, year = int(v[0:2]), int(v[7:11])
    hour, minute, second = int(v[12:14]), int(v[15:17]), int(v[18:20])
    off_h, off_m = int(v[22:24]), int(v[24:26])
    if (month is None or not 1 <= day <= _days_in_month(year, month) or hour > 23 or minute > 59
            or second > 59 or off_h > 23 or off_m > 59):
        raise _Fail(E_TIME, slot, a)
    offset = (off_h * 60 + off_m) * 60
    if v[21] == 0x2D:
        offset = -offset
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    if not MIN_CLF_MS <= seconds * 1000 <= MAX_CLF_MS:  # a UTC time CLF cannot show
        raise _Fail(E_TIME, slot, a)
    return seconds * 1000, v[21:26] == b"+0000"


def parse_int(rec: bytes, a: int, b: int, slot: int):
    """``-?[0-9]+`` -> ``(int, canonical)``."""
    index = a + (1 if a < b and rec[a] == 0x2D else 0)
    digits = rec[index:b]
    if not digits or any(not 0x30 <= d <= 0x39 for d in digits):
        raise _Fail(E_INT, slot, a)
    # past its leading zeros, a number of more than 19 digits is out of range (and int()
    # refuses strings of more than 4,300 digits)
    significant = digits.lstrip(b"0")
    negative = index > a
    if len(significant) > 19:
        raise _Fail(E_RANGE, slot, a)
    value = int(significant or b"0")
    if value > INT64_MAX + negative:
        raise _Fail(E_RANGE, slot, a)
    canonical = not (len(digits) > 1 and digits[0] == 0x30) and not (negative and value == 0)
    return (-value if negative else value), canonical


def _is_xml_char(cp: int) -> bool:
    return cp in (9, 10, 13) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF


def _hex_value(raw: bytes):
    if not raw or any(byte not in _HEX for byte in raw):
        return None
    return int(raw, 16)


def decode_escaped(rec: bytes, a: int, b: int, sp, slot: int):
    """Undo the slot's escaping over ``rec[a:b]``: ``(bytes, canonical)``."""
    table = sp.decode
    esc = sp.esc
    out = bytearray()
    canonical = True
    check_utf8 = False
    index = a
    while index < b:
        byte = rec[index]
        kind = table[byte]
        if kind == D_COPY:
            out.append(byte)
            index += 1
        elif kind == D_BAD:
            raise _Fail(E_CHAR, slot, index)
        elif kind == D_ODD:
            out.append(byte)
            canonical = False
            index += 1
        elif kind == D_XEF:
            if rec[index + 1 : index + 3] in (b"\xbf\xbe", b"\xbf\xbf") and index + 3 <= b:
                raise _Fail(E_CHAR, slot, index)
            out.append(byte)
            index += 1
        elif esc in (Esc.JSON_STR, Esc.JSON_BARE):
            if index + 1 >= b:
                raise _Fail(E_ESCAPE, slot, index)
            code = rec[index + 1]
            if code in b'"\\':
                out.append(code)
                index += 2
            elif code in b"nrt":
                out.append({0x6E: 10, 0x72: 13, 0x74: 9}[code])
                index += 2
            elif code in b"/bf":
                out.append({0x2F: 0x2F, 0x62: 8, 0x66: 12}[code])
                canonical = False
                index += 2
            elif code == 0x75:  # \uXXXX
                cp = _hex_value(rec[index + 2 : index + 6]) if index + 6 <= b else None
                if cp is None:
                    raise _Fail(E_ESCAPE, slot, index)
                if 0xDC00 <= cp <= 0xDFFF:
                    raise _Fail(E_ESCAPE, slot, index)
                size = 6
                if 0xD800 <= cp <= 0xDBFF:
                    low = None
                    if index + 12 <= b and rec[index + 6 : index + 8] == b"\\u":
                        low = _hex_value(rec[index + 8 : index + 12])
                    if low is None or not 0xDC00 <= low <= 0xDFFF:
                        raise _Fail(E_ESCAPE, slot, index)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                    size = 12
                    canonical = False
                elif not (cp < 0x20 and cp not in (9, 10, 13)
                          and all(h in _LOWER_HEX for h in rec[index + 2 : index + 6])):
                    canonical = False
                out += chr(cp).encode("utf-8")
                index += size
            else:
                raise _Fail(E_ESCAPE, slot, index)
        elif esc == Esc.XML:
            semi = rec.find(b";", index + 1, min(b, index + 12))
            if semi < 0:
                raise _Fail(E_ESCAPE, slot, index)
            name = bytes(rec[index + 1 : semi])
            if name in _XML_NAMED:
                out += _XML_NAMED[name]
            elif name[:2] in (b"#x", b"#X") or name[:1] == b"#":
                hexa = name[:2] in (b"#x", b"#X")
                digits = name[2:] if hexa else name[1:]
                if not digits or any(d not in (_HEX if hexa else b"0123456789") for d in digits):
                    raise _Fail(E_ESCAPE, slot, index)
                cp = int(digits, 16 if hexa else 10)
                if not _is_xml_char(cp):
                    raise _Fail(E_ESCAPE, slot, index)
                out += chr(cp).encode("utf-8")
                if name not in (b"#9", b"#10", b"#13"):
                    canonical = False
            else:
                raise _Fail(E_ESCAPE, slot, index)
            index = semi + 1
        else:  # CLF backslash escapes
            if index + 1 >= b:
                raise _Fail(E_ESCAPE, slot, index)
            code = rec[index + 1]
            actions = ESCAPE_TABLES[esc * 256 : esc * 256 + 256]
            if code == 0x5C:
                out.append(code)
                index += 2
            elif code == 0x22:
                out.append(code)
                canonical = canonical and actions[0x22] == Action.BACKSLASH
                index += 2
            elif code == 0x78:  # \xHH
                value = _hex_value(rec[index + 2 : index + 4]) if index + 4 <= b else None
                if value is None:
                    raise _Fail(E_ESCAPE, slot, index)
                out.append(value)
                if actions[value] != Action.HEX or any(h not in _LOWER_HEX for h in rec[index + 2 : index + 4]):
                    canonical = False
                if value >= 0x80:
                    check_utf8 = True
                index += 4
            elif code in _CLF_SHORT:
                out.append(_CLF_SHORT[code])
                canonical = False
                index += 2
            else:
                raise _Fail(E_ESCAPE, slot, index)
    if check_utf8:
        try:
            bytes(out).decode("utf-8")
        except UnicodeDecodeError:
            raise _Fail(E_UTF8, slot, a) from None
    return bytes(out), canonical


def _check_token(vtype, value: bytes, slot: int, a: int) -> None:
    """A token never holds whitespace or '"' (SPEC section 1), escaped or not."""
    if vtype == VType.TOKEN and any(byte in b' \t\n\x0b\x0c\r"' for byte in value):
        raise _Fail(E_CHAR, slot, a)


def _csv_unquote(rec: bytes, a: int, b: int, slot: int) -> bytes:
    """The inside of a quoted CSV field ``rec[a:b]`` (which starts with '"')."""
    if b - a < 2 or rec[b - 1] != 0x22:
        raise _Fail(E_CSV, slot, a)
    out = bytearray()
    index = a + 1
    while index < b - 1:
        byte = rec[index]
        if byte == 0x22:
            if index + 1 < b - 1 and rec[index + 1] == 0x22:
                out.append(0x22)
                index += 2
                continue
            raise _Fail(E_CSV, slot, index)
        out.append(byte)
        index += 1
    return bytes(out)


def decode(rec: bytes, a: int, b: int, sp, slot: int):
    """One value: ``(None | int | bytes, canonical)``."""
    vtype = sp.vtype
    numeric = vtype in (VType.INT, VType.EPOCH_MS)
    if sp.form == FORM_JSON_BARE:
        value = rec[a:b]
        if value == b"null":
            return None, True
        if value[:1] == b'"':
            if b - a < 2 or rec[b - 1] != 0x22:
                raise _Fail(E_JSON, slot, a)
            if numeric:
                raise _Fail(E_INT, slot, a)
            if vtype == VType.CLF_TIME:
                return parse_time(rec, a + 1, b - 1, slot)
            inner, canonical = decode_escaped(rec, a + 1, b - 1, sp, slot)
            _check_token(vtype, inner, slot, a)
            if not inner:
                return None, False
            # text that is a number renders bare, but a `quoted` value always in quotes
            return inner, canonical and (vtype == VType.QUOTED or not is_json_number(inner))
        if not is_json_number(value):
            raise _Fail(E_JSON, slot, a)
        if numeric:
            return parse_int(rec, a, b, slot)
        if vtype == VType.CLF_TIME:
            raise _Fail(E_TIME, slot, a)
        return bytes(value), vtype != VType.QUOTED  # a `quoted` value renders as "200"
    if b - a == 1 and rec[a] == 0x2D:
        return None, True
    if a == b:
        return None, False
    quoted_csv = sp.form == FORM_CSV and rec[a] == 0x22
    if numeric or vtype == VType.CLF_TIME:
        canonical = True
        where = a
        if quoted_csv:  # a number or time never needs CSV quotes
            rec = _csv_unquote(rec, a, b, slot)
            a, b, canonical = 0, len(rec), False
        try:
            value, ok = (parse_int if numeric else parse_time)(rec, a, b, slot)
        except _Fail as fail:
            raise _Fail(fail.code, slot, where) from None
        return value, ok and canonical
    if sp.form == FORM_CSV:
        if quoted_csv:
            out = _csv_unquote(rec, a, b, slot)
            canonical = any(byte in b',"\r\n' for byte in out)
        else:
            for index in range(a, b):
                if sp.stop[rec[index]]:
                    raise _Fail(E_CHAR, slot, index)
            out, canonical = bytes(rec[a:b]), True
    elif sp.raw_quotes:  # its quotes as they are around its escaped text
        if b - a < 2 or rec[a] != 0x22 or rec[b - 1] != 0x22:
            raise _Fail(E_QUOTES, slot, a)
        out, canonical = decode_escaped(rec, a + 1, b - 1, sp, slot)
    else:
        out, canonical = decode_escaped(rec, a, b, sp, slot)
    _check_token(vtype, out, slot, a)
    if vtype == VType.QUOTED and not sp.raw_quotes:
        if len(out) < 2 or out[0] != 0x22 or out[-1] != 0x22:
            raise _Fail(E_QUOTES, slot, a)
        out = out[1:-1]
    if not out:
        return None, False
    return out, canonical


# -- records ----------------------------------------------------------------------------------


def _error_slot(fail) -> int:
    """The slot of an error: a literal not found is the one after slot ``index - 1``."""
    return fail.index - 1 if fail.code == E_LITERAL else fail.index


def later_target(slots, literals, slot: int, code: int, below: int) -> int:
    """The slot whose split the retries of a rejected record move: the last one before
    ``below``, at or before the error's ``slot``, that ``split`` resolves by search; else -1."""
    if code in (E_PREFIX, E_SUFFIX, E_UTF8) or slot < 0:
        return -1
    i, j = 0, len(slots) - 1
    while i < j and slots[i].forward:
        i += 1
    while j > i and slots[j].backward:
        j -= 1
    for k in range(min(slot, j - 1, below - 1), i - 1, -1):
        if not slots[k].forward and literals[k + 1]:
            return k
    return -1


def _try_split(rec: bytes, p: ParsePlan, mode: int, slots, later: int, target: list,
               search: bool = False):
    """``(values per column, normalized, odd)`` of one split of ``rec``, or ``_Fail``:
    ``odd`` is the first slot whose value is not in canonical form, or -1."""
    spans = split(rec, p.literals, slots, later, target, search)
    values = [None] * len(p.names)
    odd = -1
    for index, (sp, (a, b)) in enumerate(zip(slots, spans)):
        value, ok = decode(rec, a, b, sp, index)
        if not ok and odd < 0:
            odd = index
        if sp.first:
            values[sp.column] = value
        elif values[sp.column] != value:
            raise _Fail(E_DUP, index, a)
    return values, (mode > 0 or odd >= 0), odd


def _later_splits(rec: bytes, p: ParsePlan, mode: int, slots, target: list, last: int):
    """``(values, normalized)`` of the retries of a record (the kernel's ``later_splits``):
    later splits of slot ``target[0]`` while the error stays in it or the next slot, or
    moves past ``last`` (the slot of the error before); in mode 0 the first read in
    canonical form, else the first read at all; None if none is read."""
    moved, first = target[0], None
    for later in range(1, LATER_SPLITS + 1):
        try:
            values, normalized, odd = _try_split(rec, p, mode, slots, later, target)
        except _Fail as fail:
            slot = _error_slot(fail)
            progress, last = slot > last, slot
            if (target[0] < 0
                    or not (moved <= slot <= moved + 1 or progress
                            or (fail.code == E_DUP and slot > moved))
                    or fail.code in (E_PREFIX, E_SUFFIX, E_UTF8)):
                break
            continue
        if mode > 0 or odd < 0:
            return values, normalized
        first = first or (values, normalized)  # a later split may be canonical
    return first


def _canonical_split(rec: bytes, p: ParsePlan, odd: int):
    """``(values, False)`` of the first later split of a record that mode 0's leftmost split
    reads with slot ``odd`` not in canonical form, where every value is canonical, or None
    (the kernel's ``canonical_split``): the split moved is ``later_target``'s for that slot,
    which must be it or the one before, then the one before that; the retries go on as those
    of a rejected record."""
    slots = p.modes[0]
    moved = later_target(slots, p.literals, odd, None, len(slots))
    if moved < 0 or odd > moved + 1 or slots[odd].form == FORM_TIME:
        return None  # (a CLF time's span is its shape's: no split makes its offset canonical)
    for _ in range(2):  # that split, then the one before it
        found = _later_splits(rec, p, 0, slots, [moved], odd)
        if found is not None and not found[1]:
            return found
        moved = later_target(slots, p.literals, odd, None, moved)
        if moved < 0:
            break
    return None


def parse_record(rec: bytes, p: ParsePlan):
    """``(values per column, normalized)`` or ``_Fail``: of the mode whose error lies in the
    latest value (the first such)."""
    try:
        bytes(rec).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Fail(E_UTF8, -1, exc.start) from None
    failure = None
    for mode, slots in enumerate(p.modes):
        # A record the leftmost split rejects is tried again with the split of the last slot
        # found by search at or before the error's slot at the next occurrence of its literal,
        # up to LATER_SPLITS times while the error stays in that slot or the next, or lies
        # after the last try's; if none of those is accepted, the same with the slot found by
        # search before that one. The leftmost split's error is the one reported.
        try:
            values, normalized, odd = _try_split(rec, p, mode, slots, 0, [-1])
        except _Fail as fail:
            mode_failure = fail
        else:
            if mode == 0 and odd >= 0:
                # a value not in canonical form: a later split may read the record fastctx
                # wrote (SPEC 4)
                return _canonical_split(rec, p, odd) or (values, normalized)
            return values, normalized
        below = len(slots)
        # the split before the error, then the one before; for a later use of a variable not
        # repeating its first, every one before it
        for _ in range(len(slots) if mode_failure.code == E_DUP else 2):
            # the slot of the last try's error: progress is an error after it
            last = _error_slot(mode_failure)
            target = [later_target(slots, p.literals, last, mode_failure.code, below)]
            if target[0] < 0:
                break
            below = target[0]
            found = _later_splits(rec, p, mode, slots, target, last)
            if found is not None:
                return found
        if searchable(slots, p.literals) and mode_failure.code not in (E_PREFIX, E_SUFFIX):
            # the last resort: a search for the leftmost split whose values all hold only
            # their own bytes, in their shape (search_middle)
            try:
                return _try_split(rec, p, mode, slots, 0, [-1], search=True)[:2]
            except _Fail:
                pass
        if failure is None or _error_slot(mode_failure) > _error_slot(failure):
            failure = mode_failure  # the mode whose error lies in a later value names it
    raise failure


def _column(kind: str, items: list) -> Column:
    if kind == "string":
        return Column.from_strings([None if v is None else bytes(v) for v in items])
    valid = [v is not None for v in items]
    import numpy as np

    values = np.array([0 if v is None else v for v in items], dtype=np.int64)
    validity = None if all(valid) else np.packbits(np.array(valid, dtype=np.uint8), bitorder="little")
    return Column(kind, values, validity=validity)


def csv_well_formed(rec: bytes) -> bool:
    """True when every field of the CSV record ``rec`` that starts with '"' is closed by a
    '"' that is not doubled, right before a ',' or the end."""
    index, size = 0, len(rec)
    while index < size:
        if rec[index] == 0x22:
            index = _closing_quote(rec, index) + 1
            if index > size:
                return False  # never closed
            if index < size and rec[index] != 0x2C:
                return False  # the closing quote is not the field's end
        comma = rec.find(b",", index)
        index = size + 1 if comma < 0 else comma + 1
    return True


def parse(program, data, on_error: str = "raise", line_base: int = 1, offset_base: int = 0) -> Batch:
    """Parse ``data`` (records ending in ``\\n``) into a Batch; see SPEC section 4.

    ``line_base`` / ``offset_base`` are the line number and byte offset of ``data[0]`` in a
    larger input, so a chunk reports positions in the whole.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    p = program if isinstance(program, ParsePlan) else make_plan(program)
    data = bytes(normalize_input(data))
    columns: list = [[] for _ in p.names]
    stats = Stats()
    rejects: list = []
    pos = 0
    line = line_base
    size = len(data)
    while pos < size:
        end = record_end(data, pos, p.csv_quotes)
        rec = data[pos:end]
        if end < size and rec.endswith(b"\r"):
            rec = rec[:-1]
        if p.csv_quotes and b"\n" in rec and not csv_well_formed(rec):
            # a quoted field holds the newline, but the record's quoting is not well-formed:
            # the quote was a stray one (a raw line's), and the record is its first line
            end = data.index(b"\n", pos)
            rec = data[pos:end]
            if rec.endswith(b"\r"):
                rec = rec[:-1]
        stats.records += 1
        if not rec:
            stats.empty += 1
        else:
            try:
                values, normalized = parse_record(rec, p)
            except _Fail as fail:
                stats.rejected += 1
                reason, expected = describe_error(p, fail.code, fail.index, rec, fail.column)
                if on_error == "raise":
                    raise ParseError(reason, line, offset_base + pos + fail.column, fail.column, expected,
                                     rec) from None
                if on_error == "collect":
                    rejects.append(Reject(line, offset_base + pos,
                                          f"{reason}; expected {expected} at byte {fail.column}", rec))
            else:
                stats.accepted += 1
                stats.normalized += normalized
                for column, value in zip(columns, values):
                    column.append(value)
        line += 1 + data.count(b"\n", pos, end)
        pos = end + 1
    batch_columns = {name: _column(kind, items) for name, kind, items in zip(p.names, p.kinds, columns)}
    return Batch(batch_columns, stats.accepted, stats=stats, rejects=rejects)
