"""The gzip readers give the same batches and the same errors with ISA-L and with zlib."""

import gzip
import io
import json

import pytest

import fastctx
from fastctx import _inflate
from fastctx.errors import InputError

pytest.importorskip("isal")

TEMPLATE = "$context.requestId $context.status"
DATA = b"".join(b"r%d %d\n" % (i, 200 + i % 300) for i in range(5000)) + b"bad x\n\nlast 7"


@pytest.fixture(params=["isal", "zlib"])
def backend(request):
    previous = _inflate.use(request.param)
    yield request.param
    _inflate.use(previous)


@pytest.fixture(scope="module")
def fmt():
    return fastctx.compile(TEMPLATE)


def test_backend_is_selected(backend):
    assert _inflate.backend == backend
    assert _inflate.decompressobj().decompress(gzip.compress(b"abc")) == b"abc"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown gzip backend"):
        _inflate.use("brotli")


@pytest.mark.parametrize("batch_size", [7, 1000, 1 << 20])
def test_multi_member_gzip_same_as_plain(backend, fmt, batch_size):
    cuts = [0, 17, 20_000, len(DATA) - 5, len(DATA)]
    packed = b"".join(gzip.compress(DATA[a:b]) for a, b in zip(cuts[:-1], cuts[1:])) + b"\0" * 9
    plain = fmt.parse(DATA, on_error="collect", threads=1)
    got = fastctx.read_all(io.BytesIO(packed), fmt, on_error="collect", batch_size=batch_size, threads=1)
    assert got.to_pydict() == plain.to_pydict()
    assert got.stats == plain.stats
    assert [(r.line, r.offset, r.raw) for r in got.rejects] == [(r.line, r.offset, r.raw) for r in plain.rejects]


def test_truncated_and_corrupt_gzip_are_errors(backend, fmt):
    packed = gzip.compress(DATA)
    with pytest.raises(InputError, match="truncated gzip"):
        fastctx.read_all(io.BytesIO(packed[: len(packed) // 2]), fmt, on_error="skip")
    broken = bytearray(packed)
    broken[len(broken) // 2: len(broken) // 2 + 64] = b"\xff" * 64
    with pytest.raises(InputError, match="gzip"):
        fastctx.read_all(io.BytesIO(bytes(broken)), fmt, on_error="skip")
    with pytest.raises(InputError, match="not another gzip member"):
        fastctx.read_all(io.BytesIO(packed + b"garbage"), fmt, on_error="skip")


def test_firehose_gzip_of_gzip_documents(backend, fmt):
    doc = {"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
           "subscriptionFilters": ["f"],
           "logEvents": [{"id": str(i), "timestamp": 1700000000000 + i, "message": f"r{i} {200 + i}"}
                         for i in range(50)]}
    members = b"".join(gzip.compress(json.dumps(doc).encode()) for _ in range(3))
    batch = fastctx.read_all(io.BytesIO(gzip.compress(members)), fmt, kind="firehose")
    assert batch.num_rows == 150
    assert batch.column("status").to_pylist()[:3] == [200, 201, 202]
