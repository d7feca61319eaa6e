"""The one-pass split (``try_words``) on JSON and XML records: each value ends at the first
flagged byte after its start ('"' before a JSON key, '<' before an XML closing tag, '"' after
an XML attribute), found in one pass with the bytes no clean value holds. As for CLF
(``test_parse_word_split.py``), it only accepts what the general path accepts, with the same
values, and leaves the rest to it. Every test embeds the records it checks among plain ones,
checks that the path ran, and requires the kernel with vector scans on and off and the
reference to agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import fastctx
from fastctx import _parse, generate

from parse_helpers import both, expect_path, parse_among, path_rows

JSON = fastctx.preset("websocket", "json")
XML = fastctx.preset("websocket", "xml")
REST_JSON = fastctx.preset("rest", "json")
VARIABLES = ["requestId", "identity.sourceIp", "identity.caller", "identity.user", "requestTime",
             "eventType", "routeKey", "status", "connectionId"]
PLAIN_VALUES = ["req-1", "1.2.3.4", "AIDAX", "AIDAY", "01/Jan/2024:00:01:12 +0000", "MESSAGE",
                "sendmessage", "200", "abc="]


def line_of(template: str, values: list[str]) -> bytes:
    """The template with each variable replaced by its value as it is (no escaping)."""
    line = template
    for name, value in zip(VARIABLES, values):
        line = line.replace(f"$context.{name}", value.replace("$", "\0dollar"), 1)
    return line.replace("\0dollar", "$").encode()


PLAIN = {JSON: line_of(JSON, PLAIN_VALUES), XML: line_of(XML, PLAIN_VALUES)}


def parse_among_plain(template: str, lines: list[bytes]):
    program = fastctx.compile(template).program
    filler = (PLAIN[template] + b"\n") * 8
    return parse_among(program, lines, filler, 8 * (len(lines) + 1) - 2)


@pytest.mark.parametrize("template, api", [(JSON, "websocket"), (XML, "websocket"),
                                           (REST_JSON, "rest")], ids=["json", "xml", "rest-json"])
def test_json_and_xml_presets_take_the_path_in_auto_mode(template, api):
    fmt = fastctx.compile(template, api=api)
    events = generate.events(template, 300, seed=5, api=api, escaped=0.3)
    data = fmt.render(events)
    batch = both(fmt.program, data)
    assert batch.stats.accepted == 300 and batch.stats.normalized == 0
    assert batch.to_pydict() == fastctx.Batch.from_pydict(events.to_pydict()).to_pydict()
    expect_path(path_rows(fmt.program, data), 150)


@pytest.mark.parametrize("template", [JSON, XML], ids=["json", "xml"])
def test_the_path_reads_the_plain_record_and_its_values(template):
    batch = parse_among_plain(template, [PLAIN[template]])
    row = {k: v[8] for k, v in batch.to_pydict().items()}
    assert [row[name] for name in VARIABLES if name not in ("requestTime", "status")] == [
        v for k, v in zip(VARIABLES, PLAIN_VALUES) if k not in ("requestTime", "status")]
    assert row["status"] == 200 and row["requestTime"].isoformat() == "2024-01-01T00:01:12+00:00"


# bytes a value may hold but a record's own literals do not, or that a value must escape
STAND_INS = [b"\t", b"\x00", b'"', b"'", b"<", b">", b"&", b"\\", b"\x7f", b"\r", b" ", b"!",
             "é".encode(), b"x"]


@pytest.mark.parametrize("template", [JSON, XML], ids=["json", "xml"])
def test_any_byte_replaced_by_another(template):
    # each is rejected or read as the general path reads it: a flagged byte where a literal
    # belongs does not end a value, a value that holds one goes to its general scan, and
    # a literal is compared in full
    line = PLAIN[template]
    lines = [line[:k] + b + line[k + 1:] for k in range(len(line)) for b in STAND_INS
             if line[k:k + 1] != b]
    parse_among_plain(template, lines)


@pytest.mark.parametrize("template", [JSON, XML], ids=["json", "xml"])
@pytest.mark.parametrize("shift", range(0, 70, 3))
def test_values_and_the_newline_at_every_position_of_a_word(template, shift):
    values = list(PLAIN_VALUES)
    values[0] = "r" * shift
    line = line_of(template, values)
    escaped = {JSON: 'say \\"x\\"', XML: "say &quot;x&lt;&amp;"}[template]
    values[6] = escaped
    other = line_of(template, values)
    batch = parse_among_plain(template, [line, other])
    assert batch.column("requestId").to_pylist()[8] == "r" * shift or (
        shift == 0 and batch.column("requestId").to_pylist()[8] is None)
    assert batch.column("routeKey").to_pylist()[17] == {JSON: 'say "x"', XML: 'say "x<&'}[template]


def test_a_value_over_several_words_with_an_escape_anywhere():
    # the last value runs over several 64-byte words; an escape anywhere in it makes it a
    # value to decode
    base = "ab " * 34 + "z"
    lines = []
    for at in range(0, len(base), 9):
        values = list(PLAIN_VALUES)
        values[8] = base[:at] + "&amp;" + base[at:]
        lines.append(line_of(XML, values))
    batch = parse_among_plain(XML, lines)
    got = batch.column("connectionId").to_pylist()
    # a token never holds a space: each is rejected, as by the general path
    assert batch.stats.rejected == len(lines) and len(got) == 8 * (len(lines) + 1)


VALUE = st.text(alphabet=st.sampled_from(list('ab-0 !"\\\t\r\x00\x7fé19:/+J<>&\';x')), max_size=12)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUE, min_size=9, max_size=9), xml=st.booleans())
def test_random_values_agree_with_the_general_path_and_the_reference(values, xml):
    template = XML if xml else JSON
    parse_among_plain(template, [line_of(template, values)])


TEXT = st.text(alphabet=st.sampled_from(list('ab -"\\\t\r\n\x00é]&<>\'')), max_size=10)
TOKEN = st.text(alphabet=st.sampled_from(list('ab-\\\x00\x7fé]&<>\'[')), max_size=10)


@pytest.mark.filterwarnings("ignore::fastctx.RenderWarning")  # NUL, which XML cannot hold
@settings(max_examples=150, deadline=None)
@given(route=TEXT, caller=TOKEN, rid=TOKEN, status=st.none() | st.integers(-10, 10**6),
       xml=st.booleans())
def test_rendered_records_read_back(route, caller, rid, status, xml):
    # whatever the values, a record fastctx renders reads back to them on the path
    template = XML if xml else JSON
    fmt = fastctx.compile(template)
    base = _parse.Parser(fmt.program).parse((PLAIN[template] + b"\n") * 8).to_pydict()
    events = {k: v[:1] for k, v in base.items()}
    events.update(routeKey=[route], **{"identity.caller": [caller]}, requestId=[rid],
                  status=[status])
    line = fmt.render(events).rstrip(b"\n")
    batch = parse_among_plain(template, [line])
    assert batch.stats.accepted == 17
    row = {k: v[8] for k, v in batch.to_pydict().items()}

    def read(value):  # '-' and the empty string both mean null; XML 1.0 cannot hold NUL
        value = value.replace("\0", "") if xml and value is not None else value
        return None if value in ("", "-") else value

    assert (row["routeKey"], row["identity.caller"], row["requestId"], row["status"]) == (
        read(route), read(caller), read(rid), status)
