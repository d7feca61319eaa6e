"""Render benchmarks: one group per shape (``render-clf`` ...), fastctx and its peers.

fastctx renders typed columns with ``render`` (auto and none modes), ``render_into`` a reused
buffer and ``render_to`` a file in chunks; the peers get the same events in their own form.
"""

import pytest
from conftest import ROWS, VERIFY_ROWS

from fastctx import bench

FASTCTX = ["fastctx render (auto)", "fastctx render (none)", "fastctx render_into (auto)", "fastctx render_to (auto)"]
PEERS = [(shape, peer.name) for shape in bench.SHAPES for peer in bench.peers_for("render", shape)]


@pytest.mark.parametrize("case", FASTCTX)
@pytest.mark.parametrize("shape", bench.SHAPES)
def test_fastctx(measure, workloads, shape, case):
    workload = workloads[shape]
    build = dict(bench.fastctx_cases("render", workload, extended=True))[case]
    out = measure(f"render-{shape}", build())
    if case.endswith("render_to (auto)"):
        assert out == len(workload.data)  # bytes written
        return
    assert bench._nbytes(out) > ROWS
    if "(auto)" in case and ROWS <= VERIFY_ROWS:
        bench.verify_render(workload, out)


@pytest.mark.parametrize("shape,name", PEERS)
def test_peer(measure, workloads, shape, name):
    (peer,) = bench.peers_for("render", shape, [name])
    if peer.library != "python":
        pytest.importorskip(peer.library)
    workload = workloads[shape]
    fn = peer.build(workload, 1) if peer.threaded else peer.build(workload)
    out = measure(f"render-{shape}", fn)
    assert bench._nbytes(out) > ROWS
    if ROWS <= VERIFY_ROWS:
        bench.verify_render(workload, out)
