"""The command line's text output: one group per shape and format (``text-csv-clf``,
``text-jsonl-clf`` ...), writing the batch a parse of the benchmark lines gives (parsed
outside the timed call) as CSV or JSON Lines through the text kernel, one thread. Checked
against the row-by-row reference writers at small sizes.
"""

import pytest
from conftest import ROWS, VERIFY_ROWS

from fastctx import bench, tabletext

WRITERS = {"csv": (tabletext.csv_rows, tabletext._rows_csv_module),
           "jsonl": (tabletext.json_rows, tabletext._json_python)}


@pytest.fixture(scope="module")
def parsed(workloads):
    """``{shape: Batch}`` parsed from each shape's lines, built on first use."""
    cache = {}

    def get(shape):
        if shape not in cache:
            workload = workloads[shape]
            cache[shape] = workload.fmt.parse(workload.data, threads=1)
        return cache[shape]

    return get


@pytest.mark.parametrize("kind", sorted(WRITERS))
@pytest.mark.parametrize("shape", bench.SHAPES)
def test_text(measure, parsed, shape, kind):
    batch = parsed(shape)
    write, reference = WRITERS[kind]
    text = measure(f"text-{kind}-{shape}", lambda: write(batch))
    assert text.count(b"\n") >= ROWS
    if ROWS <= VERIFY_ROWS:
        assert text == reference(batch, False)
