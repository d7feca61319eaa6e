"""The command line as a user drives it: subprocesses, real files, pipes, exit codes."""

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest

import fastctx

TEMPLATE = "$context.requestId $context.status"


def run(*args, input=None, check_code=0):
    proc = subprocess.run([sys.executable, "-m", "fastctx", *map(str, args)], input=input,
                          capture_output=True, timeout=300)
    assert proc.returncode == check_code, (proc.returncode, proc.stderr.decode(errors="replace"))
    assert b"Traceback" not in proc.stderr
    return proc


def test_help_lists_commands_and_examples():
    out = run("--help").stdout.decode()
    for name in ("check", "render", "parse", "convert", "generate", "bench"):
        assert name in out
    for name in ("check", "render", "parse", "convert", "generate"):
        text = run(name, "--help").stdout.decode()
        assert "examples:" in text and f"fastctx {name}" in text


def test_check_prints_shape_variables_slots_and_bytecode():
    out = run("check", "--preset", "clf").stdout.decode()
    assert "shape: clf" in out
    assert "variables (9): identity.sourceIp" in out
    assert "$context.requestTime" in out and "clf_time" in out and "clf_bracket" in out
    assert fastctx.compile(fastctx.preset("websocket", "clf")).dis() in out.replace("\n  ", "\n")


def test_template_errors_exit_2_without_traceback():
    proc = run("check", "--template", "$context.requestId $context.bogus", check_code=2)
    err = proc.stderr.decode()
    assert "$context.bogus" in err and "^" in err
    run("check", "--template", "$context.status", check_code=2)  # requestId is required
    run("check", check_code=2)  # no template at all
    run("check", "--preset", "nosuch", check_code=2)
    run("parse", "--preset", "clf", "/nonexistent/access.log", check_code=2)
    run("nosuchcommand", check_code=2)
    run("generate", "--preset", "clf", "--threads", "0", check_code=2)


def test_generate_pipe_parse_parquet_reads_back_in_polars(tmp_path):
    pl = pytest.importorskip("polars")
    pytest.importorskip("pyarrow")
    lines = run("generate", "--api", "websocket", "--preset", "clf", "-n", 200000).stdout
    assert lines.count(b"\n") == 200000
    out = tmp_path / "out.parquet"
    run("parse", "--preset", "clf", "-", "-o", out, input=lines)
    frame = pl.read_parquet(out)
    assert frame.height == 200000
    assert frame.schema["status"] == pl.Int64
    assert frame.schema["requestTime"] == pl.Datetime("ms", "UTC")
    assert frame.schema["requestId"] == pl.String
    assert frame.schema["identity.sourceIp"] == pl.String
    expected = fastctx.compile(fastctx.preset("websocket", "clf")).parse(lines)
    assert frame["requestId"].to_list()[:1000] == expected.to_pydict()["requestId"][:1000]


