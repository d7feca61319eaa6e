"""Threaded parse and render against one thread: ``python benchmarks/threads.py [rows] [repeat]``.

``--ceiling`` first prints how far plain memory copies scale on the machine (into fresh and
into reused memory): every render and parse writes its output to fresh memory, so on a
machine where those copies scale poorly, so do they. Two lines hash a small buffer over and
over (hashlib releases the GIL), work with no memory traffic of two kinds. SHA-256 runs on
the CPU's SHA instructions where it has them: one chain of dependent steps that leaves most
of a core's execution units idle, so it scales even where two virtual cores share one
physical core's units (with each other or with other work). SHA-512 has no such
instructions and keeps the units busy, as the kernels do: it scales only as far as the
units are free for it. Two more lines render and
parse a small CLF slice per thread, again and again, text that stays in the cache: the
kernels' own scaling on the machine, with next to no memory traffic. With ``--ceiling``
every line also gets a ``sha512`` column: the median ratio of a short SHA-512 pair (one
thread, then two) timed just before each of its pairs, how far busy cores scaled at those
moments.

Prints, per WebSocket preset, the median lines/s on one thread and on all cores (or
``--threads``), and their ratio: ``render`` (a new ``bytes``), ``into`` (``render_into`` a
reused buffer), ``to`` (``render_to`` a file, ``os.devnull``, in chunks: no range is copied
into place) and ``parse``. ``--halves`` adds ``halves``: each thread renders an equal
slice of the rows into a reused buffer of its own, one thread per slice and nothing placed
or joined, the most a threaded ``render_into`` could gain on the machine, and ``split``: each
thread parses an equal share of the lines into a Batch of its own, nothing joined, the most
a threaded ``parse`` could gain. Data is built once with ``fastctx.generate`` outside the
timed calls; each speed is the median of ``repeat`` calls with the garbage collector off,
each ratio the median of the ``repeat`` interleaved pairs' ratios.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import fastctx
from fastctx import generate
from fastctx.parallel import split_lines


def median_times(one, many, repeat: int, probe=None) -> tuple[float, float, float, float | None]:
    """Median seconds of ``one()`` and ``many()``, the median of ``one / many`` over the
    pairs, and with ``probe`` (a ``Probe``) the median of its ratios, one timed just before
    each pair (else None). The calls are interleaved, one pair after another, so that a
    machine shared with other work slows both alike; on such a machine the median pair ratio
    holds steadier than the ratio of the medians, whose halves may come from different
    minutes."""
    times, probed = ([], []), []
    gc.disable()
    try:
        for _ in range(repeat):
            if probe is not None:
                probed.append(probe.ratio())
            for fn, out in ((one, times[0]), (many, times[1])):
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
    finally:
        gc.enable()
    ratio = statistics.median(a / b for a, b in zip(*times))
    probed = statistics.median(probed) if probed else None
    return statistics.median(times[0]), statistics.median(times[1]), ratio, probed


_BLOCK = bytes(range(256)) * 256  # 64 KiB: stays in the core's cache


def hash_rounds(count: int, name: str = "sha256") -> None:
    """Hash ``_BLOCK`` ``count`` times: work with no memory traffic (the GIL is released)."""
    new = getattr(hashlib, name)
    for _ in range(count):
        new(_BLOCK).digest()


class Probe:
    """A short SHA-512 pair, one thread then ``threads``, of about ``seconds`` on one thread:
    how far busy cores scale at the moment it runs."""

    def __init__(self, pool, threads: int, seconds: float = 0.02):
        self.pool, self.threads = pool, threads
        start = time.perf_counter()
        hash_rounds(64, "sha512")
        per_round = (time.perf_counter() - start) / 64
        self.rounds = max(threads, int(seconds / per_round)) // threads * threads

    def ratio(self) -> float:
        start = time.perf_counter()
        hash_rounds(self.rounds, "sha512")
        one = time.perf_counter() - start
        share = [self.rounds // self.threads] * self.threads
        start = time.perf_counter()
        list(self.pool.map(hash_rounds, share, ["sha512"] * self.threads))
        return one / (time.perf_counter() - start)


def _line(name: str, one: str, many: str, ratio: float, probed: float | None) -> str:
    text = f"{name:<26}{one:>14}{many:>14}{ratio:>7.2f}x"
    return text if probed is None else f"{text}{probed:>7.2f}x"


def memory_ceiling(threads: int, pool, probe, nbytes: int = 200_000_000, repeat: int = 5) -> None:
    """How far plain memory copies scale on this machine: a render or parse writes its whole
    output to fresh memory (page faults and zeroing included), which bounds its speed-up.
    Then, for comparison, work that touches no memory: SHA-256 and SHA-512 of one 64 KiB
    buffer, again and again (``nbytes / 4`` bytes hashed in all)."""
    import numpy as np

    src = np.ones(nbytes, dtype=np.uint8)
    warm = np.zeros(nbytes, dtype=np.uint8)
    cuts = [nbytes * k // threads for k in range(threads + 1)]
    parts = [(src[lo:hi], warm[lo:hi]) for lo, hi in zip(cuts[:-1], cuts[1:])]

    def fresh(a):
        out = np.empty_like(a)
        out[:] = a

    def into(pair):
        pair[1][:] = pair[0]

    rounds = max(nbytes // 4 // len(_BLOCK), threads)
    share = [rounds // threads] * threads
    for name, one, many in (
        ("copy into fresh memory", lambda: fresh(src), lambda: list(pool.map(fresh, [p[0] for p in parts]))),
        ("copy into reused memory", lambda: into((src, warm)), lambda: list(pool.map(into, parts))),
        ("sha256 of a cached block", lambda: hash_rounds(rounds),
         lambda: list(pool.map(hash_rounds, share))),
        ("sha512 of a cached block", lambda: hash_rounds(rounds, "sha512"),
         lambda: list(pool.map(hash_rounds, share, ["sha512"] * threads))),
    ):
        hashes = name.startswith("sha")
        a, b, ratio, probed = median_times(one, many, repeat, None if "512" in name else probe)
        done = rounds * len(_BLOCK) if hashes else nbytes
        print(_line(name, f"{done / a / 1e9:.1f} GB/s", f"{done / b / 1e9:.1f} GB/s", ratio, probed))


def cached_ceiling(threads: int, pool, probe, repeat: int, rows: int = 8_000,
                   total: int = 1_000_000) -> None:
    """How far the kernels themselves scale, memory aside: each thread renders (or parses) a
    slice of ``rows`` CLF rows of its own, about 1.3 MB of text that stays in the cache,
    again and again, ``total`` rows in all: the cores' scaling for this code, the most a
    threaded render or parse of a large batch could reach. (A parse call spends about 50 us
    holding the GIL, which two threads take in turn: 2% of a call here, 20% at 2,000 rows.)"""
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch = generate.events(fmt, rows * threads, seed=1)
    slices = [batch.slice(rows * k, rows * (k + 1)) for k in range(threads)]
    texts = [fmt.render(part, threads=1) for part in slices]
    buffers = [bytearray(2 * len(text)) for text in texts]
    rounds = max(total // rows, threads)
    calls = {
        "render": lambda index: fmt.render_into(slices[index], buffers[index], threads=1),
        "parse": lambda index: fmt.parse(texts[index], threads=1),
    }
    for name, call in calls.items():
        def run(index, count, call=call):
            for _ in range(count):
                call(index)

        one = lambda: run(0, rounds)  # noqa: E731
        many = lambda: list(pool.map(run, range(threads), [rounds // threads] * threads))  # noqa: E731
        many()  # warm up: the buffers and the pool's threads
        a, b, ratio, probed = median_times(one, many, repeat, probe)
        done = rounds * rows
        print(_line(f"{name}, cached (clf)", f"{done / a / 1e6:.2f} M/s", f"{done / b / 1e6:.2f} M/s",
                    ratio, probed))


def independent_slices(fmt, batch, nbytes: int, threads: int):
    """``call(t)``: ``t`` threads each ``render_into`` an equal slice of ``batch`` into a
    reused buffer of its own (``t == 1``: the whole batch into one)."""
    pool = ThreadPoolExecutor(threads)
    plans = {}
    for count in {1, threads}:
        cuts = [batch.num_rows * k // count for k in range(count + 1)]
        plans[count] = [(batch.slice(lo, hi), bytearray(nbytes + (1 << 20)))
                        for lo, hi in zip(cuts[:-1], cuts[1:])]

    def call(count):
        written = sum(pool.map(lambda part: fmt.render_into(*part, threads=1), plans[count]))
        assert written == nbytes, (written, nbytes)  # every row rendered, none twice
        return written

    return call


def independent_parses(fmt, data: bytes, rows: int, threads: int):
    """``call(t)``: ``t`` threads each ``parse`` an equal share of ``data``'s lines (cut
    just after a newline) into a Batch of its own, nothing joined (``t == 1``: the whole)."""
    pool = ThreadPoolExecutor(threads)
    view = memoryview(data)
    plans = {}
    for count in {1, threads}:
        cuts = split_lines(data, count)
        plans[count] = [view[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:])]

    def call(count):
        parsed = sum(pool.map(lambda part: fmt.parse(part, threads=1).num_rows, plans[count]))
        assert parsed == rows, (parsed, rows)  # every line parsed, none twice
        return parsed

    return call


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("repeat", nargs="?", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shapes", default="clf,json,xml,csv")
    parser.add_argument("--ceiling", action="store_true",
                        help="first print how far plain memory copies (and work with no memory "
                             "traffic) scale on this machine")
    parser.add_argument("--ceiling-mb", type=int, default=200, help="bytes copied for --ceiling (MB)")
    parser.add_argument("--halves", action="store_true",
                        help="also time independent slices rendered into buffers of their own, and "
                             "independent shares of the lines parsed into Batches of their own")
    args = parser.parse_args(argv)
    print(f"fastctx {fastctx.__version__}, {args.rows:,} rows, median of {args.repeat}, "
          f"{args.threads} threads vs 1, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    pool = ThreadPoolExecutor(args.threads)
    sink = open(os.devnull, "wb")  # render_to's file: the writes cost next to nothing
    probe = Probe(pool, args.threads) if args.ceiling else None
    extra = f"{'sha512':>8}" if probe else ""
    if args.ceiling:
        print(f"{'memory':<26}{'1 thread':>14}{f'{args.threads} threads':>14}{'ratio':>8}{extra}")
        memory_ceiling(args.threads, pool, probe, args.ceiling_mb * 1_000_000, args.repeat)
        cached_ceiling(args.threads, pool, probe, args.repeat, total=args.rows)
    print(f"{'operation shape':<26}{'1 thread':>14}{f'{args.threads} threads':>14}{'ratio':>8}{extra}")
    for shape in args.shapes.split(","):
        fmt = fastctx.compile(fastctx.preset("websocket", shape))
        batch = generate.events(fmt, args.rows, seed=1)
        data = fmt.render(batch, threads=1)
        buffer = bytearray(len(data) + (1 << 20))  # touched once, reused by every call
        operations = [("render", lambda t: fmt.render(batch, threads=t)),
                      ("into", lambda t: fmt.render_into(batch, buffer, threads=t)),
                      ("to", lambda t: fmt.render_to(batch, sink, threads=t)),
                      ("parse", lambda t: fmt.parse(data, threads=t))]
        if args.halves:
            operations.insert(2, ("halves", independent_slices(fmt, batch, len(data), args.threads)))
            operations.append(("split", independent_parses(fmt, data, args.rows, args.threads)))
        for operation, call in operations:
            call(args.threads)  # warm up: thread pool, first-touch of memory
            one, many, ratio, probed = median_times(lambda: call(1), lambda: call(args.threads),
                                                    args.repeat, probe)
            print(_line(f"{operation:<10}{shape}", f"{args.rows / one / 1e6:.2f} M/s",
                        f"{args.rows / many / 1e6:.2f} M/s", ratio, probed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
