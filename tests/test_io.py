"""Readers: every source and kind, records split across reads, global positions, bad input."""

import base64
import gzip
import io
import json
import subprocess
import sys
import textwrap

import pytest

import fastctx
from fastctx import generate
from fastctx.errors import InputError

TEMPLATE = "$context.requestId $context.status"


@pytest.fixture(scope="module")
def fmt():
    return fastctx.compile(TEMPLATE)


@pytest.fixture(scope="module")
def data():
    good = b"".join(b"r%d %d\n" % (i, 200 + i) for i in range(40))
    return good + b"bad x\n\r\n\n" + b"r40 1\r\nlast 7"  # a reject, empty lines, CRLF, no final newline


def same(a, b):
    assert a.column_names[: len(b.column_names)] == b.column_names
    assert {k: v for k, v in a.to_pydict().items() if k in b.column_names} == b.to_pydict()
    assert a.stats == b.stats
    assert a.rejects == b.rejects


def test_every_split_position_tiny_blocks(fmt, data):
    whole = fmt.parse(data, "collect", threads=1)
    assert whole.stats.rejected == 1 and whole.stats.empty == 2
    for size in range(1, len(data) + 2):
        same(fastctx.read_all(io.BytesIO(data), fmt, batch_size=size, on_error="collect", threads=1), whole)


def test_blocks_are_bounded_batches(fmt, data):
    batches = list(fastctx.read(io.BytesIO(data), fmt, batch_size=50, on_error="skip"))
    assert len(batches) > 5
    assert sum(b.num_rows for b in batches) == fmt.parse(data, "skip").num_rows


def test_plain_file_via_mmap_and_gzip_multi_member(tmp_path, fmt, data):
    whole = fmt.parse(data, "collect", threads=1)
    plain = tmp_path / "access.log"
    plain.write_bytes(data)
    packed = tmp_path / "access.log.gz"
    cut = len(data) // 3
    packed.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut : 2 * cut]) + gzip.compress(data[2 * cut :]))
    for size in (1, 3, 17, 64, 1 << 20):
        same(fastctx.read_all(str(plain), fmt, batch_size=size, on_error="collect"), whole)
        same(fastctx.read_all(packed, fmt, batch_size=size, on_error="collect"), whole)
    with open(packed, "rb") as handle:
        same(fastctx.read_all(handle, fmt, on_error="collect"), whole)


def test_template_string_and_raise_names_global_line(fmt, data):
    with pytest.raises(fastctx.ParseError) as caught:
        fastctx.read_all(io.BytesIO(data), TEMPLATE, batch_size=16)
    assert caught.value.line == 41
    assert caught.value.offset == data.index(b"bad x") + 4


def test_stdin(tmp_path, data):
    script = textwrap.dedent(f"""
        import fastctx
        b = fastctx.read_all("-", {TEMPLATE!r}, on_error="skip", batch_size=7)
        print(b.num_rows, b.stats.records)
    """)
    out = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, check=True)
    assert out.stdout.split() == [b"42", b"45"]


def _write_slowly(fd, data, pieces):
    import threading
    import time

    def write():
        with open(fd, "wb", buffering=0) as pipe:
            step = -(-len(data) // pieces)
            for start in range(0, len(data), step):
                time.sleep(0.02)  # the reader finds the pipe empty between pieces
                pipe.write(data[start : start + step])

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.parametrize("buffered", [True, False])
def test_a_non_blocking_pipe_is_read_to_its_end_not_to_its_first_pause(fmt, data, buffered):
    import os

    r, w = os.pipe()
    os.set_blocking(r, False)
    writer = _write_slowly(w, data, 5)
    with open(r, "rb", buffering=-1 if buffered else 0) as source:
        got = fastctx.read_all(source, fmt, on_error="skip")
    writer.join()
    same(got, fmt.parse(data, on_error="skip"))


def test_stdin_set_non_blocking_is_read_to_its_end(data):
    import os

    script = textwrap.dedent(f"""
        import fastctx
        print("ready", flush=True)
        b = fastctx.read_all("-", {TEMPLATE!r}, on_error="skip")
        print(b.num_rows, b.stats.records)
    """)
    r, w = os.pipe()
    os.set_blocking(r, False)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=r, stdout=subprocess.PIPE)
    os.close(r)
    assert proc.stdout.readline() == b"ready\n"  # the pipe is empty when the reader starts
    _write_slowly(w, data, 5).join()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.split() == [b"42", b"45"]


