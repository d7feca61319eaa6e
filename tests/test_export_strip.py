"""The export-prefix kernel against a line-by-line reference built on numpy's datetime64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastctx._export import strip_export

WIDTH = 25


def reference(data: bytes):
    records, prefixed, times, empty = [], [], [], []
    lines = [part + b"\n" for part in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]  # after the last newline: the unterminated last line, or nothing
    for line in [line for line in lines if line]:
        head = line[:WIDTH]
        ok = len(line) >= WIDTH and head[23:25] == b"Z " and head[10:11] == b"T"
        shape = b"0000-00-00T00:00:00.000Z "
        ok = ok and all((c in b"0123456789") if s == 0x30 else c == s for c, s in zip(head, shape))
        value = 0
        if ok:
            try:
                value = int(np.datetime64(head[:23].decode(), "ms").astype(np.int64))
            except ValueError:
                ok = False
        record = line[WIDTH:] if ok else line
        terminated = record.endswith(b"\n")
        if ok and not terminated:
            record += b"\n"  # a prefixed last line gets its newline: one record per line
        records.append(record)
        prefixed.append(ok)
        times.append(value if ok else 0)
        # a lone CR is an empty record before a newline, and data at the end of the input
        body = record.rstrip(b"\n")
        empty.append(body == b"" or (body == b"\r" and (terminated or ok)))
    return b"".join(records), prefixed, times, empty


def check(data: bytes):
    records, prefixed, times, empty = strip_export(data)
    want = reference(data)
    assert records == want[0]
    assert prefixed.tolist() == want[1]
    assert times.tolist() == want[2]
    assert empty.tolist() == want[3]
    assert type(records) is bytes


@pytest.mark.parametrize("line", [
    b"2024-07-10T18:15:21.799Z r1 200",
    b"2024-02-29T00:00:00.000Z leap",
    b"2023-02-29T00:00:00.000Z not a leap year",
    b"1900-02-29T00:00:00.000Z not a leap year either",
    b"2000-02-29T23:59:59.999Z a leap year",
    b"0000-01-01T00:00:00.000Z year zero",
    b"9999-12-31T23:59:59.999Z",
    b"2024-13-01T00:00:00.000Z month 13",
    b"2024-00-01T00:00:00.000Z month 0",
    b"2024-04-31T00:00:00.000Z",
    b"2024-04-00T00:00:00.000Z",
    b"2024-07-10T24:00:00.000Z",
    b"2024-07-10T23:60:00.000Z",
    b"2024-07-10T23:59:60.000Z",
    b"2024-07-10 18:15:21.799Z space for T",
    b"2024-07-10T18:15:21.799Zx",
    b"2024-07-10T18:15:21.799Z",
    b"2024-07-10T18:15:21.799Z ",
    b"2024-07-10T18:15:21,799Z comma",
    b"2024-07-1OT18:15:21.799Z letter O",
    b"short",
    b"",
    b"\xff\xfe2024-07-10T18:15:21.799Z",
])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_lines(line, ending):
    check(line + ending)
    check(line + ending + b"2024-07-10T18:15:21.799Z next\n")
    check(b"2024-07-10T18:15:21.799Z before\n" + line + ending)


def test_empty_and_newlines_only():
    prefix = b"2024-07-10T18:15:21.799Z "
    for data in (b"", b"\n", b"\n\n\n", b"\n2024-07-10T18:15:21.799Z x\n\n", b"\r\n\r", b"\r",
                 prefix + b"\n" + prefix + b"\r\n" + prefix + b"\r\r\n" + prefix + b"\r", prefix):
        check(data)  # empty records: nothing or a lone CR left before the newline


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from([b"", b"2024-07-10T18:15:21.799Z ", b"2024-02-30T01:02:03.004Z ",
                     b"1999-12-31T23:59:59.999Z ", b"2024-07-10T18:15:21.799Z"]),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b)), max_size=30), st.booleans())
def test_random_lines(parts, final_newline):
    data = b"\n".join(prefix + body for prefix, body in parts)
    if final_newline and data:
        data += b"\n"
    check(data)
