"""The benchmarks at tiny sizes, so they never rot: every shape, every peer, checked output.

Timing is not asserted here (performance lives in the benchmarks); what is asserted is that
every row is measured on equivalent output and that the scripts run.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastctx import bench

ROOT = Path(__file__).resolve().parent.parent
ROWS = 2000


def _available(library: str) -> bool:
    if library in ("python", "fastctx"):
        return True
    try:
        importlib.import_module(library)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module", params=bench.OPERATIONS)
def measured(request):
    operation = request.param
    return operation, bench.run(operation, rows=ROWS, repeat=1, verify=True)


def _peer_measured(results, shape):
    return any(r.shape == shape and not r.is_fastctx and r.threads == 1 and r.seconds and not r.error
               for r in results)


def test_every_shape_and_peer_has_a_checked_positive_row(measured):
    operation, results = measured
    by_key = {(r.shape, r.name): r for r in results}
    for shape in bench.SHAPES:
        # without any installed peer of a shape there is nothing to be a ratio of
        has_ratio = _peer_measured(results, shape)
        expected = [name for name, _ in bench.fastctx_cases(operation, bench.Workload(shape, ROWS))]
        expected += [peer.name for peer in bench.peers_for(operation, shape)]
        for name in expected:
            result = by_key.pop((shape, name))
            library = result.library
            if result.error and not _available(library):
                assert result.error.startswith("not available"), result.error
                continue
            assert result.error is None, (shape, name, result.error)
            assert result.lines == ROWS
            assert result.seconds > 0 and result.lines_per_s > 0 and result.mb_per_s > 0
            assert result.ratio > 0 if has_ratio else result.ratio is None
    assert not by_key, f"unexpected rows: {sorted(by_key)}"


def test_ratios_are_relative_to_the_fastest_one_thread_peer(measured):
    _, results = measured
    for shape in bench.SHAPES:
        peers = [r for r in results if r.shape == shape and not r.is_fastctx and r.seconds and not r.error]
        if not _peer_measured(results, shape):
            continue  # no peer of this shape installed; the row above checks ratio is None
        assert max(r.ratio for r in peers) == pytest.approx(1.0)
        fastest = max(r.lines_per_s for r in peers)
        for r in results:
            if r.shape == shape and r.seconds:
                assert r.ratio == pytest.approx(r.lines_per_s / fastest)


def test_fastctx_memory_is_measured(measured):
    operation, results = measured
    rows = [r for r in results if r.name == f"fastctx {operation} (auto)"]
    assert len(rows) == len(bench.SHAPES)
    assert all(r.memory is not None and r.memory > 0 for r in rows)


def test_table_lists_every_row_with_footnotes(measured):
    operation, results = measured
    text = bench.format_table(results)
    for r in results:
        assert r.name in text
    assert f"fastctx bench: {operation}, {ROWS:,} lines per shape" in text
    assert "Python " in text and "numpy " in text and "CPU " in text
    assert "[1] fastctx:" in text
    markdown = bench.format_table(results, markdown=True)
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == len(results) + 1  # the header and one row per result


def test_a_wrong_peer_output_is_caught():
    workload = bench.Workload("csv", 50)
    good = bench._render_csv_module(workload)()
    bench.verify_render(workload, good)
    lines = good.split(b"\n")
    lines[3] = lines[3].replace(b",", b";", 1)
    with pytest.raises(AssertionError):
        bench.verify_render(workload, b"\n".join(lines))
    with pytest.raises(AssertionError):
        bench.verify_render(workload, b"\n".join(good.split(b"\n")[1:]))


def test_a_peer_that_fails_is_a_row_with_its_error():
    workload = bench.Workload("json", 20)

    def broken():
        def run():
            raise RuntimeError("boom")

        return run

    result = bench._measure("render", workload, "broken", "python", broken, 1, 1, False)
    assert result.seconds is None and "boom" in result.error


def test_each_round_of_timed_calls_runs_in_its_own_order():
    # in a fixed order every call of an implementation follows the same one (say, a peer
    # that frees gigabytes); shuffled rounds give each a mix of predecessors
    workload = bench.Workload("csv", 20)
    calls = []

    def build(name):
        def make():
            def run():
                calls.append(name)
                return bench._render_csv_module(workload)()

            return run

        return make

    names = "abcdef"
    entries = [bench._Entry(bench.Result("render", "csv", name, "python", 1, 20), build(name))
               for name in names]
    bench._measure_entries("render", workload, entries, 5, False)
    timed = calls[len(names):]  # after the untimed first call of each
    rounds = [timed[k : k + len(names)] for k in range(0, len(timed), len(names))]
    assert len(rounds) == 5 and all(sorted(r) == list(names) for r in rounds)
    sequence = "".join(timed)
    for name in names:
        before = {sequence[k - 1] for k in range(1, len(sequence)) if sequence[k] == name}
        assert len(before) > 1, (name, rounds)


def _run(args, **env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=600)


def test_compare_script_prints_one_table_per_operation():
    proc = _run(["benchmarks/compare.py", "all", "--rows", "300", "--repeat", "1", "--shapes", "csv,clf",
                 "--no-polars", "--markdown"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("**fastctx bench: render") == 1
    assert proc.stdout.count("**fastctx bench: parse") == 1
    assert "| csv | csv module |" in proc.stdout
    assert "| clf | re per line |" in proc.stdout


def test_compare_script_runs_polars_on_one_thread():
    pytest.importorskip("polars")
    proc = _run(["benchmarks/compare.py", "render", "--rows", "300", "--repeat", "1", "--shapes", "json",
                 "--threads", "1,2"])
    assert proc.returncode == 0, proc.stderr
    found = re.findall(r"polars write_ndjson( \(2 threads\))?\s+(\d)\s+\d", proc.stdout)
    assert sorted(found) == [("", "1"), (" (2 threads)", "2")], proc.stdout


def test_compare_script_rejects_an_unknown_shape():
    proc = _run(["benchmarks/compare.py", "render", "--shapes", "yaml"])
    assert proc.returncode == 2
    assert "unknown shape 'yaml'" in proc.stderr


def test_pytest_benchmark_suite_runs_at_tiny_size():
    proc = _run(["-m", "pytest", "benchmarks", "-q", "--benchmark-disable", "-p", "no:cacheprovider"],
                FASTCTX_BENCH_ROWS=str(ROWS))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_threads_script_prints_ratios_and_the_memory_ceiling():
    proc = _run(["benchmarks/threads.py", "400", "1", "--threads", "2", "--shapes", "clf,csv",
                 "--ceiling", "--ceiling-mb", "2"])
    assert proc.returncode == 0, proc.stderr
    speeds = r"\s+[\d.]+ (?:GB|M)/s\s+[\d.]+ (?:GB|M)/s\s+[\d.]+x"
    probed = speeds + r"\s+[\d.]+x$"  # and the SHA-512 pairs timed beside them
    assert re.search(r"^copy into fresh memory" + probed, proc.stdout, re.M)
    assert re.search(r"^copy into reused memory" + probed, proc.stdout, re.M)
    assert re.search(r"^sha256 of a cached block" + probed, proc.stdout, re.M)
    assert re.search(r"^sha512 of a cached block" + speeds + "$", proc.stdout, re.M)
    cached = re.findall(r"^(render|parse), cached \(clf\)" + probed, proc.stdout, re.M)
    assert cached == ["render", "parse"]
    rows = re.findall(r"^(render|into|to|parse)\s+(clf|csv)" + probed, proc.stdout, re.M)
    assert sorted(rows) == [(op, shape) for op in ("into", "parse", "render", "to")
                            for shape in ("clf", "csv")]
    assert "halves" not in proc.stdout and "split" not in proc.stdout


def test_threads_script_times_independent_halves_on_request():
    # 401 rows: the halves are 200 and 201 rows, and the script checks that the halves rendered
    # and the shares of lines parsed add up to the whole
    proc = _run(["benchmarks/threads.py", "401", "1", "--threads", "2", "--shapes", "json",
                 "--halves"])
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"^(\w+)\s+json\s+[\d.]+ M/s\s+[\d.]+ M/s\s+[\d.]+x$", proc.stdout, re.M)
    assert rows == ["render", "into", "halves", "to", "parse", "split"]
