"""The reader against input as it really arrives, and as it arrives broken."""

import base64
import datetime
import gzip
import io
import json
import os

import pytest

import fastctx
from fastctx.errors import InputError

TEMPLATE = "$context.requestId $context.status"


@pytest.fixture(scope="module")
def fmt():
    return fastctx.compile(TEMPLATE)


# Records of every kind a file holds: accepted, rejected, empty, CRLF, a CR-only line, a
# NUL, invalid UTF-8, a long record, and a last record without its newline.
DATA = (b"r1 200\nbad x\n\nr2 201\r\nr3 \xff\n\r\nr4 \x00\n" + b"y" * 150 + b" 1\n"
        + b"r5 5\r\nr6 6")


def summary(batch):
    return (batch.to_pydict(), batch.stats.as_dict(),
            [(r.line, r.offset, r.reason, r.raw) for r in batch.rejects])


def sources(data):
    """The same bytes as each kind of source the reader takes."""
    yield "bytes", lambda: data
    yield "file object", lambda: io.BytesIO(data)
    packed = gzip.compress(data[:17]) + gzip.compress(data[17:])  # two members, cut mid-record
    yield "gzip", lambda: io.BytesIO(packed)


@pytest.mark.parametrize("threads", [1, 2])
def test_every_read_size_from_1_to_64_bytes_gives_the_same_result(fmt, threads, tmp_path):
    expected = summary(fmt.parse(DATA, on_error="collect", threads=1))
    assert expected[1]["records"] == 10
    assert expected[1]["accepted"] + expected[1]["rejected"] + expected[1]["empty"] == 10
    path = tmp_path / "a.log"
    path.write_bytes(DATA)
    cases = list(sources(DATA)) + [("path", lambda: str(path))]
    for name, make in cases:
        for size in range(1, 65):
            got = summary(fastctx.read_all(make(), fmt, batch_size=size, on_error="collect",
                                           threads=threads))
            assert got == expected, (name, size)


def test_records_split_across_reads_in_export_files(fmt):
    lines = [b"r%d %d" % (i, i) for i in range(30)] + [b"broken", b""]
    data = b"".join(b"2024-07-10T18:15:%02d.000Z " % (i % 60) + line + b"\n" if line else b"\n"
                    for i, line in enumerate(lines))
    expected = summary(fastctx.read_all(data, fmt, on_error="collect", batch_size=1 << 20))
    assert expected[1] == {"records": 32, "accepted": 30, "rejected": 1, "empty": 1, "normalized": 0}
    for size in range(1, 65):
        assert summary(fastctx.read_all(io.BytesIO(data), fmt, on_error="collect", batch_size=size)) == expected


def payload(events, **envelope):
    doc = {"messageType": "DATA_MESSAGE", "owner": "123", "logGroup": "g", "logStream": "s",
           "subscriptionFilters": ["f"], "logEvents": events}
    doc.update(envelope)
    return gzip.compress(json.dumps(doc).encode())


def test_log_event_fields_of_the_wrong_type_are_input_errors_not_crashes(fmt):
    with pytest.raises(InputError, match="message is not a string"):
        fastctx.read_all(payload([{"id": "1", "timestamp": 1, "message": 7}]), fmt)
    with pytest.raises(InputError, match="message is not a string"):
        fastctx.read_all(payload([{"id": "1", "timestamp": 1, "message": None}]), fmt)
    with pytest.raises(InputError, match="timestamp is out of range"):
        fastctx.read_all(payload([{"id": "1", "timestamp": 10**30, "message": "r1 1"}]), fmt)
    with pytest.raises(InputError, match="without message and timestamp"):
        fastctx.read_all(payload([{"id": "1", "timestamp": "soon", "message": "r1 1"}]), fmt)


def test_envelope_names_given_as_numbers_are_kept_as_text(fmt):
    data = payload([{"id": 36001, "timestamp": 1720635321799, "message": "r1 200"}], owner=123456789012)
    batch = fastctx.read_all(data, fmt, columns=["eventId", "owner", "logGroup"])
    assert batch.to_pydict() == {"requestId": ["r1"], "status": [200], "eventId": ["36001"],
                                 "owner": ["123456789012"], "logGroup": ["g"]}


