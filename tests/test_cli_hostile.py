"""The command line against hostile input and careless use: one clear line, the right exit
code, no traceback, never a silently short or destroyed file."""

import json
import os
import re
import stat
import subprocess
import sys

import pytest

import fastctx

TEMPLATE = "$context.requestId $context.status"
TIMED = "$context.requestId $context.requestTimeEpoch [$context.requestTime] $context.status"


def run(*args, input=None, code=0):
    proc = subprocess.run([sys.executable, "-m", "fastctx", *map(str, args)], input=input,
                          capture_output=True, timeout=300)
    assert proc.returncode == code, (proc.returncode, proc.stderr.decode(errors="replace"))
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def error_line(proc) -> str:
    text = proc.stderr.decode()
    assert text.startswith("fastctx: "), text
    return text.splitlines()[0]


@pytest.mark.parametrize("preset", ["clf", "json", "xml", "csv"])
@pytest.mark.parametrize("table", ["csv", "jsonl"])
def test_parse_then_render_gives_the_same_lines_through_text_tables(tmp_path, preset, table):
    # parse writes times to CSV and JSON Lines as ISO 8601; render must read them back as
    # times, not write the ISO text into the CLF time slot.
    lines = run("generate", "--preset", preset, "-n", 300, "--escaped", 0.3, "--seed", 3).stdout
    log = tmp_path / "a.log"
    log.write_bytes(lines)
    events = tmp_path / f"events.{table}"
    run("parse", "--preset", preset, log, "-o", events)
    assert run("render", "--preset", preset, events).stdout == lines


@pytest.mark.parametrize("table", ["csv", "jsonl"])
def test_epoch_and_clf_times_round_trip_through_text_tables(tmp_path, table):
    lines = run("generate", "--template", TIMED, "-n", 200, "--seed", 5).stdout
    log = tmp_path / "a.log"
    log.write_bytes(lines)
    events = tmp_path / f"events.{table}"
    run("parse", "--template", TIMED, log, "-o", events)
    assert run("render", "--template", TIMED, events).stdout == lines


