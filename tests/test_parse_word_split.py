"""The blank-split path of the parse kernel (``try_words``): a record of blank-separated values
(the CLF presets) is split on its spaces, found in one pass with the bytes no clean value
holds (``test_parse_markup_split.py`` has the same path on JSON and XML records). It only ever accepts what the general path accepts, with the same values; everything
else goes to the general path. Every test embeds the records it checks among plain ones, so
that the path (which needs 64 bytes after a record's start) reaches them, checks that it
ran, and requires the kernel with vector scans (and so the path) on, the kernel with them
off and the reference to agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import fastctx
from fastctx import _parse, generate

from parse_helpers import both, expect_path, parse_among, path_rows

CLF = fastctx.preset("websocket", "clf")
PLAIN = (b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc=" 200 '
         b'req-1\n')
FILLER = PLAIN * 8


def compiled(template, mode="auto", api="websocket"):
    return fastctx.compile(template, api=api, escape=mode).program


def parse_among_plain(program, lines: list[bytes], filler: bytes = FILLER):
    """Each line between plain ones, parsed by the kernel (vector scans on and off) and the
    reference, which must agree; the path must have read the plain ones at least."""
    plain = filler.count(b"\n")
    return parse_among(program, lines, filler, plain * (len(lines) + 1) - 2)


def test_the_path_reads_the_clf_preset_in_auto_mode():
    program = compiled(CLF)
    batch = _parse.Parser(program).parse(FILLER * 2 + b"x" * 10, "collect")
    # the last record has no newline, and the path reads whole 64-byte words of input
    # after a record's start: the last two go to the general path
    expect_path(_parse._fast_rows(), 15, exactly=True)
    assert (batch.stats.accepted, batch.stats.rejected) == (16, 1)


@pytest.mark.parametrize("api", ["websocket", "rest", "http"])
def test_every_clf_preset_takes_the_path_in_auto_mode(api):
    program = compiled(fastctx.preset(api, "clf"), api=api)
    events = generate.events(fastctx.preset(api, "clf"), 200, seed=3, api=api)
    data = fastctx.compile(fastctx.preset(api, "clf"), api=api).render(events)
    batch = both(program, data)
    assert batch.stats.accepted == 200
    expect_path(path_rows(program, data), 150)


@pytest.mark.parametrize("template, mode", [
    (CLF, "none"),  # free text may hold the separator: the general split decides
    (CLF, "json"),
    (fastctx.preset("websocket", "json"), "none"),
    (fastctx.preset("websocket", "xml"), "none"),
    ("$context.requestId $context.requestId", "auto"),  # a variable used twice
    ("$context.requestId $context.routeKey $context.routeKey", "auto"),
    ("$context.requestId $context.routeKey:$context.error.message", "auto"),  # two texts
    ("$context.requestId:$context.status", "auto"),  # no space ends the first value
    ('$context.requestId [$context.requestTime] $context.status [$context.requestTime]', "auto"),
])
def test_the_path_stays_out_of_formats_it_cannot_read(template, mode):
    program = compiled(template, mode)
    events = generate.events(template, 20, seed=1, escape=mode)
    rendered = fastctx.compile(template, escape=mode).render(events)
    assert path_rows(program, rendered) == 0
    assert _parse.Parser(program).parse(rendered, "collect").stats.accepted == 20


TRICKY = [
    b"",  # an empty line
    b"\r",
    PLAIN.rstrip(b"\n") + b"\r",
    b'- - - [-] "- - -" - -',  # all null
    b'  [] "  " ',  # all empty
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc=" 200',  # short
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc=" 200 req-1 x',
    b'1.2.3.4  AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE  sendmessage abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage  abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc="  200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE sendmessage abc=" 200  req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE say hi to all abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE say \\"hi\\" abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE say "hi" abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\\\\b abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\\x09b abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\tb abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\rb abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\x00b abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\x7fb abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE a\xffb abc=" 200 req-1',
    "1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] \"MESSAGE sénd→ abc=\" 200 req-1".encode(),
    "1.2.3.4 ÄIDAX AIDAY [01/Jan/2024:00:01:12 +0000] \"MESSAGE send abc=\" 200 réq-1".encode(),
    b'1.2.3.4 AI\\x20DAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX\\ AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX\\\\ AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc\\"" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req\\\\1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req\\ 1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req"1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 "req-1"',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" "200" req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 0200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" -0 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 2-0 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 2\x000 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 99999999999999999999 r',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 -0130] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [31/Feb/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12  +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12+0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000 "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY 01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000]"MESSAGE send abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] MESSAGE send abc= 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc= 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGEsendabc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send\x0babc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE " abc=" 200 req-1',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE send abc=" 200 ' + b"r" * 2000,
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE ' + b"s " * 500 + b'abc=" 200 r',
    b'1.2.3.4 AIDAX AIDAY [01/Jan/2024:00:01:12 +0000] "MESSAGE ' + b"\\\" " * 40 + b'abc=" 200 r',
]


@pytest.mark.parametrize("line", TRICKY, ids=range(len(TRICKY)))
def test_records_the_path_must_get_right_or_leave_to_the_general_path(line):
    parse_among_plain(compiled(CLF), [line])


def separators_replaced(plain: bytes, by: list[bytes]) -> list[bytes]:
    """``plain`` (one record) with each of its bytes that is not a value's own (spaces,
    brackets, quotes, a literal's dashes) replaced by each byte of ``by`` in turn."""
    line = plain.rstrip(b"\n")
    spots = [k for k, c in enumerate(line) if c in b' []"' or line[k - 1 : k + 2] == b" - "]
    return [line[:k] + b + line[k + 1:] for k in spots for b in by]


