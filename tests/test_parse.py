"""Parsing: the exact inverse of render (SPEC section 4). Every test runs the Cython kernel and
the pure-Python reference and requires the same values, counts and rejects."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

import pytest
from hypothesis import assume, given, strategies as st

import fastctx
from fastctx import _memory, _parse, _reference, _reference_parse as reference, generate
from fastctx.batch import Batch
from fastctx.parseplan import plan, resolution
from fastctx.presets import PRESETS
from fastctx.program import Action, Esc, VType

from parse_helpers import both, raises

UTC = dt.timezone.utc
MODES = ("auto", "json", "none")
CASES = [(api, name, mode) for api in PRESETS for name in PRESETS[api] for mode in MODES]


def compiled(template, mode="auto", api="websocket", strict=True):
    return fastctx.compile(template, api=api, escape=mode, strict=strict).program


# -- kernel and plan agree on their enums -------------------------------------------------------


def test_kernel_enums_mirror_program_and_plan():
    from fastctx import parseplan

    enums = _parse.ENUMS
    assert enums["esc"] == {e.name: int(e) for e in Esc}
    assert enums["vtype"] == {v.name: int(v) for v in VType}
    assert enums["form"] == {name[5:]: getattr(parseplan, name) for name in dir(parseplan) if name.startswith("FORM_")}
    assert enums["decode"] == {name[2:]: getattr(parseplan, name) for name in dir(parseplan) if name.startswith("D_")
                               and name[2:].isupper()}
    assert enums["error"] == {name[2:]: getattr(parseplan, name) for name in dir(parseplan)
                              if name.startswith("E_") and name != "E_OK"}
    assert enums["action"] == {"COPY": Action.COPY, "BACKSLASH": Action.BACKSLASH, "HEX": Action.HEX}


# -- types and values ---------------------------------------------------------------------------

CLF = '$context.requestId [$context.requestTime] $context.status "$context.routeKey"'


def test_typed_columns_and_nulls():
    program = compiled(CLF)
    batch = both(program, b'r1 [10/Oct/2000:13:55:36 +0000] 200 "GET /"\nr2 [-] - "-"\n')
    assert [batch.column(n).kind for n in batch.column_names] == ["string", "timestamp", "int64", "string"]
    assert batch.to_pydict() == {
        "requestId": ["r1", "r2"],
        "requestTime": [dt.datetime(2000, 10, 10, 13, 55, 36, tzinfo=UTC), None],
        "status": [200, None],
        "routeKey": ["GET /", None],
    }
    assert batch.stats == fastctx.Stats(2, 2, 0, 0, 0)


@pytest.mark.parametrize(
    "text, expected, canonical",
    [
        (b"10/Oct/2000:13:55:36 +0000", dt.datetime(2000, 10, 10, 13, 55, 36), True),
        (b"10/Oct/2000:13:55:36 -0700", dt.datetime(2000, 10, 10, 20, 55, 36), False),
        (b"01/Jan/2000:01:30:00 +0130", dt.datetime(2000, 1, 1, 0, 0, 0), False),
        (b"29/Feb/2024:23:59:59 +0000", dt.datetime(2024, 2, 29, 23, 59, 59), True),
        (b"01/Jan/0001:00:00:00 +0000", dt.datetime(1, 1, 1), True),
        (b"31/Dec/9999:23:59:59 +0000", dt.datetime(9999, 12, 31, 23, 59, 59), True),
    ],
)
def test_clf_time_offsets_applied(text, expected, canonical):
    program = compiled(CLF)
    batch = both(program, b"r [" + text + b'] 1 "x"')
    assert batch.to_pydict()["requestTime"] == [expected.replace(tzinfo=UTC)]
    assert batch.stats.normalized == (0 if canonical else 1)


@pytest.mark.parametrize(
    "text",
    [b"29/Feb/2023:00:00:00 +0000", b"31/Apr/2023:00:00:00 +0000", b"00/Jan/2023:00:00:00 +0000",
     b"10/oct/2000:13:55:36 +0000", b"10/Okt/2000:13:55:36 +0000", b"10/Oct/2000:24:00:00 +0000",
     b"10/Oct/2000:13:60:36 +0000", b"10/Oct/2000:13:55:60 +0000", b"10/Oct/2000:13:55:36 +2400",
     b"10/Oct/2000:13:55:36 0000", b"10/Oct/2000 13:55:36 +0000", b"1/Oct/2000:13:55:36 +0000",
     # real dates whose UTC time falls outside the years 0000-9999 a CLF time can show
     b"31/Dec/9999:23:59:59 -1400", b"01/Jan/0000:00:00:00 +0100"],
)
def test_bad_dates_are_rejected(text):
    batch = both(compiled(CLF), b"r [" + text + b'] 1 "x"')
    assert batch.stats.rejected == 1 and batch.num_rows == 0
    assert "requestTime" in batch.rejects[0].reason


def test_times_in_sequence_share_nothing_they_should_not():
    # the kernel reuses the day number of a repeated date: every record must still be exact
    lines = [b"31/Jan/2024:23:59:59 +0000", b"31/Jan/2024:00:00:00 -0100", b"31/Feb/2024:00:00:00 +0000",
             b"31/Jan/2024:24:00:00 +0000", b"01/Feb/2024:00:00:00 +0000", b"31/Jan/2023:12:00:00 +0000"]
    data = b"".join(b"r [" + t + b'] 1 "x"\n' for t in lines)
    batch = both(compiled(CLF), data)
    assert [r.line for r in batch.rejects] == [3, 4]
    assert batch.to_pydict()["requestTime"] == [
        dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC), dt.datetime(2024, 1, 31, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 2, 1, tzinfo=UTC), dt.datetime(2023, 1, 31, 12, tzinfo=UTC)]


@pytest.mark.parametrize(
    "text, value, normalized",
    [(b"0", 0, 0), (b"-5", -5, 0), (b"007", 7, 1), (b"-0", 0, 1),
     (b"9223372036854775807", 2**63 - 1, 0), (b"-9223372036854775808", -(2**63), 0),
     (b"999999999999999999", 10**18 - 1, 0), (b"-999999999999999999", 1 - 10**18, 0),
     (b"1000000000000000000", 10**18, 0), (b"000000000000000001", 1, 1),
     (b"0" * 5000 + b"42", 42, 1), (b"-" + b"0" * 5000 + b"9223372036854775808", -(2**63), 1)],
    ids=lambda v: (v[:24].decode() + f"...({len(v)} bytes)" if len(v) > 24 else v.decode())
    if isinstance(v, bytes) else None,
)
def test_integers(text, value, normalized):
    batch = both(compiled(CLF), b"r [-] " + text + b' "x"')
    assert batch.to_pydict()["status"] == [value]
    assert batch.stats.normalized == normalized


@pytest.mark.parametrize("text", [b"9223372036854775808", b"-9223372036854775809", b"12a", b"--1", b"+1", b"1.5",
                                  b"99999999999999999a", b"--", b"1 2",
                                  # longer than the 4,300 digits Python's int() reads
                                  b"9" * 5000, b"-" + b"1" * 60000, b"0" * 3000 + b"1" * 20],
                         ids=lambda v: v[:24].decode() + f"...({len(v)} bytes)" if len(v) > 24 else v.decode())
def test_bad_integers_are_rejected(text):
    batch = both(compiled(CLF), b"r [-] " + text + b' "x"')
    assert batch.stats.rejected == 1


def test_epoch_ms_is_a_timestamp():
    program = compiled("$context.requestId $context.requestTimeEpoch")
    batch = both(program, b"r 1700000000123\n")
    assert batch.column("requestTimeEpoch").kind == "timestamp"
    assert batch.to_pydict()["requestTimeEpoch"] == [dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)]


# The kernel reads a CLF time and a short integer a word (or 16 bytes) at a time; with the
# vector scans off (the second kernel run of `both`) it takes the byte paths big-endian hosts
# take. Every edge below must agree with the reference both ways.

_TIME = b"10/Oct/2010:13:55:36 +0000"
_TIME_TEMPLATES = [
    CLF,                                                          # a scan checks its shape
    "$context.requestId,$context.requestTime,$context.status",    # the comma-split path
    "$context.requestTime,$context.requestId",                    # at the record's start
    '{"requestId":"$context.requestId","requestTime":"$context.requestTime"}',
    "<r><id>$context.requestId</id><t>$context.requestTime</t></r>",
]


def both_ms(program, data):
    """``both`` for times a datetime cannot hold (the year 0000): the columns compared as
    epoch ms and validity, not as Python values."""
    from parse_helpers import _kernel

    runs = [_kernel(program, data, "collect", 1, 0, simd) for simd in (True, False)]
    ref = reference.parse(program, data, "collect", 1, 0)
    for run in runs:
        assert run.stats == ref.stats
        assert run.rejects == ref.rejects
        assert run.column_names == ref.column_names
        for name in ref.column_names:
            got, want = run.column(name), ref.column(name)
            assert got.kind == want.kind
            valid = want.valid_mask()
            assert (got.valid_mask() == valid).all()
            if want.kind == "string":
                assert got.to_pylist() == want.to_pylist()
            else:
                assert (got.values[valid] == want.values[valid]).all(), name
    return runs[0]


def _time_lines(template, times):
    sample = template.replace("$context.requestId", "r").replace("$context.status", "1")
    sample = sample.replace('"$context.routeKey"', '"x"').encode()
    return [sample.replace(b"$context.requestTime", t) for t in times]


def _one_byte_off(text):
    """``text`` with each byte in turn replaced by each of a few that pass or nearly pass
    its test: a digit's neighbours '/' and ':', a letter, a sign, a blank, NUL, DEL."""
    return [text[:k] + bytes([c]) + text[k + 1:]
            for k in range(len(text)) for c in b"/:09aZ+-,. \x00\x7f" if c != text[k]]


