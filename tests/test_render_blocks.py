"""The render kernel's block loop and clean-span scan against the reference: long random
columns with bytes to escape at every 16/32-byte boundary, blocks of 128 rows cut anywhere,
vector scans (and the AVX2 offsets check) on and off, and ``render_into`` buffers of any size."""

import random

import numpy as np
import pytest

import fastctx
from fastctx import _reference, _render
from fastctx.batch import Batch
from fastctx.presets import PRESETS

RNG = random.Random(0)
ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.:=/"
# a byte of every escape method, non-ASCII, and characters XML cannot hold
SPECIAL = ['"', "\\", ",", "\n", "\r", "\t", " ", "<", ">", "&", "'", "]", "[", "\x7f", "\x01", "é",
           "\ufffe", "\uffff", "日"]


def value(p_special):
    """A value whose length sits on either side of the 16- and 32-byte steps of the scans."""
    n = RNG.choice([0, 1, 3, 7, 15, 16, 17, 31, 32, 33, 40, 47, 48, 63, 64, 65, 80, 130])
    if n == 0:
        return RNG.choice(["", None])
    chars = [RNG.choice(SPECIAL) if RNG.random() < p_special else RNG.choice(ALPHA) for _ in range(n)]
    return "".join(chars)


def batch(rows, p_special):
    names = ["requestId", "identity.sourceIp", "identity.caller", "identity.user", "eventType",
             "routeKey", "connectionId", "httpMethod", "resourcePath", "protocol", "extendedRequestId"]
    cols = {n: [value(p_special) for _ in range(rows)] for n in names}
    cols["requestTime"] = [None if RNG.random() < 0.05 else 1700000000000 + RNG.randrange(0, 10**11) for _ in range(rows)]
    cols["status"] = [None if RNG.random() < 0.05 else RNG.choice([200, 404, -5, 0, 10**12]) for _ in range(rows)]
    cols["responseLength"] = [str(RNG.randrange(0, 10**6)) if RNG.random() < 0.9 else None for _ in range(rows)]
    return Batch.from_pydict(cols)


@pytest.mark.parametrize("seed", range(12))
def test_kernel_equals_reference_over_random_blocks(seed):
    RNG.seed(seed)
    rows = RNG.choice([1, 5, 127, 128, 129, 300])
    b = batch(rows, RNG.choice([0.0, 0.001, 0.02, 0.2]))
    for api, shapes in PRESETS.items():
        for template in shapes.values():
            for escape in ("auto", "none", "json"):
                fmt = fastctx.compile(template, api=api, escape=escape)
                cols = [b.get(name) for name in fmt.program.columns]
                ref = _reference.render(fmt.program, b, 0, rows)
                ends = np.cumsum([len(_reference.render(fmt.program, b, i, i + 1)[0]) for i in range(rows)])
                for simd in (True, False):
                    old = _render._use_simd(simd)
                    old_avx2 = _render._use_avx2(simd)
                    try:
                        renderer = _render.Renderer(fmt.program)
                        assert renderer.render(cols, 0, rows) == ref, (api, template, escape, simd)
                        start = RNG.randrange(0, rows)
                        assert renderer.render(cols, start, rows) == _reference.render(fmt.program, b, start, rows)
                        size = RNG.randrange(0, len(ref[0]) + 200)
                        buf = bytearray(size)
                        nbytes, nrows, _ = renderer.render_into(cols, 0, rows, buf)
                        assert bytes(buf[:nbytes]) == ref[0][:nbytes]
                        assert nbytes == (ends[nrows - 1] if nrows else 0)
                        assert nrows == rows or ends[nrows] > size
                    finally:
                        _render._use_simd(old)
                        _render._use_avx2(old_avx2)


@pytest.mark.parametrize("avx2", [True, False])
def test_a_bad_offset_anywhere_in_a_block_is_reported_at_its_row(avx2):
    # the block loop's offsets check (32 bytes a step with AVX2, 16 without) must see a bad
    # offset at any position of a block; the row-by-row loop then reports it where it is
    # (columns made unchecked: Column() itself refuses such offsets)
    from fastctx.batch import Column
    from fastctx.errors import RenderError

    rows = 300
    fmt = fastctx.compile("$context.requestId $context.routeKey")
    good = np.arange(rows + 1, dtype=np.int64) * 2
    data = np.frombuffer(b"ab" * rows, dtype=np.uint8)
    ids = Column.from_strings([f"r{i}" for i in range(rows)])
    old = _render._use_avx2(avx2)
    try:
        renderer = _render.Renderer(fmt.program)
        assert renderer.render([ids, Column("string", good, data)], 0, rows)[0] == b"".join(
            b"r%d ab\n" % i for i in range(rows))
        for at in list(range(0, 12)) + list(range(124, 134)) + list(range(250, rows + 1)):
            for bad_value in (-1, good[at] - 3, 2 * rows + 1):
                if at == 0 and bad_value == good[0] - 3:
                    continue  # the same as -1
                offsets = good.copy()
                offsets[at] = bad_value
                with pytest.raises(RenderError) as err:
                    renderer.render([ids, Column._built("string", offsets, data)], 0, rows)
                assert err.value.column == "routeKey"
                assert err.value.row in (at - 1, at), (at, bad_value, err.value.row)
    finally:
        _render._use_avx2(old)
