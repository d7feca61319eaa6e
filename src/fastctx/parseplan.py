"""What the parser needs from a ``Program``, derived once in pure Python.

The parse kernel (and the reference parser) know nothing of template syntax or of escape
rules by name: for every slot and every *mode* they get a scanning form, three 256-entry
byte tables and two flags that say whether the slot can be delimited from the left or from
the right. Everything here is computed from the ``Program`` and the escape tables of
``program.py``.

Modes
-----
A program is tried in up to two modes. Mode 0 uses the slots' own escape methods (the form
fastctx renders). When any slot is escaped, mode 1 is the *unescaped retry*: every slot is
read as API Gateway writes it without escaping (``Esc.NONE``), and a record accepted there is
counted as normalized.

Splitting a record ``L0 V1 L1 ... Vn Ln`` (SPEC section 4)
----------------------------------------------------------
``L0`` must be a prefix and ``Ln`` a suffix. Slots are then taken from the left while each
can find its own end without looking further (``forward``: a fixed or self-delimiting form,
or a value that can never hold the first byte of the literal after it), then from the right
while each can find its own start (``backward``: the value, escape sequences included, can
never hold the last byte of the literal before it). One slot left between the two fronts
takes the whole middle. With several left, each but the last takes the bytes up to the first
occurrence of its whole following literal (the leftmost split; never an empty value), and the
last takes the rest. The split just before that last slot skips the occurrences that would
leave the last slot a byte it never holds (its ``back`` table): in ``r1,a, b,c1,200`` read
unescaped, a free-text ``routeKey`` and a token ``connectionId`` get ``a, b`` and ``c1``,
not ``a`` and `` b,c1``. Every step scans forward or backward once, so the work per byte is
bounded by the longest literal.

When a record fails in the slot of the first split found by search or in the next one (a
value the split cut short, or a typed value right after it that does not parse), the record
is split again with that split at the next occurrence of its literal, at most 16 times
(``LATER_SPLITS``), and the leftmost split's error is the one reported: ``$context.routeKey<$context.status-$context.requestId``
reads ``a<b<92-r`` as ``a<b``, ``92`` and ``r``, where the token ``requestId``, which may
hold ``-``, cannot be read from the right. The work stays linear: at most 17 passes.

When every such split still leaves the record invalid (several free texts in a row whose
values hold their separators), a mode whose split slots are all unescaped (``searchable``)
has one last try: a depth-first search for the leftmost split in which no value is empty,
holds a byte its slot never holds or lacks its shape (an int, a ``quoted`` value),
remembering where a slot cannot start and taking at most 32 steps per slot of the middle
(``search_middle`` in the kernel and in the reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .program import ESCAPE_TABLES, Action, Esc, Program, VType

__all__ = [
    "ParsePlan",
    "SlotPlan",
    "plan",
    "FORM_STOP",
    "FORM_TIME",
    "FORM_JSON_BARE",
    "FORM_CSV",
    "D_COPY",
    "D_BAD",
    "D_ESC",
    "D_ODD",
    "D_XEF",
    "ERR_NAMES",
    "describe_error",
]

# Scanning forms.
FORM_STOP = 0  # a run of bytes ended by a stop byte (backslash escapes skipped when ``skip``)
FORM_TIME = 1  # dd/MMM/yyyy:HH:mm:ss +hhmm (26 bytes) or '-'
FORM_JSON_BARE = 2  # null | JSON number | JSON string
FORM_CSV = 3  # "quoted ""field""" or an unquoted run ended by a stop byte

# Decode classes of a raw byte inside a value.
D_COPY = 0  # the byte is the value's own
D_BAD = 1  # never in a valid value of this slot: reject
D_ESC = 2  # starts an escape sequence ('\' or '&')
D_ODD = 3  # valid, but fastctx would have escaped it: the record is not canonical
D_XEF = 4  # 0xEF in XML: the first byte of U+FFFE / U+FFFF, which XML cannot hold

# Error codes shared by the kernel and the reference (the kernel reports a code, a slot or
# literal index and a byte position; ``describe_error`` turns that into words).
E_OK = 0
E_PREFIX = 1  # the record does not start with L0
E_SUFFIX = 2  # the record does not end with Ln
E_LITERAL = 3  # literal ``index`` not found where it must be
E_INT = 4  # not an integer
E_RANGE = 5  # integer outside int64
E_TIME = 6  # not dd/MMM/yyyy:HH:mm:ss +hhmm, not a real date/time, or outside years 0-9999 UTC
E_ESCAPE = 7  # an escape sequence that does not decode
E_CHAR = 8  # a byte this position cannot hold unescaped
E_QUOTES = 9  # a quoted value without its quotes
E_UTF8 = 10  # not valid UTF-8
E_DUP = 11  # a variable used twice carries two values
E_JSON = 12  # not a JSON value (null, a number or a string)
E_CSV = 13  # a quoted CSV field that is not closed properly