# bytes a value may hold but a record's own separators are not
STAND_INS = [b"\t", b"\x00", b'"', b"!", b"\\", b"\x7f", b"\r", b"\x0b", "é".encode(), b"x"]


def test_a_separator_replaced_by_another_byte():
    # each is rejected or read as the general path reads it: a flagged byte where a space
    # belongs does not end a value, and a literal is compared in full
    parse_among_plain(compiled(CLF), separators_replaced(PLAIN, STAND_INS))
    http = separators_replaced(HTTP_PLAIN.split(b"\n")[0], STAND_INS)
    parse_among_plain(compiled(HTTP, api="http"), http, HTTP_PLAIN)


@pytest.mark.parametrize("shift", range(70))
def test_values_and_the_newline_at_every_position_of_a_word(shift):
    # the record's spaces, quotes and its newline fall on every bit of the 64-bit words, and
    # across word boundaries; an escape moves with them
    program = compiled(CLF)
    line = PLAIN.replace(b"req-1", b"req-" + b"x" * shift).rstrip(b"\n")
    escaped = line.replace(b"sendmessage", b"say \\\"x\\\"")
    result = parse_among_plain(program, [line, line.replace(b"AIDAX", b"-"), escaped])
    assert result.column("requestId").to_pylist()[8] == "req-" + "x" * shift
    assert result.column("routeKey").to_pylist()[26] == 'say "x"'


@pytest.mark.parametrize("at", range(0, 104, 7))
def test_a_middle_value_over_several_words_with_an_escape_anywhere(at):
    # the middle value's spaces are passed over word by word up to a flagged byte, which
    # makes the value one to decode; the bits of the next record are left in the last word
    program = compiled(CLF)
    route = b"ab " * 34 + b"z"
    line = PLAIN.replace(b"sendmessage", route).rstrip(b"\n")
    escaped = PLAIN.replace(b"sendmessage", route[:at] + b'\\"' + route[at:]).rstrip(b"\n")
    result = parse_among_plain(program, [line, escaped])
    routes = result.column("routeKey").to_pylist()
    assert routes[8] == route.decode()
    assert routes[17] == (route[:at] + b'"' + route[at:]).decode()


def test_values_holding_a_flagged_byte_that_needs_no_decoding():
    # '!' is flagged only to keep the record pass short: its values go to their general
    # scans and read back as they are
    line = PLAIN.replace(b"AIDAX", b"AI!DAX").replace(b"sendmessage", b"hi!").replace(
        b"req-1", b"req!1").rstrip(b"\n")
    row = {k: v[8] for k, v in parse_among_plain(compiled(CLF), [line]).to_pydict().items()}
    assert (row["identity.caller"], row["routeKey"], row["requestId"]) == (
        "AI!DAX", "hi!", "req!1")


def test_a_byte_that_is_not_utf8_anywhere_in_a_record():
    # the record pass tells ASCII records apart (the UTF-8 check is skipped for them): a
    # byte >= 0x80 in any value or literal, or in the next record, within the words read
    line = PLAIN.rstrip(b"\n")
    bad = [line[:k] + b"\xff" + line[k + 1:] for k in range(len(line))]
    result = parse_among_plain(compiled(CLF), bad + [line + b"\n\xc3\xa9" + line[2:]])
    assert result.stats.rejected == len(bad)
    assert result.column("identity.sourceIp").to_pylist()[-9] == "é2.3.4"


def test_input_ends_within_a_word_of_the_last_record():
    program = compiled(CLF)
    for cut in range(1, len(PLAIN) + 1):
        both(program, FILLER + PLAIN[:cut])


