"""The reader against input as it really arrives, and as it arrives broken."""

import base64
import datetime
import gzip
import io
import json
import os
import subprocess
import sys

import pytest

import fastctx
from fastctx import generate
from fastctx.errors import InputError, ParseError
from fastctx.io import MAX_RECORD

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
        fastctx.read_all(payload([{"id": "1", "message": "r1 1"}]), fmt)
    for timestamp in ("soon", "1720635321799", True, 1720635321799.5, 1720635321799.0, None):
        with pytest.raises(InputError, match="timestamp is not an integer of milliseconds"):
            fastctx.read_all(payload([{"id": "1", "timestamp": timestamp, "message": "r1 1"}]), fmt)


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
    # no record, and the columns a record would have given, the envelope's included
    assert batch.num_rows == 0 and batch.column_names == ["requestId", "status", "eventTimestamp"]


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


# -- each log event is one record, whatever it holds -------------------------------------------

CSV_TEMPLATE = "$context.requestId,$context.status"
OPEN = "a quoted field is not closed before the end of the log event"


def open_quote(reason: str) -> bool:
    """The reason of a line whose quoted field is not closed: the reader's own (a line it
    found running on into the next event), or the parser's, which reads such a line alone
    (SPEC 4) and finds its quoting malformed."""
    return reason == OPEN or reason.startswith("malformed quoted CSV field")


@pytest.mark.parametrize("messages, rows, bad", [
    (['"abc', "r2,200", "r3,201"], ["r2", "r3"], [1]),
    (["r0,1", '"abc', 'def",200', "r3,201"], ["r0", "r3"], [2, 3]),  # joined, they would parse
    (["r0,1", 'x,"y""', "r2,2"], ["r0", "r2"], [2]),  # a doubled quote does not close it
    (["r0,1", "r1,2", '"open'], ["r0", "r1"], [3]),  # the last one runs on to the end
    (['"a,b",200', 'r1,"2"', '"x-y",3'], ["a,b", "r1", "x-y"], []),  # every quote closed
])
def test_a_csv_message_leaving_a_quote_open_does_not_swallow_the_next_events(messages, rows, bad):
    fmt = fastctx.compile(CSV_TEMPLATE)
    events = [{"id": str(i), "timestamp": 1000 + i, "message": m} for i, m in enumerate(messages)]
    prefixed = b"".join(b"2024-07-10T18:15:21.%03dZ " % i + m.encode() + b"\n" for i, m in enumerate(messages))
    for data, envelope in [(payload(events), "eventTimestamp"), (prefixed, "ingestionTime")]:
        for size in (1, 8, 1 << 20):
            batch = fastctx.read_all(data, fmt, on_error="collect", batch_size=size)
            assert batch.to_pydict()["requestId"] == rows
            assert batch.stats.records == len(messages) and batch.num_rows == len(rows)
            assert [r.line for r in batch.rejects] == bad
            assert [r.raw for r in batch.rejects] == [messages[i - 1].encode() for i in bad]
            kept = [i for i in range(len(messages)) if i + 1 not in bad]
            assert len(batch.column(envelope).values) == len(kept)
        opened = [r for r in batch.rejects if r.raw.startswith(b'"') or b',"' in r.raw]
        assert all(open_quote(r.reason) for r in opened)
        if bad:
            with pytest.raises(fastctx.ParseError) as info:
                fastctx.read_all(data, fmt)
            assert info.value.line == bad[0] and info.value.raw == messages[bad[0] - 1].encode()
        else:
            assert fastctx.read_all(data, fmt).num_rows == len(rows)


def test_an_open_quote_after_a_bad_record_reports_the_bad_record_first():
    fmt = fastctx.compile(CSV_TEMPLATE)
    for data in [payload([{"id": "1", "timestamp": 1, "message": m} for m in ["bad", '"a', "r,1"]]),
                 b"2024-07-10T18:15:21.000Z bad\n2024-07-10T18:15:21.000Z \"a\n2024-07-10T18:15:21.000Z r,1\n"]:
        with pytest.raises(fastctx.ParseError) as info:
            fastctx.read_all(data, fmt)
        assert info.value.line == 1 and info.value.raw == b"bad"
    # and an open quote before a message holding a newline is reported first
    data = payload([{"id": "1", "timestamp": 1, "message": m} for m in ["r,1", '"a', "x\ny"]])
    with pytest.raises(fastctx.ParseError) as info:
        fastctx.read_all(data, fmt)
    assert info.value.line == 2 and info.value.reason == OPEN and info.value.offset == 4


