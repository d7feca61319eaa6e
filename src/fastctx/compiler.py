"""Template -> Program: lex, validate with AWS's rules, find the shape and each position's
escaping, emit. The only module that knows template syntax.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from . import catalog
from .errors import FormatError, UnknownVariableError
from .program import Esc, Program, VType

__all__ = ["compile_program", "Compiled", "lex", "Var", "MAX_TEMPLATE_BYTES", "ESCAPES"]

PREFIX = "$context."
MAX_TEMPLATE_BYTES = 3072  # AWS: "Access log template size 3 KB", not adjustable
ESCAPES = ("none", "json", "auto")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_ID_NAMES = ("requestId", "extendedRequestId")


@dataclass(frozen=True)
class Var:
    """A variable occurrence: its canonical name and 0-based character span in the template."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Compiled:
    """What the compiler hands to ``Format``."""

    program: Program
    template: str
    api: str
    unsupported: tuple  # names rendered as '-' (REST accepts unknown names)
    terminated: bool  # the template ended with its own newline
    warning: str | None = None  # what a FormatWarning says (REST's unsupported names, ...)


def lex(template: str) -> list:
    """Split a template into literal strings and ``Var`` items, alternating, literal first.

    A name is the longest run of ``A-Z a-z 0-9 _ . -`` after ``$context.``; trailing dots and
    dashes go back to the literal text. Backslashes are not escapes: they are literal.
    """
    parts: list = []
    literal_start = 0
    pos = 0
    while True:
        found = template.find(PREFIX, pos)
        if found < 0:
            break
        match = _NAME.match(template, found + len(PREFIX))
        name = match.group(0).rstrip(".-") if match else ""
        if not name:
            raise FormatError(
                "'$context.' must be followed by a variable name", template, found + 1
            )
        end = found + len(PREFIX) + len(name)
        parts.append(template[literal_start:found])
        parts.append(Var(name, found, end))
        literal_start = pos = end
    parts.append(template[literal_start:])
    return parts


def _validate(template: str, parts: list, strict: bool, api: str) -> bool:
    """AWS's rules; returns whether the template carries its own trailing newline."""
    if not template.strip():
        raise FormatError("Access Log format must not be empty or blank", template, 1 if template else None)
    try:
        template.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: shown escaped, the caret under it
        raise FormatError("Access Log format must be valid Unicode: it holds a lone surrogate",
                          template.encode("utf-8", "backslashreplace").decode("utf-8"),
                          exc.start + 1) from None
    body = template[:-1] if template.endswith("\n") else template
    for bad in ("\n", "\r"):
        index = body.find(bad)
        if index >= 0:
            raise FormatError(
                "Access Log format must be single line, new line character is allowed only at "
                "end of the format",
                template,
                index + 1,
            )
    if strict:
        names = {part.name for part in parts[1::2]}
        if not names & set(_ID_NAMES):
            # a misspelt id is the likely cause: name it, with its column
            typo = next((var for var in parts[1::2] if catalog.lookup(api, var.name) is None
                         and catalog.suggest(api, var.name) in (PREFIX + n for n in _ID_NAMES)), None)
            hint = (f"; did you mean {catalog.suggest(api, typo.name)} where the template "
                    f"has {PREFIX}{typo.name}?") if typo else ""
            raise FormatError(
                "Access Log format must contain at least $context.requestId or "
                "$context.extendedRequestId" + hint,
                template,
                typo.start + 1 if typo else None,
            )
        size = len(template.encode("utf-8"))
        if size > MAX_TEMPLATE_BYTES:
            raise FormatError(
                f"Access Log format is {size} bytes; the limit is {MAX_TEMPLATE_BYTES} bytes (3 KB)",
                template,
                len(template.encode("utf-8")[:MAX_TEMPLATE_BYTES].decode("utf-8", "ignore")) + 1,
            )
    return template.endswith("\n")


def _types(api: str, parts: list, template: str, strict: bool):
    """Value type per variable; unknown names per the API type's rule."""
    vtypes: list = []
    unknown: list[Var] = []
    for var in parts[1::2]:
        vtype = catalog.lookup(api, var.name)
        if vtype is None:
            unknown.append(var)
            vtype = VType.TEXT
        vtypes.append(vtype)
    unsupported: tuple = ()
    warning = None
    if unknown and strict:
        names = list(dict.fromkeys(PREFIX + var.name for var in unknown))
        if api != "rest":
            columns = [next(v.start + 1 for v in unknown if PREFIX + v.name == n) for n in names]
            raise UnknownVariableError(
                names, columns, {n: catalog.suggest(api, n[len(PREFIX):]) for n in names}, template
            )
        unsupported = tuple(names)
        hints = "; ".join(
            f"{n} (did you mean {catalog.suggest(api, n[len(PREFIX):])}?)"
            if catalog.suggest(api, n[len(PREFIX):]) else n
            for n in names
        )
        warning = f"REST APIs render unsupported context variables as '-': {hints}"
    return vtypes, ({var.name for var in unknown} if strict else set()), warning