def test_generate_to_a_parquet_file_writes_events_and_to_csv_writes_lines(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "events.parquet"
    run("generate", "--preset", "clf", "-n", 50, "--seed", 3, "-o", out)
    assert pq.read_table(out).num_rows == 50
    csv_lines = tmp_path / "access.csv"  # CSV log lines: the extension does not choose events
    run("generate", "--preset", "csv", "-n", 50, "--seed", 3, "-o", csv_lines)
    assert csv_lines.read_bytes() == run("generate", "--preset", "csv", "-n", 50, "--seed", 3).stdout


def test_generate_is_seedable():
    a = run("generate", "--preset", "json", "-n", 300, "--seed", 5).stdout
    b = run("generate", "--preset", "json", "-n", 300, "--seed", 5).stdout
    c = run("generate", "--preset", "json", "-n", 300, "--seed", 6).stdout
    assert a == b != c
    for line in a.splitlines():
        json.loads(line)


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_generate_events_then_render_equals_generated_lines(tmp_path, kind):
    if kind == "parquet":
        pytest.importorskip("pyarrow")
    events = tmp_path / f"events.{kind}"
    run("generate", "--preset", "json", "-n", 500, "--seed", 2, "--format", kind, "-o", events)
    lines = run("generate", "--preset", "clf", "-n", 500, "--seed", 2).stdout
    assert run("render", "--preset", "clf", events).stdout == lines
    stdin = run("render", "--preset", "clf", "--from", kind, "-", input=events.read_bytes()).stdout
    assert stdin == lines


def test_parse_to_csv_and_jsonl(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\nr2 -\n")
    run("parse", "--template", TEMPLATE, log, "-o", tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_text() == "requestId,status\nr1,200\nr2,\n"
    out = run("parse", "--template", TEMPLATE, log).stdout.decode().splitlines()
    assert [json.loads(x) for x in out] == [{"requestId": "r1", "status": 200}, {"requestId": "r2", "status": None}]
    run("parse", "--template", TEMPLATE, log, "-o", tmp_path / "o.txt", check_code=2)  # unknown extension


def test_rejects_exit_codes_and_side_file(tmp_path):
    log = tmp_path / "mixed.log"
    log.write_bytes(b"r1 200\nbad x\nr2 201\nr3 \xff\xfe\n\nr4 1")
    proc = run("parse", "--template", TEMPLATE, log, "-o", tmp_path / "o.jsonl", check_code=1)
    assert b"line 2" in proc.stderr and b"--on-error" in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()  # no half-written output
    run("parse", "--template", TEMPLATE, log, "--on-error", "skip", "-o", tmp_path / "o.jsonl")
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3
    rejects = tmp_path / "rejects.txt"
    proc = run("parse", "--template", TEMPLATE, log, "--rejects", rejects, "-o", tmp_path / "o.jsonl")
    assert b"2 rejected" in proc.stderr and b"1 empty" in proc.stderr
    text = rejects.read_bytes().split(b"\n")
    assert text[0].startswith(b"#fastctx-reject") and b"line=2 " in text[0] and b"reason=" in text[0]
    assert text[1] == b"bad x"
    assert b"line=4 " in text[2] and text[3] == b"r3 \xff\xfe"  # verbatim, even invalid UTF-8
    run("parse", "--template", TEMPLATE, log, "--rejects", rejects, "--on-error", "raise", check_code=2)


def test_bad_input_files_are_clear_errors(tmp_path):
    lines = run("generate", "--template", TEMPLATE, "-n", 5000).stdout
    truncated = tmp_path / "t.log.gz"
    truncated.write_bytes(gzip.compress(lines)[:-40])
    proc = run("parse", "--template", TEMPLATE, truncated, "--on-error", "skip", check_code=1)
    assert b"truncated gzip" in proc.stderr
    payload = tmp_path / "lambda.json"
    payload.write_text(json.dumps({"awslogs": {"data": "not*base64"}}))
    proc = run("parse", "--template", TEMPLATE, payload, check_code=1)
    assert b"base64" in proc.stderr
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(5000)))
    run("parse", "--template", TEMPLATE, noise, check_code=1)
    proc = run("parse", "--template", TEMPLATE, noise, "--on-error", "collect", "--rejects", tmp_path / "r.txt")
    assert b"rejected" in proc.stderr and (tmp_path / "r.txt").stat().st_size > 0


def test_subscription_payload_from_stdin():
    doc = {"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
           "subscriptionFilters": [], "logEvents": [{"id": "1", "timestamp": 1720635321799, "message": "r9 204"}]}
    event = json.dumps({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()}})
    out = run("parse", "--template", TEMPLATE, "-", input=event.encode()).stdout
    assert json.loads(out) == {"requestId": "r9", "status": 204, "eventTimestamp": "2024-07-10T18:15:21.799Z"}