def test_output_naming_an_input_is_refused_and_the_input_kept(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(run("generate", "--preset", "clf", "-n", 50).stdout)
    before = log.read_bytes()
    proc = run("convert", "--preset", "clf", "--to-preset", "json", log, "-o", log, code=2)
    assert "is also an input" in error_line(proc)
    assert log.read_bytes() == before
    run("parse", "--preset", "clf", log, "--rejects", log, code=2)
    assert log.read_bytes() == before
    events = tmp_path / "e.jsonl"
    events.write_text('{"requestId": "a", "status": 1}\n')
    run("render", "--template", TEMPLATE, events, "-o", events, code=2)
    assert events.read_text() == '{"requestId": "a", "status": 1}\n'


def test_rejects_and_output_cannot_share_stdout_or_a_file(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\nbad x\n")
    proc = run("parse", "--template", TEMPLATE, log, "--rejects", "-", code=2)
    assert "stdout" in error_line(proc)
    same = tmp_path / "out.csv"
    run("parse", "--template", TEMPLATE, log, "--rejects", same, "-o", same, code=2)
    # a file for one of them is fine
    out = run("parse", "--template", TEMPLATE, log, "--rejects", "-", "-o", tmp_path / "o.csv").stdout
    assert out.startswith(b"#fastctx-reject ") and out.endswith(b"\nbad x\n")


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_failed_parse_removes_its_half_written_file_but_never_a_link_or_device(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\nbad x\n")
    target = tmp_path / "target.jsonl"
    target.write_text("kept\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    run("parse", "--template", TEMPLATE, log, "-o", link, code=1)
    assert link.is_symlink()  # the link itself is not removed (as /dev/stdout must not be)
    plain = tmp_path / "o.jsonl"
    run("parse", "--template", TEMPLATE, log, "-o", plain, code=1)
    assert not plain.exists()


@pytest.mark.parametrize("command", [
    ("parse", "--template", TEMPLATE, "{log}", "--to", "csv", "-o", "{out}"),
    ("convert", "--template", TEMPLATE, "--to-preset", "json", "{log}", "-o", "{out}"),
    ("render", "--template", "$context.requestId $context.status", "{events}", "-o", "{out}"),
])
def test_a_failed_run_leaves_an_existing_output_as_it_was(tmp_path, command):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\nbad x\n")
    events = tmp_path / "e.jsonl"
    events.write_text('{"requestId": "a", "status": 1}\n{"requestId": "b", "status": "x"}\n')
    out = tmp_path / "previous.out"
    out.write_text("yesterday's output\n")
    os.chmod(out, 0o640)
    args = [str(a).format(log=log, events=events, out=out) for a in command]
    run(*args, code=1)
    assert out.read_text() == "yesterday's output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "e.jsonl", "previous.out"]
    # a run that succeeds replaces it, keeping its mode
    log.write_bytes(b"r1 200\n")
    events.write_text('{"requestId": "a", "status": 1}\n')
    run(*args)
    assert out.read_text() != "yesterday's output\n"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "e.jsonl", "previous.out"]


def test_a_new_output_gets_the_mode_a_new_file_would(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\n")
    out = tmp_path / "new.csv"
    run("parse", "--template", TEMPLATE, log, "-o", out)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not (os.path.exists("/dev/full") and stat.S_ISCHR(os.stat("/dev/full").st_mode)),
                    reason="needs the /dev/full device")
@pytest.mark.parametrize("args", [
    ("generate", "--preset", "clf", "-n", 10),
    ("generate", "--preset", "clf", "-n", 10, "--format", "csv"),
    ("render", "--template", TEMPLATE, "{events}"),
])
def test_a_full_disk_is_a_clear_error_naming_the_output(tmp_path, args):
    events = tmp_path / "e.jsonl"
    events.write_text('{"requestId": "a", "status": 1}\n')
    args = [str(events) if a == "{events}" else a for a in args]
    proc = run(*args, "-o", "/dev/full", code=1)
    assert error_line(proc) == "fastctx: error: cannot write '/dev/full': No space left on device"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "fastctx", *map(str, args[:5])], stdout=full,
                              stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 1 and b"cannot write stdout" in proc.stderr


def test_inputs_that_are_not_files_are_usage_errors(tmp_path):
    proc = run("parse", "--template", TEMPLATE, tmp_path, code=2)
    assert "is a directory" in error_line(proc)
    run("render", "--template", TEMPLATE, "--from", "jsonl", tmp_path, code=2)
    run("parse", "--template", TEMPLATE, "--batch-size", "0", "-", input=b"", code=2)


def test_errors_name_the_input_they_come_from(tmp_path):
    import gzip

    good = tmp_path / "good.log"
    good.write_bytes(b"r1 200\n")
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(b"r2 200\n" * 2000)[:-30])
    proc = run("parse", "--template", TEMPLATE, good, cut, code=1)
    assert error_line(proc).startswith(f"fastctx: error: {cut}: truncated gzip")
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"r1 200\nr2 x\n")
    proc = run("parse", "--template", TEMPLATE, good, bad, code=1)
    assert error_line(proc).startswith(f"fastctx: bad record in {bad}: line 2, byte offset 10")
    proc = run("parse", "--template", TEMPLATE, "-", input=b"r2 x\n", code=1)
    assert error_line(proc).startswith("fastctx: bad record in stdin: line 1")


def test_stats_on_empty_input_still_print_the_counts():
    proc = run("parse", "--template", TEMPLATE, "--stats", "-", input=b"")
    assert b"0 records, 0 accepted, 0 rejected, 0 empty" in proc.stderr
    proc = run("parse", "--template", TEMPLATE, "--stats", "-", input=b"\n\n\r\n")
    assert b"3 records, 0 accepted, 0 rejected, 3 empty" in proc.stderr


_HEADER = re.compile(rb'#fastctx-reject source=("(?:[^"\\\n]|\\.)*"|[^\s="\\]+) line=(\d+) '
                     rb"offset=(\d+) bytes=(\d+) reason=([^\n]*)\n")


def test_rejects_header_quotes_a_source_name_that_would_not_split(tmp_path):
    name = tmp_path / 'my file line=9 "x".log'
    name.write_bytes(b"r1 200\nbad x\n")
    rejects = tmp_path / "rejects.txt"
    run("parse", "--template", TEMPLATE, name, "--on-error", "collect", "--rejects", rejects,
        "--to", "csv", "-o", tmp_path / "out.csv")
    data = rejects.read_bytes()
    head = _HEADER.match(data)
    assert head and json.loads(head.group(1)) == str(name)
    [(line, offset, reason, raw)] = read_rejects(data)
    assert (line, offset, raw) == (2, 7, b"bad x") and "expected" in reason