ERR_NAMES = {
    E_PREFIX: "record does not start with the template's first literal",
    E_SUFFIX: "record does not end with the template's last literal",
    E_LITERAL: "literal not found",
    E_INT: "not an integer",
    E_RANGE: "integer out of the int64 range",
    E_TIME: "not a valid dd/MMM/yyyy:HH:mm:ss +hhmm time (UTC years 0000-9999)",
    E_ESCAPE: "invalid escape sequence",
    E_CHAR: "character not allowed here unescaped",
    E_QUOTES: "quoted value without its quotes",
    E_UTF8: "invalid UTF-8",
    E_DUP: "variable used twice with two different values",
    E_JSON: "not a JSON value",
    E_CSV: "malformed quoted CSV field",
}

_CONTROLS = bytes(range(0x20)) + b"\x7f"
_WHITESPACE = b" \t\n\x0b\x0c\r"
_DIGITS = b"0123456789"


def _table(members: bytes, value: int = 1) -> bytearray:
    table = bytearray(256)
    for byte in members:
        table[byte] = value
    return table


@dataclass(frozen=True)
class SlotPlan:
    """How one slot is scanned and decoded in one mode.

    Attributes
    ----------
    column : int
        Program column the value goes to.
    first : bool
        Whether this is the column's first slot (later ones must repeat its value).
    vtype : VType
    esc : Esc
        The escape method decoded in this mode (``Esc.NONE`` in the retry).
    form : int
        ``FORM_*``.
    skip : bool
        A backslash escapes the byte after it (scanning forward never stops there).
    stop : bytes
        256 entries: 1 where a raw byte ends the value when scanning forward.
    back : bytes
        256 entries: 1 where the byte can never occur in the rendered value, escape sequences
        included, so that a backward scan may stop there.
    decode : bytes
        256 entries: a ``D_*`` class per raw byte.
    forward : bool
        The slot finds its end by itself, given the literal after it.
    backward : bool
        The slot finds its start by itself, given the literal before it.
    raw_quotes : bool
        A ``quoted`` value whose own quotes are raw around its escaped text
        (``Program.raw_quotes``): the quotes are checked and dropped, the text between them
        decoded. Its scans never stop at a quote.
    """

    column: int
    first: bool
    vtype: VType
    esc: Esc
    form: int
    skip: bool
    stop: bytes
    back: bytes
    decode: bytes
    forward: bool
    backward: bool
    raw_quotes: bool = False


@dataclass(frozen=True)
class ParsePlan:
    """Everything the parser needs: literals, per-mode slot plans, column kinds.

    Attributes
    ----------
    literals : tuple of bytes
        ``L0 .. Ln``.
    modes : tuple of tuple of SlotPlan
        ``modes[0]``: the program's own escaping; ``modes[1]`` (present only when some slot
        is escaped): the unescaped retry.
    names : tuple of str
        Column names.
    kinds : tuple of str
        ``int64``, ``timestamp`` or ``string`` per column.
    slot_names : tuple of str
        Variable name per slot.
    csv_quotes : bool
        Records end at the first newline outside a quoted CSV field.
    """

    literals: tuple
    modes: tuple
    names: tuple
    kinds: tuple
    slot_names: tuple
    csv_quotes: bool


def _kind(vtype: VType) -> str:
    if vtype == VType.INT:
        return "int64"
    if vtype in (VType.EPOCH_MS, VType.CLF_TIME):
        return "timestamp"
    return "string"


def _escape_tables(esc: Esc):
    """``(stop, producible, skip)`` for a string value under ``esc``.

    ``stop``: raw bytes that never occur in a rendered value (outside escape sequences);
    ``producible``: bytes that escape sequences can contain.
    """
    if esc == Esc.NONE:
        return b"", b"", False
    if esc in (Esc.JSON_STR, Esc.JSON_BARE):
        return b'"' + bytes(range(0x20)), b'\\"/bfnrtu0123456789abcdefABCDEF', True
    if esc == Esc.XML:
        return b"<\"'", b"&#;x0123456789abcdefABCDEFghlmopqtu", False
    if esc == Esc.CSV:
        return b',"\r\n', b"", False
    table = ESCAPE_TABLES[esc * 256 : esc * 256 + 256]
    stop = bytes(b for b in range(256) if table[b] != Action.COPY and b != ord("\\"))
    return stop, b'\\"x0123456789abcdefABCDEFbnrtvf', True


