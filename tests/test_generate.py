"""The synthetic event generator: deterministic, plausible, typed, with the requested shares."""

import ipaddress
import re

import numpy as np
import pytest

import fastctx
from fastctx import _reference
from fastctx.generate import TIME_RANGE_MS, TRICKY_SUFFIXES, events, lines
from fastctx.presets import PRESETS
from fastctx.program import Esc, VType

PRESET_CASES = [(api, name) for api, names in PRESETS.items() for name in names]
ID16 = re.compile(r"[A-Za-z0-9_-]{15}=\Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
STATUSES = {200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 504}
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY"}
PRINCIPAL = re.compile(r"A(IDA|ROA)[A-Z0-9]{17}(:[a-z._-]+)?\Z")


def _ip(value):
    ipaddress.ip_address(value)  # raises on anything that is not an address
    return True


def _route(api):
    def check(value):
        if api == "websocket":
            return value in {"$connect", "$disconnect", "$default"} or re.fullmatch(r"[a-zA-Z]+", value)
        if api == "http":
            if value == "$default":
                return True
            method, path = value.split(" ")
            return method in METHODS and path.startswith("/")
        return value.startswith("/")

    return check


PLAUSIBLE = {
    "identity.sourceIp": _ip,
    "requestId": lambda v: ID16.match(v) or UUID.match(v),
    "extendedRequestId": ID16.match,
    "connectionId": ID16.match,
    "eventType": {"CONNECT", "MESSAGE", "DISCONNECT"}.__contains__,
    "status": STATUSES.__contains__,
    "identity.caller": PRINCIPAL.match,
    "identity.user": PRINCIPAL.match,
    "httpMethod": METHODS.__contains__,
    "protocol": {"HTTP/1.1", "HTTP/2.0"}.__contains__,
    "resourcePath": lambda v: v.startswith("/"),
    "responseLength": lambda v: 0 <= v < 10**8,
}


def _fmt(api, name, escape="auto"):
    return fastctx.compile(PRESETS[api][name], api=api, escape=escape)


def _same(a, b):
    assert a.column_names == b.column_names
    for name in a.column_names:
        ca, cb = a.column(name), b.column(name)
        assert ca.kind == cb.kind
        assert np.array_equal(ca.values, cb.values), name
        if ca.kind == "string":
            assert np.array_equal(ca.data, cb.data), name
        assert (ca.validity is None) == (cb.validity is None)
        if ca.validity is not None:
            assert np.array_equal(ca.valid_mask(), cb.valid_mask()), name


def test_deterministic_for_a_seed():
    fmt = _fmt("websocket", "clf")
    _same(events(fmt, 500, seed=7), events(fmt, 500, seed=7))
    other = events(fmt, 500, seed=8)
    assert other.column("requestId").to_pylist() != events(fmt, 500, seed=7).column("requestId").to_pylist()
    # every seed its own output: the seed once wrapped at 2**32, and -1 was 2**32 - 1
    ids = {seed: tuple(events(fmt, 50, seed=seed).column("requestId").to_pylist())
           for seed in (0, 1, 2**32, 2**32 + 1, 2**64, -1, 2**32 - 1)}
    assert len(set(ids.values())) == len(ids)


def test_a_variable_has_the_same_values_in_every_template():
    clf = events("clf", 300, seed=3)
    csv = events("csv", 300, seed=3)
    for name in clf.column_names:
        assert clf.column(name).to_pylist() == csv.column(name).to_pylist(), name
    alone = events("$context.requestId $context.status", 300, seed=3)
    assert alone.column("status").to_pylist() == clf.column("status").to_pylist()


@pytest.mark.parametrize("api,name", PRESET_CASES)
def test_every_preset_variable_gets_plausible_typed_values(api, name):
    fmt = _fmt(api, name)
    batch = events(fmt, 2000, seed=11, missing=0, escaped=0)
    assert batch.num_rows == 2000
    assert batch.column_names == list(fmt.variables)
    types = {slot.name: slot.vtype for slot in fmt.program.slots}
    for column_name in batch.column_names:
        column = batch.column(column_name)
        assert column.null_count == 0
        values = column.to_pylist()
        vtype = types[column_name]
        if vtype == VType.INT:
            assert column.kind == "int64"
            assert all(isinstance(v, int) and v >= 0 for v in values)
        elif vtype in (VType.EPOCH_MS, VType.CLF_TIME):
            assert column.kind == "timestamp"
            assert TIME_RANGE_MS[0] <= column.values.min() and column.values.max() < TIME_RANGE_MS[1]
            if vtype == VType.CLF_TIME:
                assert not (column.values % 1000).any()  # the CLF form holds whole seconds
        else:
            assert column.kind == "string"
            assert all(v and v != "-" for v in values)  # '-' or empty would read back as null
            if vtype == VType.TOKEN:
                assert not any(re.search(r'[\s"]', v) for v in values)
        check = PLAUSIBLE.get(column_name)
        if column_name == "routeKey":
            check = _route(api)
        if check is not None:
            bad = [v for v in values if not check(v)]
            assert not bad, f"{column_name}: {bad[:3]}"
        if vtype != VType.INT:
            assert len(set(values)) > 1, f"{column_name} holds a single value"


def test_websocket_route_follows_the_event_type():
    batch = events("clf", 3000, seed=5, missing=0, escaped=0).to_pydict()
    for event, route in zip(batch["eventType"], batch["routeKey"]):
        if event == "CONNECT":
            assert route == "$connect"
        elif event == "DISCONNECT":
            assert route == "$disconnect"
        else:
            assert not route.startswith(("$connect", "$disconnect"))


def test_websocket_events_come_in_connections():
    fmt = fastctx.compile("$context.requestId $context.connectionId $context.eventType "
                          "$context.connectedAt $context.requestTimeEpoch $context.apiId")
    batch = events(fmt, 5000, seed=7, missing=0, escaped=0).to_pydict()
    by_connection = {}
    for row in zip(batch["connectionId"], batch["eventType"], batch["connectedAt"],
                   batch["requestTimeEpoch"], batch["apiId"]):
        by_connection.setdefault(row[0], []).append(row[1:])
    assert 5 <= 5000 / len(by_connection) <= 9  # about 7 events a connection
    for rows in by_connection.values():  # rows in time order
        kinds = [kind for kind, *_ in rows]
        assert kinds[0] == "CONNECT" and set(kinds[1:-1]) <= {"MESSAGE"}
        assert len(rows) == 1 or kinds[-1] == "DISCONNECT"
        assert {connected for _, connected, _, _ in rows} == {rows[0][2]}  # its CONNECT's time
        assert {api for *_, api in rows} == {rows[0][3]}  # one API serves a connection


def test_ipv4_and_ipv6_sources():
    ips = [ipaddress.ip_address(v) for v in events("clf", 4000, missing=0).column("identity.sourceIp").to_pylist()]
    v6 = sum(ip.version == 6 for ip in ips) / len(ips)
    assert 0.1 < v6 < 0.2


def test_times_are_sorted_and_related():
    fmt = fastctx.compile("$context.requestId $context.requestTime $context.requestTimeEpoch $context.connectedAt")
    batch = events(fmt, 3000, seed=2, missing=0)
    epoch = batch.column("requestTimeEpoch").values
    assert (np.diff(epoch) >= 0).all()
    assert np.array_equal(batch.column("requestTime").values, epoch - epoch % 1000)
    assert (batch.column("connectedAt").values <= epoch).all()


@pytest.mark.parametrize("missing,escaped", [(0.02, 0.05), (0.1, 0.3)])
def test_missing_and_escaped_shares(missing, escaped):
    fmt = _fmt("websocket", "clf")
    n = 20000
    batch = events(fmt, n, seed=1, missing=missing, escaped=escaped)
    types = {slot.name: slot.vtype for slot in fmt.program.slots}
    for name in batch.column_names:
        share = batch.column(name).null_count / n
        assert abs(share - missing) < 0.01 + missing * 0.2, (name, share)
        values = [v for v in batch.column(name).to_pylist() if v is not None]
        tricky = sum(isinstance(v, str) and v.endswith(TRICKY_SUFFIXES) for v in values) / len(values)
        if types[name] in (VType.TEXT, VType.QUOTED):
            assert abs(tricky - escaped) < 0.01 + escaped * 0.2, (name, tricky)
        else:
            assert tricky == 0, name


def test_no_nulls_or_escapes_when_asked():
    batch = events("json", 2000, missing=0, escaped=0)
    assert all(batch.column(n).validity is None for n in batch.column_names)
    assert not any(v.endswith(TRICKY_SUFFIXES) for v in batch.column("routeKey").to_pylist())


def test_escaped_values_need_escaping_in_every_shape():
    for suffix in TRICKY_SUFFIXES:
        raw = ("sendmessage" + suffix).encode()
        for esc in (Esc.JSON_STR, Esc.XML, Esc.CSV, Esc.CLF_QUOTED, Esc.CLF_BARE):
            assert _reference.escape_value(raw, esc)[0] != raw, (suffix, esc)


def test_tokens_stay_tokens_when_everything_is_escaped():
    fmt = _fmt("websocket", "csv")
    batch = events(fmt, 3000, missing=0, escaped=1.0)
    for slot in fmt.program.slots:
        values = batch.column(slot.name).to_pylist()
        if slot.vtype == VType.TOKEN:
            assert not any(re.search(r'[\s"]', v) for v in values)
        elif slot.vtype == VType.TEXT:
            assert all(v.endswith(TRICKY_SUFFIXES) for v in values)


def test_any_template_with_dynamic_families():
    template = ("$context.requestId $context.authorizer.claims.email $context.authorizer.tenantId "
                "$context.requestOverride.header.X-Trace $context.responseLatency "
                "$context.requestTimeEpoch $context.error.messageString $context.identity.userAgent")
    batch = events(template, 1000, seed=4, api="rest", missing=0, escaped=0).to_pydict()
    assert all(UUID.match(v) for v in batch["requestId"])
    assert all(re.fullmatch(r"[a-z._-]+@[a-z.]+", v) for v in batch["authorizer.claims.email"])
    assert all(UUID.match(v) for v in batch["authorizer.tenantId"])
    assert all(isinstance(v, int) and v >= 0 for v in batch["responseLatency"])
    assert all(v for v in batch["requestOverride.header.X-Trace"])
    assert all(v and '"' not in v for v in batch["error.messageString"])
    assert any(v.startswith("Mozilla/5.0 (") for v in batch["identity.userAgent"])


def test_generated_events_render_like_the_reference():
    for name in ("clf", "json", "xml", "csv"):
        fmt = _fmt("websocket", name)
        batch = events(fmt, 400, seed=9, escaped=0.3, missing=0.1)
        assert fmt.render(batch) == _reference.render(fmt.program, batch)[0]


def test_lines_is_render_of_events():
    fmt = _fmt("websocket", "xml", escape="none")
    assert lines(fmt, 300, seed=6) == fmt.render(events(fmt, 300, seed=6))
    assert lines("csv", 50, seed=6).count(b"\n") == 50


def test_bad_arguments():
    with pytest.raises(ValueError):
        events("clf", -1)
    with pytest.raises(ValueError):
        events("clf", 10, missing=1.5)
    with pytest.raises(TypeError):
        events(42, 10)
    assert events("clf", 0).num_rows == 0


def test_time_range_keeps_chunks_in_order():
    fmt = fastctx.compile("$context.requestId $context.requestTimeEpoch $context.connectedAt")
    minute = 60_000
    start = TIME_RANGE_MS[0] + 5 * minute
    chunks = [events(fmt, 500, seed=i, missing=0, time_range=(start + i * minute, start + (i + 1) * minute)) for i in range(3)]
    times = np.concatenate([c.column("requestTimeEpoch").values for c in chunks])
    assert (np.diff(times) >= 0).all()
    assert start <= times.min() and times.max() < start + 3 * minute
    assert all((c.column("connectedAt").values >= start).all() for c in chunks)
    with pytest.raises(ValueError):
        events(fmt, 10, time_range=(5, 5))


@pytest.mark.parametrize("api, name", PRESET_CASES)
@pytest.mark.parametrize("escape", ["none", "json", "auto"])
def test_generated_lines_parse_back_whole_in_every_mode(api, name, escape):
    # a fifth of the text values need escaping: in none mode they hold the presets'
    # separators unescaped, as AWS writes them, and every line must still be read
    fmt = fastctx.compile(fastctx.preset(api, name), api=api, escape=escape)
    lines = fmt.render(events(fmt, 3000, seed=5, escaped=0.2))
    batch = fmt.parse(lines, on_error="collect")
    assert batch.stats.accepted == 3000, batch.rejects[:3]
    if escape == "none":
        assert batch.stats.normalized == 0
        assert fmt.render(batch) == lines