@pytest.mark.parametrize("template", _TIME_TEMPLATES)
def test_times_with_one_byte_off_agree_with_the_reference(template):
    times = [_TIME] + _one_byte_off(_TIME) + [_TIME[:25], _TIME + b"0", b"-", b""]
    batch = both(compiled(template, strict=False), b"\n".join(_time_lines(template, times)))
    assert batch.stats.accepted >= 2


_EDGE_TIMES = [
    # offsets: the largest a CLF time holds, both signs, and just past them
    b"10/Oct/2000:13:55:36 -1400", b"10/Oct/2000:13:55:36 +1400", b"10/Oct/2000:13:55:36 -2359",
    b"10/Oct/2000:13:55:36 +2359", b"10/Oct/2000:13:55:36 -0000", b"10/Oct/2000:13:55:36 +0060",
    b"10/Oct/2000:13:55:36 -2400", b"10/Oct/2000:00:00:00 +0001", b"10/Oct/2000:23:59:59 -0001",
    # the clock's limits
    b"10/Oct/2000:23:59:59 +0000", b"10/Oct/2000:24:00:00 +0000", b"10/Oct/2000:23:60:00 +0000",
    b"10/Oct/2000:23:59:60 +0000", b"10/Oct/2000:19:59:59 +0000", b"10/Oct/2000:29:00:00 +0000",
    b"10/Oct/2000:99:99:99 +9999",
    # days: leap years and not, the days of each month and past them, day 00
    b"29/Feb/2024:12:00:00 +0000", b"29/Feb/2023:12:00:00 +0000", b"29/Feb/2000:12:00:00 +0000",
    b"29/Feb/1900:12:00:00 +0000", b"29/Feb/2100:12:00:00 +0000", b"29/Feb/0000:12:00:00 +0000",
    b"28/Feb/2023:12:00:00 +0000", b"30/Feb/2024:12:00:00 +0000", b"31/Feb/2024:12:00:00 +0000",
    b"30/Apr/2024:12:00:00 +0000", b"31/Apr/2024:12:00:00 +0000", b"31/Dec/2024:12:00:00 +0000",
    b"32/Dec/2024:12:00:00 +0000", b"00/Jan/2024:12:00:00 +0000", b"00/Feb/2024:12:00:00 +0000",
    b"99/Jan/2024:12:00:00 +0000",
    # months: every one, and in the wrong case
    *(b"15/" + m + b"/2024:12:00:00 +0000" for m in (
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec", b"jul", b"JUL", b"jUl", b"JUl", b"Jux", b"Ju1", b"J l")),
    # the range a CLF time can show (years 0000-9999 in UTC), at both ends
    b"01/Jan/0000:00:00:00 +0000", b"01/Jan/0000:00:00:00 +0001", b"01/Jan/0000:00:00:00 -2359",
    b"01/Jan/0000:00:00:00 +2359", b"02/Jan/0000:00:00:00 +2359", b"02/Jan/0000:00:00:00 +2400",
    b"31/Dec/9999:23:59:59 +0000", b"31/Dec/9999:23:59:59 -0001", b"31/Dec/9999:00:00:00 -2359",
    b"30/Dec/9999:23:59:59 -2359", b"30/Dec/9999:23:59:59 +2359", b"31/Dec/9999:00:00:00 +2359",
]


@pytest.mark.parametrize("template", _TIME_TEMPLATES)
def test_edge_times_agree_with_the_reference(template):
    batch = both_ms(compiled(template, strict=False), b"\n".join(_time_lines(template, _EDGE_TIMES)))
    assert batch.stats.accepted >= 20


@pytest.mark.parametrize("template", _TIME_TEMPLATES)
def test_dates_repeated_around_rejects_and_range_ends(template):
    # the day number of a repeated date is reused: a date at either end of the range, a
    # rejected record between two of the same date, and a date that only differs late
    times = [b"31/Dec/9999:23:59:59 -0001", b"31/Dec/9999:00:00:00 +0000", b"31/Dec/9999:23:59:59 -0001",
             b"31/Dec/9999:23:59:59 +0000", b"01/Jan/0000:00:00:00 +0001", b"01/Jan/0000:00:00:00 -0001",
             b"01/Jan/0000:00:00:00 +0001", b"10/Oct/2000:13:55:36 +0000", b"10/Oct/2000:24:55:36 +0000",
             b"10/Oct/2000:13:55:37 +0000", b"10/Oct/2001:13:55:37 +0000", b"10/Oct/2000:13:55:38 -0130",
             b"10/Nov/2000:13:55:38 +0000", b"11/Oct/2000:13:55:38 +0000", b"10/oct/2000:13:55:38 +0000",
             b"10/Oct/2000:13:55:39 +0000", b"29/Feb/2024:00:00:00 +0000", b"29/Feb/2023:00:00:00 +0000",
             b"29/Feb/2024:00:00:01 +0000"]
    batch = both_ms(compiled(template, strict=False), b"\n".join(_time_lines(template, times)))
    assert batch.stats.rejected == 7


@pytest.mark.parametrize("template", ["$context.requestId,$context.requestTime", "$context.requestTime"])
@pytest.mark.parametrize("time", [_TIME, b"31/Dec/9999:23:59:59 -0001", b"10/Oct/2000:13:55:36 +00:0"])
def test_time_at_the_very_end_of_the_input(template, time, tmp_path):
    import mmap

    program = compiled(template, strict=False)
    last = _time_lines(template, [time])[0]
    # the last record's time ends the input (no newline), and ends a page of a mapped file
    data = b"r,x\n" * ((mmap.PAGESIZE - len(last)) // 4)
    data = b"\n" * (mmap.PAGESIZE - len(data) - len(last)) + data + last
    assert len(data) == mmap.PAGESIZE
    both_ms(program, last)
    path = tmp_path / "log"
    path.write_bytes(data)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        batch = both_ms(program, mapped)
    assert batch.stats.records == data.count(b"\n") + 1


_INT_TEMPLATES = [
    '$context.requestId $context.status "$context.routeKey"',
    "$context.status $context.requestId",                    # at the record's start
    "$context.requestId $context.status",                    # ends the record
    "$context.requestId,$context.status,$context.routeKey",  # the comma-split path
    "$context.status,$context.requestId",
]


def _int_texts():
    texts = []
    for n in range(1, 20):
        for digits in (b"1234567890123456789"[:n], b"9" * n, b"0" * n, b"1" + b"0" * (n - 1),
                       b"0" + b"7" * (n - 1)):
            texts += [digits, b"-" + digits]
    for digits in (b"2", b"20", b"200", b"2000", b"20000"):
        texts += _one_byte_off(digits)
    return texts + [b"-", b"--1", b"+1", b"", b"9223372036854775807", b"9223372036854775808",
                    b"-9223372036854775808", b"-9223372036854775809", b"99999999999999999999"]


@pytest.mark.parametrize("template", _INT_TEMPLATES)
def test_integers_of_1_to_19_digits_and_one_byte_off_agree_with_the_reference(template):
    program = compiled(template, strict=False)
    sample = template.replace("$context.requestId", "r").replace('"$context.routeKey"', '"x"')
    sample = sample.replace("$context.routeKey", "x").encode()
    lines = [sample.replace(b"$context.status", text) for text in _int_texts()]
    batch = both(program, b"\n".join(lines))
    assert batch.stats.accepted >= 100
    for text in (b"200", b"2", b"2000"):  # a short integer as the whole input, no newline
        both(program, sample.replace(b"$context.status", text))


def test_quoted_type_loses_its_quotes():
    template = "$context.requestId $context.error.messageString"
    for mode in MODES:
        program = compiled(template, mode, api="rest")
        line = _reference.render(program, fastctx.Batch.from_pydict(
            {"requestId": ["r"], "error.messageString": ['say "hi"']}))[0]
        batch = both(program, line)
        assert batch.to_pydict()["error.messageString"] == ['say "hi"'], mode
        assert batch.stats.normalized == 0
    # a quoted value must carry its quotes
    assert both(compiled(template, "none", api="rest"), b"r bare").stats.rejected == 1


def test_json_bare_positions():
    template = '{"id":"$context.requestId","m":$context.error.messageString,"s":$context.status}'
    program = compiled(template, "auto", api="rest")
    lines = (b'{"id":"a","m":"x \\"q\\"","s":200}\n{"id":"b","m":null,"s":null}\n'
             b'{"id":"c","m":"-","s":-1}\n')
    batch = both(program, lines)
    assert batch.to_pydict() == {"requestId": ["a", "b", "c"], "error.messageString": ['x "q"', None, "-"],
                                 "status": [200, None, -1]}
    assert batch.stats.normalized == 0
    assert _reference.render(program, batch)[0] == lines
    # AWS writes bare positions unescaped: '-' and a raw quoted message come back by the retry
    batch = both(program, b'{"id":"d","m":"he said "no"","s":-}\n')
    assert batch.to_pydict() == {"requestId": ["d"], "error.messageString": ['he said "no"'], "status": [None]}
    assert batch.stats.normalized == 1


def test_a_quoted_value_that_is_a_number_is_canonical_in_quotes_in_a_bare_json_position():
    # a `quoted` value renders in quotes even when it is a number ("m":"200"), so that form
    # reads back canonical and a bare 200 counts as normalized (render gives "200" back)
    program = compiled('{"id":"$context.requestId","m":$context.error.messageString}', "auto", api="rest")
    canonical = b'{"id":"a","m":"200"}\n{"id":"b","m":"-5"}\n'
    batch = both(program, canonical)
    assert batch.to_pydict()["error.messageString"] == ["200", "-5"] and batch.stats.normalized == 0
    assert _reference.render(program, batch)[0] == canonical
    batch = both(program, b'{"id":"a","m":200}\n{"id":"b","m":-5}\n')
    assert batch.to_pydict()["error.messageString"] == ["200", "-5"] and batch.stats.normalized == 2
    # text that is not `quoted` renders a number bare: there the quoted form is the normalized one
    text = compiled('{"id":"$context.requestId","r":$context.routeKey}', "auto")
    assert both(text, b'{"id":"a","r":200}\n').stats.normalized == 0
    assert both(text, b'{"id":"a","r":"200"}\n').stats.normalized == 1


def test_variable_used_twice_must_repeat_its_value():
    program = compiled("$context.requestId $context.status $context.requestId")
    assert both(program, b"a 1 a\n").to_pydict() == {"requestId": ["a"], "status": [1]}
    batch = both(program, b"a 1 b\n")
    assert batch.stats.rejected == 1
    assert "used twice" in batch.rejects[0].reason


@pytest.mark.parametrize("template, values", [
    # the requestId holds its separator: the split to move is the one before the route's
    # first use, two before the later use that names the error
    ("$context.requestId:$context.routeKey,$context.routeKey<a>$context.identity.userAgent|",
     {"requestId": "|:}|", "routeKey": "&0}", "identity.userAgent": "u"}),
    # the split to move is three before the later use
    ("$context.routeKey|$context.requestId|$context.identity.userAgent|$context.identity.caller|"
     "$context.routeKey|$context.status",
     {"routeKey": "a|b", "requestId": "r", "identity.userAgent": "u", "identity.caller": "c",
      "status": 200}),
])
@pytest.mark.parametrize("escape", ["auto", "json", "none"])
def test_a_variable_used_twice_whose_value_holds_a_separator_is_read(template, values, escape):
    fmt = fastctx.compile(template, api="websocket", escape=escape)
    line = fmt.render({name: [value] for name, value in values.items()})
    batch = both(fmt.program, line)
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0, batch.rejects
    assert {name: column[0] for name, column in batch.to_pydict().items()} == values
    assert fmt.render(batch) == line


# -- escapes: canonical and normalized ------------------------------------------------------------

JSON_T = '{"id":"$context.requestId","ua":"$context.identity.userAgent"}'
XML_T = '<r id="$context.requestId"><ua>$context.identity.userAgent</ua></r>'
CSV_T = "$context.requestId,$context.identity.userAgent,$context.status"
CLF_T = '$context.requestId "$context.identity.userAgent" [$context.requestTime] $context.identity.caller'


@pytest.mark.parametrize(
    "template, line, value, normalized",
    [
        (JSON_T, b'{"id":"r","ua":"a\\"b\\\\c\\n\\u0001"}', 'a"b\\c\n\x01', 0),
        (JSON_T, b'{"id":"r","ua":"a\\/b"}', "a/b", 1),
        (JSON_T, b'{"id":"r","ua":"\\u0041"}', "A", 1),
        (JSON_T, b'{"id":"r","ua":"\\u00E9"}', "\u00e9", 1),
        (JSON_T, b'{"id":"r","ua":"\\ud83d\\ude00"}', "\U0001f600", 1),
        (JSON_T, b'{"id":"r","ua":"\\b\\f"}', "\b\f", 1),
        (JSON_T, b'{"id":"r","ua":"\\u001F"}', "\x1f", 1),
        (XML_T, b'<r id="r"><ua>&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13;</ua></r>', "<&>\"'\t\n\r", 0),
        (XML_T, b'<r id="r"><ua>&#x41;&#66;</ua></r>', "AB", 1),
        (XML_T, b'<r id="r"><ua>a>b</ua></r>', "a>b", 1),
        (CSV_T, b'r,"a,""b""",1', 'a,"b"', 0),
        (CSV_T, b'r,"plain",1', "plain", 1),
        (CSV_T, b'r,"1",1', "1", 1),
        (CLF_T, b'r "a\\"b\\\\c\\x01" [-] x\\x20y', 'a"b\\c\x01', 0),
        (CLF_T, b'r "\\x41" [-] -', "A", 1),
        (CLF_T, b'r "\\xc3\\xa9" [-] -', "\u00e9", 1),
        (CLF_T, b'r "a\\tb" [-] -', "a\tb", 1),
        (CLF_T, b'r "\\x0A" [-] -', "\n", 1),
    ],
)
def test_escapes_decode(template, line, value, normalized):
    program = compiled(template)
    batch = both(program, line + b"\n")
    assert batch.stats.accepted == 1, batch.rejects
    assert batch.to_pydict()["identity.userAgent"] == [value]
    assert batch.stats.normalized == normalized
    if not normalized:
        assert _reference.render(program, batch)[0] == line + b"\n"


def test_clf_bracket_and_bare_escapes():
    program = compiled('$context.requestId [$context.authorizer.x] $context.identity.caller',
                       api="rest")
    batch = both(program, b"r [a\\x5db\\\\] c\\x20d\\x0a\n")
    assert batch.to_pydict() == {"requestId": ["r"], "authorizer.x": ["a]b\\"], "identity.caller": ["c d\n"]}
    assert batch.stats.normalized == 0


@pytest.mark.parametrize(
    "template, line",
    [
        (JSON_T, b'{"id":"r","ua":"\\ud83d"}'),  # lone surrogate
        (JSON_T, b'{"id":"r","ua":"\\ude00x"}'),
        (CLF_T, b'r "\\xff" [-] -'),  # decodes to invalid UTF-8
        (XML_T, b'<r id="r"><ua>&#0;</ua></r>'),  # not an XML character
    ],
)
def test_escapes_that_cannot_decode_fall_back_to_the_unescaped_retry(template, line):
    # not decodable as escaped: the record is read as unescaped text and counted normalized
    batch = both(compiled(template, "auto"), line)
    assert batch.stats == fastctx.Stats(1, 1, 0, 0, 1)
    assert batch.to_pydict()["identity.userAgent"][0] in line.decode()


# -- the unescaped retry and unescaped (none) output ------------------------------------------------


def test_broken_json_from_aws_is_recovered_by_the_retry():
    program = compiled(JSON_T, "auto")
    line = b'{"id":"r","ua":"Mozilla "quoted" \\ back"}\n'
    batch = both(program, line)
    assert batch.to_pydict()["identity.userAgent"] == ['Mozilla "quoted" \\ back']
    assert batch.stats == fastctx.Stats(1, 1, 0, 0, 1)


def test_none_mode_user_agent_with_quotes_and_route_with_spaces():
    program = fastctx.compile(fastctx.preset("http", "clf"), api="http", escape="none").program
    line = (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET GET /pets/{id} x" HTTP/1.1" 200 12 abc\n')
    batch = both(program, line)
    assert batch.to_pydict()["routeKey"] == ['GET /pets/{id} x"']
    assert batch.stats.normalized == 0
    assert _reference.render(program, batch)[0] == line


def test_leftmost_split_between_two_free_text_values():
    program = compiled("$context.requestId $context.identity.caller $context.identity.user", "none")
    assert resolution(plan(program).modes[0]) == ["forward", "split", "middle"]
    batch = both(program, b"r a b c d\n")
    assert batch.to_pydict() == {"requestId": ["r"], "identity.caller": ["a"], "identity.user": ["b c d"]}
    assert _reference.render(program, batch)[0] == b"r a b c d\n"


def test_split_before_a_token_never_leaves_it_a_byte_it_cannot_hold():
    # AWS writes unescaped CSV in none mode: a free text with ', ' before a token. The
    # leftmost split that leaves the token valid wins; without one, the leftmost split's
    # error is reported.
    program = compiled("$context.requestId,$context.routeKey,$context.connectionId,$context.status", "none")
    assert resolution(plan(program).modes[0])[-2:] == ["middle", "backward"]
    batch = both(program, b"r1,a, b,c1,200\nr2,a,b,c2,201\nr3,x, y,,202\nr4,a, b, c4,203\n")
    assert batch.to_pydict() == {
        "requestId": ["r1", "r2", "r3"],
        "routeKey": ["a, b", "a", "x, y"],
        "connectionId": ["c1", "b,c2", None],   # the leftmost valid split: a token may hold ','
        "status": [200, 201, 202],
    }
    assert batch.stats.normalized == 1  # the empty token, written '-' when rendered
    assert "connectionId" in batch.rejects[0].reason and batch.rejects[0].line == 4
    assert _reference.render(program, batch.slice(0, 2))[0] == b"r1,a, b,c1,200\nr2,a,b,c2,201\n"


@pytest.mark.parametrize("escape", ["none", "auto"])
def test_split_before_a_token_in_the_middle_leaves_it_valid(escape):
    # A User-Agent holds ', ' ("KHTML, like Gecko"): AWS writes it unescaped in CSV. The
    # token after it ends at its own comma, so the split that leaves the token a space is not
    # taken. Unescaped, every split is tried (each byte looked at once); with escapes in the
    # text up to 17, then the leftmost one's error is reported.
    template = ("$context.requestId,$context.identity.userAgent,$context.identity.sourceIp,"
                "$context.status,$context.httpMethod")
    program = compiled(template, escape, api="http")
    agents = ["Mozilla/5.0 (KHTML, like Gecko)", "a, b, c, d", "plain",
              "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"]
    lines = b"".join(f"r{k},{ua},10.0.0.{k},200,GET\n".encode() for k, ua in enumerate(agents))
    lines += b"r9,a" + b", b" * 17 + b",10.0.0.9,200,GET\n"  # the 18th split
    # no space: ambiguous; the leftmost split that leaves every value valid (a token may
    # hold ',': the status that failed after it moves the token's split on)
    lines += b"r10,a,b,10.0.0.10,200,GET\n"
    batch = both(program, lines)
    got = batch.to_pydict()
    assert got["identity.userAgent"] == agents + ["a" + ", b" * 17, "a"]
    assert got["identity.sourceIp"] == [f"10.0.0.{k}" for k in range(len(agents))] + [
        "10.0.0.9", "b,10.0.0.10"]
    assert got["status"] == [200] * (len(agents) + 2)
    assert batch.rejects == []
    if escape == "none":
        assert batch.stats.normalized == 0
        assert _reference.render(program, batch)[0] == lines
    # (a JSON line holding the same is read by the unescaped retry, which tries them all)
    json_program = compiled('{"a":"$context.identity.userAgent","b":"$context.identity.sourceIp",'
                            '"c":"$context.requestId"}', "json", api="http")
    split = b'{"a":"x' + b'","b":"y' * 18 + b'","b":"10.0.0.1","c":"r"}\n'
    assert both(json_program, split).to_pydict()["identity.sourceIp"] == ["10.0.0.1"]


@pytest.mark.parametrize("template", [
    '{"m":"$context.error.message","p":"$context.routeKey $context.stage",'
    '"q":"$context.identity.userAgent $context.status","r":"$context.requestId"}',
    "<r><p>$context.routeKey $context.requestId</p><q>$context.identity.userAgent "
    "$context.status</q><s>$context.error.message</s></r>",
    '$context.requestId "$context.routeKey $context.stage" '
    '"$context.identity.userAgent $context.status" "$context.error.message"',
])
def test_free_texts_holding_a_blank_before_a_token_or_number_in_the_escaped_mode(template):
    # An HTTP route and a User-Agent both hold spaces, each followed by a token or an int
    # that a '"' or '<' ends (so read forward in the escaped mode): each free text takes the
    # first split that leaves what follows it valid. The leftmost left the token '/x s', and
    # one retry could not fix both splits: the line fell to the unescaped retry, which kept
    # the escapes in the values, or was rejected.
    fmt = fastctx.compile(template)
    events = {"error.message": ['say "hi" a<b', "x"], "routeKey": ["GET /x", "$default"],
              "stage": ["s", "prod"], "identity.userAgent": ["Mozilla 5 (X, y)", "curl"],
              "status": [200, 404], "requestId": ["r1", "r2"]}
    lines = fmt.render(events)
    batch = both(fmt.program, lines)
    got = batch.to_pydict()
    assert batch.stats.accepted == 2 and batch.stats.normalized == 0
    assert {name: got[name] for name in got} == {name: events[name] for name in got}
    assert fmt.render(batch) == lines


@pytest.mark.parametrize("escape", ["none", "json", "auto"])
@pytest.mark.parametrize("template", [
    "$context.error.messageString$context.requestId",
    '$context.requestId "$context.error.messageString$context.stage"',
    '{"a":"$context.error.messageString$context.requestId"}',
    "<r><ip>$context.error.messageString$context.identity.userArn</ip><i>$context.requestId</i></r>",
])
def test_a_quoted_value_right_before_another_variable_ends_at_its_closing_quote(template, escape):
    # No literal between them: the quoted value ends at its closing quote as its escape
    # writes one ('"', '\\"' or '&quot;'); it used to get one byte, and the line was rejected.
    fmt = fastctx.compile(template, escape=escape)
    events = {"error.messageString": ["x", "a b", None], "requestId": ["r1", "r2", "r3"],
              "identity.userArn": ["u", "v", "w"], "stage": ["s", "t", "u"]}
    lines = fmt.render(events)
    batch = both(fmt.program, lines)
    assert batch.stats.accepted == 3 and batch.stats.normalized == 0
    assert batch.to_pydict()["error.messageString"] == events["error.messageString"]
    assert fmt.render(batch) == lines
    # a message holding quotes is read to its first closing one (the leftmost split), but
    # where its own quotes are raw and the quotes it holds escaped (JSON in json mode), that
    # closing quote is the one
    quotes = {"error.messageString": ['a "b" c'], "requestId": ["r"], "identity.userArn": ["u"],
              "stage": ["s"]}
    batch = both(fmt.program, fmt.render(quotes))
    if fmt.program.raw_quotes(fmt.program.slots[0]):
        assert batch.to_pydict()["error.messageString"] == ['a "b" c']
        assert fmt.render(batch) == fmt.render(quotes)
    else:
        assert batch.stats.rejected == 1


def test_a_retry_moves_the_split_just_before_the_failing_value():
    # Two free texts side by side (caller, user) before a time: AWS writes them unescaped in
    # CSV. The leftmost split leaves the time 'b" <x&y>'; the retries move the split before
    # the time (the user's), not the first one (the source IP's), until the time parses.
    line = (b'172.78.231.40,AROA:dave.smith, "a,b" <x&y>,AIDA,-,MESSAGE,joinRoom,'
            b'jO05Z7PBk62dVun=,204,O2I8yqCr7jgixlz=\n')
    program = compiled(fastctx.preset("websocket", "csv"), "none")
    batch = both(program, line)
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0
    got = batch.to_pydict()
    assert (got["identity.caller"], got["identity.user"]) == (["AROA:dave.smith"], [' "a,b" <x&y>,AIDA'])
    assert got["requestTime"] == [None] and got["status"] == [204]
    assert _reference.render(program, batch)[0] == line


@pytest.mark.parametrize("escape", ["none", "json", "auto"])
@pytest.mark.parametrize("template, api, line, values", [
    # typed values after the split (an int, a time) placed it: it moves though the error is
    # two slots on
    ("$context.routeKey,$context.status,$context.requestTime,$context.requestId", "websocket",
     b"a,5,4,10/Jul/2024:18:15:21 +0000,r", {"routeKey": "a,5", "status": 4, "requestId": "r"}),
    ("$context.identity.caller,$context.status,$context.requestTime,$context.requestId", "websocket",
     b"a,a,-,4,-,a", {"identity.caller": "a,a,-", "status": 4, "requestTime": None}),
    # the split before the error's (the requestId's) finds nothing: the one before it moves
    ('{"b":"$context.routeKey","r":"$context.requestId","t":$context.requestTimeEpoch,'
     '"u":"$context.identity.userAgent"}', "websocket",
     b'{"b":"x","r":"y","t":","r":"r","t":17,"u":"abc"}',
     {"routeKey": 'x","r":"y","t":', "requestId": "r", "identity.userAgent": "abc"}),
    (fastctx.preset("rest", "csv"), "rest", b"a,a,a,01/Jan/1970:00:00:00 +0000,a,a,a,a,,a,4,4,a,a",
     {"protocol": "a,a,,a", "status": 4, "responseLength": 4}),
])
def test_a_single_value_holding_its_separator_is_recovered(template, api, line, values, escape):
    program = compiled(template, escape, api=api)
    batch = both(program, line + b"\n")
    assert batch.stats.accepted == 1, batch.rejects
    got = {name: column[0] for name, column in batch.to_pydict().items()}
    assert {name: got[name] for name in values} == values
    if escape == "none":  # AWS's own mode: the line comes back byte for byte
        assert batch.stats.normalized == 0
        assert _reference.render(program, batch)[0] == line + b"\n"


def test_websocket_csv_route_key_with_a_comma_parses_unescaped():
    line = b"1.2.3.4,-,-,10/Jul/2024:18:15:21 +0000,MESSAGE,say, hi,c1,200,r1\n"
    for escape in ("none", "auto"):
        batch = both(compiled(fastctx.preset("websocket", "csv"), escape), line)
        assert batch.to_pydict()["routeKey"] == ["say, hi"]
        assert batch.to_pydict()["connectionId"] == ["c1"]


@pytest.mark.parametrize("escape", ["none", "auto"])
@pytest.mark.parametrize("first, sep", [("routeKey", "-"), ("routeKey", ":"), ("error.messageString", "-"),
                                        ("error.messageString", ":")])
def test_a_free_text_split_moves_on_when_the_values_after_it_fail(first, sep, escape):
    # The token after the int may hold the separator, so the split is searched from the left:
    # the leftmost '<' leaves status 'b<92' (or a quoted value without its closing quote);
    # the record is tried again with the split at the next '<', and so on.
    template = f"$context.{first}<$context.status{sep}$context.requestId"
    program = compiled(template, escape)
    fmt = fastctx.compile(template, escape=escape)
    texts = ["a<b", "x<y<z<w", "plain", "<<", "a<9<b"]
    events = Batch.from_pydict({first: texts, "status": [92, -5, 0, 7, 1],
                                "requestId": ["r", f"q{sep}1", "s", f"{sep}t", "u"]})
    lines = fmt.render(events)
    batch = both(program, lines)
    assert batch.stats.accepted == len(texts) and batch.stats.normalized == 0
    assert batch.to_pydict() == events.to_pydict()
    assert fmt.render(batch) == lines


def test_every_split_before_a_number_is_tried_and_else_the_leftmost_error_is_reported():
    program = compiled("$context.routeKey<$context.status-$context.requestId", "none")
    # unescaped, a free text before a number tries every split (it used to stop at 17)
    near, far = "<" * 16, "<" * 500
    data = f"a{near}b<92-r\na{far}b<92-r\nx<y<z-r\n".encode()
    batch = both(program, data, "collect")
    assert batch.to_pydict() == {"routeKey": [f"a{near}b", f"a{far}b"], "status": [92, 92],
                                 "requestId": ["r", "r"]}
    assert [r.line for r in batch.rejects] == [3]
    # none leaves a number: the reason is the leftmost split's, status read from the byte
    # after the first '<'
    assert batch.rejects[0].offset == len(f"a{near}b<92-r\na{far}b<92-r\n")
    assert batch.rejects[0].reason == ("not an integer in $context.status; expected "
                                       "$context.status (int) at byte 2")


def test_later_splits_stay_linear_on_a_long_record():
    # a megabyte of separators before a status that never parses: at most 17 passes
    program = compiled("$context.routeKey<$context.status-$context.requestId", "none")
    record = b"a" + b"<" * 1_000_000 + b"x-r\n"
    batch = both(program, record * 3, "collect")
    assert batch.stats.rejected == 3


SEARCH_T = ",".join(f"$context.{name}" for name in (
    "identity.clientCert.subjectDN", "identity.clientCert.validity.notBefore",
    "identity.principalOrgId", "identity.sourceIp", "requestId"))


def test_the_split_search_finds_the_leftmost_valid_split_of_several_free_texts():
    # Two free texts holding commas, then three tokens: the leftmost split leaves the last
    # token the date's blanks, and moving one split at a time does not reach a valid split
    # (it was rejected). The search does: the first text takes its leftmost split, the
    # second the rest up to the tokens. Ambiguous by nature, so the leftmost wins (SPEC 4).
    program = compiled(SEARCH_T, "none", api="rest")
    line = (b"CN=device-0042,OU=IoT,O=Example,C=DE,Jan  1 00:00:00 2025 GMT,o-9famb0khf4,"
            b"89.203.84.190,b531d7e4\n")
    batch = both(program, line)
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0, batch.rejects
    assert {name: column[0] for name, column in batch.to_pydict().items()} == {
        "identity.clientCert.subjectDN": "CN=device-0042",
        "identity.clientCert.validity.notBefore": "OU=IoT,O=Example,C=DE,Jan  1 00:00:00 2025 GMT",
        "identity.principalOrgId": "o-9famb0khf4", "identity.sourceIp": "89.203.84.190",
        "requestId": "b531d7e4"}
    assert _reference.render(program, batch)[0] == line


def test_the_split_search_keeps_the_leftmost_splits_error_when_no_split_is_valid():
    # every split leaves a token a blank: the reason is still the leftmost split's
    program = compiled(SEARCH_T, "none", api="rest")
    line = b"a,b,c d,e f,g h\n"
    batch = both(program, line, "collect")
    assert batch.stats.rejected == 1
    assert batch.rejects[0].reason.startswith(
        "character not allowed here unescaped in $context.identity.principalOrgId")


def test_the_split_search_stays_bounded_on_a_record_full_of_separators():
    # free texts, then a number that never parses: an exhaustive search of where the 5,000
    # commas go would never end; the search takes at most 32 steps per slot and rejects
    template = ",".join(f"$context.{name}" for name in (
        "identity.caller", "identity.user", "identity.userAgent", "error.message",
        "routeKey", "status", "requestId"))
    program = compiled(template, "none", api="websocket")
    record = b"a" + b",b" * 5_000 + b",x,r\n"
    batch = both(program, record * 2, "collect")
    assert batch.stats.rejected == 2


@pytest.mark.parametrize("api, template, line, values", [
    # an int holds '-' (its sign, or its null) but no '-' after a digit: `200-200` is no
    # status (it was taken, the decode failed, and the line was rejected). Ambiguous, as
    # '-' separates too: the leftmost valid split reads `b-` and -200.
    ("rest", "$context.identity.caller-$context.extendedRequestId-$context.status-"
     "$context.integrationStatus-$context.error.messageString", b'a-b---200-200-"m"',
     {"identity.caller": "a", "extendedRequestId": "b-", "status": -200,
      "integrationStatus": 200, "error.messageString": "m"}),
    # a quoted value starts with its quote or is `-`: no step is spent on the words before it
    ("rest", "$context.requestId $context.error.message $context.authorizer.error "
     "$context.error.messageString $context.identity.userAgent",
     b"r1 " + b" ".join(b"w%d" % k for k in range(40)) + b' "m" curl 8',
     {"error.messageString": "m", "identity.userAgent": "curl 8"}),
])
def test_the_split_search_takes_ints_and_quoted_values_only_in_their_shape(api, template, line,
                                                                          values):
    program = compiled(template, "none", api=api)
    batch = both(program, line + b"\n")
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0, batch.rejects
    got = {name: column[0] for name, column in batch.to_pydict().items()}
    assert {name: got[name] for name in values} == values
    assert _reference.render(program, batch)[0] == line + b"\n"


@pytest.mark.parametrize("separator", [",", " ", "-"])
@pytest.mark.parametrize("api", ["rest", "http", "websocket"])
def test_every_generated_line_of_an_unescaped_template_of_every_variable_is_read(api, separator):
    # every variable of the API, unescaped: free texts holding the separator (DNs, a Cognito
    # provider list, User-Agents, dates) sit side by side. Before the split search, a third
    # of the comma-separated REST and HTTP lines were rejected, and most blank-separated ones.
    from fastctx import catalog

    names = sorted(name for name in catalog.known_names(api) if "<" not in name)
    template = separator.join(f"$context.{name}" for name in names)
    fmt = fastctx.compile(template, api=api, escape="none")
    lines = fmt.render(generate.events(fmt, 200, seed=3))
    batch = both(fmt.program, lines)
    assert batch.stats.accepted == 200, batch.rejects[:3]
    # a line counts as normalized where a split leaves a value empty (read as null, which
    # renders as `-`): only those lines differ when rendered again
    again = fmt.render(batch).splitlines()
    assert sum(a == b for a, b in zip(lines.splitlines(), again)) == 200 - batch.stats.normalized


def test_csv_field_with_newline_in_auto_mode():
    program = compiled(CSV_T)
    data = b'r1,"two\nlines",1\nr2,x,2\n'
    batch = both(program, data)
    assert batch.to_pydict()["identity.userAgent"] == ["two\nlines", "x"]
    assert batch.stats.records == 2
    # line numbers count physical lines
    batch = both(program, data + b"bad\n")
    assert batch.rejects[0].line == 4


def test_csv_stray_quote_of_a_raw_line_never_joins_the_lines_after_it():
    # A raw (unescaped) line whose User-Agent starts with '"' opens a quoted field in auto
    # CSV framing, which ran on to the next '"' lines later: the unescaped retry accepted the
    # joined lines as one record, and the requests between were gone (with nothing rejected).
    # A record whose quoted field holds a newline but whose quoting is not well-formed (here
    # the '"' that ends the field is not before a comma) is its first line.
    program = compiled(CSV_T)
    lines = [b"r1,curl/8.0,200", b'r2,"evil,200', b"r3,curl/8.0,200", b"r4,curl/8.0,403",
             b'r5,Mozilla "x",200', b"r6,curl/8.0,200"]
    batch = both(program, b"\n".join(lines) + b"\n")
    assert batch.to_pydict() == {
        "requestId": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "identity.userAgent": ["curl/8.0", '"evil', "curl/8.0", "curl/8.0", 'Mozilla "x"',
                               "curl/8.0"],
        "status": [200, 200, 200, 403, 200, 200],
    }
    assert batch.stats == fastctx.Stats(6, 6, 0, 0, 2)
    # the same line last (its field never closed), with its newline, without it, before a CRLF
    for tail in (b"\n", b"", b"\r\n"):
        batch = both(program, b"r1,a,1\n" + lines[1] + tail)
        assert batch.to_pydict()["requestId"] == ["r1", "r2"] and batch.stats.normalized == 1


def test_csv_record_holding_a_newline_is_one_record_only_when_its_quoting_is_well_formed():
    program = compiled(CSV_T)
    # not well-formed, and the first line does not parse either: that line alone is
    # rejected, the lines after it are records of their own
    data = b'r2,"evil,2x0\nr3,c,200\nr4,c,403\nr5,Mozilla "x",200\n'
    batch = both(program, data)
    assert [(r.line, r.offset, r.raw) for r in batch.rejects] == [(1, 0, b'r2,"evil,2x0')]
    assert batch.to_pydict()["requestId"] == ["r3", "r4", "r5"]
    assert batch.stats == fastctx.Stats(4, 3, 1, 0, 1)
    # a closing quote before a CR that ends the line is well-formed
    batch = both(program, b'r1,"two\nlines"\r\nr2,c,200\n')
    assert [(r.line, r.raw) for r in batch.rejects] == [(1, b'r1,"two\nlines"')]
    # well-formed, with a bad value elsewhere: the record is rejected whole
    batch = both(program, b'r1,"two\nlines",2x0\nr2,c,200\n')
    assert [(r.line, r.raw) for r in batch.rejects] == [(1, b'r1,"two\nlines",2x0')]
    assert batch.to_pydict()["requestId"] == ["r2"] and batch.stats.records == 2
    # and a field that holds a newline is one record, as fastctx writes it
    batch = both(program, b'r1,"two\nlines",200\nr2,c,200\n')
    assert batch.to_pydict()["identity.userAgent"] == ["two\nlines", "c"]
    assert batch.stats == fastctx.Stats(2, 2, 0, 0, 0)


@pytest.mark.parametrize("pad", range(0, 34))
def test_csv_record_ends_with_quotes_at_every_vector_position(pad):
    # quotes, doubled quotes, stray quotes and newlines inside quotes land on every byte of
    # a 16-byte block, and at the end of the input (the kernel's scalar tail)
    program = compiled(CSV_T)
    head = b"p" * pad
    records = [
        head + b',"a ""b"", \nc",1',          # doubled quotes and a newline in a quoted field
        head + b'""",x"""",2',                  # a quoted field starting with a doubled quote
        head + b'x"y,"q,\n"",",3',             # a stray quote in an unquoted field
        head + b',"",4',                        # an empty quoted field
        head + b',ab"',                         # stray quote before a short last field
        head + b',"' + b"z" * pad + b'\n",5',
    ]
    data = b"\n".join(records) + b"\n" + head + b',"never closed\n' + b"y" * pad
    batch = both(program, data, "collect")
    assert batch.column("identity.userAgent").to_pylist()[0] == 'a "b", \nc'
    assert batch.stats.records == len(batch.rejects) + batch.num_rows


def test_long_line_with_many_quotes_is_parsed():
    # free text full of the separator: linear work, and the single free-text slot is exact
    program = fastctx.compile(JSON_T, escape="none").program
    ua = ('x" ' * 1000 + "y" * 1_000_000).encode()
    batch = both(program, b'{"id":"r","ua":"' + ua + b'"}\n')
    assert batch.column("identity.userAgent").to_pylist() == [ua.decode()]


# -- records, line numbers, offsets, on_error -------------------------------------------------------


def test_record_boundaries_crlf_empty_lines_and_last_record():
    program = compiled("$context.requestId $context.status")
    batch = both(program, b"a 1\r\n\r\n\nb 2\r\nc 3")
    assert batch.to_pydict() == {"requestId": ["a", "b", "c"], "status": [1, 2, 3]}
    assert batch.stats == fastctx.Stats(5, 3, 0, 2, 0)


def test_rejects_carry_line_offset_reason_and_raw():
    program = compiled("$context.requestId $context.status")
    data = b"a 1\nb x\n\nc 3 extra\n"
    batch = both(program, data, line_base=10, offset_base=1000)
    assert [(r.line, r.offset, r.raw) for r in batch.rejects] == [(11, 1004, b"b x"), (13, 1009, b"c 3 extra")]
    for reject in batch.rejects:
        assert data[reject.offset - 1000 : reject.offset - 1000 + len(reject.raw)] == reject.raw
        assert "status" in reject.reason
    assert batch.stats == fastctx.Stats(4, 1, 2, 1, 0)


def test_on_error_raise_names_line_offset_expected_with_caret():
    program = compiled('$context.requestId "$context.routeKey"')
    error = raises(program, b'ok "x"\nbad x"\n', offset_base=100)
    assert (error.line, error.column) == (2, 3)
    assert error.offset == 100 + 7 + 3
    assert error.expected == "literal ' \"'"
    assert error.raw == b'bad x"'
    assert str(error).splitlines()[-1].strip() == "^"
    assert isinstance(error, ValueError)


def test_on_error_skip_counts_only():
    program = compiled("$context.requestId $context.status")
    batch = both(program, b"a 1\nb x\n", on_error="skip")
    assert batch.rejects == [] and batch.stats.rejected == 1



@pytest.mark.parametrize("on_error", ["skip", "collect"])
def test_a_rejected_record_leaves_nothing_in_the_row_it_was_tried_at(on_error):
    # The kernel writes values and null bits at their row as it reads a record: a record
    # rejected after a null must not leave that null (or its values) to the next record.
    program = compiled("$context.requestId $context.status $context.routeKey")
    lines, expected = [], {"requestId": [], "status": [], "routeKey": []}
    for i in range(21):
        # a null, then a status past int64: rejected after the null was read
        lines.append(f"- 9{i:019d} -".encode())
        if i % 3:
            lines.append(f"r{i} {i} k{i}".encode())
            for name, value in zip(expected, (f"r{i}", i, f"k{i}")):
                expected[name].append(value)
        else:
            lines.append(b"- - -")
            for name in expected:
                expected[name].append(None)
    batch = both(program, b"\n".join(lines) + b"\n", on_error=on_error)
    assert batch.to_pydict() == expected
    assert batch.stats.rejected == 21
    for name, values in expected.items():
        column = batch.column(name)
        assert column.null_count == values.count(None)
        assert column.to_pylist() == values
        bits = np.unpackbits(column.validity, bitorder="little")
        assert list(bits[: len(values)]) == [value is not None for value in values]
        assert not bits[len(values):].any()  # bits past the last row are zero

def test_inputs_bytes_bytearray_memoryview_str_mmap(tmp_path):
    import mmap

    program = compiled("$context.requestId $context.status")
    data = b"a 1\nb 2\n"
    path = tmp_path / "log"
    path.write_bytes(data)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for item in (data, bytearray(data), memoryview(data), data.decode(), mapped):
            assert both(program, item).to_pydict() == {"requestId": ["a", "b"], "status": [1, 2]}


def test_strided_memoryviews_are_read_as_their_bytes():
    fmt = fastctx.compile("$context.requestId $context.status")
    strided = memoryview(b"".join(bytes([c, 46]) for c in b"a 1\nb 2\n"))[::2]
    assert not strided.c_contiguous
    expected = {"requestId": ["a", "b"], "status": [1, 2]}
    assert fmt.parse(strided).to_pydict() == expected
    assert fmt.parse(strided, threads=2).to_pydict() == expected
    assert fastctx.read_all(strided, fmt).to_pydict() == expected


def test_format_parse_uses_the_kernel():
    fmt = fastctx.compile("$context.requestId $context.status")
    assert fmt.parse(b"a 1\n").to_pydict() == {"requestId": ["a"], "status": [1]}
    assert fastctx.parse("$context.requestId $context.status", "b 2").to_pydict() == {
        "requestId": ["b"], "status": [2]}


def test_parser_is_reusable_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    program = compiled(fastctx.preset("websocket", "clf"))
    parser = _parse.Parser(program)
    lines = _reference.render(program, fastctx.Batch.from_pydict(
        {"requestId": [f"r{i}" for i in range(300)], "status": list(range(300))}))[0]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: parser.parse(lines, "raise"), range(6)))
    for batch in results:
        assert batch.to_pydict() == results[0].to_pydict()
        assert batch.num_rows == 300


# -- hypothesis round trips ---------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_SPICY = st.sampled_from(['"', "\\", ",", " ", "<", "&", ">", "'", "]", "[", "\t", "-", "", "é", "\x01",
                          "\r", "\n", "x", "\u2028", "null", "1"])