def read_rejects(data: bytes):
    """The side file read back by its headers' lengths: [(line, offset, reason, raw)]."""
    out, pos = [], 0
    while pos < len(data):
        head = _HEADER.match(data, pos)
        assert head, data[pos : pos + 80]
        size = int(head.group(4))
        raw = data[head.end() : head.end() + size]
        assert data[head.end() + size : head.end() + size + 1] == b"\n"
        out.append((int(head.group(2)), int(head.group(3)), head.group(5).decode(), raw))
        pos = head.end() + size + 1
    return out


def test_rejects_side_file_keeps_records_holding_newlines_whole(tmp_path):
    # In auto CSV a quoted field may hold a newline: the header's byte count says where the
    # record ends, so the side file reads back record for record.
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    good = fmt.render({"requestId": ["r1"], "routeKey": ["two\nlines"], "status": [200]})
    bad = good.replace(b",200,", b",2x0,")
    log = tmp_path / "a.csvlog"
    log.write_bytes(good + bad + b"#fastctx-reject looks like a header\n" + good)
    side = tmp_path / "rejects.txt"
    proc = run("parse", "--preset", "csv", log, "--rejects", side, "-o", tmp_path / "o.jsonl")
    assert b"4 records, 2 accepted, 2 rejected" in proc.stderr
    rejects = read_rejects(side.read_bytes())
    assert [(line, offset, raw) for line, offset, _, raw in rejects] == [
        (3, len(good), bad[:-1]),
        (5, 2 * len(good), b"#fastctx-reject looks like a header"),
    ]
    assert all(reason for _, _, reason, _ in rejects)


def test_rejects_side_file_is_verbatim_for_hostile_bytes(tmp_path):
    lines = [b"r1 200", b"r2 \x00", b"r3 \xff\xfe", b"x" * 300_000, b"r4 2\r", b"", b"r5 1 2", b"r6 7"]
    log = tmp_path / "a.log"
    log.write_bytes(b"\n".join(lines))  # no final newline
    side = tmp_path / "rejects.txt"
    proc = run("parse", "--template", TEMPLATE, log, "--rejects", side, "-o", tmp_path / "o.csv")
    assert b"8 records, 3 accepted, 4 rejected, 1 empty" in proc.stderr
    rejects = read_rejects(side.read_bytes())
    assert [(line, raw) for line, _, _, raw in rejects] == [
        (2, b"r2 \x00"), (3, b"r3 \xff\xfe"), (4, b"x" * 300_000), (7, b"r5 1 2")]
    starts = [sum(len(x) + 1 for x in lines[: line - 1]) for line, *_ in rejects]
    assert [offset for _, offset, _, _ in rejects] == starts
    assert (tmp_path / "o.csv").read_text() == "requestId,status\nr1,200\nr4,2\nr6,7\n"