def test_a_blanked_crlf_line_keeps_its_bytes_without_the_cr_like_any_reject():
    fmt = fastctx.compile(CSV_TEMPLATE)
    stamp = b"2024-07-10T18:15:21.000Z "
    data = stamp + b"r0,1\r\nbad\r\n" + stamp + b'"open\r\n' + stamp + b"x\r\n"
    batch = fastctx.read_all(data, fmt, on_error="collect")
    assert [(r.line, r.raw) for r in batch.rejects] == [(2, b"bad"), (3, b'"open'), (4, b"x")]
    assert open_quote(batch.rejects[1].reason)
    events = [{"id": "1", "timestamp": 1, "message": m} for m in ["r0,1", '"open\r', "a\nb\r"]]
    batch = fastctx.read_all(payload(events), fmt, on_error="collect")
    assert [r.raw for r in batch.rejects] == [b'"open', b"a\nb"]
    with pytest.raises(fastctx.ParseError) as info:
        fastctx.read_all(payload(events[:2]), fmt)
    assert info.value.raw == b'"open'


def test_an_open_quote_in_a_long_export_line_is_found_in_linear_time():
    fmt = fastctx.compile(CSV_TEMPLATE)
    line = b'"' + b"a,\"\"," * 200_000  # a quoted field never closed, 1 MB of commas and quotes
    data = b"2024-07-10T18:15:21.000Z " + line + b"\n2024-07-10T18:15:21.000Z r,1\n"
    batch = fastctx.read_all(data, fmt, on_error="collect")
    assert batch.to_pydict()["requestId"] == ["r"] and open_quote(batch.rejects[0].reason)


@pytest.mark.parametrize("tail", [b"2024-07-10T18:15:22.000Z ", b"2024-07-10T18:15:22.000Z \r"])
def test_an_export_line_of_only_its_prefix_is_an_empty_record_with_or_without_newline(fmt, tail):
    head = b"2024-07-10T18:15:21.799Z r1 200\n"
    for data in (head + tail, head + tail + b"\n"):
        for size in (1, 16, 1 << 20):
            batch = fastctx.read_all(data, fmt, batch_size=size, kind="export")
            assert batch.stats.as_dict() == {"records": 2, "accepted": 1, "rejected": 0, "empty": 1,
                                             "normalized": 0}
            assert batch.to_pydict()["requestId"] == ["r1"]
            assert len(batch.column("ingestionTime").values) == 1
    alone = fastctx.read_all(tail, fmt, kind="export")
    assert alone.stats.records == 1 and alone.stats.empty == 1 and alone.num_rows == 0
    # the last event's record is the same with its newline or without
    last = b"2024-07-10T18:15:22.000Z r2 201\r"
    assert (fastctx.read_all(head + last, fmt).to_pydict()
            == fastctx.read_all(head + last + b"\n", fmt).to_pydict())