def _decode_table(esc: Esc, vtype: VType, stop: bytes) -> bytes:
    if esc == Esc.XML:
        table = _table(bytes(range(0x20)), D_BAD)
        for byte in b"\t\r>":
            table[byte] = D_ODD  # valid XML, but fastctx writes them as references
        table[ord("&")] = D_ESC
        table[0xEF] = D_XEF
    elif esc in (Esc.JSON_STR, Esc.JSON_BARE):
        table = _table(bytes(range(0x20)) + b'"', D_BAD)  # a raw quote would end the string
        table[ord("\\")] = D_ESC
    elif esc in (Esc.CLF_QUOTED, Esc.CLF_BRACKET, Esc.CLF_BARE, Esc.CLF_QUOTED_TOKEN):
        table = bytearray(256)
        table[ord("\\")] = D_ESC
    else:
        table = bytearray(256)
    for byte in stop:
        table[byte] = D_BAD
    return bytes(table)


def _slot_plan(slot, esc: Esc, after: bytes, before: bytes, first: bool,
               raw_quotes: bool = False) -> SlotPlan:
    vtype = slot.vtype
    stop, producible, skip = _escape_tables(esc)
    if raw_quotes:  # its own quotes are raw: no scan may stop at a quote
        stop = stop.replace(b'"', b"")
    if esc == Esc.JSON_BARE:
        form = FORM_JSON_BARE
    elif vtype == VType.CLF_TIME:
        form = FORM_TIME if esc != Esc.CSV else FORM_CSV
    elif esc == Esc.CSV:
        form = FORM_CSV
    else:
        form = FORM_STOP
    if vtype in (VType.INT, VType.EPOCH_MS) and form == FORM_STOP:
        # numbers are never escaped: only digits and '-' belong to them
        stop = bytes(b for b in range(256) if b not in b"-0123456789")
        producible = b""
        skip = False
    elif vtype == VType.TOKEN:
        stop = stop + _WHITESPACE + b'"'
    stop_t = bytes(_table(stop))
    back_t = bytes(_table(bytes(b for b in stop if b not in producible)))
    decode = _decode_table(esc, vtype, stop if form == FORM_STOP else b"")
    # (raw_quotes: its decode table keeps the quote bad: the text between them holds none)
    if form == FORM_STOP:
        forward = bool(after) and stop_t[after[0]] == 1
        backward = bool(before) and back_t[before[-1]] == 1
    elif form == FORM_CSV:
        forward = bool(after) and stop_t[after[0]] == 1
        backward = False
    elif form == FORM_TIME:
        forward = backward = True
    else:  # JSON bare values delimit themselves going forward
        forward, backward = True, False
    return SlotPlan(slot.column, first, vtype, esc, form, skip, stop_t, back_t, decode, forward,
                    backward, raw_quotes)


def plan(program: Program) -> ParsePlan:
    """Derive the parse plan of a program.

    Examples
    --------
    >>> import fastctx
    >>> from fastctx.parseplan import plan, resolution
    >>> template = '$context.requestId "$context.routeKey" $context.status'
    >>> p = plan(fastctx.compile(template, escape="none").program)
    >>> len(p.modes), resolution(p.modes[0])
    (1, ['forward', 'middle', 'backward'])
    >>> p = plan(fastctx.compile(template).program)  # auto: escaped, plus the unescaped retry
    >>> len(p.modes), resolution(p.modes[0]), resolution(p.modes[1])
    (2, ['forward', 'forward', 'middle'], ['forward', 'middle', 'backward'])
    """
    literals = tuple(program.literals())
    seen: set = set()
    firsts = []
    for slot in program.slots:
        firsts.append(slot.column not in seen)
        seen.add(slot.column)
    escaped = any(slot.esc != Esc.NONE for slot in program.slots)
    modes = []
    for mode in range(2 if escaped else 1):
        modes.append(
            tuple(
                _slot_plan(
                    slot,
                    slot.esc if mode == 0 else Esc.NONE,
                    literals[index + 1],
                    literals[index],
                    firsts[index],
                    mode == 0 and program.raw_quotes(slot),
                )
                for index, slot in enumerate(program.slots)
            )
        )
    kinds = [None] * len(program.columns)
    for slot in program.slots:
        if kinds[slot.column] is None:
            kinds[slot.column] = _kind(slot.vtype)
    return ParsePlan(
        literals=literals,
        modes=tuple(modes),
        names=tuple(program.columns),
        kinds=tuple(kinds),
        slot_names=tuple(slot.name for slot in program.slots),
        csv_quotes=program.shape == "csv" and any(slot.esc == Esc.CSV for slot in program.slots),
    )