@pytest.mark.parametrize("name, content, message", [
    ("ragged.csv", b"requestId,status\na,1,extra\n", "ragged.csv: line 2 has 3 fields, the header has 2"),
    ("short.csv", b"requestId,status\na,1\nb\n", "short.csv: line 3 has 1 fields, the header has 2"),
    ("open.csv", b'requestId,status\n"a,1\nb,2\n', "open.csv: line 3 is not valid CSV"),
    ("bytes.csv", b"requestId,status\na,1\nb\xff,2\n", "bytes.csv: line 3 is not UTF-8 text"),
    ("bytes.jsonl", b'{"requestId": "a", "status": 1}\n{"requestId": "\xff"}\n', "bytes.jsonl: line 2 is not JSON"),
    ("big.csv", b"requestId,status\na,99999999999999999999999\n", "big.csv: event 1: 99999999999999999999999 does not fit in int64 (column 'status')"),
    ("big.jsonl", b'{"requestId": "a", "status": 99999999999999999999999}\n', "big.jsonl: event 1: 99999999999999999999999 does not fit in int64 (column 'status')"),
    # longer than the 4,300 digits Python's int() reads: the same message, with an excerpt
    ("huge.csv", b"requestId,status\na,1\nb," + b"9" * 5000 + b"\n",
     "huge.csv: event 2: 999999999999999999999999... (5000 characters) does not fit in int64"),
    ("huge.jsonl", b'{"requestId": "a", "status": "' + b"0" * 4000 + b'1' + b"2" * 19 + b'"}\n',
     "huge.jsonl: event 1: 000000000000000000000000... (4020 characters) does not fit"),
    ("float.jsonl", b'{"requestId": "a", "status": 1}\n{"requestId": "b", "status": 2.5}\n',
     "float.jsonl: event 2: '2.5' is not an integer, as the column's other values are "
     "(column 'status')"),
    # one value of another kind among the times: an error, not a column of text that would
    # write every other time as raw epoch milliseconds
    ("mixed.jsonl", b'{"requestId": "a", "requestTime": 1704067200000}\n'
                    b'{"requestId": "b", "requestTime": "2024-01-01T00:00:00Z"}\n',
     "mixed.jsonl: event 2: '2024-01-01T00:00:00Z' is not an integer, as the column's other "
     "values are (column 'requestTime')"),
    ("mixed.csv", b"requestId,requestTime\na,1704067200000\nb,n/a\n",
     "mixed.csv: event 2: 'n/a' is not an integer"),
    ("month.csv", b"requestId,requestTime\na,2024-01-01T00:00:00Z\nb,2024-13-01T00:00:00Z\n",
     "month.csv: event 2: '2024-13-01T00:00:00Z' is not an ISO 8601 time"),
    ("text.jsonl", b'{"requestId": "a", "requestTime": "01/Jan/2024:00:00:00 +0000"}\n'
                   b'{"requestId": "b", "requestTime": 5}\n',
     "text.jsonl: event 2: '5' is not text, as the column's first value is (column 'requestTime')"),
    ("bool.jsonl", b'{"requestId": "a", "requestTime": true}\n',
     "bool.jsonl: event 1: 'true' is not an integer, a time or text (column 'requestTime')"),
    ("deep.jsonl", b'{"requestId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
     "deep.jsonl: line 1 nests JSON too deeply to read"),
    ("cut.parquet", b"PAR1 not really", "cut.parquet: "),
    ("twice.csv", b"requestId,status,requestId\na,1,b\n", "twice.csv: the header names 'requestId' more than once"),
], ids=lambda value: value if isinstance(value, str) and "." in value[:12] else "")
def test_bad_event_files_are_one_line_errors_naming_file_and_place(tmp_path, name, content, message):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    path.write_bytes(content)
    proc = run("render", "--template", TIMED, path, code=1)
    assert message in error_line(proc)
    assert proc.stdout == b""


def test_long_csv_event_values_render(tmp_path):
    value = "v" * 300_000  # more than the csv module's default field limit
    path = tmp_path / "e.csv"
    path.write_text(f"requestId,status\n{value},200\n")
    assert run("render", "--template", TEMPLATE, path).stdout == f"{value} 200\n".encode()


def test_subscription_payload_oddities_are_clear_errors(tmp_path):
    import gzip

    def payload(event):
        doc = {"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
               "subscriptionFilters": [], "logEvents": [event]}
        return gzip.compress(json.dumps(doc).encode())

    proc = run("parse", "--template", TEMPLATE, "-", code=1,
               input=payload({"id": "1", "timestamp": 1, "message": 5}))
    assert "stdin: a log event whose message is not a string" in error_line(proc)
    proc = run("parse", "--template", TEMPLATE, "-", code=1,
               input=payload({"id": "1", "timestamp": 10**30, "message": "r1 200"}))
    assert "timestamp is out of range" in error_line(proc)


def test_inputs_with_different_columns_cannot_share_a_csv_or_parquet_table(tmp_path):
    import gzip

    lines = tmp_path / "a.log"
    lines.write_bytes(b"r1 200\n")
    doc = {"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
           "subscriptionFilters": [], "logEvents": [{"id": "1", "timestamp": 5, "message": "r2 201"}]}
    sub = tmp_path / "b.json.gz"
    sub.write_bytes(gzip.compress(json.dumps(doc).encode()))
    # CSV has one header: a row with one more field under it would be a silently wrong table
    proc = run("parse", "--template", TEMPLATE, lines, sub, "-o", tmp_path / "o.csv", code=2)
    assert "eventTimestamp" in error_line(proc) and not (tmp_path / "o.csv").exists()
    out = run("parse", "--template", TEMPLATE, lines, sub).stdout.decode().splitlines()
    assert [json.loads(x) for x in out] == [
        {"requestId": "r1", "status": 200},
        {"requestId": "r2", "status": 201, "eventTimestamp": "1970-01-01T00:00:00.005Z"}]


def test_template_file_that_is_not_utf8_is_a_usage_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"$context.requestId \xff\n")
    proc = run("check", "--template-file", path, code=2)
    assert "not UTF-8" in error_line(proc)