_VALUE = st.one_of(_TEXT, st.lists(_SPICY, max_size=6).map("".join))
_TOKEN = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"],
                               exclude_characters=' \t\n\x0b\x0c\r"'), max_size=10)


def _value_for(vtype):
    if vtype in (VType.INT,):
        return st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
    if vtype in (VType.EPOCH_MS, VType.CLF_TIME):
        seconds = st.integers(-62135596800, 253402300799)  # whole seconds, years 1-9999
        stamp = seconds.map(lambda s: dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=s))
        if vtype == VType.EPOCH_MS:
            stamp = st.integers(-62135596800000, 253402300799999).map(
                lambda ms: dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=ms))
        return st.one_of(st.none(), stamp)
    if vtype == VType.TOKEN:
        return st.one_of(st.none(), _TOKEN)
    return st.one_of(st.none(), _VALUE)


def _carried(program, slots_how, row: dict) -> bool:
    """Whether a row survives the round trip in this program's mode (documented limits).

    - ``-`` and ``""`` read back as None (a rendered ``-`` is null);
    - XML drops characters XML 1.0 cannot hold, so such values change;
    - an unescaped value (``Esc.NONE``) cannot hold a newline or CR (they end records);
    - a value split off by the leftmost occurrence of its following literal (``split`` in
      ``parseplan.resolution``) cannot hold that literal, where its escaped form shows it.
    """
    literals = program.literals()
    for index, slot in enumerate(program.slots):
        value = row.get(slot.name)
        if not isinstance(value, str):
            continue
        if slot.esc == Esc.XML and any(
                (ord(ch) < 0x20 and ch not in "\t\n\r") or ch in "\ufffe\uffff" for ch in value):
            return False
        if slot.esc == Esc.NONE and ("\n" in value or "\r" in value):
            return False
        if slots_how[index] == "split" and value not in ("", "-"):
            rendered = _reference.render_value(
                slot, fastctx.Batch.from_pydict({slot.name: [value]}).column(slot.name), 0, slot.name)[0]
            literal = literals[index + 1]
            joined = rendered + literal
            if reference.find_split(joined, 0, len(joined), literal, plan(program).modes[0][index].skip) != len(
                    rendered):
                return False
    return True


