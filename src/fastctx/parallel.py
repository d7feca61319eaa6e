"""All cores: threaded parse and render over line-aligned chunks, results in input order.

The kernels release the GIL, so plain threads run them in parallel; this module only decides
where to cut the work and how to put the pieces back together.

Parse
    The input is cut into pieces of about ``PARSE_PIECE`` bytes, each ending just after a
    ``\\n``, and the pieces into one lane per thread. A thread parses its lane's pieces in
    order into one chunk, taking the next piece when the kernel reaches the end of the last
    (``Parser.parse_chunk`` with ``more``). A thread whose lane is done takes the back half of
    the pieces not yet taken of the lane with most of them, as a lane of its own. With one
    chunk per thread, the faster thread sat idle while the slower one finished: on this VM
    one of the two cores often runs slower than the other for a while. Measured, 1M CLF
    lines, 2 threads, two runs of 20 and 16 calls: the two threads ended 0.2-63 ms apart
    with one chunk each, more than 10% of the call in 3 of 20 and 10 of 16 calls; with
    lanes 0.1-3.3 ms apart, never more than 10%.

    In ``auto`` CSV a quoted field may hold a newline and a record ends at the first newline
    outside quotes, which only a pass from the start of the input can tell. Inside a lane the
    kernel handles it: a record that runs past a piece's end is parsed again with the next
    piece. Lanes start at newlines anyway and the parser checks them: it reads a lane exactly
    as it would read that stretch of the whole input, as long as the lane starts at a record
    boundary, and it reports whether the lane's last record ended at the lane's final
    newline. If every lane but the last did, every lane started at a record boundary (by
    induction from the first); if one did not (a quoted field held the newline there) or a
    lane raised, the input is parsed again on one thread. That second parse happens only
    when a value with a newline straddles the start of a lane.
    The calling thread parses the first lane, the pool the others (measured, 2 threads, 1M
    rows, same-process A/B, two runs: CLF 1.50 -> 1.71x and 1.61 -> 1.71x, XML 1.29 -> 1.50x
    and 1.77 -> 1.78x, CSV and JSON within 0.06x either way).
    Each lane gets its global byte offset; line numbers of later lanes are shifted by the
    lines before them. With ``on_error="raise"`` the error raised is the first bad record in
    input order, with its global line number; no lane after a failed one takes a piece.

Render
    Rows are cut into small ranges rendered by a pool of threads, handed out in order. The
    output is one ``bytes`` object allocated uninitialised at the renderer's estimate of the
    output size and shrunk to size in place through the C API, so there is neither a second
    full copy nor an upper-bound reservation. A range's place in the output is known once
    every range before it is rendered. Until then the kernel renders the range into the
    thread's scratch buffer, and it looks again every 256 rows: once the place is known it
    copies what it has (streaming stores) and renders the rest straight into the output
    (``Renderer.render_placed``). With two threads each range starts while the one before
    it is being rendered, so when a range went to scratch whole unless its place was known
    at its start, nearly all did (111 to 122 of 123 for 1M CLF rows); now about half of the
    bytes do, the least any order allows while one of two threads always renders ahead of
    the other. A range done in scratch before its place is known takes on the next range if
    no thread has taken it (once; the scratch holds about two ranges), and otherwise waits
    for the place and copies. The columns are bound once per round (``Renderer.bind``),
    not once per range, and the calling thread renders ranges too.

    Measured, 1M rows, 2 threads, same-process A/B runs on a busy machine, speed-up over
    one thread. Whole ranges -> switching and bound once: ``render`` CLF 1.37 -> 1.42x, JSON
    1.35 -> 1.58x, XML 1.42 -> 1.70x, CSV 1.57 -> 1.62x; ``render_into`` 1.33 -> 1.46x,
    1.29 -> 1.61x, 1.20 -> 1.51x, 1.62 -> 1.54x. Taking on the next range replaced parking
    (a range done in scratch was left for any thread to copy, and its thread went on): the
    same speed (``render_into`` 1.64, 1.68, 1.66, 1.54x against 1.64, 1.61, 1.66, 1.58x)
    with a simpler round. Skipping the copy altogether (wrong output, to measure it) gave
    1.80, 1.83, 1.77, 1.71x where the copy gave 1.67, 1.57, 1.55, 1.45x; streaming stores
    brought that to 1.71, 1.73, 1.61, 1.53x.

    When the estimate falls short and a range does not fit, no further range is handed out;
    once the pool is idle the output grows in place and the ranges resume from the first one
    not placed. ``render_into`` runs the same rounds into the caller's buffer, which never
    grows: the range that does not fit is finished by one thread, as far as it fits.

    ``render_to`` needs no contiguous output: each range is rendered into a buffer of its own
    and written once the ranges before it are, so nothing is copied (see ``render_to``).

Threads
    Every call runs on one pool of worker threads for the process (``_Calls``), kept between
    calls and replaced by a larger one when a call asks for more threads.
"""