def test_a_render_warning_is_one_line_on_stderr(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b'{"requestId":"r1","routeKey":"a\\u0001b"}\n')
    proc = run("convert", "--template", '{"requestId":"$context.requestId","routeKey":"$context.routeKey"}',
               "--to-template", '<r id="$context.requestId">$context.routeKey</r>', log)
    assert proc.stdout == b'<r id="r1">ab</r>\n'
    assert proc.stderr.decode() == "fastctx: warning: 1 characters that XML 1.0 cannot hold were dropped\n"


def test_events_without_any_field_of_the_template_are_an_error_not_lines_of_dashes(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text('{"requestId": "a", "status": 1}\n{"requestId": "b", "status": 2}\n')
    # JSON Lines read as CSV: the header is the first line cut at commas, every field unknown
    proc = run("render", "--template", TEMPLATE, "--from", "csv", events, code=1)
    assert "no event field is a variable of the template" in error_line(proc)
    assert proc.stdout == b""
    other = tmp_path / "o.jsonl"
    other.write_text('{"id": "a"}\n')
    run("render", "--template", TEMPLATE, other, code=1)
    # one matching field is enough: the others render as '-', as the SPEC says
    some = tmp_path / "s.jsonl"
    some.write_text('{"requestId": "a", "other": 1}\n')
    assert run("render", "--template", TEMPLATE, some).stdout == b"a -\n"


@pytest.mark.parametrize("table", ["csv", "jsonl", "parquet"])
def test_times_of_any_year_go_to_text_tables_and_back(tmp_path, table):
    if table == "parquet":
        pytest.importorskip("pyarrow")
    # an epoch-ms value far beyond the year 9999 and a CLF time in the year 1: Python's
    # datetime cannot hold the first and writes the second's year without its zeros
    lines = (b"r1 99999999999999999 [01/Jan/0001:00:00:00 +0000]\n"
             b"r2 -5 [01/Jan/2024:00:00:00 +0000]\nr3 1 [-]\n")
    log = tmp_path / "a.log"
    log.write_bytes(lines)
    events = tmp_path / f"e.{table}"
    run("parse", "--template", TIMED.replace(" $context.status", ""), log, "-o", events)
    if table == "jsonl":
        first = json.loads(events.read_text().splitlines()[0])
        assert first["requestTimeEpoch"] == "3170843-11-07T09:46:39.999Z"
        assert first["requestTime"] == "0001-01-01T00:00:00.000Z"
    assert run("render", "--template", TIMED.replace(" $context.status", ""), events).stdout == lines


def test_a_byte_order_mark_does_not_rename_the_first_csv_field(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"\xef\xbb\xbfrequestId,status\na,1\n")  # as Excel and PowerShell write CSV
    assert run("render", "--template", TEMPLATE, path).stdout == b"a 1\n"


def test_event_columns_of_a_type_fastctx_cannot_render_name_the_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "flags.parquet"
    pq.write_table(pa.table({"requestId": ["a"], "status": pa.array([True])}), path)
    proc = run("render", "--template", TEMPLATE, path, code=1)
    assert error_line(proc).startswith(f"fastctx: error: {path}: column 'status'")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_parse_reads_a_named_pipe(tmp_path):
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def feed():
        with open(pipe, "wb") as out:
            out.write(b"r1 200\nr2 201\n")

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        out = run("parse", "--template", TEMPLATE, pipe, "--to", "csv").stdout
    finally:
        writer.join(timeout=30)
    assert out == b"requestId,status\nr1,200\nr2,201\n"


def test_numbers_on_the_command_line_that_make_no_sense_are_usage_errors():
    for rate in ("nan", "0", "-1"):
        run("generate", "--template", TEMPLATE, "-n", 3, "--rate", rate, code=2)
    assert run("generate", "--template", TEMPLATE, "-n", 3, "--rate", "inf").stdout.count(b"\n") == 3
    proc = run("parse", "--template", TEMPLATE, "--threads", 10**20, "-", input=b"", code=2)
    assert b"--threads" in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="closes a standard stream before exec (POSIX)")
@pytest.mark.parametrize("args, closed", [
    (("parse", "--template", TEMPLATE), "stdin"),
    (("render", "--template", TEMPLATE, "--from", "jsonl", "-"), "stdin"),
    (("generate", "--template", TEMPLATE, "-n", 2), "stdout"),
    (("check", "--template", TEMPLATE), "stdout"),
])
def test_a_closed_standard_stream_is_a_usage_error(args, closed):
    # started as `fastctx ... <&-` or `>&-`: Python then has no sys.stdin / sys.stdout
    fd = 0 if closed == "stdin" else 1
    proc = subprocess.run([sys.executable, "-m", "fastctx", *map(str, args)], stderr=subprocess.PIPE,
                          preexec_fn=lambda: os.close(fd), timeout=120)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
    assert f"{closed} is closed".encode() in proc.stderr