def _sanitize(slot, value):
    if not isinstance(value, str):
        return value
    if slot.esc == Esc.XML:
        value = "".join(ch for ch in value if not ((ord(ch) < 0x20 and ch not in "\t\n\r") or ch in "\ufffe\uffff"))
    if slot.esc == Esc.NONE:
        value = value.replace("\n", "").replace("\r", "")
    return value


def _expected(value):
    return None if value in ("", "-") else value


@pytest.mark.parametrize("api, name, mode", CASES)
@given(data=st.data())
def test_parse_of_render_gives_the_batch_back(api, name, mode, data):
    program = fastctx.compile(fastctx.preset(api, name), api=api, escape=mode).program
    how = resolution(plan(program).modes[0])
    rows = data.draw(st.integers(1, 4))
    columns = {}
    for slot in program.slots:
        if slot.name not in columns:
            columns[slot.name] = [data.draw(_value_for(slot.vtype)) for _ in range(rows)]
    for slot in program.slots:  # drop what the position cannot carry (see _carried)
        columns[slot.name] = [_sanitize(slot, v) for v in columns[slot.name]]
    for row in range(rows):
        assume(_carried(program, how, {name: values[row] for name, values in columns.items()}))
    batch = fastctx.Batch.from_pydict(columns)
    lines, _ = _reference.render(program, batch)
    parsed = both(program, lines)
    assert parsed.stats == fastctx.Stats(rows, rows, 0, 0, 0), parsed.rejects
    expected = {name: [_expected(v) if isinstance(v, str) else v for v in values]
                for name, values in columns.items()}
    assert parsed.to_pydict() == expected
    assert _reference.render(program, parsed)[0] == lines