def test_large_file_many_batches_threads(tmp_path):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    lines = generate.lines(fmt, 20000, seed=3)
    path = tmp_path / "big.log"
    path.write_bytes(lines)
    whole = fmt.parse(lines, threads=1)
    got = fastctx.read_all(path, fmt, batch_size=100_000, threads=2)
    same(got, whole)


def test_truncated_gzip_is_an_error_not_a_short_result(fmt, data):
    packed = gzip.compress(data * 20)
    for keep in (len(packed) - 9, len(packed) // 2, 12):
        with pytest.raises(InputError, match="truncated gzip"):
            fastctx.read_all(io.BytesIO(packed[:keep]), fmt, on_error="skip")


def test_corrupt_gzip_and_trailing_garbage(fmt, data):
    packed = bytearray(gzip.compress(data))
    packed[20] ^= 0xFF
    with pytest.raises(InputError, match="gzip"):
        fastctx.read_all(io.BytesIO(bytes(packed)), fmt, on_error="skip")
    with pytest.raises(InputError, match="not another gzip member"):
        fastctx.read_all(io.BytesIO(gzip.compress(data) + b"garbage"), fmt, on_error="skip")


def test_random_bytes_are_rejects_or_a_parse_error(fmt):
    noise = bytes((i * 7919 + 13) % 256 for i in range(20000))
    batch = fastctx.read_all(io.BytesIO(noise), fmt, on_error="collect")
    assert batch.stats.records == batch.stats.rejected + batch.stats.empty + batch.stats.accepted
    assert batch.stats.rejected > 0 and len(batch.rejects) == batch.stats.rejected
    with pytest.raises(fastctx.ParseError):
        fastctx.read_all(io.BytesIO(noise), fmt)


def test_overlong_record_is_an_error(fmt):
    with pytest.raises(InputError, match="longer than"):
        fastctx.read_all(io.BytesIO(b"x" * 5000), fmt, batch_size=100, max_record=1000)


# -- CloudWatch export to S3 ---------------------------------------------------------------


def export_lines(data):
    out = []
    for index, line in enumerate(data.split(b"\n")):
        out.append(b"2024-07-10T18:%02d:21.%03dZ " % (index % 60, index) + line)
    return b"\n".join(out)


def test_export_prefix_becomes_ingestion_time(fmt, data):
    exported = export_lines(data)
    batch = fastctx.read_all(io.BytesIO(gzip.compress(exported)), fmt, on_error="collect")
    plain = fmt.parse(data, "collect", threads=1)
    assert batch.column_names == ["requestId", "status", "ingestionTime"]
    assert batch.to_pydict()["requestId"] == plain.to_pydict()["requestId"]
    times = batch.to_pydict()["ingestionTime"]
    assert times[0].isoformat() == "2024-07-10T18:00:21+00:00"
    assert times[40].isoformat() == "2024-07-10T18:43:21.043000+00:00"  # after the reject and empty lines
    assert batch.column("ingestionTime").kind == "timestamp"
    (reject,) = batch.rejects
    assert reject.line == 41 and reject.raw == b"bad x"
    assert exported[reject.offset : reject.offset + 5] == b"bad x"
    for size in (1, 30, 200):
        again = fastctx.read_all(io.BytesIO(exported), fmt, on_error="collect", batch_size=size)
        assert again.to_pydict() == batch.to_pydict() and again.rejects == batch.rejects
    as_lines = fastctx.read_all(io.BytesIO(exported), fmt, kind="lines", on_error="collect")
    assert "ingestionTime" not in as_lines.column_names  # the override: prefixes stay in the records
    assert as_lines.stats.rejected >= 40
    assert "ingestionTime" not in fastctx.read_all(io.BytesIO(exported), fmt, on_error="skip", columns=[]).column_names


# -- subscription payloads and Firehose ----------------------------------------------------


def subscription(messages, group="/aws/apigateway/welcome", start=1720635321799):
    return {
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
        "logStream": "stage-1", "subscriptionFilters": ["to-lambda"],
        "logEvents": [{"id": str(36000000 + i), "timestamp": start + i, "message": m}
                      for i, m in enumerate(messages)],
    }


CONTROL = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1720635321799,
                                                    "message": "CWL CONTROL MESSAGE: Checking health of destination"}]}