@pytest.mark.parametrize("args", [["--rows", "-5"], ["--repeat", "0"], ["--threads", "0"],
                                  ["--threads", "99999"], ["--shapes", "yaml"],
                                  ["--peers", "csv module,bogus"]])
def test_bench_bad_options_are_usage_errors(args):
    proc = run("bench", "render", *args, code=2)
    assert b"fastctx bench: error:" in proc.stderr


def test_bench_without_an_operation_is_a_usage_error_and_its_help_has_examples():
    assert b"required: operation" in run("bench", code=2).stderr
    shown = run("bench", "--help").stdout.decode()
    assert shown.startswith("usage: fastctx bench")
    assert "examples:\n  fastctx bench render --rows 1000000" in shown


@pytest.mark.parametrize("name, content", [
    ("floats.jsonl", b'{"requestId": "a", "status": 200.0, "requestTimeEpoch": 1704067200000.0}\n'
                     b'{"requestId": "b", "status": null, "requestTimeEpoch": null}\n'),
    ("floats.csv", b"requestId,status,requestTimeEpoch\na,200.0,1704067200000.0\nb,,\n"),
])
def test_whole_floats_in_event_files_are_integers_as_pandas_writes_them(tmp_path, name, content):
    # pandas writes an integer column with missing values as floats: 200.0
    path = tmp_path / name
    path.write_bytes(content)
    proc = run("render", "--template", "$context.requestId $context.status $context.requestTimeEpoch", path)
    assert proc.stdout == b"a 200 1704067200000\nb - -\n"