@pytest.mark.parametrize("api, name, mode", CASES)
@given(data=st.data())
def test_render_of_parse_gives_accepted_lines_back_even_mutated(api, name, mode, data):
    program = fastctx.compile(fastctx.preset(api, name), api=api, escape=mode).program
    columns = {slot.name: [data.draw(_value_for(slot.vtype))] for slot in program.slots}
    line = bytearray(_reference.render(program, fastctx.Batch.from_pydict(columns))[0][:-1])
    for _ in range(data.draw(st.integers(0, 3))):
        if not line:
            break
        where = data.draw(st.integers(0, len(line) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        byte = data.draw(st.sampled_from(b'"\\ ,<>&;[]-x0\x00\xff\xc3\t\r\n'))
        if action == "set":
            line[where] = byte
        elif action == "insert":
            line.insert(where, byte)
        else:
            del line[where]
    parsed = both(program, bytes(line))  # never crashes; counts add up (checked in both)
    if b"\n" not in line and parsed.stats.accepted == 1 and not parsed.stats.normalized:
        # an accepted record in canonical form renders back byte for byte
        assert _reference.render(program, parsed)[0] == bytes(line) + b"\n"
    rendered, dropped = _reference.render(program, parsed)
    if parsed.stats.accepted == 1 and parsed.stats.records == 1 and not dropped:
        # accepted or normalized, the values render to a line that parses to the same values
        # (unless rendering had to drop characters XML cannot hold)
        again = both(program, rendered)
        assert again.to_pydict() == parsed.to_pydict()
        assert again.stats.normalized == 0


# -- odd templates: kernel and reference agree on anything ----------------------------------------

def test_adjacent_variables():
    template = "x$context.identity.caller$context.identity.user"
    none = compiled(template, "none", strict=False)
    assert both(none, b"x\nxab\n").to_pydict() == {"identity.caller": ["a"], "identity.user": ["b"]}
    assert both(none, b"x\n").stats.rejected == 1
    auto = compiled(template, "auto", strict=False)
    batch = both(auto, b"x\\\\b\n")
    assert batch.to_pydict() == {"identity.caller": ["\\"], "identity.user": ["b"]}


@pytest.mark.parametrize("mode", MODES)
def test_adjacent_variables_before_a_number_split_where_the_number_can_start(mode):
    # the shortest first value would leave the status `bc200`: the split starts where the
    # rest holds only what a number holds (the leftmost such: `abc1200` is `abc` and 1200)
    program = compiled("$context.requestId$context.status", mode)
    batch = both(program, b"abc200\nabc-\nabc1200\n\xc3\xa9200\nabcx\n")
    assert batch.to_pydict() == {"requestId": ["abc", "abc", "abc", "\u00e9"],
                                 "status": [200, None, 1200, 200]}
    assert batch.stats == fastctx.Stats(5, 4, 1, 0, 0)
    assert _reference.render(program, batch)[0] == b"abc200\nabc-\nabc1200\n\xc3\xa9200\n"


_VARS = ["requestId", "status", "identity.userAgent", "requestTime", "identity.sourceIp",
         "error.messageString", "requestTimeEpoch"]
_LITS = ["", " ", '"', "[", "]", ",", " - ", '" "', "<a>", "</a>", '{"k":"', '","v":', "}"]


@given(data=st.data())
def test_random_templates_and_records_kernel_equals_reference(data):
    parts = [data.draw(st.sampled_from(_LITS))]
    for _ in range(data.draw(st.integers(1, 4))):
        parts += ["$context." + data.draw(st.sampled_from(_VARS)), data.draw(st.sampled_from(_LITS))]
    template = "".join(parts)
    try:
        fmt = fastctx.compile(template, api="rest", escape=data.draw(st.sampled_from(MODES)), strict=False)
    except fastctx.FormatError:
        assume(False)
    alphabet = b' "[],-<>/ak:{}\\x0123\t\r\n\x00\xc3\xa9&;'
    record = bytes(data.draw(st.lists(st.sampled_from(alphabet), max_size=40)))
    lines = [record]
    row = {name: [data.draw(st.one_of(st.none(), _VALUE))] for name in fmt.variables}
    for name in fmt.variables:
        slot = next(s for s in fmt.program.slots if s.name == name)
        if slot.vtype in (VType.INT, VType.EPOCH_MS, VType.CLF_TIME):
            row[name] = [data.draw(_value_for(slot.vtype))]
    lines.append(_reference.render(fmt.program, fastctx.Batch.from_pydict(row))[0])
    both(fmt.program, b"\n".join(lines))


def _decode_vector_set(raw):
    head = np.frombuffer(raw[:16], dtype=np.int32)
    body = np.frombuffer(raw[16:], dtype=np.uint8).reshape(16, 16)
    assert (body == body[:, :1]).all()  # every entry is one byte repeated 16 times
    singles, los, widths = body[:8, 0], body[8:12, 0], body[12:16, 0]
    members = set(int(b) for b in singles)
    for lo, width in zip(los, widths):
        members |= {(int(lo) + k) % 256 for k in range(int(width) + 1)}
    if head[1] == 0xFFFF:  # the entries hold the complement
        members = set(range(256)) - members
    else:
        assert head[1] == 0
    return dict(nsingle=int(head[0]), invert=int(head[1]), usable=int(head[2]), tier=int(head[3])), members


@pytest.mark.parametrize("members, tier", [
    (set(), 0),
    ({0x22}, 1),
    (set(range(0x20)) | {0x22, 0x5C}, 1),                        # a JSON string: controls, '"', '\'
    (set(range(0x21)) | {0x22, 0x5C, 0x7F}, 2),                 # CLF: controls, space, '"', '\', DEL
    (set(range(9, 14)) | {0x20, 0x22, 0x2C}, 2),                 # CSV
    (set(range(0x21)) | {0x22, 0x26, 0x27, 0x3C, 0x3E, 0xEF}, 2),  # XML
    ({0x22, 0x24, 0x3C, 0x3E, 0xEF} | set(range(0x41, 0x44)) | {0x60, 0x61}, 3),  # five single bytes
    (set(range(0x30, 0x3A)), 1),  # one range only
    (set(range(256)) - set(b"0123456789-"), 1),                  # an integer's stop bytes: complemented
    (set(range(256)) - set(b"0123456789-+xX"), 2),                # 5 runs, too many; complement: tier 2
    (set(range(256)) - set(b"0123456789ABCDEF-"), 2),              # tier 3; complement: tier 2
])
def test_vector_sets_hold_exactly_the_table(members, tier):
    table = [1 if byte in members else 0 for byte in range(256)]
    head, decoded = _decode_vector_set(_parse.vector_set(table))
    assert head["usable"] == 1 and head["tier"] == tier
    assert decoded == members or (not members and head["tier"] == 0)


@pytest.mark.parametrize("members, tier", [
    ({0x0A, 0x0D, 0x22, 0x2C}, 1),                                 # CSV field: takes VT and FF
    (set(range(0x21)) | {0x22, 0x5C, 0x7F}, 1),                    # CLF token: takes '!'
    (set(range(9, 14)) | {0x20, 0x22, 0x2C}, 1),                   # CSV token: takes controls
    ({0x41, 0x43, 0x45, 0x47, 0x49}, 2),                           # no rare byte helps; the complement does
])
def test_relaxed_forward_sets_add_only_rare_bytes(members, tier):
    table = [1 if byte in members else 0 for byte in range(256)]
    head, decoded = _decode_vector_set(_parse.vector_set(table, relax=True))
    assert head["usable"] == 1 and head["tier"] == tier
    assert members <= decoded
    assert decoded - members <= set(range(0x22)) | {0x7F}


@pytest.mark.parametrize("name", ["clf", "csv", "json", "xml"])
def test_rare_bytes_a_forward_scan_stops_at_are_stepped_over(name):
    fmt = fastctx.compile(PRESETS["websocket"][name])
    batch = generate.events(fmt, 40, seed=3)
    values = ["a!b", "!", "x\x0by\x0cz", "\x7fq!", "w" * 20 + "!" + "v" * 20, "\x01!\x1f"]
    columns = batch.to_pydict()
    for column in ("identity.caller", "routeKey"):  # free text: control characters too
        columns[column] = [values[k % len(values)] for k in range(batch.num_rows)]
    columns["eventType"] = [("a!b", "!", "c!")[k % 3] for k in range(batch.num_rows)]  # a token
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastctx.RenderWarning)  # XML drops the controls
        data = fmt.render(fastctx.Batch.from_pydict(columns))
    parsed = both(fmt.program, data)  # the kernel, with and without vector scans, as the reference
    assert parsed.stats.accepted == batch.num_rows
    assert parsed.column("eventType").to_pylist() == columns["eventType"]
    # (CLF writes control characters as \xHH and keeps them so; XML 1.0 cannot hold them)
    if name in ("csv", "json"):
        for column in ("identity.caller", "routeKey"):
            assert parsed.column(column).to_pylist() == columns[column]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 64])
