"""The bytecode a template compiles to, shared by the kernels and the reference interpreter.

A record is ``L0 V1 L1 V2 ... Vn Ln`` followed by ``\\n``: literal byte ranges of a pool and
variable slots. Each slot says which column feeds it, the value type of its variable and the
escape method its position needs. Nothing here knows template syntax: the compiler produces a
``Program`` and the kernels only execute one.

The enums below are mirrored by ``_opcodes.pxd``; a test checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["Op", "VType", "Esc", "Action", "Slot", "Program", "ESCAPE_TABLES", "ESC_NAMES"]


class Op(IntEnum):
    """Instructions: ``(op, a, b)`` int32 triples."""

    LIT = 1  # copy pool[a : a + b]
    VAR = 2  # emit slot a (b unused)


class VType(IntEnum):
    """Value types of SPEC section 1."""

    INT = 0  # decimal integer
    EPOCH_MS = 1  # decimal epoch milliseconds
    CLF_TIME = 2  # dd/MMM/yyyy:HH:mm:ss +hhmm
    TOKEN = 3  # string without whitespace or '"'
    TEXT = 4  # any string
    QUOTED = 5  # '"' + string + '"', the quotes never escaped


#: What a variable of each value type is given, in words (for errors).
VTYPE_TAKES = {VType.INT: "integers", VType.EPOCH_MS: "epoch milliseconds",
               VType.CLF_TIME: "epoch milliseconds", VType.TOKEN: "text", VType.TEXT: "text",
               VType.QUOTED: "text"}


class Esc(IntEnum):
    """How a slot's value is escaped, fixed at compile time by shape, position and mode."""

    NONE = 0  # plain substitution
    JSON_STR = 1  # inside a JSON string
    JSON_BARE = 2  # a whole bare JSON value: number as is, missing null, else a JSON string
    XML = 3  # XML attribute value or text
    CSV = 4  # RFC 4180 field: quoted when it holds , " CR or LF
    CLF_QUOTED = 5  # inside "..."
    CLF_BRACKET = 6  # inside [...]
    CLF_BARE = 7  # a bare word
    CLF_QUOTED_TOKEN = 8  # a token inside "...": whitespace as \xHH too, as in a bare word


ESC_NAMES = {e: e.name.lower() for e in Esc}


class Action(IntEnum):
    """What an escape table says about one byte of a value."""

    COPY = 0
    BACKSLASH = 1  # write '\' then the byte
    HEX = 2  # write \xHH
    JSON_CTRL = 3  # write \n, \r, \t or \u00XX
    XML_ENTITY = 4  # &amp; &lt; &gt; &quot; &apos; or &#9; &#10; &#13;
    XML_DROP = 5  # not an XML 1.0 character: dropped and counted
    XML_EF = 6  # first byte of U+FFFE / U+FFFF (EF BF BE / EF BF BF): dropped if so
    CSV_QUOTE = 7  # the field must be quoted


def _tables() -> bytes:
    """One 256-entry action table per escape method, in ``Esc`` order."""
    tables = np.zeros((len(Esc), 256), dtype=np.uint8)
    controls = list(range(0x20)) + [0x7F]
    whitespace = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]

    json = tables[Esc.JSON_STR]
    json[: 0x20] = Action.JSON_CTRL
    json[ord('"')] = json[ord("\\")] = Action.BACKSLASH
    tables[Esc.JSON_BARE] = json  # the string form of a bare value

    xml = tables[Esc.XML]
    xml[: 0x20] = Action.XML_DROP
    for ch in "\t\n\r&<>\"'":
        xml[ord(ch)] = Action.XML_ENTITY
    xml[0xEF] = Action.XML_EF

    csv = tables[Esc.CSV]
    for ch in ',"\r\n':
        csv[ord(ch)] = Action.CSV_QUOTE

    for esc, closer in ((Esc.CLF_QUOTED, '"'), (Esc.CLF_BRACKET, None), (Esc.CLF_BARE, None)):
        table = tables[esc]
        table[controls] = Action.HEX
        table[ord("\\")] = Action.BACKSLASH
        if closer:
            table[ord(closer)] = Action.BACKSLASH
    tables[Esc.CLF_BRACKET][ord("]")] = Action.HEX
    tables[Esc.CLF_BARE][whitespace] = Action.HEX
    # A token holds no whitespace, but one given with a space, written raw between the
    # quoted field's blank-separated values, would read back as other values
    tables[Esc.CLF_QUOTED_TOKEN] = tables[Esc.CLF_QUOTED]
    tables[Esc.CLF_QUOTED_TOKEN][whitespace] = Action.HEX
    return tables.tobytes()


#: ``len(Esc) * 256`` bytes: ``ESCAPE_TABLES[esc * 256 + byte]`` is an ``Action``.
ESCAPE_TABLES: bytes = _tables()