def test_a_subscription_payload_nested_too_deeply_is_one_line(tmp_path):
    import gzip

    path = tmp_path / "deep.gz"
    path.write_bytes(gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": '
                                   + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    proc = run("parse", "--preset", "clf", path, code=1)
    assert "a CloudWatch payload nests JSON too deeply to read" in error_line(proc)


def test_an_event_renders_the_same_from_parquet_text_as_from_json_lines(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    events = {"requestId": ["a", "b"], "requestTime": ["2024-01-01T00:00:00Z", None],
              "status": ["200", None]}
    pq.write_table(pa.table(events), tmp_path / "e.parquet")
    (tmp_path / "e.jsonl").write_text("".join(
        json.dumps({k: v[i] for k, v in events.items()}) + "\n" for i in range(2)))
    lines = run("render", "--preset", "clf", tmp_path / "e.parquet").stdout
    assert lines == run("render", "--preset", "clf", tmp_path / "e.jsonl").stdout
    assert lines.startswith(b'- - - [01/Jan/2024:00:00:00 +0000] "- - -" 200 a\n')
    pq.write_table(pa.table({"requestId": ["a", "b"], "status": ["200", "x"]}), tmp_path / "bad.parquet")
    proc = run("render", "--preset", "clf", tmp_path / "bad.parquet", code=1)
    assert "bad.parquet: event 2: 'x' is not an integer" in error_line(proc)


@pytest.mark.parametrize("status, reason", [
    ("text", "'x' is not an integer"),
    ("float", "7.5 is not a whole number"),
    ("time", "is outside the years 0000-9999"),
])
def test_a_bad_value_in_a_later_parquet_row_group_names_its_event(tmp_path, status, reason):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = 10
    columns = {"requestId": [f"r{i}" for i in range(rows)]}
    if status == "text":  # a text column, converted to a dict of columns before rendering
        columns["status"] = [str(i) if i != 7 else "x" for i in range(rows)]
    elif status == "float":  # an Arrow column, whose conversion names its row
        columns["status"] = [float(i) if i != 7 else 7.5 for i in range(rows)]
    else:
        columns["status"] = [str(i) for i in range(rows)]
        columns["requestTime"] = pa.array([0 if i != 7 else 9 * 10**18 for i in range(rows)], pa.int64())
    pq.write_table(pa.table(columns), tmp_path / "e.parquet", row_group_size=4)
    proc = run("render", "--template", "$context.requestId $context.status [$context.requestTime]",
               tmp_path / "e.parquet", "-o", tmp_path / "out.log", code=1)
    assert error_line(proc).startswith(f"fastctx: error: {tmp_path / 'e.parquet'}: event 8: ")
    assert reason in error_line(proc)


def test_an_input_with_no_record_still_gets_its_envelope_columns(tmp_path):
    import gzip

    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
               "logStream": "", "subscriptionFilters": [], "logEvents": []}
    path = tmp_path / "ctl.gz"
    path.write_bytes(gzip.compress(json.dumps(control).encode()))
    header = run("parse", "--template", TEMPLATE, path, "--to", "csv").stdout.splitlines()
    assert header == [b"requestId,status,eventTimestamp"]  # as read_all gives, and a data day
    export = tmp_path / "export.log"
    export.write_bytes(b"2024-07-10T18:15:21.799Z \n")
    assert run("parse", "--template", TEMPLATE, export, "--to", "csv").stdout == \
        b"requestId,status,ingestionTime\n"


def test_a_failed_run_leaves_the_rejects_file_as_it_was(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(run("generate", "--template", TEMPLATE, "-n", 3).stdout + b"garbage\n")
    rejects = tmp_path / "rejects.txt"
    rejects.write_bytes(b"precious\n")
    # a usage error before any input is read
    run("parse", "--template", TEMPLATE, log, "-o", tmp_path / "none" / "out.csv",
        "--rejects", rejects, "--on-error", "collect", code=2)
    assert rejects.read_bytes() == b"precious\n"
    # a data error after rejects were collected (the second input is a cut gzip)
    cut = tmp_path / "cut.gz"
    import gzip

    cut.write_bytes(gzip.compress(log.read_bytes() * 50)[:40])
    out = tmp_path / "out.csv"
    out.write_bytes(b"yesterday\n")
    run("parse", "--template", TEMPLATE, log, cut, "-o", out, "--rejects", rejects,
        "--on-error", "collect", code=1)
    assert rejects.read_bytes() == b"precious\n" and out.read_bytes() == b"yesterday\n"
    # a rejects file that cannot be written fails the command before its output is replaced
    if os.path.exists("/dev/full"):
        proc = run("parse", "--template", TEMPLATE, log, "-o", out, "--rejects", "/dev/full",
                   "--on-error", "collect", code=1)
        assert "/dev/full" in error_line(proc) and out.read_bytes() == b"yesterday\n"
    run("parse", "--template", TEMPLATE, log, "-o", out, "--rejects", rejects, "--on-error", "collect")
    assert rejects.read_bytes().startswith(b"#fastctx-reject ") and b"garbage" in rejects.read_bytes()


@pytest.mark.parametrize("rows", [
    ["a,10/Jul/2024:18:15:21 +0000", "b,1720635321799"],
    ["a,garbage", "b,2024-07-10T18:15:21Z"],
])
def test_a_time_column_of_text_then_a_number_or_iso_time_names_the_event(tmp_path, rows):
    events = tmp_path / "mix.csv"
    events.write_text("requestId,requestTime\n" + "\n".join(rows) + "\n")
    proc = run("render", "--preset", "clf", events, code=1)
    assert "event 2:" in error_line(proc) and "'requestTime'" in error_line(proc)


def test_generate_rate_only_throttles(tmp_path):
    plain = run("generate", "--template", TEMPLATE, "-n", 30, "--seed", 7).stdout
    assert run("generate", "--template", TEMPLATE, "-n", 30, "--seed", 7, "--rate", 300).stdout == plain
    proc = run("generate", "--preset", "clf", "-n", 3, "--rate", "1e-300", code=2)
    assert "at least 0.000001" in proc.stderr.decode()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("name,code,word", [("SIGTERM", 143, b"terminated"),
                                            ("SIGINT", 130, b"interrupted")])
def test_a_signal_removes_the_temporary_output_and_keeps_the_old_file(tmp_path, name, code, word):
    import signal
    import time

    out = tmp_path / "k.log"
    out.write_bytes(b"keep\n")
    proc = subprocess.Popen([sys.executable, "-m", "fastctx", "generate", "--preset", "clf",
                             "-n", "100000000", "-o", str(out)], stderr=subprocess.PIPE,
                            # a test run in the background ignores Ctrl-C, and so would its child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(getattr(signal, name))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code and word in stderr and b"Traceback" not in stderr
    assert out.read_bytes() == b"keep\n"
    assert [p.name for p in tmp_path.iterdir()] == ["k.log"]


def test_convert_names_the_input_and_record_of_a_value_the_target_cannot_hold(tmp_path):
    log = tmp_path / "h.log"
    log.write_bytes(b"r1 200\nr2 abc\n")
    proc = run("convert", "--api", "http", "--template", "$context.requestId $context.authorizer.status",
               "--to-api", "rest", "--to-template", "$context.requestId $context.authorizer.status",
               log, code=1)
    assert error_line(proc) == (f"fastctx: error: {log}: value 'abc' is not an integer in the int64 "
                                "range (column 'authorizer.status') in the record 'r2 abc'")


@pytest.mark.parametrize("removable", [True, False])
def test_a_failed_run_written_in_place_leaves_no_partial_file(tmp_path, monkeypatch, capsys, removable):
    # A writable file in a folder that takes no new files is written in place (no temporary
    # file can be made beside it). Root ignores modes, so the folder's refusals are simulated.
    from fastctx import cli

    log, out = tmp_path / "a.log", tmp_path / "out.csv"
    log.write_bytes(b"r1 200\n" * 300_000 + b"bad\n")  # over 1 MB: rows are written first
    out.write_bytes(b"yesterday\n")
    unlink = os.unlink

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def unlink_refused(path, *args, **kwargs):
        if os.fspath(path) == str(out):
            refuse()
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(cli._Output, "_temporary", refuse)
    if not removable:
        monkeypatch.setattr(os, "unlink", unlink_refused)
    args = ["parse", "--template", TEMPLATE, str(log), "-o", str(out)]
    assert cli.main(args + ["--batch-size", "1"]) == 1
    err = capsys.readouterr().err
    assert "line 300001" in err
    if removable:
        assert not out.exists() and "warning" not in err
    else:
        assert out.read_bytes() == b""
        assert f"warning: '{out}' was written in place" in err and "it was emptied" in err
    log.write_bytes(b"r1 200\n" * 3)  # a run that succeeds writes the whole file in place
    out.write_bytes(b"yesterday\n")
    assert cli.main(args) == 0
    assert out.read_text().splitlines() == ["requestId,status"] + ["r1,200"] * 3


def test_render_reads_categories_and_more_iso_forms_as_times(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    template = "$context.requestId [$context.requestTime]"
    times = ["2024-07-10T18:15:21Z", "2024-07-10T18:15:21.123456789Z",  # polars' nanoseconds
             "2024-07-10 18:15:21.123+00", "2024-07-10T20:15:21.123456000+0200"]  # DuckDB, polars
    expected = b"".join(b"r%d [10/Jul/2024:18:15:21 +0000]\n" % i for i in range(4))
    events = tmp_path / "e.csv"
    events.write_text("requestId,requestTime\n" + "".join(f"r{i},{t}\n" for i, t in enumerate(times)))
    assert run("render", "--template", template, events).stdout == expected
    # a dictionary-encoded (categorical) text column is text like any other
    table = pa.table({"requestId": [f"r{i}" for i in range(4)],
                      "requestTime": pa.array(times).dictionary_encode()})
    pq.write_table(table, tmp_path / "e.parquet")
    assert run("render", "--template", template, tmp_path / "e.parquet").stdout == expected


@pytest.mark.parametrize("table", ["csv", "jsonl"])
def test_render_takes_a_dash_in_an_int_column_as_missing_wherever_it_is(tmp_path, table):
    rows = [("a", "200"), ("b", "-"), ("c", "404")]
    events = tmp_path / f"e.{table}"
    if table == "csv":
        events.write_text("requestId,status\n" + "".join(f"{r},{s}\n" for r, s in rows))
    else:
        events.write_text("".join(json.dumps({"requestId": r, "status": s}) + "\n" for r, s in rows))
    assert run("render", "--template", TEMPLATE, events).stdout == b"a 200\nb -\nc 404\n"


def test_render_writes_json_integers_past_int64_of_a_text_variable_as_text(tmp_path):
    events = tmp_path / "big.jsonl"
    events.write_text('{"requestId": "a", "identity.user": 18446744073709551615}\n')
    out = run("render", "--template", "$context.requestId $context.identity.user", events).stdout
    assert out == b"a 18446744073709551615\n"


def test_a_template_file_saved_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b'\xef\xbb\xbf{"id":"$context.requestId"}\r\n')
    assert "shape: json" in run("check", "--template-file", path).stdout.decode()
    assert run("generate", "--template-file", path, "-n", 1).stdout.startswith(b'{"id":"')


def test_a_template_argument_that_is_not_utf8_names_the_byte():
    proc = subprocess.run([sys.executable, "-m", "fastctx", "check", "--template",
                           b"$context.requestId \xff"], capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"--template is not UTF-8 text: byte 0xff at character 20" in proc.stderr
    assert b"Traceback" not in proc.stderr