from __future__ import annotations

import ctypes
import operator
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from . import _memory, _render
from .batch import Batch
from .errors import ParseError, RenderError
from .program import Esc, Program

__all__ = ["default_threads", "resolve_threads", "parse", "render", "render_into", "render_to",
           "split_lines",
           "needs_quote_tracking", "count_lines",
           "render_bound", "render_cuts"]

#: Below this many input bytes per thread a parse runs on one thread (handing out the chunks
#: and the join cost more than they save).
MIN_PARSE_CHUNK = 1 << 20
#: Bytes per piece of a threaded parse (see ``parse``), and the most pieces.
PARSE_PIECE = 2 << 20
MAX_PIECES = 4096
#: The most threads a call takes (a thread pool larger than this is a mistake, not a plan).
MAX_THREADS = 4096
#: Below this many rows per thread a render runs on one thread.
MIN_RENDER_ROWS = 20_000
#: Rows per render range (about 1-2 MB of output for the presets).
RENDER_RANGE_ROWS = 8192
#: Fewest rows per render range when a small render is cut finer (see ``render_cuts``).
MIN_RANGE_ROWS = 1024

_NEWLINE = 0x0A


def default_threads() -> int:
    """All cores: ``os.cpu_count()`` (1 if unknown)."""
    return os.cpu_count() or 1


def as_integer(value):
    """``value`` as an int if it is an integer (a numpy one too, never a bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def resolve_threads(threads) -> int:
    """``None`` -> all cores; otherwise an integer (a numpy one too) from 1 to ``MAX_THREADS``."""
    if threads is None:
        return default_threads()
    count = as_integer(threads)
    if count is None or not 1 <= count <= MAX_THREADS:
        raise ValueError(f"threads must be an integer from 1 to {MAX_THREADS} or None, got {threads!r}")
    return count


def needs_quote_tracking(program: Program) -> bool:
    """True when a record may hold a newline inside a quoted field (``auto`` CSV)."""
    return any(slot.esc == Esc.CSV for slot in program.slots)


# -- cutting input at record boundaries -------------------------------------------------------


def _as_array(data) -> np.ndarray:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return np.frombuffer(data, dtype=np.uint8)


def count_byte(array: np.ndarray, byte: int, start: int = 0, stop: int | None = None,
               block: int = 1 << 22) -> int:
    """How many ``byte`` are in ``array[start:stop]``, counted in blocks (bounded scratch)."""
    stop = len(array) if stop is None else stop
    total = 0
    scratch = np.empty(min(block, max(stop - start, 0)), dtype=bool)
    for lo in range(start, stop, block):
        hi = min(lo + block, stop)
        mask = scratch[: hi - lo]
        np.equal(array[lo:hi], byte, out=mask)
        total += int(np.count_nonzero(mask))
    return total


def _next_newline(array: np.ndarray, pos: int) -> int:
    """Index just past the first ``\\n`` at or after ``pos`` (len(array) if none)."""
    n = len(array)
    # A window about a few records long first, growing: a parse cuts its input at dozens of
    # places (a 64 KiB window each took 1.8 ms for the 76 cuts of 1M CLF lines).
    step = 512
    while pos < n:
        hits = np.flatnonzero(array[pos : pos + step] == _NEWLINE)
        if len(hits):
            return pos + int(hits[0]) + 1
        pos += step
        step = min(2 * step, 1 << 16)
    return n


def split_lines(data, parts: int) -> list[int]:
    """Cut points ``[0, c1, ..., len]`` for up to ``parts`` chunks, each ending after a newline."""
    array = _as_array(data)
    n = len(array)
    if parts <= 1 or n == 0:
        return [0, n]
    cuts = [0]
    for k in range(1, parts):
        cut = _next_newline(array, max(n * k // parts, cuts[-1]))
        if cut >= n:
            break
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(n)
    return cuts


def count_lines(array: np.ndarray, start: int, stop: int) -> int:
    """Newlines in ``array[start:stop]``: the line count of whole records there."""
    return count_byte(array, _NEWLINE, start, stop)


# -- worker threads ---------------------------------------------------------------------------
# One pool for the process, kept between calls. A pool per call cost more than its start-up: a
# thread that exits hands its malloc arena back to the system (glibc's MADV_DONTNEED on it), so
# every threaded parse faulted its small column buffers in again.

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: the parent's threads do not exist there."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class _Calls:
    """The work one call hands to the shared pool, as ``with ThreadPoolExecutor(n) as pool``
    would: leaving the block waits for every piece (after cancelling those not started, if the
    block raised), so no thread still writes to the call's buffers after it returns."""

    def __init__(self, threads: int):
        global _pool, _pool_size
        with _pool_lock:
            if _pool is None or _pool_size < threads:
                # A larger pool replaces it. The old one is not shut down: a call on another
                # thread may still submit to it; its threads exit once nothing refers to it.
                _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fastctx")
                _pool_size = threads
            self._executor = _pool
        # Only the pieces not done yet: a reader submits one per batch for a whole file, and a
        # done future holds its result (the batch) until it is dropped.
        self._pending = set()

    def submit(self, fn, *args):
        future = self._executor.submit(fn, *args)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        pending = list(self._pending)
        if kind is not None:
            for future in pending:
                future.cancel()
        # Uninterruptible: a second Ctrl-C must not end the wait while a thread still writes
        # to a buffer the caller frees next (a render's output). It is raised after the wait,
        # unless an exception is already on its way out.
        interrupted = None
        while True:
            try:
                wait(pending)
                break
            except BaseException as exc:
                interrupted = interrupted or exc
        if interrupted is not None and kind is None:
            raise interrupted
        return False


