"""A pure-Python interpreter of ``Program``: the test oracle for the Cython kernels.

It is written for clarity, not speed, and follows the same rules byte for byte. Every kernel
test runs against both.
"""

from __future__ import annotations

import re

from .batch import Batch, Column
from .errors import RenderError, timestamps_not_taken
from .program import (ESCAPE_TABLES, JSON_SHORT, VTYPE_TAKES, XML_ENTITIES, Action, Esc, Op,
                      Program, VType)

__all__ = ["render", "clf_time", "escape_value", "is_json_number"]

MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_INT = re.compile(rb"-?(?:0|[1-9][0-9]*)\Z")
MIN_CLF_MS = -62167219200000  # 0000-01-01T00:00:00Z
MAX_CLF_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def _civil_from_days(days: int):
    """Howard Hinnant's days -> (year, month, day), proleptic Gregorian."""
    days += 719468
    era = days // 146097  # Python's // already floors (Hinnant's C adjusts for truncation)
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return year + (month <= 2), month, day


def clf_time(ms: int) -> bytes:
    """Epoch milliseconds -> ``dd/MMM/yyyy:HH:mm:ss +0000`` (None if out of years 0-9999)."""
    if not MIN_CLF_MS <= ms <= MAX_CLF_MS:
        return None
    seconds = ms // 1000
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return b"%02d/%s/%04d:%02d:%02d:%02d +0000" % (day, MONTHS[month - 1], year, hour, minute, second)


def is_json_number(raw: bytes) -> bool:
    return _JSON_NUMBER.match(raw) is not None


def escape_value(raw: bytes, esc: Esc) -> tuple[bytes, int]:
    """Escape a string value for its position; returns ``(bytes, dropped)``.

    ``dropped`` counts characters removed because XML 1.0 cannot hold them.
    """
    if esc == Esc.NONE:
        return raw, 0
    table = ESCAPE_TABLES[esc * 256 : esc * 256 + 256]
    if esc == Esc.CSV:
        if any(table[byte] for byte in raw):
            return b'"' + raw.replace(b'"', b'""') + b'"', 0
        return raw, 0
    out = bytearray()
    dropped = 0
    index = 0
    while index < len(raw):
        byte = raw[index]
        action = table[byte]
        index += 1
        if action == Action.COPY:
            out.append(byte)
        elif action == Action.BACKSLASH:
            out += b"\\" + bytes([byte])
        elif action == Action.HEX:
            out += b"\\x%02x" % byte
        elif action == Action.JSON_CTRL:
            out += JSON_SHORT.get(byte, b"\\u%04x" % byte)
        elif action == Action.XML_ENTITY:
            out += XML_ENTITIES[byte]
        elif action == Action.XML_DROP:
            dropped += 1
        elif action == Action.XML_EF:
            if raw[index : index + 2] in (b"\xbf\xbe", b"\xbf\xbf"):
                index += 2
                dropped += 1
            else:
                out.append(byte)
    if esc == Esc.JSON_BARE:
        return b'"' + bytes(out) + b'"', dropped
    return bytes(out), dropped


def _string_at(column: Column, row: int) -> bytes:
    start, end = int(column.values[row]), int(column.values[row + 1])
    return column.data[start:end].tobytes()


def render_value(slot, column: Column | None, row: int, name: str,
                 raw_quotes: bool = False) -> tuple[bytes, int]:
    """One slot of one row: ``(bytes, dropped)``; ``raw_quotes``: ``Program.raw_quotes``."""
    missing = b"null" if slot.esc == Esc.JSON_BARE else b"-"
    if column is None or not column.valid_mask()[row]:
        return missing, 0
    if column.kind != "string":
        value = int(column.values[row])
        if slot.vtype == VType.CLF_TIME:
            text = clf_time(value)
            if text is None:
                raise RenderError(f"epoch milliseconds {value} is outside the years 0000-9999", name, row)
            return (b'"' + text + b'"' if slot.esc == Esc.JSON_BARE else text), 0
        raw = b"%d" % value
        if slot.vtype != VType.QUOTED:
            return raw, 0  # a number never needs escaping, and is a bare JSON number
    else:
        raw = _string_at(column, row)
        if not raw:
            return missing, 0
        if slot.vtype == VType.INT:
            if raw == b"-":  # as a parse reads it: missing
                return missing, 0
            if not _INT.match(raw) or not -(2**63) <= int(raw[:21]) < 2**63:
                shown = raw[:40].decode("utf-8", "replace")
                raise RenderError(f"value {shown!r} is not an integer in the int64 range", name, row)
            return raw, 0
    if slot.vtype == VType.QUOTED:
        if slot.esc == Esc.JSON_BARE:
            return escape_value(raw, Esc.JSON_BARE)
        out, dropped = escape_value(raw, slot.esc)
        if not out:  # everything dropped (XML): a missing value, not a pair of quotes
            return b"-", dropped
        if raw_quotes:
            return b'"' + out + b'"', dropped
        raw = b'"' + raw + b'"'
    elif slot.esc == Esc.JSON_BARE and is_json_number(raw):
        return raw, 0
    out, dropped = escape_value(raw, slot.esc)
    if not out:  # everything dropped (XML): still a value, so not an empty element
        return b"-", dropped
    return out, dropped


def bind(program: Program, batch: Batch) -> list:
    """The batch's column for each program column (None where the batch has none)."""
    columns = [batch.get(name) for name in program.columns]
    for slot in program.slots:
        column = columns[slot.column]
        if (column is not None and column.kind == "timestamp"
                and slot.vtype not in (VType.EPOCH_MS, VType.CLF_TIME)):
            raise timestamps_not_taken(slot.name, VTYPE_TAKES[slot.vtype])
    return columns


def render(program: Program, batch: Batch, start: int = 0, stop: int | None = None) -> tuple[bytes, int]:
    """Render rows ``[start, stop)``: ``(lines, dropped)``, every record ending in ``\\n``."""
    stop = batch.num_rows if stop is None else stop
    if stop == start:
        return b"", 0  # no row: nothing to bind, as the kernel
    columns = bind(program, batch)
    code = program.instructions.tolist()
    out = bytearray()
    dropped = 0
    for row in range(start, stop):
        for op, a, b in code:
            if op == Op.LIT:
                out += program.pool[a : a + b]
            else:
                slot = program.slots[a]
                text, lost = render_value(slot, columns[slot.column], row, slot.name,
                                          program.raw_quotes(slot))
                out += text
                dropped += lost
        out += b"\n"
    return bytes(out), dropped