# -- shapes ------------------------------------------------------------------------------

def _hole(literals) -> str:
    """A character that stands for a variable while a shape is checked: the first
    private-use one that no literal holds (a template may hold any of them)."""
    text = "".join(literals)
    return next(chr(code) for code in range(0xE000, 0x110000)
                if chr(code) not in text and not 0xF900 <= code < 0xF0000)


def _json_positions(literals: list[str]):
    """For a JSON template, each variable's position: 'str' or 'bare'; None if not JSON."""
    hole = _hole(literals)
    text = hole.join(literals)
    if not text.lstrip().startswith("{"):
        return None
    positions: list[str] = []
    in_string = escaped = False
    for index, ch in enumerate(text):
        if in_string:
            if escaped:
                if ch == hole:  # "\$context.x": the value's first character would be escaped
                    return None
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            elif ch == hole:
                positions.append("str")
        elif ch == '"':
            in_string = True
        elif ch == hole:
            # a bare variable must be a whole value, so that 'null' or a quoted string fits
            before = text[:index].rstrip()
            after = text[index + 1 :].lstrip()
            if not before or before[-1] not in ":[," or not after or after[0] not in ",}]":
                return None
            positions.append("bare")
    filled = []
    holes = iter(positions)
    for index, literal in enumerate(literals):
        filled.append(literal)
        if index < len(positions):
            filled.append("x" if next(holes) == "str" else "0")
    try:
        value = json.loads("".join(filled), parse_constant=_not_json)
    except ValueError:
        return None
    return positions if isinstance(value, dict) else None


def _not_json(name: str):
    """``NaN`` and ``Infinity``, which Python's reader takes and JSON has not."""
    raise ValueError(f"{name} is not JSON")


def _xml_positions(literals: list[str]):
    """Each variable's XML position, 'attr', 'text' or 'hidden' (in a comment or a CDATA
    section, which no escape can reach: entities are not read there, and a value may close
    them); None if the template is not well-formed XML with its variables filled in."""
    hole = _hole(literals)
    text = hole.join(literals)
    if not text.lstrip().startswith("<"):
        return None
    positions: list[str] = []
    state = "text"
    quote = ""
    index = 0
    while index < len(text):
        ch = text[index]
        if state == "text":
            if text.startswith("<!", index) or text.startswith("<?", index):
                comment, cdata = text.startswith("<!--", index), text.startswith("<![CDATA[", index)
                hidden = comment or cdata
                closer = "-->" if comment else "]]>" if cdata else ">"
                end = text.find(closer, index)
                if end < 0 or (hole in text[index:end] and not hidden):
                    return None
                positions += ["hidden"] * text.count(hole, index, end)
                index = end + len(closer)
                continue
            if ch == "<":
                state = "tag"
            elif ch == hole:
                positions.append("text")
        elif state == "tag":
            if ch in "\"'":
                state, quote = "attr", ch
            elif ch == ">":
                state = "text"
            elif ch == hole:
                return None  # a variable in a tag or attribute name can never be made valid
        elif state == "attr":
            if ch == quote:
                state = "tag"
            elif ch == hole:
                positions.append("attr")
        index += 1
    filled = "".join(
        literal + ("x" if index < len(positions) else "") for index, literal in enumerate(literals)
    )
    try:
        ET.fromstring(filled)
    except ET.ParseError:
        return None
    return positions


def _text_positions(literals: list[str]):
    """Positions in CLF / free text: 'quoted' inside "...", 'bracket' inside [...], else 'bare'."""
    positions: list[str] = []
    state = "bare"
    for index, literal in enumerate(literals):
        for ch in literal:
            if state == "bare":
                state = {"\"": "quoted", "[": "bracket"}.get(ch, "bare")
            elif (state == "quoted" and ch == '"') or (state == "bracket" and ch == "]"):
                state = "bare"
        if index < len(literals) - 1:
            positions.append(state)
    return positions, state == "bare"