def test_a_prefix_only_last_line_through_the_command_line_is_no_traceback(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "export.log"
    path.write_bytes(b"2024-07-10T18:15:21.799Z r1 200\n2024-07-10T18:15:22.000Z ")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "fastctx", "parse", "--template", TEMPLATE,
                           str(path), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_text().count("\n") == 1


@pytest.mark.parametrize("kind", ["bytes", "file", "stream"])
def test_max_record_holds_for_records_shorter_than_a_batch(fmt, kind, tmp_path):
    data = b"r1 200\n" + b"r" * 100 + b" 200\nr3 1\n"
    if kind == "file":
        path = tmp_path / "log"
        path.write_bytes(data)
        source = lambda: str(path)
    elif kind == "stream":
        source = lambda: io.BytesIO(data)
    else:
        source = lambda: data
    for size in (16, 64, 1 << 20):
        with pytest.raises(InputError, match="byte offset 7 is longer than 50 bytes"):
            fastctx.read_all(source(), fmt, max_record=50, batch_size=size)
        assert fastctx.read_all(source(), fmt, max_record=104, batch_size=size).num_rows == 3
    with pytest.raises(InputError, match="longer than 103 bytes"):
        fastctx.read_all(source(), fmt, max_record=103)


@pytest.mark.parametrize("data, options, envelope", [
    (b"", {"kind": "export"}, ["ingestionTime"]),
    (b"", {"kind": "firehose", "columns": ["eventId", "eventTimestamp"]}, ["eventId", "eventTimestamp"]),
    (b"", {}, []),  # nothing tells the kind: lines
])
def test_an_input_without_records_keeps_the_envelope_columns(fmt, data, options, envelope):
    batch = fastctx.read_all(data, fmt, **options)
    assert batch.num_rows == 0 and batch.column_names == ["requestId", "status"] + envelope
    one = fastctx.read_all(payload([{"id": "1", "timestamp": 5, "message": "r1 200"}]), fmt,
                           **{k: v for k, v in options.items() if k != "kind"})
    if options.get("kind") == "firehose":
        assert batch.schema == one.schema


# -- framing costs and odd sources ----------------------------------------------------------------


def _boundaries(data: bytes) -> set:
    """The record ends (just after each record's newline) of ``data`` as the reference
    parser frames CSV records."""
    from fastctx._reference_parse import csv_well_formed, record_end

    ends, pos = set(), 0
    while pos < len(data):
        end = record_end(data, pos, True)
        rec = data[pos:end]
        if end < len(data) and rec.endswith(b"\r"):
            rec = rec[:-1]
        if b"\n" in rec and not csv_well_formed(rec):
            end = data.index(b"\n", pos)  # a stray quote: the record is its first line
        if end >= len(data):
            break
        ends.add(end + 1)
        pos = end + 1
    return ends


def _framing(data: bytes) -> int:
    """End of the last whole CSV record of ``data`` as the parser frames it, whatever
    follows: the last record end the framings of ``data`` and of it with each of a few
    continuations share."""
    common = set.intersection(*(
        {end for end in _boundaries(data + more) if end <= len(data)}
        for more in (b"", b"\n", b'"\n', b'",\n', b'"x\n', b'a"\n')))
    return max(common, default=0)


class _Counted(bytes):
    """Bytes that count the newline searches made in them."""

    searches = 0

    def rfind(self, *args):
        type(self).searches += 1
        return super().rfind(*args)


def test_the_csv_cut_frames_records_as_the_parser_and_searches_a_bounded_number_of_times():
    import random

    from fastctx.io import _cut

    rng = random.Random(5)
    for _ in range(20_000):
        data = bytes(rng.choice(b'a,"\n\n') for _ in range(rng.randrange(30)))
        assert _cut(data, 0, len(data), True) == _framing(data), data
    # A quote left open on the first line: every later newline is inside it. The cut once
    # stepped back over them one search at a time (seconds per batch on a large file).
    data = _Counted(b'r0,"open,1\n' + b"r,1\n" * 50_000)
    _Counted.searches = 0
    assert _cut(data, 0, len(data), True) == 0
    assert _Counted.searches <= 2


def test_an_open_quote_on_an_export_line_does_not_join_the_file_into_one_record():
    # every export line is one record: the reader cuts at any newline, so a line that leaves a
    # quoted field open neither makes the rest one batch nor one over-long record
    fmt = fastctx.compile(CSV_TEMPLATE)
    lines = [b'r0,"unclosed'] + [b"r%d,%d" % (i, i) for i in range(2000)]
    data = b"".join(b"2024-07-10T18:15:21.000Z " + line + b"\n" for line in lines)
    batches = list(fastctx.read(data, fmt, on_error="collect", batch_size=4096, max_record=1024))
    assert len(batches) > 10
    assert sum(b.num_rows for b in batches) == 2000
    assert [r.line for b in batches for r in b.rejects] == [1]


@pytest.mark.parametrize("mapped", [False, True])
def test_a_stray_quote_in_a_plain_csv_file_reads_as_one_parse_at_every_batch_size(tmp_path, mapped):
    # A raw line's '"' at a field start opens a quoted field the reader's framing never sees
    # closed. A batch holding the rest of the file parsed it line by line, while smaller
    # batches raised (a record longer than max_record): the quote open for more than
    # max_record bytes is now taken for a stray one, and every batch size gives one parse's
    # result.
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    lines = generate.lines(fmt, 3000, seed=3).split(b"\n")
    lines[2] = lines[2].replace(b",", b',"', 1)
    data = b"\n".join(lines)
    whole = fmt.parse(data, "collect", threads=1)
    assert whole.stats.accepted == 3000 and whole.stats.normalized == 1
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    source = str(path) if mapped else io.BytesIO(data)
    for size in (512, 4096, 1 << 20):
        for limit in (2048, MAX_RECORD):
            if not mapped:
                source.seek(0)
            batch = fastctx.read_all(source, fmt, on_error="collect", batch_size=size,
                                     max_record=limit)
            assert batch.stats == whole.stats and batch.to_pydict() == whole.to_pydict()


def test_zero_padding_between_gzip_members_at_every_step_boundary(fmt, monkeypatch):
    from fastctx import io as reader

    data = gzip.compress(b"r1 200\n") + b"\0" * 5 + gzip.compress(b"r2 300\n") + b"\0\0"
    expected = {"requestId": ["r1", "r2"], "status": [200, 300]}
    for step in range(1, len(data) + 2):
        monkeypatch.setattr(reader, "_INFLATE_STEP", step)
        for size in (1, 1 << 20):
            assert fastctx.read_all(data, fmt, batch_size=size).to_pydict() == expected, step
    with pytest.raises(InputError, match="not another gzip member"):
        fastctx.read_all(gzip.compress(b"r1 200\n") + b"\0\0x", fmt)


def test_a_text_stream_that_has_read_ahead_loses_no_line(fmt, tmp_path):
    # after a readline() the text layer holds up to 8 KiB read ahead of its buffer
    path = tmp_path / "a.log"
    path.write_bytes(b"".join(b"r%d %d\n" % (i, i) for i in range(5000)))
    with open(path, encoding="utf-8") as text:
        assert text.readline() == "r0 0\n"
        batch = fastctx.read_all(text, fmt)
    assert batch.num_rows == 4999 and batch.to_pydict()["requestId"][:2] == ["r1", "r2"]
    # a pipe cannot be put back: refused, never read short
    script = ("import sys, fastctx\n"
              "sys.stdin.readline()\n"
              "try:\n"
              "    fastctx.read_all(sys.stdin, '$context.requestId $context.status')\n"
              "except fastctx.InputError as exc:\n"
              "    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", script], input=path.read_bytes(),
                          capture_output=True, timeout=120)
    assert b"read ahead" in proc.stdout and proc.returncode == 0, proc.stderr
    untouched = subprocess.run(
        [sys.executable, "-c", "import sys, fastctx\n"
         "print(fastctx.read_all(sys.stdin, '$context.requestId $context.status').num_rows)"],
        input=path.read_bytes(), capture_output=True, timeout=120)
    assert untouched.stdout.strip() == b"5000", untouched.stderr


