"""fastctx on Dask: many files in byte ranges parse to exactly the rows of one whole-file parse."""

import doctest
import gzip
import io
import pickle

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pandas = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import fastctx  # noqa: E402
from fastctx import generate  # noqa: E402
from fastctx.integrations import dask as fdask  # noqa: E402

CLF = fastctx.compile(fastctx.preset("websocket", "clf"))


def corrupt(data: bytes, every: int) -> bytes:
    """Break every ``every``-th line and add empty lines, so rejects and empties are counted."""
    out = data.split(b"\n")
    for index in range(3, len(out) - 1, every):
        out[index] = out[index][: len(out[index]) // 2] + b"\xff"
    for index in range(5, len(out) - 1, every + 3):
        out[index] = b""
    return b"\n".join(out)


def whole(fmt, contents) -> pandas.DataFrame:
    """The oracle: ``fmt.parse`` of each whole file (one thread), concatenated in order."""
    frames = [fmt.parse(data, "skip", threads=1).to_pandas() for data in contents]
    return pandas.concat(frames, ignore_index=True)


def assert_same_rows(got: pandas.DataFrame, expected: pandas.DataFrame):
    got = got.reset_index(drop=True)
    # Dask may store strings with another NA marker (its convert-string setting); the values
    # and every non-string type must agree exactly.
    expected = expected.astype(got.dtypes.to_dict())
    pandas.testing.assert_frame_equal(got, expected)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three plain files, a gzip file and a multi-member gzip file, with bad and empty lines."""
    root = tmp_path_factory.mktemp("logs")
    contents, paths = [], []
    for index in range(3):
        data = corrupt(generate.lines(CLF, 400 + 50 * index, seed=index), 29)
        if index == 1:
            data = data.rstrip(b"\n")  # the last record may lack its newline
        path = root / f"part-{index}.log"
        path.write_bytes(data)
        contents.append(data)
        paths.append(str(path))
    data = corrupt(generate.lines(CLF, 300, seed=7), 31)
    path = root / "part-3.log.gz"
    path.write_bytes(gzip.compress(data))
    contents.append(data)
    paths.append(str(path))
    first, second = generate.lines(CLF, 120, seed=8), generate.lines(CLF, 80, seed=9)
    path = root / "part-4.log.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    contents.append(first + second)
    paths.append(str(path))
    return paths, contents


# -- on a local cluster ---------------------------------------------------------------------------


def test_cluster_rows_equal_whole_file_parse(client, files):
    paths, contents = files
    df = fdask.read_logs(paths, CLF, blocksize="8KiB")
    # Plain files are cut (each is far larger than 8 KiB); each gzip file is one partition.
    plain_sizes = [len(data) for data in contents[:3]]
    assert df.npartitions == sum(-(-size // 8192) for size in plain_sizes) + 2
    got = client.compute(df).result()
    expected = whole(CLF, contents)
    assert len(expected) > 1000
    assert_same_rows(got, expected)


def test_cluster_counts_rejects_with_skip(client, files):
    paths, contents = files
    # Every partition's row has index 0: renumber before combining columns.
    counts = client.compute(fdask.stats(paths, CLF, blocksize="8KiB")).result().reset_index(drop=True)
    assert list(counts.columns) == list(fdask.STATS_COLUMNS)
    assert (counts.accepted + counts.rejected + counts["empty"] == counts.records).all()
    for path, data in zip(paths, contents):
        one = CLF.parse(data, "skip", threads=1).stats
        mine = counts[counts.path.str.endswith(path.rsplit("/", 1)[-1])]
        assert mine[["records", "accepted", "rejected", "empty", "normalized"]].sum().tolist() == [
            one.records, one.accepted, one.rejected, one.empty, one.normalized]
    assert counts.rejected.sum() > 20 and counts["empty"].sum() > 10
    rows = client.compute(fdask.read_logs(paths, CLF, blocksize="8KiB").shape[0]).result()
    assert rows == counts.accepted.sum()


def test_cluster_raise_names_file_and_byte_offset(client, tmp_path):
    lines = generate.lines(CLF, 200, seed=3).split(b"\n")
    lines[150] = b"not an access log record"
    data = b"\n".join(lines)
    path = tmp_path / "bad.log"
    path.write_bytes(data)
    with pytest.raises(fastctx.ParseError) as whole_file:
        CLF.parse(data, threads=1)
    offset = whole_file.value.offset
    assert data.index(b"not an access") <= offset < data.index(b"not an access") + 24
    df = fdask.read_logs(str(path), CLF, blocksize=4096, on_error="raise")
    # The error comes back from a worker, so it must survive pickling with its type.
    with pytest.raises(fdask.PartitionParseError) as info:
        client.compute(df).result()
    error = info.value
    assert isinstance(error, fastctx.ParseError)
    assert error.path == str(path)
    assert error.partition_start <= error.offset == offset
    assert str(path) in str(error) and f"byte offset {offset}" in str(error)
    assert error.raw == b"not an access log record"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is fdask.PartitionParseError and str(again) == str(error)
    assert (again.path, again.offset, again.line) == (error.path, error.offset, error.line)


# -- byte ranges (no cluster needed) --------------------------------------------------------------


BOUNDARY_DATA = (b"r1 200\n\nr22 404\r\nlonger-request-id 500\nr4 -\n\n\nx oops\n"
                 b"r5 201\nlast 302")
SIMPLE = fastctx.compile("$context.requestId $context.status")


@pytest.mark.parametrize("blocksize", range(1, len(BOUNDARY_DATA) + 2))
def test_read_range_owns_records_that_start_inside(blocksize):
    data = BOUNDARY_DATA
    f = io.BytesIO(data)
    pieces = [fdask.read_range(f, lo, min(lo + blocksize, len(data)))
              for lo in range(0, len(data), blocksize)]
    assert b"".join(piece for _, piece in pieces) == data
    for (begin, piece), lo in zip(pieces, range(0, len(data), blocksize)):
        if piece:
            assert begin >= lo and (begin == 0 or data[begin - 1] == 0x0A)
            assert begin < lo + blocksize
            assert data[begin : begin + len(piece)] == piece


def test_every_boundary_position_against_whole_parse(tmp_path):
    path = tmp_path / "small.log"
    path.write_bytes(BOUNDARY_DATA)
    one = SIMPLE.parse(BOUNDARY_DATA, "skip", threads=1)
    assert one.stats.rejected == 1 and one.stats.empty == 3
    collected = SIMPLE.parse(BOUNDARY_DATA, "collect", threads=1)
    fs, _ = fdask.partitions(str(path), SIMPLE)
    size = len(BOUNDARY_DATA)
    for cut in range(1, size):
        ranges = [(str(path), 0, cut, None), (str(path), cut, size, None)]
        joined = fastctx.Batch.concat([fdask.read_partition(fs, part, SIMPLE) for part in ranges])
        assert joined.to_pydict() == one.to_pydict(), cut
        assert joined.stats == one.stats, cut
        # Rejects keep the file's byte offsets (lines count from each partition's start).
        rejects = [reject for part in ranges
                   for reject in fdask.read_partition(fs, part, SIMPLE, "collect").rejects]
        assert [(r.offset, r.raw) for r in rejects] == [(r.offset, r.raw) for r in collected.rejects]


@pytest.mark.parametrize("blocksize", [1, 5, 13, 64, None])
def test_tiny_blocksizes_through_dask(tmp_path, blocksize):
    path = tmp_path / "small.log"
    path.write_bytes(BOUNDARY_DATA)
    df = fdask.read_logs(str(path), SIMPLE, blocksize=blocksize)
    assert df.npartitions == (1 if blocksize is None else -(-len(BOUNDARY_DATA) // blocksize))
    assert_same_rows(df.compute(scheduler="sync"), whole(SIMPLE, [BOUNDARY_DATA]))
    counts = fdask.stats(str(path), SIMPLE, blocksize=blocksize).compute(scheduler="sync")
    one = SIMPLE.parse(BOUNDARY_DATA, "skip", threads=1).stats
    assert counts[["records", "accepted", "rejected", "empty"]].sum().tolist() == [
        one.records, one.accepted, one.rejected, one.empty]


@pytest.mark.parametrize("blocksize", [5, 100, None])
@pytest.mark.parametrize("packed", [False, True])
def test_a_byte_order_mark_and_export_prefixes_read_as_fastctx_read_reads_them(tmp_path, blocksize, packed):
    fmt = fastctx.compile("$context.requestId $context.status")
    export = b"".join(b"2024-07-10T18:15:21.%03dZ r%d 200\n" % (i, i) for i in range(20))
    for name, data in [("bom.log", b"\xef\xbb\xbfr1 200\nr2 404\nbad\n"), ("export.log", export),
                       ("both.log", b"\xef\xbb\xbf" + export)]:
        path = tmp_path / (name + (".gz" if packed else ""))
        path.write_bytes(gzip.compress(data) if packed else data)
        expected = fastctx.read_all(data, fmt, on_error="skip", columns=())
        df = fdask.read_logs(str(path), fmt, blocksize=blocksize).compute(scheduler="sync")
        assert df["requestId"].tolist() == expected.to_pydict()["requestId"], name
        counts = fdask.stats(str(path), fmt, blocksize=blocksize).compute(scheduler="sync")
        assert counts[["accepted", "rejected"]].sum().tolist() == [
            expected.stats.accepted, expected.stats.rejected], name


def test_an_empty_projection_keeps_the_rows(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"a 1\nb 2\nc x\n")
    df = fdask.read_logs(str(path), "$context.requestId $context.status")
    assert df[[]].compute(scheduler="sync").shape == (2, 0)
    assert df[["status"]].compute(scheduler="sync")["status"].tolist() == [1, 2]


# -- types, columns, sources -------------------------------------------------------------------


def test_dtypes_from_the_format_without_reading(tmp_path, files):
    paths, contents = files
    fmt = fastctx.compile("$context.requestId $context.requestTimeEpoch $context.status "
                          "[$context.requestTime] \"$context.routeKey\"")
    data = generate.lines(fmt, 200, seed=5)
    path = tmp_path / "typed.log"
    path.write_bytes(data)
    df = fdask.read_logs(str(path), fmt, blocksize=2048)
    dtypes = df.dtypes.to_dict()
    assert dtypes["status"] == pandas.Int64Dtype()
    assert dtypes["requestTimeEpoch"] == pandas.DatetimeTZDtype("ms", "UTC")
    assert dtypes["requestTime"] == pandas.DatetimeTZDtype("ms", "UTC")
    assert isinstance(dtypes["requestId"], pandas.StringDtype)
    assert isinstance(dtypes["routeKey"], pandas.StringDtype)
    assert list(df.columns) == list(fmt.variables)
    got = df.compute(scheduler="sync")
    assert got.dtypes.to_dict() == dtypes
    assert_same_rows(got, whole(fmt, [data]))


def test_columns_selection_and_unknown_columns(files):
    paths, contents = files
    df = fdask.read_logs(paths[:2], CLF, blocksize="16KiB", columns=["status", "requestId"])
    assert list(df.columns) == ["status", "requestId"]
    expected = whole(CLF, contents[:2])[["status", "requestId"]]
    assert_same_rows(df.compute(scheduler="sync"), expected)
    # A selection made later is pushed into the partitions the same way.
    later = fdask.read_logs(paths[:2], CLF, blocksize="16KiB")[["requestId"]]
    assert_same_rows(later.compute(scheduler="sync"), expected[["requestId"]])
    with pytest.raises(ValueError, match="requestIdd"):
        fdask.read_logs(paths, CLF, columns=["requestIdd"])


def test_fsspec_urls_and_globs(files):
    fsspec = pytest.importorskip("fsspec")
    paths, contents = files
    memory = fsspec.filesystem("memory")
    for index, data in enumerate(contents[:3]):
        memory.pipe_file(f"/fastctx-test/logs/{index}.log", data)
    memory.pipe_file("/fastctx-test/logs/3.log.gz", gzip.compress(contents[3]))
    try:
        df = fdask.read_logs("memory://fastctx-test/logs/*", CLF, blocksize="8KiB")
        assert df.npartitions > 4
        assert_same_rows(df.compute(scheduler="sync"), whole(CLF, contents[:4]))
    finally:
        memory.rm("/fastctx-test", recursive=True)


def test_gzip_without_its_suffix_is_a_clear_error(tmp_path):
    path = tmp_path / "hidden.log"
    path.write_bytes(gzip.compress(generate.lines(CLF, 50, seed=1)))
    with pytest.raises(fastctx.InputError, match="compression='gzip'"):
        fdask.read_logs(str(path), CLF, blocksize=256).compute(scheduler="sync")
    df = fdask.read_logs(str(path), CLF, blocksize=256, compression="gzip")
    assert df.npartitions == 1
    assert len(df.compute(scheduler="sync")) == 50


def test_multiline_csv_is_read_whole_per_file(tmp_path):
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    events = generate.events(fmt, 100, seed=4)
    routes = events.column("routeKey").to_pylist()
    routes[10] = "line one\nline two"  # auto CSV quotes it: the record spans two lines
    events = fastctx.Batch.from_pydict({**events.to_pydict(), "routeKey": routes})
    data = fmt.render(events)
    path = tmp_path / "multi.csv"
    path.write_bytes(data)
    df = fdask.read_logs(str(path), fmt, blocksize=512)
    assert df.npartitions == 1
    got = df.compute(scheduler="sync")
    assert got["routeKey"].iloc[10] == "line one\nline two"
    assert_same_rows(got, whole(fmt, [data]))


def test_empty_files_give_empty_partitions(tmp_path, files):
    paths, contents = files
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    df = fdask.read_logs([str(empty), paths[0], str(empty)], CLF, blocksize="16KiB")
    assert_same_rows(df.compute(scheduler="sync"), whole(CLF, [contents[0]]))
    counts = fdask.stats(str(empty), CLF).compute(scheduler="sync")
    assert counts[["start", "stop", "records"]].values.tolist() == [[0, 0, 0]]


def test_bad_arguments(files):
    paths, _ = files
    with pytest.raises(ValueError, match="on_error"):
        fdask.read_logs(paths, CLF, on_error="collect")
    with pytest.raises(ValueError, match="blocksize"):
        fdask.read_logs(paths, CLF, blocksize=0)
    with pytest.raises(FileNotFoundError):
        fdask.read_logs(paths[0] + ".missing-*", CLF)


def test_docstring_examples():
    result = doctest.testmod(fdask, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
