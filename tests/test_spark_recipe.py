"""The PySpark ``mapInArrow`` recipe of docs/scaling.md, run as written on a local Spark session.

Needs ``pyspark`` (in the ``test`` extra) and a Java runtime (skipped without one); about 15 s,
most of it Spark's start-up.
"""

import gzip
import pathlib
import re
import shutil

import pytest

pyspark = pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")
pytest.importorskip("fsspec")
if shutil.which("java") is None:
    pytest.skip("PySpark needs a Java runtime", allow_module_level=True)

import fastctx  # noqa: E402
from fastctx import generate  # noqa: E402
from fastctx.integrations.dask import partitions  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "scaling.md"


@pytest.fixture(scope="module")
def recipe():
    text = DOC.read_text()
    match = re.search(r"<!-- spark-recipe -->\n```python\n(.*?)```", text, re.S)
    assert match, "the recipe block is missing from docs/scaling.md"
    namespace = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("fastctx-recipe")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
               .getOrCreate())
    try:
        yield session
    finally:
        session.stop()


def expected_table(fmt, contents):
    import pyarrow

    return pyarrow.concat_tables([fmt.parse(data, "skip", threads=1).to_pyarrow() for data in contents])


def assert_same(got, expected):
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows > 0
    for name in expected.column_names:
        want = expected.column(name)
        if str(want.type).startswith("timestamp"):
            # Spark carries microseconds; the instants must be the same.
            assert got.column(name).cast(want.type).to_pylist() == want.to_pylist(), name
        else:
            assert got.column(name).to_pylist() == want.to_pylist(), name


def test_lines_and_byte_ranges_equal_whole_parse(recipe, spark, tmp_path):
    template = fastctx.preset("websocket", "clf")
    fmt = fastctx.compile(template)
    plain = generate.lines(fmt, 600, seed=1) + b"not a record\n"
    zipped = generate.lines(fmt, 200, seed=2)
    (tmp_path / "a.log").write_bytes(plain)
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(zipped))
    expected = expected_table(fmt, [plain])

    lines = spark.read.text(str(tmp_path / "a.log"))
    got = lines.mapInArrow(recipe["parse_lines"](template), recipe["spark_schema"](fmt)).toArrow()
    assert_same(got, expected)

    fs, parts = partitions([str(tmp_path / "a.log"), str(tmp_path / "b.log.gz")], fmt, blocksize=8192)
    assert len(parts) > 3
    ranges = spark.createDataFrame(parts, "path STRING, start BIGINT, stop BIGINT, compression STRING")
    got = (ranges.coalesce(1)  # keep file order so the rows compare in sequence
           .mapInArrow(recipe["parse_ranges"](fs, template), recipe["spark_schema"](fmt)).toArrow())
    assert_same(got, expected_table(fmt, [plain, zipped]))