@pytest.mark.parametrize("from_path", [False, True])
def test_max_record_counts_the_record_not_a_cr_or_an_export_prefix(fmt, tmp_path, from_path):
    stamp = b"2024-07-10T18:15:21.799Z "

    def read(data, size):
        source = data
        if from_path:
            source = tmp_path / "a.log"
            source.write_bytes(data)
        return fastctx.read_all(source, fmt, max_record=6, batch_size=size)

    for size in (1, 4, 1 << 20):
        for data in (b"r1 200\n", b"r1 200\r\n", stamp + b"r1 200\n", (stamp + b"r1 200\r\n") * 3):
            assert read(data, size).to_pydict()["requestId"][0] == "r1", (data, size)
        for data in (b"r1 2000\n", b"r1 200\r\r\n", stamp + b"r1 2000\r\n", b"x" * 32 + b"\n"):
            with pytest.raises(InputError, match="the record at byte offset 0 is longer than 6 bytes"):
                read(data, size)


def test_max_record_holds_for_log_event_messages(fmt):
    events = [{"id": str(i), "timestamp": 1, "message": m}
              for i, m in enumerate(["r1 200\r\n", "r2 200\n", "x" * 5000, "r3 200"])]
    for data in (payload(events), gzip.compress(payload(events))):
        for size in (8, 1 << 20):
            with pytest.raises(InputError, match="^the message of log event 3 is longer than 1000 bytes$"):
                fastctx.read_all(data, fmt, on_error="collect", max_record=1000, batch_size=size)
    # the message's own newline (and a CR before it) is no part of its record
    assert fastctx.read_all(payload(events[:2]), fmt, max_record=6).num_rows == 2