def _is_csv(literals: list[str]) -> bool:
    return len(literals) >= 3 and literals[0] == "" and literals[-1] == "" and all(
        lit == "," for lit in literals[1:-1]
    )


def _is_clf(literals: list[str], names: list[str], positions: list[str], balanced: bool) -> bool:
    """The reference page's layout: a [$context.requestTime] group and a "..." group."""
    if not balanced or "quoted" not in positions:
        return False
    for index, name in enumerate(names):
        if name == "requestTime" and literals[index].endswith("[") and literals[index + 1].startswith("]"):
            return True
    return False


_ESC = {
    ("auto", "str"): Esc.JSON_STR,
    ("auto", "bare"): Esc.JSON_BARE,
    ("json", "str"): Esc.JSON_STR,
    ("auto", "attr"): Esc.XML,
    ("auto", "text"): Esc.XML,
    ("auto", "field"): Esc.CSV,
    ("auto", "quoted"): Esc.CLF_QUOTED,
    ("auto", "bracket"): Esc.CLF_BRACKET,
    ("auto", "bare-word"): Esc.CLF_BARE,
}


def detect_shape(literals: list[str], names: list[str]):
    """``(shape, positions, hidden)`` of a template split into literals around its variables;
    ``hidden``: it would be XML but for variables in comments or CDATA sections."""
    positions = _json_positions(literals)
    if positions is not None:
        return "json", positions, False
    positions = _xml_positions(literals)
    hidden = positions is not None and "hidden" in positions
    if positions is not None and not hidden:
        return "xml", positions, False
    if _is_csv(literals):
        return "csv", ["field"] * len(names), False
    positions, balanced = _text_positions(literals)
    shape = "clf" if _is_clf(literals, names, positions, balanced) else "text"
    return shape, ["bare-word" if p == "bare" else p for p in positions], hidden


def compile_program(template: str, api: str = "websocket", escape: str = "auto", strict: bool = True) -> Compiled:
    """Compile a template; see ``fastctx.compile``."""
    if not isinstance(template, str):
        raise TypeError(f"a template is a str, got {type(template).__name__}")
    if escape not in ESCAPES:
        raise ValueError(f"unknown escape mode {escape!r}; expected one of {', '.join(ESCAPES)}")
    catalog._check_api(api)
    parts = lex(template)
    terminated = _validate(template, parts, strict, api)
    if terminated:
        parts[-1] = parts[-1][:-1]
    vtypes, unsupported, warning = _types(api, parts, template, strict)
    # The shape is the whole template's, and REST's unsupported names then become literal
    # text: '-' as AWS writes, or 'null' in a bare JSON position in auto mode (valid JSON).
    shape, every_position, hidden = detect_shape(parts[0::2], [var.name for var in parts[1::2]])
    if escape == "auto" and hidden and shape == "text":
        note = ("XML escaping cannot reach a variable inside a comment or CDATA section, so "
                "this template is compiled as text, not XML; compile it with escape='none' "
                "to write its values as they are")
        warning = f"{warning}; {note}" if warning else note
    merged: list = [parts[0]]
    kept_types: list = []
    positions: list = []
    if len(every_position) != len(parts) // 2:  # a shape must place every variable
        raise AssertionError(f"shape {shape!r} placed {len(every_position)} of "
                             f"{len(parts) // 2} variables in {template!r}")
    for var, vtype, literal, position in zip(parts[1::2], vtypes, parts[2::2], every_position):
        if var.name in unsupported:
            missing = "null" if (escape, position) == ("auto", "bare") and shape == "json" else "-"
            merged[-1] += missing + literal
        else:
            merged += [var, literal]
            kept_types.append(vtype)
            positions.append(position)
    literals = merged[0::2]
    names = [var.name for var in merged[1::2]]
    program_parts: list = [literals[0].encode("utf-8")]
    for name, vtype, position, literal in zip(names, kept_types, positions, literals[1:]):
        esc = _ESC.get((escape, position), Esc.NONE)
        if esc == Esc.CLF_BARE and vtype == VType.CLF_TIME:
            # A CLF time holds a space, and text given for one is written as it is (its bare
            # word is the time's two): escape it as inside [...], where the time usually is.
            esc = Esc.CLF_BRACKET
        elif esc == Esc.CLF_QUOTED and vtype == VType.TOKEN:
            esc = Esc.CLF_QUOTED_TOKEN
        program_parts += [(name, vtype, esc), literal.encode("utf-8")]
    program = Program.build(program_parts, shape, escape)
    return Compiled(program, template, api, tuple(sorted(PREFIX + n for n in unsupported)), terminated,
                    warning)