# -- parse ------------------------------------------------------------------------------------


def _parse_one(parser, view, on_error, line_base, offset_base) -> Batch:
    """The one-thread parse a threaded CSV parse falls back to when a cut was not a record
    boundary."""
    return parser.parse(view, on_error, line_base, offset_base)


class _Lane:
    """Consecutive pieces ``[start, end)`` of a threaded parse, parsed in order into one chunk
    (``Parser.parse_chunk`` with ``more``); ``taken`` pieces so far. Another thread may take
    the lane's back half (``end`` shrinks) while it runs."""

    __slots__ = ("start", "end", "taken", "chunk", "error")

    def __init__(self, start: int, end: int):
        self.start, self.end, self.taken = start, end, 1  # the first piece is its own at once
        self.chunk = self.error = None

    def untaken(self) -> int:
        """Pieces of the lane not taken yet (another thread may take their back half)."""
        return self.end - self.start - self.taken


def parse(parser, program: Program, data, on_error: str = "raise", threads=None,
          line_base: int = 1, offset_base: int = 0) -> Batch:
    """Parse ``data`` on ``threads`` threads with ``parser`` (a ``_parse.Parser``).

    The result equals ``parser.parse(data, on_error, line_base, offset_base)``: the same
    columns, summed stats, rejects in input order with global line numbers and offsets.
    """
    threads = resolve_threads(threads)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    view = memoryview(data)
    if not view.c_contiguous:  # a strided view: the kernel reads contiguous bytes
        view = memoryview(view.tobytes())
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    array = np.frombuffer(view, dtype=np.uint8)
    size = view.nbytes
    parts = min(threads, size // MIN_PARSE_CHUNK)
    if parts <= 1:
        return parser.parse(view, on_error, line_base, offset_base)
    quotes = needs_quote_tracking(program)
    cuts = split_lines(array, max(parts, min(size // PARSE_PIECE, MAX_PIECES)))
    npieces = len(cuts) - 1
    if npieces < 2:
        return parser.parse(view, on_error, line_base, offset_base)
    parts = min(parts, npieces)
    lanes = [_Lane(npieces * k // parts, npieces * (k + 1) // parts) for k in range(parts)]
    lock = threading.Lock()
    state = {"failed": npieces, "stop": False}  # the first failing lane's start, in pieces

    def more(lane):
        """The next end of ``lane``'s data, or None: its pieces are done (or need not be)."""
        def next_end(_parsed):
            with lock:
                if not lane.untaken() or state["stop"] or lane.start > state["failed"]:
                    return None
                lane.taken += 1
                return cuts[lane.start + lane.taken] - cuts[lane.start]
        return next_end

    def run(lane):
        lo = cuts[lane.start]
        try:
            # The data runs to the lane's end as it was made; the lane may end sooner. The first
            # lane's buffers are sized for the whole input: the join appends the others
            # without growing them. Line numbers of later lanes are fixed up below.
            lane.chunk = parser.parse_chunk(
                view[lo : cuts[lane.end]], on_error, line_base if lane.start == 0 else 1,
                offset_base + lo, size if lane.start == 0 else 0,
                end=cuts[lane.start + 1] - lo, more=more(lane), last=lane.end == npieces)
        except Exception as exc:
            lane.error = exc
        with lock:
            lane.end = lane.start + lane.taken  # what it parsed (all of it, unless it stopped)
            if lane.error is not None:
                state["failed"] = min(state["failed"], lane.start)

    def steal():
        """A new lane of the back half of the pieces not yet taken of the lane with most of
        them, or None."""
        with lock:
            if state["stop"]:
                return None
            left = [lane for lane in lanes if lane.untaken() and lane.start < state["failed"]]
            if not left:
                return None
            victim = max(left, key=_Lane.untaken)
            cut = victim.end - (victim.untaken() + 1) // 2
            lane = _Lane(cut, victim.end)
            victim.end = cut
            lanes.append(lane)
            return lane

    def worker(lane):
        while lane is not None:
            run(lane)
            lane = steal()

    with _Calls(parts) as pool:
        try:
            # The calling thread parses the first lane itself, which starts at once instead of
            # after a worker wakes up, and which the join copies nothing of.
            futures = [pool.submit(worker, lane) for lane in lanes[1:]]
            worker(lanes[0])
            for future in futures:
                future.result()
        except BaseException:
            with lock:
                state["stop"] = True  # an interrupt: no lane takes another piece
            raise
        lanes.sort(key=lambda lane: lane.start)
        failed = next((lane for lane in lanes if lane.error is not None), None)
        if failed is not None:
            exc = failed.error
            if quotes and isinstance(exc, ParseError):
                # the error may come from a cut inside a quoted field: one thread decides
                return _parse_one(parser, view, on_error, line_base, offset_base)
            if failed.start == 0 or not isinstance(exc, ParseError):
                raise exc
            # Parse the failing lane again with its true line base, so the error names the
            # global line (errors are rare; this costs one lane, not a counting pass).
            lo, hi = cuts[failed.start], cuts[failed.end]
            base = line_base + count_lines(array, 0, lo)
            parser.parse(view[lo:hi], on_error, base, offset_base + lo)
            raise exc  # not reached unless the kernel disagrees with itself
        if ([lane.start for lane in lanes] != [0] + [lane.end for lane in lanes[:-1]]
                or lanes[-1].end != npieces):
            raise RuntimeError("a threaded parse lost a piece of its input")  # a bug, never data
        results = [lane.chunk for lane in lanes]
        if quotes and any(chunk.tail_open for chunk in results[:-1]):
            return _parse_one(parser, view, on_error, line_base, offset_base)
        # Later lanes were parsed with line_base=1: shift their rejects by the lines before
        # them (physical lines, as the parser counts them; counted only when there are rejects).
        base, counted = line_base, 0
        for lane in lanes[1:]:
            if lane.chunk.rejects:
                base += count_lines(array, counted, cuts[lane.start])
                counted = cuts[lane.start]
                for reject in lane.chunk.rejects:
                    reject.line += base - 1
        # the later lanes are appended to the first one's buffers, one copy of each. It is
        # the whole gap to independent halves (about 6 of 63 ms for 1M CLF lines on two
        # threads); copying each piece into place while it is still cached cost more CPU
        # per byte than this copy from memory, so contiguous columns keep the join.
        return parser.join(results, pool.submit)


# -- render -----------------------------------------------------------------------------------

# Worst-case output bytes per input byte of a string value, per escape method: \\u00XX (JSON
# controls) and &quot; (XML) take 6, \\xHH (CLF) 4, CSV doubles quotes.
_EXPANSION = {
    Esc.NONE: 1, Esc.JSON_STR: 6, Esc.JSON_BARE: 6, Esc.XML: 6, Esc.CSV: 2,
    Esc.CLF_QUOTED: 4, Esc.CLF_BRACKET: 4, Esc.CLF_BARE: 4, Esc.CLF_QUOTED_TOKEN: 4,
}
# Worst case of a value that is not string bytes: an int64 (20 characters), a CLF time (26),
# `null`, plus the quotes a QUOTED slot, a JSON_BARE string or a CSV field adds.
_FIXED_PER_SLOT = 32


def render_bound(program: Program, columns, start: int, stop: int) -> int:
    """An upper bound on the bytes rows ``[start, stop)`` render to.

    A threaded render that outgrows its estimate grows its output to hold at least the next
    range's bound, so that every round places a range.
    """
    rows = stop - start
    literal = len(program.pool) + 1  # every literal once, plus the newline
    bound = rows * (literal + _FIXED_PER_SLOT * len(program.slots))
    for slot in program.slots:
        column = columns[slot.column]
        if column is not None and column.kind == "string":
            nbytes = int(column.values[stop] - column.values[start])
            bound += nbytes * _EXPANSION[slot.esc]
    return bound


class _Output:
    """An uninitialised ``bytes`` of a given capacity, writable until ``finish`` shrinks it.

    The threads write straight into the result (``_memory.OutputBytes``, the same output
    ``render`` builds, pooled from 4 MiB), which saves the join's second full copy of the
    output. Measured, 2 threads, 1M CLF lines (160 MB): rendering two halves to bytes and
    joining them took 241 ms of CPU and 478 ms wall (median of 7, a shared and busy
    machine); in place, 142 ms of CPU and 284 ms wall.
    """

    def __init__(self, capacity: int):
        self._out = _memory.OutputBytes(capacity)
        self._map()

    def _map(self) -> None:
        address, capacity = self._out.address, self._out.capacity
        self.capacity = capacity
        self._raw = (ctypes.c_char * capacity).from_address(address)
        if self._out.fresh:
            # huge pages if warm; otherwise the rendering threads fault the pages in parallel
            _render.prepare_output(address, capacity, populate=False)
        self.array = np.frombuffer(self._raw, dtype=np.uint8)
        self.view = memoryview(self.array)

    def _unmap(self) -> None:
        if self.view is not None:
            self.view.release()
        self.view = self.array = self._raw = None

    def grow(self, capacity: int) -> None:
        """Resize to ``capacity`` bytes keeping the contents; no other thread may hold
        ``array`` or ``view``, which are replaced (the output may move). A large output is
        moved by remapping its pages, not copied, so memory never holds it twice."""
        self._unmap()
        self._out.grow(capacity)
        self._map()

    def finish(self, size: int) -> bytes:
        self._unmap()
        result = self._out.finish(size)
        _render.output_done()
        return result

    def discard(self) -> None:
        self._unmap()
        self._out.discard()


def render_cuts(num_rows: int, threads: int) -> list[int]:
    """Row cut points ``[0, ..., num_rows]`` of the ranges a threaded render hands out.

    Ranges hold ``RENDER_RANGE_ROWS`` rows, fewer in a small render so that there are about
    ``32 * threads`` of them: each thread's scratch holds about two ranges, so the scratch
    stays near ``1/16`` of the output (``64 * threads`` ranges would halve it; 200,000 CLF
    rows then rendered 11% slower).
    """
    floor = min(RENDER_RANGE_ROWS, MIN_RANGE_ROWS)
    rows = max(floor, min(RENDER_RANGE_ROWS, num_rows // (32 * threads)))
    nranges = max(2, -(-num_rows // rows))
    return [num_rows * k // nranges for k in range(nranges + 1)]


def render(renderer, program: Program, columns, num_rows: int, threads=None) -> tuple[bytes, int]:
    """Render rows ``[0, num_rows)`` on ``threads`` threads: ``(lines, dropped)``.

    The result equals ``renderer.render(columns, 0, num_rows)``, errors included (the first
    failing row in input order). The output is reserved from ``renderer.estimate`` (exact
    literal and string bytes, a sampled rest, 0.5% padding), so a render allocates about its
    output size. The estimate is not a bound: when a range does not fit, no further range is
    handed out, the pool drains, the output grows in place and the ranges resume from the
    first one not placed.
    """
    threads = resolve_threads(threads)
    if threads == 1 or num_rows < 2 * MIN_RENDER_ROWS:
        return renderer.render(columns, 0, num_rows)
    cuts = render_cuts(num_rows, threads)
    nranges = len(cuts) - 1
    try:
        # Virtual until written: only the pages the output fills are ever touched.
        output = _Output(max(int(renderer.estimate(columns, 0, num_rows)), 1))
    except MemoryError:  # no address space for the output (a small 32-bit or commit-limited host)
        return renderer.render(columns, 0, num_rows)
    offsets, dropped, scratch = _placement(cuts, output.capacity)
    first = 0  # the first range not placed
    try:
        with _Calls(threads) as pool:
            while True:
                first = _render_round(renderer, columns, cuts, first, output, offsets, dropped,
                                      pool, threads, scratch)
                if first == nranges:
                    break
                # Full: no thread is writing now. Grow in place to what is placed plus the
                # rest's estimate (or the rate of the records placed so far, if higher) +2%,
                # and never less than the next range's true bound, so that every round places
                # at least one range.
                placed, rest = offsets[first], num_rows - cuts[first]
                guess = int(renderer.estimate(columns, cuts[first], num_rows))
                if cuts[first]:
                    guess = max(guess, placed * rest // cuts[first])
                bound = render_bound(program, columns, cuts[first], cuts[first + 1])
                output.grow(max(placed + guess + guess // 50 + 4096, placed + bound,
                                output.capacity + 1))
        return output.finish(offsets[nranges]), sum(dropped)
    finally:
        output.discard()


def _placement(cuts, estimate) -> tuple[list, list, int]:
    """What ``_render_round`` tracks for the ranges between ``cuts``: their output offsets
    (``offsets[i]`` known once the ranges before ``i`` are placed), their dropped-character
    counts, and the size of each thread's scratch: the widest range at the ``estimate``'s
    average record (+25%; it doubles when a run of ranges needs more)."""
    nranges = len(cuts) - 1
    widest = max(hi - lo for lo, hi in zip(cuts[:-1], cuts[1:]))
    per_row = max(int(estimate), 1) / (cuts[-1] - cuts[0])
    return [0] + [None] * nranges, [0] * nranges, int(per_row * widest * 1.25) + 4096


class _Fixed:
    """A caller's writable buffer as the output of ``_render_round``: it never grows."""

    def __init__(self, view: memoryview):
        self.view = view
        self.array = np.frombuffer(view, dtype=np.uint8)
        self.capacity = view.nbytes


def render_into(renderer, columns, start: int, num_rows: int, out, threads=None) -> tuple[int, int, int]:
    """Render rows ``[start, num_rows)`` into the writable buffer ``out`` on ``threads``
    threads: ``(bytes written, rows written, dropped)``, as ``renderer.render_into``.

    The same bytes, rows and errors as one thread: the ranges go out in order as in
    ``render``; when one does not fit, the rows of it that fit are written by one thread, so
    the output ends at the same record.
    """
    threads = resolve_threads(threads)
    count = num_rows - start
    if threads == 1 or count < 2 * MIN_RENDER_ROWS:
        return renderer.render_into(columns, start, num_rows, out)
    view = memoryview(out)
    if view.readonly:
        raise TypeError("render_into needs a writable buffer (bytearray, numpy array, mmap...)")
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    output = _Fixed(view)
    cuts = [start + cut for cut in render_cuts(count, threads)]
    nranges = len(cuts) - 1
    offsets, dropped, scratch = _placement(cuts, renderer.estimate(columns, start, num_rows))
    with _Calls(threads) as pool:
        first = _render_round(renderer, columns, cuts, 0, output, offsets, dropped, pool,
                              threads, scratch, grows=False)
    nbytes, lost = offsets[first], sum(dropped[:first])
    if first == nranges:
        return nbytes, count, lost
    more, rows, more_lost = renderer.render_into(columns, cuts[first], num_rows, view[nbytes:])
    return nbytes + more, cuts[first] - start + rows, lost + more_lost


def hand_over(write, data) -> None:
    """``write(data)`` for ``render_to``. The render's state is settled while ``write`` runs
    (an exception from it stops the render cleanly), so the command line's signal handler may
    raise inside it (``_signals.unsafe``): a write blocked on a full pipe stays interruptible."""
    write(data)


def _render_rows(bound, row: int, stop: int, buffer: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Rows ``[row, stop)`` of ``bound`` (``Renderer.bind``) into ``buffer``, grown while they
    do not fit: ``(buffer, bytes, dropped characters)``."""
    nbytes = dropped = 0
    while row < stop:
        nbytes, rows, lost = bound.render_into(row, stop, buffer, nbytes)
        row, dropped = row + rows, dropped + lost
        if row < stop:
            buffer = _grown(buffer, nbytes, 2 * len(buffer))
    return buffer, nbytes, dropped


def render_to(renderer, columns, num_rows: int, write, chunk_size: int, threads=None) -> int:
    """Render rows ``[0, num_rows)`` on ``threads`` threads, handing the lines to ``write`` in
    row order, on the calling thread only; returns the dropped characters.

    Rows go in ranges of about ``chunk_size`` bytes (``renderer.estimate``'s average record,
    at most ``RENDER_RANGE_ROWS`` rows), each rendered whole into a buffer with a quarter
    more room, plus room for a block of the kernel's fast path (a buffer filled to its last
    bytes ends in the record-by-record path: 1 MiB chunks filled to the end were 5% slower
    than ``render_into`` one large buffer, 256 KiB ones 19%). One thread renders them in turn
    into one buffer. More threads render them into buffers of their own, and the calling
    thread writes each range once every range before it is written, rendering ranges too
    between writes. No range is copied into place, so this scales as independent slices do,
    where ``render`` and ``render_into`` copy about half of the bytes. At most ``2 * threads``
    ranges are rendered and not yet written.

    The same lines and errors as one thread: at the first row that cannot be rendered, every
    line before it is written, then its ``RenderError`` is raised. An error from ``write``
    ends the call (no range after it is written) and is raised.
    """
    threads = resolve_threads(threads)
    bound = renderer.bind(columns, num_rows)  # once, not once per range
    if num_rows == 0:
        return 0
    per_row = max(renderer.estimate(columns, 0, num_rows) / num_rows, 1.0)
    step = max(1, min(RENDER_RANGE_ROWS, int(chunk_size / per_row)))
    nranges = -(-num_rows // step)
    cuts = [num_rows * k // nranges for k in range(nranges + 1)]
    size = chunk_size + chunk_size // 4 + (1 << 18)

    def failing(index, exc):
        """Write the lines of range ``index`` before its bad row, then raise ``exc``."""
        if isinstance(exc, RenderError) and exc.row is not None and cuts[index] < exc.row <= cuts[index + 1]:
            # the rows before the bad one render cleanly
            buffer, nbytes, _ = _render_rows(bound, cuts[index], exc.row, np.empty(size, np.uint8))
            hand_over(write, memoryview(buffer)[:nbytes])
        raise exc

    if threads == 1 or num_rows < 2 * MIN_RENDER_ROWS:
        buffer, dropped = np.empty(size, dtype=np.uint8), 0
        for index in range(nranges):
            try:
                buffer, nbytes, lost = _render_rows(bound, cuts[index], cuts[index + 1], buffer)
            except RenderError as exc:
                failing(index, exc)
            hand_over(write, memoryview(buffer)[:nbytes])
            dropped += lost
        return dropped

    ready = threading.Condition()
    # "next": the next range to hand out; "turn": the next range to write; "stop": the call is
    # ending (an error or an interrupt on the calling thread): no range is handed out
    state = {"next": 0, "turn": 0, "stop": False}
    done = {}  # range -> (buffer, bytes, dropped characters): rendered, not yet written
    free = []  # buffers written out, for the next ranges
    failed = {}  # range -> its exception

    def take():
        """With ``ready`` held: the next range, or None if none may be handed out now."""
        index = state["next"]
        if state["stop"] or failed or index >= nranges or index - state["turn"] >= 2 * threads:
            return None  # (a range after a failed one is never written)
        state["next"] = index + 1
        return index

    def render_range(index):
        """Render range ``index`` into a free buffer: its exception, or None."""
        with ready:
            buffer = free.pop() if free else np.empty(size, dtype=np.uint8)
        try:
            result = _render_rows(bound, cuts[index], cuts[index + 1], buffer)
        except BaseException as exc:
            with ready:
                failed[index] = exc
                ready.notify_all()
            return exc
        with ready:
            done[index] = result
            ready.notify_all()
        return None

    def worker():
        while True:
            with ready:
                index = take()
                while index is None:
                    if state["stop"] or failed or state["next"] >= nranges:
                        return
                    ready.wait()
                    index = take()
            render_range(index)

    dropped = 0
    with _Calls(threads) as pool:
        try:
            futures = [pool.submit(worker) for _ in range(threads - 1)]
            while True:
                with ready:
                    while True:
                        turn = state["turn"]
                        written = done.pop(turn, None)
                        index = None if written or turn in failed else take()
                        if written or index is not None or turn in failed or turn == nranges:
                            break
                        ready.wait()
                if written:
                    buffer, nbytes, lost = written
                    hand_over(write, memoryview(buffer)[:nbytes])
                    dropped += lost
                    with ready:
                        state["turn"] += 1
                        free.append(buffer)
                        ready.notify_all()
                elif index is not None:
                    exc = render_range(index)
                    if exc is not None and not isinstance(exc, Exception):
                        raise exc  # an interrupt
                else:
                    break
            for future in futures:
                future.result()
        except BaseException:
            with ready:
                state["stop"] = True
                ready.notify_all()
            raise
    if turn < nranges:
        failing(turn, failed[turn])
    return dropped


def _grown(buffer: np.ndarray, nbytes: int, size: int) -> np.ndarray:
    """A scratch buffer of ``size`` bytes (at least 4 KiB) holding ``buffer``'s first
    ``nbytes``."""
    bigger = np.empty(max(size, 4096), dtype=np.uint8)
    bigger[:nbytes] = buffer[:nbytes]
    return bigger


def _render_round(renderer, columns, cuts, first, output, offsets, dropped, pool, threads,
                  scratch_size, grows: bool = True) -> int:
    """Render and place ranges from ``first`` on, in order, until all are placed or one does
    not fit in ``output``; returns the first range not placed.

    Ranges are handed out in order. A thread renders its range into its own scratch buffer
    until the range's offset is known (``known``, which the kernel reads as it renders),
    then straight into the output. A range done in scratch before its offset is known takes
    on the next range if no thread has taken it yet, rendering it after its own bytes, so
    the thread keeps working instead of waiting for the range before its own (ranges taken
    on so form one unit, placed as one). Otherwise the thread waits for the offset and
    copies. Every round ends with every copy made.

    Raises the first failing unit's error once every range before it is known to render
    cleanly (a range cut short by a full output was not checked to its end: the next round
    decides). Into an output that does not grow (``grows=False``) it raises nothing: the
    failing row may lie past the last record that fits, where one thread stops, so the
    caller's one-thread resume from the first range not placed decides between the error
    and a full buffer.
    """
    nranges = len(cuts) - 1
    capacity, array, view = output.capacity, output.array, output.view
    bound = renderer.bind(columns, cuts[-1])
    ready = threading.Condition()
    # offsets as the kernel reads them while it renders (-1: not known yet); known[i] is set
    # once every unit before range i is rendered, in scratch or in place
    known = np.full(nranges + 1, -1, dtype=np.int64)
    known[first] = offsets[first]
    # "stop": the calling thread was interrupted; no range is handed out, no offset awaited
    state = {"next": first, "frontier": first, "full": False, "stop": False}
    units = {}  # first range of a rendered unit -> (range after it, bytes, dropped characters)
    placed = set()  # units whose bytes are in the output
    failed = []  # (first range of the unit, exception)
    clean = [False] * nranges  # every row of the range rendered without error

    def take(index=None):
        """With ``ready`` held: the next range (only if it is ``index``, when given), or None."""
        next_ = state["next"]
        if index is not None and next_ != index:
            return None
        if (state["full"] or state["stop"] or next_ >= nranges
                or (failed and next_ > min(i for i, _ in failed))):
            return None  # a later range cannot be placed, or cannot change the error
        state["next"] = next_ + 1
        return next_

    def rendered(index, end, nbytes, lost):
        """With ``ready`` held: unit ``[index, end)`` has ``nbytes``; offsets follow."""
        units[index] = (end, nbytes, lost)
        at = state["frontier"]
        while at in units:
            after, size, _ = units[at]
            known[after] = known[at] + size
            at = after
        state["frontier"] = at
        if at < nranges and known[at] >= capacity:
            state["full"] = True  # no range from here on fits: hand out none
        ready.notify_all()

    def gave_up(index) -> bool:
        """With ``ready`` held: the unit at ``index`` will not be placed in this round."""
        return state["full"] or state["stop"] or any(i < index for i, _ in failed)

    def unit(index, buffer):
        end, row, used, lost = index + 1, cuts[index], 0, 0
        while True:
            nbytes, rows, more_lost, start = bound.render_placed(row, cuts[end], buffer, view,
                                                                 known, index, used)
            row, lost = row + rows, lost + more_lost
            if start >= 0 or row < cuts[end]:
                if start < 0:  # scratch full: a larger one, keeping its bytes
                    buffer, used = _grown(buffer, nbytes, 2 * len(buffer)), nbytes
                    continue
                break  # in the output (or full)
            with ready:
                # Take on the next range if no thread has and the scratch holds about one more
                # range (it grows once to twice its size; a range heavier than the estimate
                # grows it further, above).
                take_on = (known[index] < 0 and nbytes <= scratch_size
                           and take(end) is not None)
                if not take_on:
                    rendered(index, end, nbytes, lost)
                    while known[index] < 0 and not gave_up(index):
                        ready.wait()
                    start = int(known[index])
                    if start < 0 or start + nbytes > capacity:
                        state["full"] = state["full"] or start >= 0
                        ready.notify_all()
                        return buffer
            if take_on:
                end, used = end + 1, nbytes  # the next range, after these bytes
                if len(buffer) < nbytes + scratch_size:
                    buffer = _grown(buffer, nbytes, 2 * scratch_size)
                continue
            array[start : start + nbytes] = buffer[:nbytes]  # numpy copies without the GIL
            break
        for k in range(index, end):
            clean[k] = cuts[k + 1] <= row
        with ready:
            if row < cuts[end]:
                state["full"] = True
                ready.notify_all()
                return buffer
            if index not in units:
                rendered(index, end, nbytes, lost)
            placed.add(index)
        return buffer

    def worker(calling=False):
        buffer = np.empty(scratch_size, dtype=np.uint8)  # this thread's: warm in its cache
        while True:
            with ready:
                index = take()
                if index is None:
                    return
            try:
                buffer = unit(index, buffer)
            except BaseException as exc:
                with ready:
                    failed.append((index, exc))
                    ready.notify_all()
                if calling and not isinstance(exc, Exception):
                    raise  # an interrupt: no range after this one is handed out

    try:
        # the calling thread renders too: it starts at once, where a worker first wakes up
        futures = [pool.submit(worker) for _ in range(threads - 1)]
        worker(calling=True)
        for future in futures:
            future.result()
    except BaseException:
        # An interrupt: it may have come between taking a range and rendering it, and then no
        # offset after that range will ever be known. The workers must not wait for one (the
        # caller's exit waits for them).
        with ready:
            state["stop"] = True
            ready.notify_all()
        raise
    finally:
        # The caller grows, hands over or drops the output once this returns or raises, and
        # an error's traceback keeps this frame: it must keep no view of the output. (The
        # workers read these cells too; all have returned, unless this is an interrupt.)
        array = view = None
    at = first
    while at in placed:
        end, _, lost = units[at]
        dropped[at] = lost
        offsets[end] = int(known[end])
        at = end
    if failed:
        index, exc = min(failed, key=lambda item: item[0])
        # Without a full output every range before the failing one was rendered to its end.
        if grows and (not state["full"] or all(clean[at:index])):
            raise exc
    return at
