"""Module-level shortcuts: the same results as a compiled Format, through the format cache."""

import fastctx

TEMPLATE = '$context.requestId "$context.routeKey" $context.status'
EVENTS = {"requestId": ["r1", "r2"], "routeKey": ["a b", None], "status": [200, 404]}


def test_module_render_and_parse_match_the_format():
    fmt = fastctx.compile(TEMPLATE)
    lines = fastctx.render(TEMPLATE, EVENTS, threads=1)
    assert lines == fmt.render(EVENTS) == b'r1 "a b" 200\nr2 "-" 404\n'
    parsed = fastctx.parse(TEMPLATE, lines, threads=2)
    assert parsed.to_pydict() == fmt.parse(lines).to_pydict() == EVENTS


def test_module_parse_passes_on_error():
    batch = fastctx.parse(TEMPLATE, b"bad\nr1 \"x\" 1\n", on_error="skip")
    assert batch.stats.as_dict() == {"records": 2, "accepted": 1, "rejected": 1, "empty": 0, "normalized": 0}


def test_parse_skips_a_byte_order_mark_at_the_start_as_read_does():
    # it became part of the first value ('\ufeff1.2.3.4'), where fastctx.read skips it
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    line = fmt.render({"requestId": ["r"], "identity.sourceIp": ["1.2.3.4"]})
    bom = b"\xef\xbb\xbf"
    for data in (bom + line, bytearray(bom + line), "\ufeff" + line.decode()):
        for threads in (1, 2):
            batch = fmt.parse(data, threads=threads)
            assert batch.to_pydict()["identity.sourceIp"] == ["1.2.3.4"]
            assert batch.stats.normalized == 0
    assert (fmt.parse(bom + line).to_pydict()
            == fastctx.read_all(bom + line, fmt).to_pydict() == fmt.parse(line).to_pydict())
    # offsets still count it; a mark anywhere else is data
    batch = fmt.parse(bom + b"bad\n" + bom + b"bad\n", on_error="collect")
    assert [(r.line, r.offset, r.raw) for r in batch.rejects] == [(1, 3, b"bad"), (2, 7, bom + b"bad")]