def test_a_text_stream_is_read_through_its_bytes(fmt):
    text = io.TextIOWrapper(io.BytesIO(b"r1 200\nr2 201\n"), encoding="utf-8")
    assert fastctx.read_all(text, fmt).to_pydict() == {"requestId": ["r1", "r2"], "status": [200, 201]}
    with pytest.raises(TypeError, match="binary mode"):
        fastctx.read_all(io.StringIO("r1 200\n"), fmt)


def test_subscription_documents_in_a_plain_file_are_read_piece_by_piece(tmp_path, fmt):
    import tracemalloc

    doc = json.dumps({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g",
                      "logStream": "s", "subscriptionFilters": ["f"],
                      "logEvents": [{"id": str(i), "timestamp": i, "message": f"r{i} 200"}
                                    for i in range(200)]}).encode()
    path = tmp_path / "subs.json"
    path.write_bytes(doc * 1000)  # 11 MB of documents back to back, not compressed
    tracemalloc.start()
    try:
        rows = sum(b.num_rows for b in fastctx.read(str(path), fmt, batch_size=64 << 10, threads=1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 200_000
    # a few pieces and their batch (2.6 MB here), not the file copied and decoded whole (29 MB)
    assert peak < path.stat().st_size // 3


@pytest.mark.parametrize("from_path", [False, True])
def test_a_record_longer_than_many_batches_is_framed_in_a_few_looks(tmp_path, monkeypatch, from_path):
    # A quoted CSV field of a megabyte of newlines, read in batches of 1 KiB: the window
    # doubles while no record ends in it (it grew a batch at a time: quadratic).
    from fastctx import io as reader

    fmt = fastctx.compile("$context.requestId,$context.routeKey")
    value = 'q"\n,' * (1 << 18)
    data = fmt.render({"requestId": ["r1", "r2"], "routeKey": [value, "x"]})
    source = data
    if from_path:
        source = tmp_path / "long.csv"
        source.write_bytes(data)
        source = str(source)
    looks = []
    real = reader._cut
    monkeypatch.setattr(reader, "_cut", lambda *args: looks.append(1) or real(*args))
    batch = fastctx.read_all(source, fmt, batch_size=1024)
    assert batch.to_pydict() == {"requestId": ["r1", "r2"], "routeKey": [value, "x"]}
    assert len(looks) < 40


EXPORT_MIXED = (b"2024-07-10T18:15:21.799Z r1 200\n"
                b"2024-02-30T18:15:21.799Z r2 201\n"  # no 30 February: not a prefix
                b"plain 7\r\n"  # another log run in
                b"\n"
                b"2024-07-10T18:15:22.000Z bad x\r\n"
                b"2024-07-10T18:15:23.000Z r3 3")
NOT_A_TIME = "the timestamp that starts the CloudWatch export line is not a time that exists"
NO_PREFIX = "the line of a CloudWatch export does not start with its timestamp"


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_export_lines_without_their_prefix_are_rejected_whole_not_read_shifted(fmt, size):
    batch = fastctx.read_all(EXPORT_MIXED, fmt, on_error="collect", batch_size=size)
    assert batch.to_pydict()["requestId"] == ["r1", "r3"]
    assert batch.stats.as_dict() == {"records": 6, "accepted": 2, "rejected": 3, "empty": 1,
                                     "normalized": 0}
    assert [(r.line, r.offset, r.reason, r.raw) for r in batch.rejects[:2]] == [
        (2, 32, NOT_A_TIME, b"2024-02-30T18:15:21.799Z r2 201"),
        (3, 64, NO_PREFIX, b"plain 7"),
    ]
    assert batch.rejects[2].line == 5 and batch.rejects[2].raw == b"bad x"
    skipped = fastctx.read_all(EXPORT_MIXED, fmt, on_error="skip", batch_size=size)
    assert skipped.to_pydict() == batch.to_pydict() and skipped.stats == batch.stats


def test_export_line_without_its_prefix_raises_after_any_bad_record_before_it(fmt):
    with pytest.raises(ParseError) as info:
        fastctx.read_all(EXPORT_MIXED, fmt)
    assert (info.value.line, info.value.offset, info.value.reason) == (2, 32, NOT_A_TIME)
    before = b"2024-07-10T18:15:21.799Z bad x\nplain 7\n"
    with pytest.raises(ParseError) as info:
        fastctx.read_all(before, fmt)
    assert info.value.line == 1 and "$context.status" in info.value.reason


@pytest.mark.parametrize("size", [1, 2, 4, 1 << 20])
@pytest.mark.parametrize("source", ["bytes", "path", "gzip"])
def test_a_byte_order_mark_is_no_part_of_the_first_record(fmt, tmp_path, size, source):
    bom = b"\xef\xbb\xbf"

    def read(data):
        if source == "gzip":
            data = gzip.compress(data)
        if source == "path":
            (tmp_path / "a.log").write_bytes(data)
            data = str(tmp_path / "a.log")
        return fastctx.read_all(data, fmt, on_error="collect", batch_size=size)

    # plain lines: the mark was read into the first value
    batch = read(bom + b"r1 200\nr2 x\n")
    assert batch.to_pydict()["requestId"] == ["r1"] and batch.stats.normalized == 0
    assert [(r.line, r.offset) for r in batch.rejects] == [(2, 10)]  # offsets count the mark
    # an export: its first line was rejected for want of its prefix
    batch = read(bom + EXPORT_MIXED)
    assert "ingestionTime" in batch.column_names and batch.to_pydict()["requestId"] == ["r1", "r3"]
    assert [(r.line, r.offset) for r in batch.rejects[:2]] == [(2, 35), (3, 67)]
    # a CloudWatch payload: JSON that starts with the mark
    doc = json.dumps({"messageType": "DATA_MESSAGE", "logEvents": [
        {"id": "1", "timestamp": 1, "message": "r1 200"}]}).encode()
    assert read(bom + doc).to_pydict()["requestId"] == ["r1"]


def test_an_export_is_told_by_most_of_its_first_lines_not_the_first_alone(fmt):
    export = b"".join(b"2024-07-10T18:15:2%d.000Z r%d 200\n" % (i, i) for i in range(5))
    batch = fastctx.read_all(b"plain 7\n" + export, fmt, on_error="collect")
    assert "ingestionTime" in batch.column_names
    assert batch.to_pydict()["requestId"] == ["r0", "r1", "r2", "r3", "r4"]
    assert [(r.line, r.reason) for r in batch.rejects] == [(1, NO_PREFIX)]
    plain = b"2024-07-10T18:15:21.799Z r 7\n" + b"".join(b"r%d 200\n" % i for i in range(5))
    batch = fastctx.read_all(plain, fmt, on_error="collect")
    assert "ingestionTime" not in batch.column_names and batch.num_rows == 5
    assert [r.line for r in batch.rejects] == [1]
    # a single line, or a first line longer than what is looked at, still decides alone
    assert fastctx.read_all(export[:32], fmt).column_names[-1] == "ingestionTime"
    long = b"2024-07-10T18:15:21.799Z " + b"r" * 10_000 + b" 200\n"
    assert fastctx.read_all(long, fmt).column_names[-1] == "ingestionTime"


def test_a_payload_that_is_not_utf8_names_the_byte_in_the_stream_not_in_its_block():
    doc = json.dumps({"messageType": "DATA_MESSAGE", "logEvents": [
        {"id": "1", "timestamp": 1, "message": "r%d 200" % i} for i in range(2000)]}).encode()
    bad = len(doc) + 40  # in the second document, past many blocks
    data = doc + doc[:40] + b"\xff" + doc[41:]
    for size in (4096, 1 << 20):
        with pytest.raises(InputError, match=f"not UTF-8 JSON at byte {bad}$"):
            fastctx.read_all(data, "$context.requestId $context.status", batch_size=size)


def test_a_document_over_many_blocks_is_decoded_a_few_times_not_once_a_block(monkeypatch):
    # each try decodes the document from its start: one try per block was quadratic
    # (an 18 MB document in 64 KiB blocks took 24 s)
    from fastctx.io import _json_documents

    tries = []
    real = json.JSONDecoder.raw_decode
    monkeypatch.setattr(json.JSONDecoder, "raw_decode",
                        lambda self, s, idx=0: tries.append(idx) or real(self, s, idx))
    doc = {"messageType": "DATA_MESSAGE",
           "logEvents": [{"id": str(i), "timestamp": 1, "message": "r%d 200" % i} for i in range(20000)]}
    text = (json.dumps(doc) + "\n" + json.dumps({"a": 1}) + " 5").encode()
    for size in (1000, 4096):
        tries.clear()
        blocks = [text[i : i + size] for i in range(0, len(text), size)]
        assert len(blocks) > 250
        assert list(_json_documents(blocks)) == [doc, {"a": 1}, 5]
        assert len(tries) < 20, len(tries)