def test_literals_of_every_size_match_only_exactly(size):
    literal = "".join("#%&*+,./:;<=>?@^|~"[k % 18] for k in range(size))
    program = fastctx.compile(f"$context.requestId{literal}$context.status", escape="none").program
    good = f"r1{literal}200".encode()
    lines = [good]
    for k in range(size):  # one wrong byte at each position of the literal
        line = bytearray(good)
        line[2 + k] ^= 0x01
        lines.append(bytes(line))
    batch = both(program, b"\n".join(lines))
    assert batch.to_pydict() == {"requestId": ["r1"], "status": [200]}
    assert batch.stats.rejected == size


def test_vector_set_with_too_many_runs_is_left_to_the_table():
    table = [1 if byte % 2 else 0 for byte in range(64)] + [0] * 192  # 32 single bytes
    head, _ = _decode_vector_set(_parse.vector_set(table))
    assert head["usable"] == 0 and head["tier"] == -1  # one test in the kernel: tier < 0


def test_column_buffers_grow_alike_mapped_or_reallocated():
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 3000, seed=2)
    parser = _parse.Parser(fmt.program)
    old = _memory._map_min(1 << 62)
    try:
        plain = parser.parse(data)
        _memory._map_min(1)  # every buffer mapped, grown by remapping from a page
        mapped = parser.parse(data)
    finally:
        _memory._map_min(old)
    assert _memory._map_min(old) == old
    assert mapped.to_pydict() == plain.to_pydict()
    for name in plain.column_names:
        a, b = mapped.column(name), plain.column(name)
        assert np.array_equal(a.values, b.values)
        assert (a.data is None) == (b.data is None)
        if a.data is not None:
            assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("step", [1, 5, 16, 63, 64, 65])