#: Entities for ``Action.XML_ENTITY``.
XML_ENTITIES = {
    ord("&"): b"&amp;",
    ord("<"): b"&lt;",
    ord(">"): b"&gt;",
    ord('"'): b"&quot;",
    ord("'"): b"&apos;",
    ord("\t"): b"&#9;",
    ord("\n"): b"&#10;",
    ord("\r"): b"&#13;",
}

#: Short forms for ``Action.JSON_CTRL``; other control bytes are ``\\u00XX``.
JSON_SHORT = {ord("\n"): b"\\n", ord("\r"): b"\\r", ord("\t"): b"\\t"}


@dataclass(frozen=True)
class Slot:
    """One variable occurrence.

    Attributes
    ----------
    name : str
        Canonical name (without ``$context.``), also the column name.
    column : int
        Index into ``Program.columns`` (a name used twice shares one column).
    vtype : VType
    esc : Esc
    """

    name: str
    column: int
    vtype: VType
    esc: Esc


@dataclass(frozen=True)
class Program:
    """An immutable, picklable compiled template.

    Attributes
    ----------
    code : bytes
        ``(op, a, b)`` int32 triples, native byte order. Always the alternating form
        ``LIT VAR LIT VAR ... VAR LIT``: every variable has a literal before and after it,
        possibly empty, so a record is ``L0 V1 L1 ... Vn Ln``.
    pool : bytes
        The literal bytes (UTF-8).
    slots : tuple of Slot
        One per VAR, in template order.
    columns : tuple of str
        Distinct variable names in first-use order.
    shape : str
        ``json``, ``xml``, ``csv``, ``clf`` or ``text``.
    escape : str
        ``none``, ``json`` or ``auto``.
    """

    code: bytes
    pool: bytes
    slots: tuple
    columns: tuple
    shape: str
    escape: str

    @property
    def instructions(self) -> np.ndarray:
        """The code as an ``(n, 3)`` int32 array (a read-only view)."""
        return np.frombuffer(self.code, dtype=np.int32).reshape(-1, 3)

    def literals(self) -> list[bytes]:
        """``[L0, L1, ..., Ln]``: the literal before, between and after the slots."""
        return [self.pool[a : a + b] for op, a, b in self.instructions if op == Op.LIT]

    def raw_quotes(self, slot: Slot) -> bool:
        """Whether ``slot`` writes its own quotes as they are in a position that escapes its
        value: a ``quoted`` variable (``error.messageString``) in a JSON string in ``json``
        mode, which copies REST (``"message":""Forbidden""``, its message JSON-escaped).
        In ``auto`` mode they are escaped like the rest, so the line stays valid."""
        return self.escape == "json" and slot.vtype == VType.QUOTED and slot.esc == Esc.JSON_STR

    def dis(self) -> str:
        """A readable listing: one instruction per line with its literal or slot.

        Examples
        --------
        >>> import fastctx
        >>> print(fastctx.compile('$context.requestId "$context.routeKey"').dis())
        program: shape text, escape auto, 2 slots, 2 columns, 3 literal bytes + '\\n'
           0  LIT  0 +0   ''
           1  VAR  0      requestId          token   clf_bare
           2  LIT  0 +2   ' "'
           3  VAR  1      routeKey           text    clf_quoted
           4  LIT  2 +1   '"'
        """
        lines = [
            f"program: shape {self.shape}, escape {self.escape}, {len(self.slots)} slots, "
            f"{len(self.columns)} columns, {len(self.pool)} literal bytes + '\\n'"
        ]
        for index, (op, a, b) in enumerate(self.instructions):
            if op == Op.LIT:
                text = self.pool[a : a + b].decode("utf-8", "backslashreplace")
                lines.append(f"{index:4d}  LIT  {a} +{b:<4d}{text!r}")
            else:
                slot = self.slots[a]
                lines.append(
                    f"{index:4d}  VAR  {a:<6d} {slot.name:<18s} {slot.vtype.name.lower():<7s} "
                    f"{ESC_NAMES[slot.esc]}"
                )
        return "\n".join(lines)

    @classmethod
    def build(cls, parts, shape: str, escape: str) -> "Program":
        """Emit a program from ``[literal bytes, (name, vtype, esc), literal bytes, ...]``.

        ``parts`` alternates literals and slot specs and starts and ends with a literal.
        """
        code: list[int] = []
        pool = bytearray()
        slots: list[Slot] = []
        columns: dict[str, int] = {}
        for index, part in enumerate(parts):
            if index % 2 == 0:
                code += [Op.LIT, len(pool), len(part)]
                pool += part
            else:
                name, vtype, esc = part
                column = columns.setdefault(name, len(columns))
                code += [Op.VAR, len(slots), 0]
                slots.append(Slot(name, column, VType(vtype), Esc(esc)))
        return cls(
            code=np.asarray(code, dtype=np.int32).tobytes(),
            pool=bytes(pool),
            slots=tuple(slots),
            columns=tuple(columns),
            shape=shape,
            escape=escape,
        )
