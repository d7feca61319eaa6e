"""Shared data for the pytest-benchmark suite: built once per session, outside timed calls.

    python -m pytest benchmarks --benchmark-enable                 # 1,000,000 rows per shape
    FASTCTX_BENCH_ROWS=2000 python -m pytest benchmarks -q         # a quick run, timing off

Environment: ``FASTCTX_BENCH_ROWS`` (rows per shape, default 1,000,000) and
``FASTCTX_BENCH_ROUNDS`` (timed rounds per benchmark, default 3, after one warm-up round).
Every peer runs on one thread: polars reads ``POLARS_MAX_THREADS`` once, at import, so it
is set here before anything imports polars; pyarrow's pools are set to one thread.
"""

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import pytest  # noqa: E402

from fastctx import bench  # noqa: E402

ROWS = int(os.environ.get("FASTCTX_BENCH_ROWS", bench.DEFAULT_ROWS))
ROUNDS = int(os.environ.get("FASTCTX_BENCH_ROUNDS", "3"))
#: Up to this many rows every output is also checked line by line (too slow beyond).
VERIFY_ROWS = 20_000


@pytest.fixture(scope="session")
def workloads():
    """``{shape: Workload}``, each built lazily on first use and cleaned up at the end."""
    made = {shape: bench.Workload(shape, ROWS) for shape in bench.SHAPES}
    yield made
    for workload in made.values():
        workload.close()


@pytest.fixture(scope="session", autouse=True)
def one_thread_pyarrow():
    previous = bench._set_pyarrow_threads(1)
    yield
    bench._restore_pyarrow_threads(previous)


@pytest.fixture
def measure(benchmark):
    """``measure(group, fn)``: time ``fn`` in ``group``; returns its result."""

    def run(group, fn):
        benchmark.group = group
        benchmark.extra_info["rows"] = ROWS
        return benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)

    return run