def test_convert_raw_json_to_escaped_json_and_clf_to_csv(tmp_path):
    raw = b'{"requestId":"r1","routeKey":"say "hi""}\n'  # as API Gateway writes it: broken JSON
    template = '{"requestId":"$context.requestId","routeKey":"$context.routeKey"}'
    out = run("convert", "--template", template, "--escape", "none", "--to-template", template,
              "--to-escape", "auto", "-", input=raw).stdout
    assert json.loads(out) == {"requestId": "r1", "routeKey": 'say "hi"'}
    clf = run("generate", "--preset", "clf", "-n", 50, "--seed", 1).stdout
    csv_out = run("convert", "--preset", "clf", "--to-preset", "csv", "-", input=clf).stdout
    batch = fastctx.compile(fastctx.preset("websocket", "clf")).parse(clf)
    assert csv_out == fastctx.compile(fastctx.preset("websocket", "csv")).render(batch)


def test_threads_option_gives_the_same_output(tmp_path):
    lines = run("generate", "--preset", "xml", "-n", 3000, "--seed", 9, "--threads", "1").stdout
    assert run("generate", "--preset", "xml", "-n", 3000, "--seed", 9, "--threads", "2").stdout == lines
    one = run("parse", "--preset", "xml", "--threads", "1", "-", input=lines).stdout
    assert run("parse", "--preset", "xml", "--threads", "2", "-", input=lines).stdout == one


def test_output_to_a_closed_pipe_is_quiet():
    proc = subprocess.run(
        f'"{sys.executable}" -m fastctx generate --preset clf -n 300000 | head -n 1',
        shell=True, capture_output=True, timeout=300)
    assert proc.stdout.count(b"\n") == 1
    assert b"Traceback" not in proc.stderr


def test_rejects_to_a_closed_pipe_fail_and_leave_no_output(tmp_path):
    # the rejected records are lost, so this is not the quiet stop of `| head` on the output
    log = tmp_path / "mixed.log"
    log.write_bytes(b"".join(b"r%d %d\n" % (i, i) if i % 2 else b"bad record %d x\n" % i
                             for i in range(100000)))
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        f'"{sys.executable}" -m fastctx parse --template \'{TEMPLATE}\' --on-error collect '
        f'--rejects - -o "{out}" "{log}" | head -c 100 >/dev/null; exit ${{PIPESTATUS[0]}}',
        shell=True, executable="/bin/bash", capture_output=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "fastctx: error: stdout was closed before every rejected record was written to it "
        "(--rejects -), so the output was not written either"]
    assert not out.exists() and os.listdir(tmp_path) == ["mixed.log"]


def test_bench_runs_a_small_table():
    out = run("bench", "render", "--rows", "300", "--repeat", "1", "--shapes", "csv", "--peers", "csv module",
              "--no-polars").stdout.decode()
    assert "fastctx" in out and "csv module" in out


def test_python_dash_m_and_console_script_agree():
    # the console script pyproject.toml declares, installed beside this interpreter
    script = shutil.which("fastctx", path=os.path.dirname(sys.executable)) or shutil.which("fastctx")
    assert script, "the fastctx console script is not installed"
    a = subprocess.run([script, "generate", "--preset", "csv", "-n", "20"], capture_output=True, check=True).stdout
    assert a == run("generate", "--preset", "csv", "-n", 20).stdout


def test_parquet_without_pyarrow_or_polars_is_a_clear_message(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"r1 200\n")
    script = (
        "import sys\n"
        "sys.modules['pyarrow'] = sys.modules['polars'] = None  # as if neither were installed\n"
        "from fastctx.cli import main\n"
        f"sys.exit(main(['parse', '--template', {TEMPLATE!r}, {str(log)!r}, '-o', {str(tmp_path / 'o.parquet')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert b"pip install pyarrow" in proc.stderr and b"Traceback" not in proc.stderr
    assert not (tmp_path / "o.parquet").exists()
    # and CSV still works without them
    script = script.replace("o.parquet", "o.csv")
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120).returncode == 0