def test_lambda_event_problems_are_input_errors(fmt):
    def event(data):
        return json.dumps({"awslogs": {"data": data}}).encode()

    good = base64.b64encode(payload([{"id": "1", "timestamp": 5, "message": "r1 200"}])).decode()
    assert fastctx.read_all(event(good), fmt).to_pydict() == {
        "requestId": ["r1"], "status": [200],
        "eventTimestamp": [datetime.datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=datetime.timezone.utc)]}
    for bad, message in [
        (good[:-5] + "$$$$$", "not valid base64"),
        (base64.b64encode(gzip.compress(b"{}")[:-6]).decode(), "truncated gzip"),
        (base64.b64encode(b"not json").decode(), "does not hold a JSON document"),
    ]:
        with pytest.raises(InputError, match=message):
            fastctx.read_all(event(bad), fmt)
    with pytest.raises(InputError, match="awslogs.data"):
        fastctx.read_all(json.dumps({"awslogs": {}}).encode(), fmt)
    control = {"messageType": "CONTROL_MESSAGE", "logEvents": [
        {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination"}]}
    batch = fastctx.read_all(event(base64.b64encode(gzip.compress(json.dumps(control).encode())).decode()), fmt)
    assert batch.num_rows == 0 and batch.column_names == ["requestId", "status"]


def test_a_message_holding_a_newline_is_a_reject_not_the_end_of_the_stream(fmt):
    messages = ["r1 200", "r2 201\nr3 202", "bad", "r4 203", "a\nb", "r5 204"]
    data = payload([{"id": str(i), "timestamp": 1000 + i, "message": m} for i, m in enumerate(messages)])
    for size in (1, 10, 1 << 20):
        batch = fastctx.read_all(data, fmt, on_error="collect", batch_size=size)
        assert batch.to_pydict()["requestId"] == ["r1", "r4", "r5"]
        assert batch.column("eventTimestamp").values.tolist() == [1000, 1003, 1005]
        assert batch.stats.as_dict() == {"records": 6, "accepted": 3, "rejected": 3, "empty": 0, "normalized": 0}
        rejects = [(r.line, r.raw) for r in batch.rejects]
        assert rejects == [(2, b"r2 201\nr3 202"), (3, b"bad"), (5, b"a\nb")]
        assert "holds a newline" in batch.rejects[0].reason and "holds a newline" not in batch.rejects[1].reason
    # offsets are those of the messages joined by newlines
    joined = "\n".join(messages).encode()
    assert [r.offset for r in batch.rejects] == [joined.index(b"r2"), joined.index(b"bad"), joined.index(b"a\nb")]
    assert fastctx.read_all(data, fmt, on_error="skip").num_rows == 3
    with pytest.raises(fastctx.ParseError) as info:
        fastctx.read_all(data, fmt)
    assert info.value.line == 2 and info.value.offset == joined.index(b"\nr3") and "newline" in info.value.reason
    early = payload([{"id": "1", "timestamp": 1, "message": m} for m in ["bad", "a\nb"]])
    with pytest.raises(fastctx.ParseError) as info:
        fastctx.read_all(early, fmt)
    assert info.value.line == 1 and info.value.raw == b"bad"  # the first bad record is reported first


def test_csv_records_are_framed_as_the_parser_frames_them_at_every_cut():
    # A '"' inside an unquoted field is a plain byte (RFC 4180); a reader that counted every
    # quote took the newline inside the later quoted field for a record end.
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    good = fmt.render({"requestId": ["r1"], "routeKey": ["two\nlines"], "status": [200]})
    stray = b'1.2.3.4,ab"c,-,-,MESSAGE,ping,c1,200,r0\n'
    plain = fmt.render({"requestId": ["r2"], "routeKey": ["x"], "status": [201]})
    data = stray + good + plain + stray + good + b'7.7.7.7,"a""b",-,-,-,"p\nq",c,1,r9\n' + plain
    expected = summary(fmt.parse(data, on_error="collect", threads=1))
    assert expected[1]["records"] == 7
    for make in (lambda: data, lambda: io.BytesIO(data)):
        for size in range(1, 80):
            for threads in (1, 2):
                got = summary(fastctx.read_all(make(), fmt, batch_size=size, on_error="collect", threads=threads))
                assert got == expected, (size, threads)


def test_reject_positions_are_python_ints_on_every_path(tmp_path):
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    data = b"bad\n" * 50 + b'x,"open\n' + b"bad\n"  # the last record ends without a newline
    path = tmp_path / "a.log"
    path.write_bytes(data)
    for make in (lambda: data, lambda: io.BytesIO(data), lambda: str(path)):
        for threads in (1, 2):
            batch = fastctx.read_all(make(), fmt, batch_size=16, on_error="collect", threads=threads)
            assert batch.rejects and all(type(r.line) is int and type(r.offset) is int for r in batch.rejects)
            json.dumps([[r.line, r.offset] for r in batch.rejects])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("packed", [False, True])
def test_a_named_pipe_is_read_as_a_stream(tmp_path, fmt, packed):
    import threading

    data = b"r1 200\nr2 201\n" * 1000
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def feed():
        with open(pipe, "wb") as out:
            out.write(gzip.compress(data) if packed else data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        batch = fastctx.read_all(str(pipe), fmt, batch_size=1000)
    finally:
        writer.join(timeout=30)
    assert batch.num_rows == 2000 and batch.stats.records == 2000
