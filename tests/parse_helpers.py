"""Shared by the parse tests: run the kernel and the reference and require the same result."""

from __future__ import annotations

import pytest

from fastctx import ParseError
from fastctx import _memory, _parse
from fastctx import _reference_parse as reference


def raw_values(column) -> list:
    """A column's values as bytes, ints (timestamps as epoch ms: any int64, which a datetime
    may not hold) and None."""
    valid = column.valid_mask()
    if column.kind == "string":
        data, offsets = column.data, column.values
        return [data[offsets[i]:offsets[i + 1]].tobytes() if valid[i] else None
                for i in range(column.length)]
    return [int(v) if ok else None for v, ok in zip(column.values[:column.length], valid)]


def assert_same(kernel, ref) -> None:
    assert kernel.stats == ref.stats
    assert kernel.column_names == ref.column_names
    for name in ref.column_names:
        assert kernel.column(name).kind == ref.column(name).kind, name
        assert raw_values(kernel.column(name)) == raw_values(ref.column(name)), name
    assert kernel.rejects == ref.rejects
    stats = kernel.stats
    assert stats.accepted + stats.rejected + stats.empty == stats.records
    assert kernel.num_rows == stats.accepted


def _kernel(program, data, on_error, line_base, offset_base, simd: bool, avx2: bool = True):
    # The table-scan run also gives every column buffer its own mapping, however small, so
    # that the growth by remapping runs on test-sized inputs.
    old = _parse._use_simd(simd)
    old_avx2 = _parse._use_avx2(avx2)
    old_map = _memory._map_min(1)
    if simd:
        _memory._map_min(old_map)
    try:
        return _parse.Parser(program).parse(data, on_error, line_base, offset_base)
    finally:
        _parse._use_simd(old)
        _parse._use_avx2(old_avx2)
        _memory._map_min(old_map)


# whether the kernel has the 32-byte record passes here (then the 16-byte ones run too)
HAVE_AVX2 = _parse._use_avx2(True)


def both(program, data, on_error: str = "collect", line_base: int = 1, offset_base: int = 0):
    """Parse with the kernel (vector scans on and off; on, with the 32-byte record passes
    and without them where the CPU has AVX2) and the reference; all must agree (results or
    errors)."""
    errors = []
    results = []
    runs = [
        lambda: _kernel(program, data, on_error, line_base, offset_base, True),
        lambda: _kernel(program, data, on_error, line_base, offset_base, False),
        lambda: reference.parse(program, data, on_error, line_base, offset_base),
    ]
    if HAVE_AVX2:
        runs.insert(1, lambda: _kernel(program, data, on_error, line_base, offset_base, True,
                                       avx2=False))
    for parse in runs:
        try:
            results.append(parse())
        except ParseError as exc:
            errors.append(exc)
    if errors:
        assert len(errors) == len(runs), f"only some of the kernels/reference raised: {errors}"
        ref_error = errors[-1]
        for kernel_error in errors[:-1]:
            for attr in ("reason", "line", "offset", "column", "expected", "raw"):
                assert getattr(kernel_error, attr) == getattr(ref_error, attr), attr
            assert str(kernel_error) == str(ref_error)
        raise errors[0]
    for kernel in results[:-1]:
        assert_same(kernel, results[-1])
    return results[0]


def raises(program, data, line_base: int = 1, offset_base: int = 0) -> ParseError:
    with pytest.raises(ParseError) as info:
        both(program, data, "raise", line_base, offset_base)
    return info.value


def expect_path(rows: int, least: int, exactly: bool = False) -> None:
    """A fast path (comma-split or blank-split) read at least (or ``exactly``) ``least``
    records where the kernel has it (built with SSE2: every x86-64 CPU), and none
    elsewhere."""
    if not _parse.FAST_PATHS:
        assert rows == 0
    elif exactly:
        assert rows == least
    else:
        assert rows >= least


def path_rows(program, data: bytes) -> int:
    """How many records of ``data`` a fast path accepted (vector scans on, as by default)."""
    _parse.Parser(program).parse(data, "collect")
    return _parse._fast_rows()


def parse_among(program, lines: list[bytes], filler: bytes, reached: int):
    """Each line between copies of ``filler`` (plain records), parsed by the kernel (vector
    scans on and off) and the reference, which must agree; a fast path must have read at
    least ``reached`` records. A path needs 64 readable bytes after a record's start, so
    the plain records around a line let it reach the line."""
    data = filler + b"".join(line + b"\n" + filler for line in lines)
    result = both(program, data)
    expect_path(path_rows(program, data), reached)
    return result
