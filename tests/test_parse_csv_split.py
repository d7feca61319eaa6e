"""The comma-split path of the parse kernel (``try_csv``): a CSV record with no quote is read
in one pass over its commas. It only ever accepts what the general path accepts, with the
same values; everything else goes to the general path. Every test embeds the records it
checks among plain ones, so that the path (which needs 64 bytes after a record's start)
reaches them, checks that it ran, and requires the kernel with vector scans (and so the
path) on, the kernel with them off and the reference to agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import fastctx
from fastctx import _parse

from parse_helpers import both, expect_path, parse_among, path_rows

CSV_PRESET = fastctx.preset("websocket", "csv")
PLAIN = b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req-1\n"
FILLER = PLAIN * 8


def compiled(template, mode="auto"):
    return fastctx.compile(template, escape=mode).program


def parse_among_plain(program, lines: list[bytes]):
    """Each line between plain ones, parsed by the kernel (vector scans on and off) and the
    reference, which must agree; the path must have read the plain ones at least."""
    # an open quote makes the rest of the input one record: then only the first block
    reached = 8 if any(b'"' in line for line in lines) else 8 * (len(lines) + 1) - 2
    return parse_among(program, lines, FILLER, reached)


def test_the_path_reads_the_csv_preset_in_auto_mode():
    program = compiled(CSV_PRESET)
    batch = _parse.Parser(program).parse(FILLER * 2 + b"x" * 10, "collect")
    # the last record has no newline, and the path reads whole 64-byte words of input
    # after a record's start: the last two go to the general path
    expect_path(_parse._fast_rows(), 15, exactly=True)
    assert (batch.stats.accepted, batch.stats.rejected) == (16, 1)


@pytest.mark.parametrize("template, mode", [
    (CSV_PRESET, "none"),  # values may hold the separator: the general split decides
    ("[" + CSV_PRESET + "]", "auto"),  # literals around the fields
    ("$context.requestId;$context.status", "auto"),  # not a comma
    ("$context.requestId,$context.requestId", "auto"),  # a variable used twice
])
def test_the_path_stays_out_of_formats_it_cannot_read(template, mode):
    program = compiled(template, mode)
    data = _parse.Parser(compiled(CSV_PRESET)).parse(FILLER)  # values to render in its shape
    rendered = fastctx.compile(template, escape=mode).render(data)
    assert path_rows(program, rendered) == 0
    assert _parse.Parser(program).parse(rendered).stats.accepted == 8


TRICKY = [
    b"",  # an empty line
    b"\r",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req-1\r",
    b"-,-,-,-,-,-,-,-,-",  # all null
    b",,,,,,,,",  # all empty: null, not canonical
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200",  # a field short
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req-1,x",  # one more
    b"1.2.3.4,AIDA X,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req-1",  # blank in a token
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,send\tmessage,abc=,200,req-1",  # tab
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,send\rmessage,abc=,200,req-1",  # CR inside
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req 1",  # last field
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"send,message\",abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"sendmessage\",abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,\"200\",req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,0200,req-1",  # not canonical
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,-0,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,2 00,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,99999999999999999999,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 -0130,MESSAGE,sendmessage,abc=,200,req-1",  # offset
    b"1.2.3.4,AIDAX,AIDAY,31/Feb/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,req-1",  # bad date
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12  +0000,MESSAGE,sendmessage,abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12+0000,MESSAGE,sendmessage,abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,,MESSAGE,sendmessage,abc=,,req-1",  # empty time and status
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"\"\"\",abc=,200,req-1",  # one quote
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"a\"\"b\",abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"a\nb\",abc=,200,req-1",  # a newline
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"a\r\nb\",abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"\",abc=,200,req-1",  # quoted empty
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"-\",abc=,200,req-1",  # quoted dash
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,\"req,1\"",  # last
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sendmessage,abc=,200,\"req,1\"\r",
    b"1.2.3.4,AIDAX,AIDAY,\"01/Jan/2024:00:01:12 +0000\",MESSAGE,sendmessage,abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,a\"b,abc=,200,req-1",  # mid-field
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"ab\"c,abc=,200,req-1",  # after close
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"ab\"c\",abc=,200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"a b\",\"x,y\",200,req-1",
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"" + b"q," * 600 + b"\",abc=,200,req-1",
    "1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,sénd→message,abc=,200,req-1".encode(),
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,send\xffmessage,abc=,200,req-1",  # not UTF-8
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,send\x00message,abc=,200,req-1",  # NUL
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE," + b"r" * 2000 + b",abc=,200,req-1",  # long
    b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE," + b"r" * 50 + b",abc=,200,req-1",
]


@pytest.mark.parametrize("line", TRICKY, ids=range(len(TRICKY)))
def test_records_the_path_must_get_right_or_leave_to_the_general_path(line):
    parse_among_plain(compiled(CSV_PRESET), [line])


@pytest.mark.parametrize("shift", range(70))
def test_fields_and_the_newline_at_every_position_of_a_word(shift):
    # the record's commas, its time's blank and its newline fall on every bit of the 64-bit
    # words, and across word boundaries
    program = compiled(CSV_PRESET)
    line = PLAIN.replace(b"req-1", b"req-" + b"x" * shift).rstrip(b"\n")
    result = parse_among_plain(program, [line, line.replace(b"AIDAX", b"-")])
    assert result.column("requestId").to_pylist()[8] == "req-" + "x" * shift


def test_the_path_reads_quoted_fields():
    program = compiled(CSV_PRESET)
    quoted = [
        b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"send,message\",abc=,200,req-1",
        b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"say \"\"hi\"\"\",abc=,200,req-1",
        b"1.2.3.4,AIDAX,AIDAY,01/Jan/2024:00:01:12 +0000,MESSAGE,\"two\nlines\",abc=,200,\"r,1\"",
    ]
    data = FILLER + b"\n".join(quoted) + b"\n" + FILLER
    batch = both(program, data)
    assert batch.column("routeKey").to_pylist()[8:11] == ["send,message", 'say "hi"', "two\nlines"]
    assert batch.column("requestId").to_pylist()[10] == "r,1"
    assert batch.stats.normalized == 0
    # the last record is within 128 bytes of the end
    expect_path(path_rows(program, data), 8 + 3 + 8 - 1, exactly=True)


def test_input_ends_within_a_word_of_the_last_record():
    program = compiled(CSV_PRESET)
    for cut in range(1, len(PLAIN) + 1):
        both(program, FILLER + PLAIN[:cut])


EPOCH_TEMPLATE = "$context.requestId,$context.requestTimeEpoch,$context.status,$context.routeKey"


@pytest.mark.parametrize("line", [
    b"r1,1700000000000,200,$default",
    b"r1,-5,200,$default",
    b"r1,,,",
    b"r1,17e3,200,$default",
    b"r1,1700000000000,200,$de fault",
])
def test_integer_and_epoch_fields_of_a_custom_template(line):
    program = compiled(EPOCH_TEMPLATE)
    plain = b"r0,1700000000000,200,$default\n" * 4
    data = (plain + line + b"\n") * 3 + plain
    both(program, data)
    expect_path(path_rows(program, data), 12)


FIELD = st.text(alphabet=st.sampled_from(list('ab-0,"\\ \t\r\x00é19:/+J')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(FIELD, min_size=7, max_size=11))
def test_random_fields_agree_with_the_general_path_and_the_reference(fields):
    line = ",".join(fields).encode()
    parse_among_plain(compiled(CSV_PRESET), [line])