def test_subscription_gzip_and_lambda_event(fmt):
    messages = ["r1 200", "r2 404", "broken", "r3 500"]
    raw = gzip.compress(json.dumps(subscription(messages)).encode())
    lam = json.dumps({"awslogs": {"data": base64.b64encode(raw).decode()}}).encode()
    for payload in (raw, lam):
        batch = fastctx.read_all(io.BytesIO(payload), fmt, on_error="collect",
                                 columns=["eventTimestamp", "logGroup", "logStream", "eventId"])
        got = batch.to_pydict()
        assert got["requestId"] == ["r1", "r2", "r3"]
        assert got["status"] == [200, 404, 500]
        assert [t.timestamp() * 1000 for t in got["eventTimestamp"]] == [1720635321799, 1720635321800, 1720635321802]
        assert got["logGroup"] == ["/aws/apigateway/welcome"] * 3
        assert got["eventId"] == ["36000000", "36000001", "36000003"]
        assert [(r.line, r.raw) for r in batch.rejects] == [(3, b"broken")]
    default = fastctx.read_all(io.BytesIO(raw), fmt, on_error="skip")
    assert default.column_names == ["requestId", "status", "eventTimestamp"]


def test_control_message_yields_nothing(fmt):
    raw = gzip.compress(json.dumps(CONTROL).encode())
    assert list(fastctx.read(io.BytesIO(raw), fmt)) == []


def test_firehose_back_to_back_gzip_documents(fmt):
    docs = [subscription([f"a{i}-{j} {j}" for j in range(5)], start=1000 * i) for i in range(6)]
    members = gzip.compress(json.dumps(CONTROL).encode()) + b"".join(
        gzip.compress(json.dumps(d).encode()) for d in docs)
    expected = [f"a{i}-{j}" for i in range(6) for j in range(5)]
    for payload in (members, gzip.compress(members)):  # and the whole object gzipped again
        for size in (7, 100, 1 << 20):
            batch = fastctx.read_all(io.BytesIO(payload), fmt, batch_size=size)
            assert batch.to_pydict()["requestId"] == expected
            assert batch.stats.records == 30
    plain_json = b"".join(json.dumps(d).encode() for d in docs)  # decompressed by Firehose already
    assert fastctx.read_all(io.BytesIO(plain_json), fmt, kind="firehose").num_rows == 30


def test_json_access_logs_that_start_with_an_envelope_key_are_lines():
    # "owner", "logGroup" and "logStream" open subscription documents, and access logs too;
    # so may "messageType" (a name for $context.eventType) and "logEvents", which a
    # subscription document holds a CloudWatch message type and a list in
    for key in ("owner", "logGroup", "logStream", "messageType", "logEvents",
                "subscriptionFilters", "awslogs"):
        fmt = fastctx.compile(f'{{"{key}":"$context.identity.accountId",'
                              '"requestId":"$context.requestId"}')
        lines = (f'{{"{key}":"123","requestId":"r1"}}\n'
                 f'{{"{key}":"456","requestId":"r2"}}\n').encode()
        assert fastctx.read_all(io.BytesIO(lines), fmt).to_pydict() == {
            "identity.accountId": ["123", "456"], "requestId": ["r1", "r2"]}
        if key not in ("owner", "logGroup", "logStream"):
            continue  # (a key of the document's own, below)
        # a subscription document in that key order is still one
        doc = {key: "x", **subscription(['{"%s":"1","requestId":"r9"}' % key])}
        for payload in (json.dumps(doc).encode(), gzip.compress(json.dumps(doc).encode())):
            got = fastctx.read_all(io.BytesIO(payload), fmt, columns=["logStream"]).to_pydict()
            assert got["requestId"] == ["r9"] and got["logStream"] == ["stage-1"]


def test_bad_payloads_are_clear_errors(fmt):
    good = gzip.compress(json.dumps(subscription(["r 1"])).encode())
    cases = {
        "not valid base64": json.dumps({"awslogs": {"data": "%%%not base64%%%"}}).encode(),
        "truncated gzip": json.dumps({"awslogs": {"data": base64.b64encode(good[:-12]).decode()}}).encode(),
        "bad JSON": b'{"messageType": "DATA_MESSAGE", "logEvents": [{"id": 1,',
        "bad JSON ": gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": ]'),
        "does not hold a JSON document": json.dumps(
            {"awslogs": {"data": base64.b64encode(gzip.compress(b"{nope")).decode()}}).encode(),
        "not a CloudWatch Logs subscription": b'{"messageType": "SOMETHING"}',
    }
    for expected, payload in cases.items():
        with pytest.raises(InputError, match=expected.strip()):
            fastctx.read_all(io.BytesIO(payload), fmt, kind="subscription")


