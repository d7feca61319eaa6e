"""Parse benchmarks: one group per shape (``parse-clf`` ...), fastctx and its peers, all
reading the same lines (what fastctx renders from the benchmark events in ``auto`` mode).
"""

import pytest
from conftest import ROWS, VERIFY_ROWS

from fastctx import bench

PEERS = [(shape, peer.name) for shape in bench.SHAPES for peer in bench.peers_for("parse", shape)]


@pytest.mark.parametrize("shape", bench.SHAPES)
def test_fastctx(measure, workloads, shape):
    pytest.importorskip("fastctx._parse", reason="the parse kernel is not built")
    workload = workloads[shape]
    ((name, build),) = bench.fastctx_cases("parse", workload)
    batch = measure(f"parse-{shape}", build())
    assert batch.num_rows == ROWS
    assert batch.stats.accepted == ROWS
    if ROWS <= VERIFY_ROWS:
        assert workload.fmt.render(batch) == workload.data


@pytest.mark.parametrize("shape,name", PEERS)
def test_peer(measure, workloads, shape, name):
    (peer,) = bench.peers_for("parse", shape, [name])
    if peer.library != "python":
        pytest.importorskip(peer.library)
    workload = workloads[shape]
    fn = peer.build(workload, 1) if peer.threaded else peer.build(workload)
    result = measure(f"parse-{shape}", fn)
    bench.verify_parse(workload, result)
