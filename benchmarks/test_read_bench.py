"""Reading gzip logs: one group per shape (``read-gzip-clf`` ...) with the two inflaters the
reader can use, ISA-L (the ``gzip`` extra) and zlib, and a group of inflating alone
(``inflate-clf`` ...), which bounds the read. One thread each.
"""

import gzip
import io

import pytest
from conftest import ROWS

import fastctx
from fastctx import _inflate, bench

BACKENDS = ["isal", "zlib"]


@pytest.fixture(scope="module")
def packed(workloads):
    """``{shape: gzip bytes}`` of the lines each shape renders (level 6, as gzip does)."""
    return {}


def _packed(packed, workloads, shape):
    if shape not in packed:
        packed[shape] = gzip.compress(workloads[shape].data, 6)
    return packed[shape]


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "isal":
        pytest.importorskip("isal")
    previous = _inflate.use(request.param)
    yield request.param
    _inflate.use(previous)


@pytest.mark.parametrize("shape", bench.SHAPES)
def test_read_gzip(measure, workloads, packed, backend, shape):
    workload = workloads[shape]
    raw = _packed(packed, workloads, shape)
    batch = measure(f"read-gzip-{shape}",
                    lambda: fastctx.read_all(io.BytesIO(raw), workload.fmt, threads=1))
    assert batch.num_rows == ROWS and batch.stats.accepted == ROWS


@pytest.mark.parametrize("shape", bench.SHAPES)
def test_inflate(measure, workloads, packed, backend, shape):
    raw = _packed(packed, workloads, shape)

    def inflate():
        inflater, size = _inflate.decompressobj(), 0
        for start in range(0, len(raw), 1 << 20):
            size += len(inflater.decompress(raw[start:start + (1 << 20)]))
        return size

    assert measure(f"inflate-{shape}", inflate) == len(workloads[shape].data)