def test_utf8_checked_at_every_position_of_a_long_record(step):
    program = compiled('$context.requestId "$context.routeKey"')
    value = b"a" * 150
    lines = []
    for at in range(0, 150, step):
        lines.append(b'r "' + value[:at] + b"\xff" + value[at + 1:] + b'"')      # invalid
        lines.append(b'r "' + value[:at] + "é".encode() + value[at + 2:] + b'"')  # valid
    batch = both(program, b"\n".join(lines))
    assert batch.stats.rejected == len(lines) // 2
    assert batch.stats.accepted == len(lines) // 2


@given(message=st.one_of(st.none(), st.just("-"), _VALUE), agent=st.one_of(st.none(), _VALUE))
def test_a_message_with_raw_quotes_in_json_mode_round_trips(message, agent):
    # json mode: $context.error.messageString keeps its own quotes raw around its escaped text
    fmt = fastctx.compile('{"r":"$context.requestId","ua":"$context.identity.userAgent",'
                          '"m":"$context.error.messageString"}', api="rest", escape="json")
    batch = fastctx.Batch.from_pydict({"requestId": ["r"], "identity.userAgent": [agent],
                                       "error.messageString": [message]})
    lines = fmt.render(batch)
    parsed = both(fmt.program, lines)
    assert parsed.stats.accepted == 1 and parsed.stats.normalized == 0, parsed.rejects
    # (a message "-" is written in its quotes, so it stays a string)
    assert parsed.to_pydict() == {"requestId": ["r"], "identity.userAgent": [_expected(agent or "")],
                                  "error.messageString": [message or None]}
    assert fmt.render(parsed) == lines