HTTP = fastctx.preset("http", "clf")
HTTP_PLAIN = (b'1.2.3.4 - - [01/Jan/2024:00:01:12 +0000] "GET /pets HTTP/1.1" 200 512 req-1\n') * 8


@pytest.mark.parametrize("line", [
    b'1.2.3.4 - - [01/Jan/2024:00:01:12 +0000] "GET /pets/{id} and more HTTP/1.1" 200 512 r',
    b'1.2.3.4 - [01/Jan/2024:00:01:12 +0000] "GET /pets HTTP/1.1" 200 512 req-1',
    b'1.2.3.4 - - [01/Jan/2024:00:01:12 +0000] "GET /pets HTTP/1.1" 200 5x12 req-1',
    b'1.2.3.4 - - [01/Jan/2024:00:01:12 +0000] "GET /pe\\"ts HTTP/1.1" 200 512 req-1',
])
def test_a_literal_with_several_spaces(line):
    parse_among_plain(compiled(HTTP, api="http"), [line], HTTP_PLAIN)


FORWARD_INTS = ('$context.status $context.requestTimeEpoch "$context.eventType $context.routeKey '
                '$context.connectionId" $context.requestId')


@pytest.mark.parametrize("line", [
    b'200 1700000000000 "MESSAGE $default c1" r1',
    b'200 -5 "MESSAGE $default c1" r1',
    b'- - "- - -" -',
    b'2x0 1700000000000 "MESSAGE $default c1" r1',
    b'200 17e3 "MESSAGE $default c1" r1',
    b'200 1700000000000 "MESSAGE $de fault c1" r1',
    b'200\\ 1700000000000 "MESSAGE $default c1" r1',
    b'200\x20 1700000000000 "MESSAGE $default c1" r1',
    b'200 1700000000000 "MESSAGE $default c1"r1',
    b'200  1700000000000 "MESSAGE $default c1" r1',
])
def test_integers_read_forward_in_a_custom_template(line):
    plain = b'200 1700000000000 "MESSAGE $default c0" r0\n' * 8
    parse_among_plain(compiled(FORWARD_INTS), [line], plain)


VALUE = st.text(alphabet=st.sampled_from(list('ab-0 !"\\\t\r\x00\x7fé19:/+J[]x')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(VALUE, min_size=9, max_size=9))
def test_random_values_agree_with_the_general_path_and_the_reference(values):
    ip, caller, user, time, event, route, conn, status, rid = values
    line = f'{ip} {caller} {user} [{time}] "{event} {route} {conn}" {status} {rid}'.encode()
    parse_among_plain(compiled(CLF), [line])


TEXT = st.text(alphabet=st.sampled_from(list('ab -"\\\t\r\n\x00é]&<')), max_size=10)
# a token never holds whitespace or '"' (any other byte it may)
TOKEN = st.text(alphabet=st.sampled_from(list('ab-\\\x00\x7fé]&<[')), max_size=10)


@settings(max_examples=150, deadline=None)
@given(route=TEXT, caller=TOKEN, rid=TOKEN, status=st.none() | st.integers(-10, 10**6))
def test_rendered_records_read_back(route, caller, rid, status):
    # whatever the values, a record fastctx renders reads back to them on the path
    fmt = fastctx.compile(CLF)
    base = _parse.Parser(fmt.program).parse(FILLER).to_pydict()
    events = {k: v[:1] for k, v in base.items()}
    events.update(routeKey=[route], **{"identity.caller": [caller]}, requestId=[rid],
                  status=[status])
    line = fmt.render(events).rstrip(b"\n")
    batch = parse_among_plain(fmt.program, [line])
    assert batch.stats.accepted == 17 and batch.stats.normalized == 0
    row = {k: v[8] for k, v in batch.to_pydict().items()}
    def read(value):  # '-' and the empty string both mean null
        return None if value in ("", "-") else value

    assert (row["routeKey"], row["identity.caller"], row["requestId"], row["status"]) == (
        read(route), read(caller), read(rid), status)


def test_a_value_to_decode_after_a_record_the_general_path_read():
    # the general path leaves its clean flags behind: a value the path sends to the decoder
    # is decoded, whatever the record before it left (here a routeKey read as it is by the
    # unescaped retry)
    unescaped = PLAIN.replace(b"sendmessage", b'say "hi"').rstrip(b"\n")
    escaped = PLAIN.replace(b"sendmessage", b'say \\"x\\"').rstrip(b"\n")
    program = compiled(CLF)
    data = FILLER + unescaped + b"\n" + escaped + b"\n" + FILLER
    result = both(program, data)
    assert result.column("routeKey").to_pylist()[8:10] == ['say "hi"', 'say "x"']
    assert result.stats.normalized == 1
    expect_path(path_rows(program, data), 16)