def test_generated_times_increase_across_chunks():
    out = run("generate", "--template", "$context.requestId $context.requestTimeEpoch", "-n", 450000,
              "--missing", "0").stdout
    times = [int(line.rsplit(b" ", 1)[1]) for line in out.splitlines()]
    assert len(times) == 450000
    assert all(a <= b for a, b in zip(times, times[1:]))


def test_outputs_named_gz_are_gzip_compressed_and_read_back(tmp_path):
    # -o ending .gz: gzip, as a user naming the file expects (it was written as plain text)
    logs = tmp_path / "g.log.gz"
    run("generate", "--api", "websocket", "--preset", "clf", "-n", 500, "--seed", 4, "-o", logs)
    lines = gzip.decompress(logs.read_bytes())
    assert lines.count(b"\n") == 500
    assert lines == run("generate", "--api", "websocket", "--preset", "clf", "-n", 500,
                        "--seed", 4).stdout
    # the same command gives the same bytes (no name or time in the gzip header)
    again = tmp_path / "again.log.gz"
    run("generate", "--api", "websocket", "--preset", "clf", "-n", 500, "--seed", 4, "-o", again)
    assert again.read_bytes() == logs.read_bytes()
    for name in ("o.csv.gz", "o.jsonl.gz"):
        run("parse", "--preset", "clf", logs, "-o", tmp_path / name)
        text = gzip.decompress((tmp_path / name).read_bytes())
        plain = run("parse", "--preset", "clf", logs, "--to", name.split(".")[1]).stdout
        assert text == plain
        # and events read back from it render the same lines
        assert run("render", "--preset", "clf", tmp_path / name).stdout == lines
    run("render", "--preset", "clf", tmp_path / "o.jsonl.gz", "-o", tmp_path / "r.log.gz")
    assert gzip.decompress((tmp_path / "r.log.gz").read_bytes()) == lines
    # Parquet compresses its own pages
    proc = run("parse", "--preset", "clf", logs, "-o", tmp_path / "o.parquet.gz", check_code=2)
    assert b"name the output .parquet" in proc.stderr
    assert not (tmp_path / "o.parquet.gz").exists()
    # a cut gzip of events is a clear error
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes((tmp_path / "o.jsonl.gz").read_bytes()[:2000])
    proc = run("render", "--preset", "clf", cut, "-o", tmp_path / "x.log", check_code=1)
    assert b"cut.jsonl.gz" in proc.stderr and not (tmp_path / "x.log").exists()


def test_render_to_stdout_writes_the_lines_before_a_bad_event_then_fails(tmp_path):
    events = tmp_path / "e.jsonl"
    # a time past the year 9999 is found by the render, not by the reader
    events.write_text("".join(f'{{"requestId": "r{i}", "requestTime": {i}}}\n' for i in range(5))
                      + '{"requestId": "bad", "requestTime": 900000000000000000}\n'
                      + '{"requestId": "r6", "requestTime": 6}\n')
    template = "$context.requestId $context.requestTime"
    proc = run("render", "--template", template, events, check_code=1)
    assert proc.stdout == b"".join(f"r{i} 01/Jan/1970:00:00:00 +0000\n".encode() for i in range(5))
    assert b"event 6: epoch milliseconds 900000000000000000 is outside" in proc.stderr
    # into a file: nothing is left of a failed run
    out = tmp_path / "out.log"
    run("render", "--template", template, events, "-o", out, check_code=1)
    assert not out.exists()


def test_render_writes_a_nested_json_field_of_a_text_variable_as_its_json_text(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text('{"requestId": "r1", "routeKey": {"x": 1}}\n'
                      '{"requestId": "r2", "routeKey": [1, "a b"]}\n'
                      '{"requestId": "r3", "routeKey": "plain"}\n')
    out = run("render", "--escape", "none", "--template", "$context.requestId $context.routeKey",
              events).stdout
    assert out == b'r1 {"x": 1}\nr2 [1, "a b"]\nr3 plain\n'