@pytest.mark.parametrize("count", [1, 17, 18, 200])
@pytest.mark.parametrize("name", ["csv", "clf"])
def test_a_free_text_before_a_time_or_number_holds_any_number_of_separators(name, count):
    # none mode: the user before the time (and a caller's split before a status) is found
    # however many separators it holds; it used to stop after 17 tries
    fmt = fastctx.compile(fastctx.preset("websocket", name), escape="none")
    user = "x" + ",b" * count if name == "csv" else '" [ ] ' * count
    events = {"identity.sourceIp": ["1.2.3.4"], "identity.caller": ["a"], "identity.user": [user],
              "requestTime": [0], "status": [200], "requestId": ["r"]}
    lines = fmt.render(events)
    batch = both(fmt.program, lines)
    assert batch.stats.accepted == 1 and batch.stats.normalized == 0, batch.rejects
    assert batch.to_pydict()["identity.user"] == [user]
    assert fmt.render(batch) == lines
    three = fastctx.compile("$context.identity.caller,$context.identity.user,$context.status,"
                            "$context.requestId", escape="none")
    lines = three.render({"identity.caller": ["a"], "identity.user": ["b," * count + "b"],
                          "status": [1], "requestId": ["rid"]})
    assert both(three.program, lines).to_pydict()["identity.user"] == ["b," * count + "b"]


@pytest.mark.parametrize("mode", ["none", "json"])
def test_a_message_that_starts_with_a_quote_reads_back_as_written(mode):
    # The leftmost split of `r "" a" k` leaves the message `""` (null, which renders `-`) and
    # the route `a" k`; the next split gives `" a` and `k`, the values the line was written from
    fmt = fastctx.compile("$context.requestId $context.error.messageString $context.routeKey",
                          escape=mode)
    batch = Batch.from_pydict({"requestId": ["r1", "r2", "r3"],
                               "error.messageString": ['" a', '"', None],
                               "routeKey": ["k", 'a" k', '"" y']})
    lines = fmt.render(batch)
    assert lines.startswith(b'r1 "" a" k\n')
    parsed = both(fmt.program, lines)
    assert parsed.stats == fastctx.Stats(3, 3, 0, 0, 0)
    assert parsed.to_pydict() == batch.to_pydict()
    assert fmt.render(parsed) == lines
    # with no split that reads every value canonically, the leftmost stands, counted apart
    odd = both(fmt.program, b'r "" k\nr "" a b\n')
    assert odd.to_pydict() == {"requestId": ["r", "r"], "error.messageString": [None, None],
                               "routeKey": ["k", "a b"]}
    assert odd.stats.normalized == 2


@given(message=st.one_of(st.none(), _VALUE), route=st.one_of(st.none(), _VALUE),
       mode=st.sampled_from(["none", "json"]))
def test_a_message_and_a_free_text_after_it_read_back_to_the_same_line(message, route, mode):
    # SPEC 4: a record written in canonical form reads back to itself, whichever split of the
    # two free texts that reading takes
    fmt = fastctx.compile("$context.requestId $context.error.messageString $context.routeKey",
                          escape=mode)
    batch = Batch.from_pydict({"requestId": ["r"], "error.messageString": [message],
                               "routeKey": [route]})
    lines = fmt.render(batch)
    # (these modes write a CR or LF in a bare value as it is: a line break)
    assume(lines.count(b"\n") == 1 and b"\r" not in lines)
    parsed = both(fmt.program, lines)
    assert parsed.stats == fastctx.Stats(1, 1, 0, 0, 0), parsed.rejects
    assert fmt.render(parsed) == lines


def test_a_raw_quote_does_not_hide_the_bad_value_after_it():
    # The escaped mode stops at the raw quote in the User-Agent; the unescaped retry reads on
    # to the status, whose error is the one reported (as for the same line without the quote)
    fmt = fastctx.compile('{"r":"$context.requestId","ua":"$context.identity.userAgent",'
                          '"status":"$context.status","k":"$context.routeKey"}')
    quoted = b'{"r":"a","ua":"x"y","status":"2x0","k":"c"}'
    plain = quoted.replace(b'x"y', b"xy")
    for line in (quoted, plain):
        batch = both(fmt.program, line)
        [reject] = batch.rejects
        assert "$context.status, which stops at 'x'" in reject.reason
        assert reject.reason.endswith(f"at byte {line.index(b'2x0') + 1}")
    with pytest.raises(fastctx.ParseError, match=r"\$context.status, which stops at 'x'"):
        fmt.parse(quoted)
    # a line whose only fault is the raw quote is read by the retry, counted apart
    assert both(fmt.program, quoted.replace(b"2x0", b"200")).stats == fastctx.Stats(1, 1, 0, 0, 1)
    # CSV: an open quote is still the error named, not the missing comma the retry then finds
    csv = compiled("$context.requestId,$context.status")
    [reject] = both(csv, b'"abc').rejects
    assert reject.reason.startswith("malformed quoted CSV field in $context.requestId")


def test_the_split_search_takes_a_number_only_in_its_shape():
    # unescaped CSV, a route holding a comma and a date before the status: the search took
    # `2024-01` for the status (an int's scan stops at neither '-' nor a digit) and so never
    # moved the route's split; the line was rejected
    fmt = fastctx.compile("$context.routeKey,$context.status,$context.identity.userAgent,"
                          "$context.error.messageString", api="rest", escape="none", strict=False)
    events = {"routeKey": ["GET /items,2024-01", "a,0-"], "status": [200, None],
              "identity.userAgent": ["Mozilla/5.0 (KHTML, like Gecko)", "a,"],
              "error.messageString": ["Forbidden", None]}
    lines = fmt.render(events)
    assert lines.startswith(b'GET /items,2024-01,200,Mozilla/5.0 (KHTML, like Gecko),"Forbidden"\n')
    batch = both(fmt.program, lines)
    assert batch.stats == fastctx.Stats(2, 2, 0, 0, 0), batch.rejects
    assert batch.to_pydict() == events


def test_the_canonical_retry_moves_the_split_before_the_value_too():
    # `a "" - -`: the leftmost split leaves the agent `a` and the message `""` (null, which
    # renders `-`); moving the message's own split finds nothing, the agent's gives `a ""`
    fmt = fastctx.compile("$context.identity.userAgent $context.error.messageString "
                          "$context.routeKey $context.requestId", escape="none")
    events = {"identity.userAgent": ['a ""', 'x ""'], "error.messageString": [None, None],
              "routeKey": [None, "k"], "requestId": ["r", "s"]}
    lines = fmt.render(events)
    assert lines == b'a "" - - r\nx "" - k s\n'
    batch = both(fmt.program, lines)
    assert batch.stats == fastctx.Stats(2, 2, 0, 0, 0)
    assert batch.to_pydict() == events
    assert fmt.render(batch) == lines


def test_a_retried_split_read_in_a_form_never_written_gives_way_to_a_canonical_one():
    # The leftmost split of `" a" " -"-` fails; its first retry reads the message ` a` and
    # an empty requestId (null, which renders `-`), the next the message ` a" ` and two nulls,
    # the values the line was written from
    fmt = fastctx.compile('$context.error.messageString $context.requestId"'
                          '$context.identity.userAgent', escape="none")
    events = {"error.messageString": [' a" '], "requestId": [None], "identity.userAgent": [None]}
    lines = fmt.render(events)
    assert lines == b'" a" " -"-\n'
    batch = both(fmt.program, lines)
    assert batch.stats == fastctx.Stats(1, 1, 0, 0, 0)
    assert batch.to_pydict() == events
    # with no canonical reading, the first one stands, counted apart
    odd = both(fmt.program, b'" a" " "-\n')
    assert odd.to_pydict() == {"error.messageString": [" a"], "requestId": [None],
                               "identity.userAgent": [' "-']}
    assert odd.stats.normalized == 1
