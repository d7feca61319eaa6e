"""Malformed input gets its documented result and never crashes (kernel and reference agree).

Documented results:
- empty input: no records; only newlines: every line an empty record;
- CRLF: the CR before LF is dropped (a CR at the very end of input without LF is kept);
- a truncated record or a wrong literal: rejected, naming the literal or variable expected;
  where a typed value stopped at a byte it cannot hold, the reason names the value and byte;
- invalid UTF-8: rejected (reason names UTF-8), also when an escape decodes to it;
- NUL bytes: data like any other byte (a free-text value may hold them; a token or number not);
- a 10 MB line: parsed like any other.
"""

from __future__ import annotations

import re

import pytest

import fastctx
from fastctx import Stats

from parse_helpers import both, raises

CLF = fastctx.preset("websocket", "clf")
GOOD = (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "MESSAGE $default abc=" 200 req-1')


@pytest.fixture(params=["auto", "json", "none"])
def program(request):
    return fastctx.compile(CLF, escape=request.param).program


def test_good_line(program):
    assert both(program, GOOD).stats == Stats(1, 1, 0, 0, 0)


def test_empty_input(program):
    batch = both(program, b"")
    assert batch.stats == Stats(0, 0, 0, 0, 0) and batch.num_rows == 0
    assert batch.column_names == list(program.columns)


def test_only_newlines(program):
    assert both(program, b"\n" * 5).stats == Stats(5, 0, 0, 5, 0)
    assert both(program, b"\r\n\n\r\n").stats == Stats(3, 0, 0, 3, 0)


def test_crlf(program):
    batch = both(program, GOOD + b"\r\n" + GOOD + b"\r\n")
    assert batch.stats == Stats(2, 2, 0, 0, 0)
    assert batch.to_pydict()["requestId"] == ["req-1", "req-1"]
    # a CR not followed by LF is part of the record: here it breaks the last token
    assert both(program, GOOD + b"\r").stats.rejected == 1


@pytest.mark.parametrize("cut", [1, 10, 20, 40, 60, len(GOOD) - 6])
def test_truncated_records(program, cut):
    batch = both(program, GOOD[:cut] + b"\n" + GOOD + b"\n")
    assert batch.stats == Stats(2, 1, 1, 0, 0)
    reject = batch.rejects[0]
    assert (reject.line, reject.offset, reject.raw) == (1, 0, GOOD[:cut])
    assert "expected" in reject.reason


@pytest.mark.parametrize(
    "line, expected",
    [
        (GOOD.replace(b" [", b" {"), ("literal ' ['",)),
        # which side of the record notices depends on how the mode anchors the slots
        (GOOD.replace(b'" 200', b"' 200"), ("$context.status", "literal '\" '")),
        (GOOD.replace(b"] ", b"]"), ("literal '] \"'",)),
    ],
)
def test_wrong_literals(program, line, expected):
    error = raises(program, line)
    assert any(text in str(error) for text in expected), str(error)
    assert error.line == 1


JSON = fastctx.preset("websocket", "json")


@pytest.mark.parametrize(
    "template, values, named",
    [
        (JSON, {"requestId": "a b"},
         "$context.requestId, which stops at ' ' (a token holds no whitespace or '\"')"),
        (JSON, {"requestId": "a\tb"}, "$context.requestId, which stops at '\\t'"),
        ("$context.status,$context.requestId", {"status": "2x0", "requestId": "r"},
         "$context.status, which stops at 'x' (an int holds only digits)"),
        ("[$context.requestTimeEpoch] $context.requestId",
         {"requestTimeEpoch": "17x", "requestId": "r"},
         "$context.requestTimeEpoch, which stops at 'x' (epoch milliseconds hold only digits)"),
        # read backward from the end of the record, the value stops before the byte
        (fastctx.preset("websocket", "clf"), {"status": "2x0", "requestId": "r"},
         "literal not found before $context.status, which stops at 'x' (an int holds only digits)"),
    ],
)
def test_literal_not_found_next_to_a_stopped_value_names_the_value(template, values, named):
    # Written unescaped (a token holding a space, an int holding a letter), the value stops
    # early and the literal after it is not where the parse looks: the reason says which
    # value stopped, and at which byte.
    line = _substitute(template, values).encode()
    batch = both(fastctx.compile(template, escape="none").program, line)
    assert batch.stats == Stats(1, 0, 1, 0, 0)
    assert "literal not found" in batch.rejects[0].reason
    assert named in batch.rejects[0].reason, batch.rejects[0].reason


def _substitute(template: str, values: dict) -> str:
    """Plain substitution, as AWS writes with no escaping; other variables are missing."""
    return re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values.get(m.group(1), "-"), template)


def test_literal_not_found_after_free_text_names_only_the_literal(program):
    reject = both(program, GOOD.replace(b"] ", b"]")).rejects[0]
    assert "which stops at" not in reject.reason


def test_invalid_utf8(program):
    for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"):
        line = GOOD.replace(b"$default", b"$def" + bad + b"ault")
        batch = both(program, GOOD + b"\n" + line + b"\n")
        assert batch.stats == Stats(2, 1, 1, 0, 0)
        assert "UTF-8" in batch.rejects[0].reason
        assert batch.rejects[0].offset == len(GOOD) + 1


def test_nul_bytes(program):
    batch = both(program, GOOD.replace(b"$default", b"a\x00b") + b"\n\x00\n" + b"\x00" * 100)
    assert batch.stats.records == 3
    assert batch.stats.rejected == 2  # the lone NULs match no template
    routes = batch.to_pydict()["routeKey"]
    assert routes == ["a\x00b"]


def test_ten_megabyte_line(program):
    big = b"x" * (10 << 20)
    batch = both(program, GOOD.replace(b"$default", big) + b"\n" + GOOD)
    assert batch.stats == Stats(2, 2, 0, 0, 0)
    assert len(batch.column("routeKey").data) == len(big) + len(b"$default")


def test_random_garbage_never_crashes(program):
    import random

    rng = random.Random(7)
    for _ in range(30):
        data = bytes(rng.choice(b' "[]\\\n\r-0123456789abc/:+\x00\xff') for _ in range(rng.randint(0, 200)))
        batch = both(program, data)
        stats = batch.stats
        assert stats.accepted + stats.rejected + stats.empty == stats.records


@pytest.mark.parametrize("template", ["abc", "{}", "<a/>", "x,y"])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_format_with_no_variable_parses_to_a_batch_of_no_columns(template, threads, monkeypatch):
    from fastctx import parallel

    monkeypatch.setattr(parallel, "MIN_PARSE_CHUNK", 8)
    fmt = fastctx.compile(template, strict=False)
    data = (template + "\n") * 50 + "other\n\n" + (template + "\n") * 50
    batch = fmt.parse(data, on_error="collect", threads=threads)
    assert batch.column_names == [] and batch.num_rows == 100
    assert batch.stats.as_dict() == {"records": 102, "accepted": 100, "rejected": 1, "empty": 1,
                                     "normalized": 0}
    assert [r.line for r in batch.rejects] == [51]
    assert fmt.parse(b"", threads=threads).num_rows == 0


def test_a_memory_pool_size_too_large_is_reported_and_the_default_kept():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import fastctx; print(fastctx.memory_pool_limit())"],
                          capture_output=True, text=True,
                          env={**__import__("os").environ, "FASTCTX_MEMORY_POOL": "99999999999G"})
    assert proc.returncode == 0 and proc.stdout.strip() == str(512 << 20)
    assert "too large" in proc.stderr
