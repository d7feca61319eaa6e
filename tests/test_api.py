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