def as_arrays(p: ParsePlan) -> dict:
    """The plan as flat numpy arrays for the kernel (modes x slots [x 256])."""
    nmodes, nslots = len(p.modes), len(p.slot_names)
    ints = np.zeros((nmodes, max(nslots, 1), 9), dtype=np.int32)
    tables = np.zeros((nmodes, max(nslots, 1), 3, 256), dtype=np.uint8)
    for m, slots in enumerate(p.modes):
        for s, sp in enumerate(slots):
            ints[m, s] = (sp.column, sp.first, sp.vtype, sp.esc, sp.form, sp.skip, sp.forward,
                          sp.backward, sp.raw_quotes)
            tables[m, s, 0] = np.frombuffer(sp.stop, dtype=np.uint8)
            tables[m, s, 1] = np.frombuffer(sp.back, dtype=np.uint8)
            tables[m, s, 2] = np.frombuffer(sp.decode, dtype=np.uint8)
    pool = b"".join(p.literals)
    offsets = np.zeros(len(p.literals) + 1, dtype=np.int64)
    np.cumsum([len(lit) for lit in p.literals], out=offsets[1:])
    kinds = np.array([("int64", "timestamp", "string").index(k) for k in p.kinds] or [0], dtype=np.int32)
    return {"ints": ints, "tables": tables, "pool": pool, "lit_offsets": offsets, "kinds": kinds}


#: What a typed value cannot hold, by the bytes that end it (for a literal not found next to it).
_STOPS = {VType.TOKEN: (_WHITESPACE + b'"', "a token holds no whitespace or '\"'"),
          VType.INT: (None, "an int holds only digits"),
          VType.EPOCH_MS: (None, "epoch milliseconds hold only digits")}


def describe_error(p: ParsePlan, code: int, index: int, record: bytes = b"",
                   column: int = -1) -> tuple[str, str]:
    """``(reason, expected)`` for an error code and its slot or literal index.

    A literal not found right where a typed value stopped at a byte it cannot hold (a
    ``requestId`` holding a space, a ``status`` holding a letter) names that value and byte:
    the literal is what was expected there, but the value is what is wrong. A value read
    forward stops before the byte at ``column``; one read backward from the end of the
    record (``resolution``) stops after the byte before it."""
    reason = ERR_NAMES.get(code, f"error {code}")
    if code in (E_PREFIX, E_SUFFIX, E_LITERAL):
        literal = p.literals[index].decode("utf-8", "backslashreplace")
        if code == E_LITERAL and 0 <= column <= len(record):
            slots = p.modes[0]
            stopped = -1
            if index < len(slots) and resolution(slots)[index] == "backward":
                if column > 0:
                    stopped, byte, where = index, record[column - 1], "before"
            elif 1 <= index <= len(slots) and column < len(record):
                stopped, byte, where = index - 1, record[column], "after"
            if stopped >= 0:
                stops, why = _STOPS.get(slots[stopped].vtype, (b"", ""))  # only typed values stop
                if why and (byte in stops if stops is not None else byte not in _DIGITS):
                    shown = bytes([byte]).decode("latin-1").encode("unicode_escape").decode()
                    reason += (f" {where} $context.{p.slot_names[stopped]}, which stops at "
                               f"'{shown}' ({why})")
        return reason, f"literal {literal!r}"
    if code == E_UTF8:
        return reason, "UTF-8 text"
    name = p.slot_names[index] if 0 <= index < len(p.slot_names) else "?"
    vtype = p.modes[0][index].vtype.name.lower() if 0 <= index < len(p.slot_names) else "?"
    return f"{reason} in $context.{name}", f"$context.{name} ({vtype})"


def resolution(slots) -> list[str]:
    """How each slot of one mode is delimited: ``forward``, ``backward``, ``split`` (the
    leftmost occurrence of its following literal) or ``middle`` (the whole rest).

    It depends on the plan alone, never on the record, so it says in advance which values a
    template can carry unescaped: a ``split`` slot cannot hold its following literal.
    """
    n = len(slots)
    if n == 0:
        return []
    how = ["split"] * n
    i, j = 0, n - 1
    while i < j and slots[i].forward:
        how[i] = "forward"
        i += 1
    while j > i and slots[j].backward:
        how[j] = "backward"
        j -= 1
    for k in range(i, j):
        if slots[k].forward:
            how[k] = "forward"
    how[j] = "middle"
    return how


def searchable(slots, literals) -> bool:
    """Whether a record this mode rejects after every other split gets the split search (the
    kernel's and the reference's ``search_middle``): every slot of the middle that splits at
    its literal is unescaped and has a literal after it."""
    how = resolution(slots)
    splits = [k for k, kind in enumerate(how) if kind == "split"]
    return bool(splits) and all(not slots[k].skip and literals[k + 1] for k in splits)