def test_unknown_options_fail_early(fmt):
    with pytest.raises(ValueError, match="kind"):
        fastctx.read(io.BytesIO(b""), fmt, kind="s3")
    with pytest.raises(ValueError, match="not available"):
        fastctx.read(io.BytesIO(b""), fmt, kind="export", columns=["logGroup"])
    with pytest.raises(InputError, match="cannot open"):
        fastctx.read_all("/nonexistent/file.log", fmt)
    for bad in (0, -5, 1.5, True, "10"):
        with pytest.raises(ValueError, match=f"max_record must be a positive number of bytes, got {bad!r}"):
            fastctx.read(io.BytesIO(b"r1 1\n"), fmt, max_record=bad)
    import numpy as np

    assert fastctx.read_all(b"r1 1\n", fmt, max_record=np.int64(100)).num_rows == 1


def test_empty_input_gives_typed_empty_batch(fmt):
    batch = fastctx.read_all(io.BytesIO(b""), fmt)
    assert batch.num_rows == 0 and batch.column_names == ["requestId", "status"]


# -- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_peak_memory_is_bounded_by_the_batch_not_the_file(tmp_path, compressed, threads):
    """Reading a file 18x the batch budget keeps the peak near the budget (scaled-down 2 GB
    check), plain (mapped) or gzip (inflated in pieces)."""
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    block = generate.lines(fmt, 20000, seed=1)  # ~3 MB
    path = tmp_path / ("large.log.gz" if compressed else "large.log")
    with (gzip.open(path, "wb", compresslevel=1) if compressed else open(path, "wb")) as handle:
        for _ in range(24):
            handle.write(block)
    size = 24 * len(block)
    script = textwrap.dedent(f"""
        import resource, fastctx
        fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = 0
        for batch in fastctx.read({str(path)!r}, fmt, batch_size=4 << 20, threads={threads}):
            rows += batch.num_rows
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(rows, (peak - base) * 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, text=True)
    rows, grown = map(int, out.stdout.split())
    assert rows == 24 * 20000
    # input batches + their parsed columns: a few batch sizes, never the whole file
    assert grown < size / 4, (grown, size)


def test_csv_quoted_newlines_across_blocks_keep_line_numbers():
    fmt = fastctx.compile("$context.requestId,$context.routeKey,$context.status")
    events = {"requestId": [f"r{i}" for i in range(30)],
              "routeKey": [f"two\nlines {i}" if i % 4 == 0 else f"plain {i}" for i in range(30)],
              "status": list(range(30))}
    data = fmt.render(events, threads=1) + b"broken,record\n" + fmt.render(events, threads=1)
    whole = fmt.parse(data, "collect", threads=1)
    assert [r.line for r in whole.rejects] == [39]  # physical lines, as the parser counts them
    for size in (1, 13, 50, 400):
        same(fastctx.read_all(io.BytesIO(data), fmt, batch_size=size, on_error="collect", threads=2), whole)


@pytest.mark.parametrize("threads", [2, 3])
def test_batches_parsed_on_several_threads_keep_order_and_positions(tmp_path, fmt, data, threads):
    whole = fmt.parse(data * 7, "collect", threads=1)
    assert len(whole.rejects) == 13  # 7 "bad x" and 6 "last 7r0 200" where copies meet
    path = tmp_path / "many.log"
    path.write_bytes(data * 7)
    for size in (5, 40, 333):
        for source in (io.BytesIO(data * 7), path):
            batches = list(fastctx.read(source, fmt, batch_size=size, on_error="collect", threads=threads))
            assert len(batches) > 3
            same(fastctx.Batch.concat(batches), whole)
        with pytest.raises(fastctx.ParseError) as caught:
            list(fastctx.read(path, fmt, batch_size=size, threads=threads))
        assert (caught.value.line, caught.value.offset) == (41, data.index(b"bad x") + 4)
