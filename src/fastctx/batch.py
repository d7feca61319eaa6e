"""Batch: a struct of arrays in Arrow layout, the currency of render and parse.

Every column is numpy buffers laid out exactly as Arrow wants them, so exporting through the
Arrow C data interface hands out the same memory:

- ``int64``: int64 values + validity bitmap
- ``timestamp``: int64 epoch milliseconds (timestamp[ms, UTC]) + validity bitmap
- ``string``: int64 offsets (n + 1) + UTF-8 data + validity bitmap (Arrow ``large_string``)

A validity bitmap is LSB-first, one bit per row, 1 = valid; ``None`` means no nulls.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping

import numpy as np

from .errors import value_error

__all__ = ["Batch", "Column", "Stats", "Reject"]

KINDS = ("int64", "timestamp", "string")
ARROW_TYPES = {"int64": "int64", "timestamp": "timestamp[ms, UTC]", "string": "large_string"}
_INT64_MIN = -(2**63)  # pandas' NaT
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MS = _dt.timedelta(milliseconds=1)
# the epoch milliseconds of datetime.min and of the last millisecond of datetime.max, in UTC
_DATETIME_MIN_MS = (_dt.datetime.min.replace(tzinfo=_dt.timezone.utc) - _EPOCH) // _MS
_DATETIME_MAX_MS = (_dt.datetime.max.replace(tzinfo=_dt.timezone.utc) - _EPOCH) // _MS


def _pack_validity(valid: np.ndarray) -> np.ndarray | None:
    """Bool mask -> LSB-first bitmap, or None when every row is valid."""
    if valid.all():
        return None
    return np.packbits(valid.astype(np.uint8), bitorder="little")


def _check_offsets(offsets: np.ndarray, nbytes: int) -> None:
    """ValueError unless ``offsets`` start at 0 or more, never decrease and end within
    ``nbytes`` data bytes."""
    if offsets[0] < 0 or offsets[-1] > nbytes:
        raise ValueError(f"string offsets run from {offsets[0]} to {offsets[-1]}, outside the "
                         f"column's {nbytes} data bytes")
    falls = np.flatnonzero(offsets[1:] < offsets[:-1])
    if len(falls):
        row = int(falls[0])
        raise ValueError(f"string offsets must not decrease: row {row} ends at "
                         f"{offsets[row + 1]}, before its start {offsets[row]}")


def _check_name(name) -> None:
    """A column name Arrow's C data interface carries as it is: a str of UTF-8 characters
    without NUL (it ends a C string, so ``"a\\0b"`` would arrive as ``"a"``)."""
    if not isinstance(name, str):
        raise TypeError(f"a column name must be a str, got {name!r}")
    if "\0" in name:
        raise ValueError(f"column name {name!r} holds a NUL character, which Arrow's C data "
                         "interface cannot carry")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"column name {name!r} is not valid Unicode ({exc.reason})") from None


def _unpack_validity(bitmap: np.ndarray | None, length: int) -> np.ndarray:
    if bitmap is None:
        return np.ones(length, dtype=bool)
    return np.unpackbits(bitmap, count=length, bitorder="little").astype(bool)


def _missing(item) -> bool:
    """Whether a Python value stands for a missing one: ``None``, a float NaN (pandas' marker
    in object and float columns), numpy's ``NaT``, pandas' ``NA`` or ``NaT`` (tested by type
    name, so pandas is never imported)."""
    if item is None:
        return True
    if isinstance(item, (float, np.floating)):
        return item != item
    if isinstance(item, np.datetime64):
        return bool(np.isnat(item))
    kind = type(item)
    return kind.__name__ in ("NAType", "NaTType") and kind.__module__.startswith("pandas")


def whole_floats(array: np.ndarray, name: str, base: int = 0) -> np.ndarray:
    """Floats that are whole numbers in the int64 range (pandas' integer columns with missing
    values) -> int64; the caller has replaced the missing ones. Otherwise TypeError or
    OverflowError naming the first row that is not (counted from ``base``)."""
    array = np.asarray(array, dtype=np.float64)  # float16 would overflow at 2**63
    bad = ~np.isfinite(array) | (array != np.trunc(array))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise value_error(TypeError, name, base + row, f"{float(array[row])!r} is not a whole "
                          "number; a column of numbers holds integers (fastctx has no float "
                          "columns: give text as str)")
    outside = (array < -2.0**63) | (array >= 2.0**63)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise value_error(OverflowError, name, base + row,
                          f"{float(array[row])!r} does not fit in int64")
    return array.astype(np.int64)


# What pandas' inference says of an object column whose values pyarrow converts as they are
# (of one type, or whole floats among ints): any other mix it would guess at (a 5 among
# datetimes became 5 microseconds) and bytes it would make binary. A column of only missing
# values is strings, as from a list (pyarrow chose floats for NaN, timestamps for NaT).
_ARROW_READS = frozenset(("string", "integer", "floating", "mixed-integer-float", "datetime"))


def is_pandas_frame(data) -> bool:
    """A pandas DataFrame (imported lazily: the check does not import pandas)."""
    return (type(data).__module__.startswith("pandas") and hasattr(data, "columns")
            and hasattr(data, "dtypes"))


def _is_pandas(values) -> bool:
    """A pandas Series or Index (a DataFrame, with no single dtype, is not a column)."""
    return (type(values).__module__.startswith("pandas") and hasattr(values, "to_numpy")
            and hasattr(values, "dtype"))


class Column:
    """One column: numpy buffers in Arrow layout.

    Parameters
    ----------
    kind : {"int64", "timestamp", "string"}
    values : numpy.ndarray
        int64 values (``int64``, ``timestamp``) or int64 offsets of length n + 1 (``string``).
    data : numpy.ndarray, optional
        uint8 UTF-8 bytes (``string`` only).
    validity : numpy.ndarray or None
        uint8 LSB-first bitmap, a bool mask of one entry per row (packed here), or None for
        no nulls.

    String offsets are checked (from 0 or more, non-decreasing, within ``data``): a consumer
    of the Arrow export would otherwise read outside the data.
    """

    __slots__ = ("kind", "values", "data", "validity", "length", "null_count")

    def __init__(self, kind, values, data=None, validity=None, null_count=None):
        self._set(kind, values, data, validity, null_count)
        if kind == "string":
            _check_offsets(self.values, len(self.data))

    @classmethod
    def _built(cls, kind, values, data=None, validity=None, null_count=None) -> "Column":
        """A column without the offsets check: buffers fastctx made (a parse, a slice, a join),
        valid by construction, or imported from an Arrow producer, which vouches for them as
        it would to any consumer (the render kernels check offsets again as they read)."""
        column = cls.__new__(cls)
        column._set(kind, values, data, validity, null_count)
        return column

    def _set(self, kind, values, data, validity, null_count) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.values = np.ascontiguousarray(values, dtype=np.int64)
        self.length = len(self.values) - 1 if kind == "string" else len(self.values)
        if kind == "string":
            if data is None:
                raise ValueError("a string column needs its data buffer")
            self.data = np.ascontiguousarray(data, dtype=np.uint8)
            if self.length < 0:
                raise ValueError("a string column needs n + 1 offsets")
        else:
            self.data = None
        if validity is not None and np.asarray(validity).dtype == np.bool_:
            validity = np.asarray(validity)
            if validity.shape != (self.length,):
                raise ValueError(f"a bool validity mask needs one entry per row ({self.length}), "
                                 f"got shape {validity.shape}")
            validity = _pack_validity(validity)
        if validity is not None:
            validity = np.ascontiguousarray(validity, dtype=np.uint8)
            if len(validity) < (self.length + 7) // 8:
                raise ValueError("validity bitmap shorter than the column")
        self.validity = validity
        if null_count is None:
            null_count = 0 if validity is None else int(self.length - self.valid_mask().sum())
        self.null_count = null_count

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"Column({self.kind}, length={self.length}, nulls={self.null_count})"

    def valid_mask(self) -> np.ndarray:
        """A bool array, True where the row holds a value."""
        return _unpack_validity(self.validity, self.length)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_strings(cls, items, name: str = "?") -> "Column":
        """A string column from str / None items (bytes are taken as UTF-8 and checked; NaN,
        pandas' NA and NaT are missing too)."""
        encoded = []
        valid = np.ones(len(items), dtype=bool)
        for row, item in enumerate(items):
            if isinstance(item, str):
                try:
                    encoded.append(item.encode("utf-8"))
                except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 holds it
                    raise value_error(ValueError, name, row,
                                      f"text is not valid Unicode ({exc.reason})") from None
            elif isinstance(item, (bytes, bytearray)):
                try:
                    bytes(item).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise value_error(ValueError, name, row,
                                      f"bytes are not valid UTF-8 ({exc.reason})") from None
                encoded.append(bytes(item))
            elif _missing(item):
                valid[row] = False
                encoded.append(b"")
            else:
                raise value_error(TypeError, name, row,
                                  f"expected str or None, got {type(item).__name__}")
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls("string", offsets, data, _pack_validity(valid))

    @classmethod
    def from_ints(cls, items, name: str = "?") -> "Column":
        """An int64 column from int / None items (floats that are whole numbers are taken, as
        pandas stores integers with missing values; NaN, pandas' NA and NaT are missing)."""
        values = np.zeros(len(items), dtype=np.int64)
        valid = np.ones(len(items), dtype=bool)
        for row, item in enumerate(items):
            if isinstance(item, (float, np.floating)) and item == item:
                # pandas turns an integer column with missing values into floats
                if not (np.isfinite(item) and item == np.trunc(item)):
                    raise value_error(TypeError, name, row, f"{float(item)!r} is not a whole "
                                      "number; a column of numbers holds integers (fastctx has "
                                      "no float columns: give text as str)")
                item = int(item)
            if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
                if not -(2**63) <= item < 2**63:
                    bits = abs(int(item)).bit_length()  # str() refuses more than 4,300 digits
                    shown = item if bits <= 128 else f"an integer of {bits} bits"
                    raise value_error(OverflowError, name, row, f"{shown} does not fit in int64")
                values[row] = item
            elif _missing(item):
                valid[row] = False
            else:
                raise value_error(TypeError, name, row,
                                  f"expected int or None, got {type(item).__name__}")
        return cls("int64", values, validity=_pack_validity(valid))

    @classmethod
    def from_datetimes(cls, items, name: str = "?") -> "Column":
        """Timestamps from datetime, numpy datetime64 or None; naive times are taken as UTC."""
        values = np.zeros(len(items), dtype=np.int64)
        valid = np.ones(len(items), dtype=bool)
        for row, item in enumerate(items):
            if isinstance(item, _dt.datetime) and item == item:  # pandas' NaT is a datetime
                if item.tzinfo is None:
                    item = item.replace(tzinfo=_dt.timezone.utc)
                values[row] = (item - _EPOCH) // _MS
            elif isinstance(item, np.datetime64) and not np.isnat(item):
                values[row] = cls.from_numpy(np.array([item]), name).values[0]
            elif _missing(item):
                valid[row] = False
            else:
                raise value_error(TypeError, name, row,
                                  f"expected datetime or None, got {type(item).__name__}")
        return cls("timestamp", values, validity=_pack_validity(valid))

    @classmethod
    def from_numpy(cls, array: np.ndarray, name: str = "?") -> "Column":
        """A column from a 1-D numpy array: integers, floats that are whole numbers (NaN is
        missing), datetime64 (NaT is missing), str (numpy 2's StringDType too, whose missing
        marker is missing), bytes, or objects (their kind inferred as for a list). The masked
        entries of a masked array are missing."""
        if isinstance(array, np.ma.MaskedArray):
            return cls._from_masked(array, name)
        array = np.asarray(array)
        if array.ndim != 1:
            raise ValueError(f"column {name!r}: expected a 1-D array, got {array.ndim}-D")
        kind = array.dtype.kind
        if kind == "f":
            missing = np.isnan(array)
            values = whole_floats(np.where(missing, 0.0, array), name)
            return cls("int64", values, validity=_pack_validity(~missing))
        if kind in "iu":
            if kind == "u" and array.dtype.itemsize == 8 and len(array) and array.max() >= 2**63:
                row = int(np.flatnonzero(array >= 2**63)[0])
                raise value_error(OverflowError, name, row,
                                  f"{int(array[row])} (uint64) does not fit in int64")
            return cls("int64", array.astype(np.int64, copy=False))
        if kind == "M":
            valid = ~np.isnat(array)
            unit, count = np.datetime_data(array.dtype)
            coarse = unit in ("Y", "M", "W", "D", "h", "m", "s")
            if coarse and valid.any():
                # coarser than ms: past +-INT64_MAX ms the conversion would wrap silently
                per_ms = int(np.timedelta64(count, unit).astype("timedelta64[ms]").astype(np.int64))
                raw = array.view(np.int64)
                limit = (2**63 - 1) // per_ms
                outside = valid & ((raw > limit) | (raw < -limit))
                if outside.any():
                    row = int(np.flatnonzero(outside)[0])
                    raise value_error(OverflowError, name, row,
                                      f"{array[row]} is out of range for int64 epoch milliseconds")
            ms = array.astype("datetime64[ms]").view(np.int64)
            return cls("timestamp", np.where(valid, ms, 0), validity=_pack_validity(valid))
        if kind == "U":
            return cls.from_strings(array.tolist(), name)
        if kind == "T":  # numpy 2's StringDType: its missing marker (None or NaN) is missing
            items = array.tolist()
            if hasattr(array.dtype, "na_object"):
                missing = array.dtype.na_object
                items = [None if item is missing or item is None
                         or (isinstance(item, float) and item != item) else item
                         for item in items]
            return cls.from_strings(items, name)
        if kind == "O":
            return cls._from_items(array.tolist(), name)
        if kind == "S":
            return cls.from_strings([bytes(x) for x in array.tolist()], name)
        raise TypeError(
            f"column {name!r}: numpy dtype {array.dtype} is not supported "
            "(use integers, whole-number floats, datetime64, str or object)"
        )

    @classmethod
    def _from_masked(cls, array: np.ma.MaskedArray, name: str) -> "Column":
        """A masked array: its data (the masked entries replaced, as they may hold anything)
        with the masked rows missing."""
        if array.ndim != 1:
            raise ValueError(f"column {name!r}: expected a 1-D array, got {array.ndim}-D")
        mask = np.ma.getmaskarray(array)
        data = np.ma.getdata(array)
        if not mask.any():
            return cls.from_numpy(data, name)
        kind = data.dtype.kind
        if kind == "O":
            items = data.tolist()
            for row in np.flatnonzero(mask).tolist():
                items[row] = None
            return cls._from_items(items, name)
        filler = {"M": np.datetime64("NaT"), "U": "", "S": b""}.get(kind, 0)
        column = cls.from_numpy(np.where(mask, np.array(filler, dtype=data.dtype), data), name)
        valid = column.valid_mask() & ~mask
        return cls(column.kind, column.values, column.data, _pack_validity(valid))

    @classmethod
    def _from_pandas(cls, values, name: str) -> "Column":
        """A pandas Series or Index by pandas' own means, for object columns (pyarrow would
        guess their type: a 5 among datetimes became 5 microseconds) and wherever the Arrow
        export is missing (pandas < 3, or no pyarrow): numpy dtypes as numpy arrays, nullable
        integers with their mask, times with a zone as UTC in their own unit, categories from
        their categories, anything else as Python objects with None for NA."""
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            from pandas.api.types import infer_dtype

            if infer_dtype(values, skipna=True) in _ARROW_READS:
                try:  # pyarrow converts in C++, twice as fast as a Python loop
                    import pyarrow

                    from . import _arrow

                    column = _arrow.import_column(pyarrow.array(values, from_pandas=True), name)
                    if column.null_count < len(column):
                        return column
                except Exception:  # no pyarrow, or values it refuses: read them one by one
                    pass
            return cls._from_items(values.to_numpy().tolist(), name)
        if isinstance(dtype, np.dtype):
            return cls.from_numpy(values.to_numpy(), name)
        if type(dtype).__name__ == "ArrowDtype":  # needs pyarrow, which exports it as it is
            from . import _arrow

            return _arrow.import_column(values.array.__arrow_array__(), name)
        if type(dtype).__name__ == "CategoricalDtype":
            categories = values.cat.categories.tolist() if hasattr(values, "cat") \
                else values.categories.tolist()
            codes = np.asarray(values.cat.codes if hasattr(values, "cat") else values.codes)
            return cls._from_items([categories[c] if c >= 0 else None for c in codes.tolist()],
                                   name)
        kind = getattr(dtype, "kind", "O")
        if kind in "iu":
            missing = np.asarray(values.isna(), dtype=bool)
            wide = np.uint64 if kind == "u" and dtype.itemsize == 8 else np.int64
            column = cls.from_numpy(values.to_numpy(dtype=wide, na_value=0), name)
            return cls("int64", column.values, validity=_pack_validity(~missing))
        if kind == "M" and getattr(dtype, "tz", None) is not None:
            if hasattr(values, "dt"):  # a Series; an Index converts itself
                utc = values.dt.tz_convert("UTC").dt.tz_localize(None)
            else:
                utc = values.tz_convert("UTC").tz_localize(None)
            return cls.from_numpy(utc.to_numpy(), name)
        return cls._from_items(values.to_numpy(dtype=object, na_value=None).tolist(), name)

    @classmethod
    def from_values(cls, values, name: str = "?") -> "Column":
        """Infer the kind of a list, numpy array, Column, Arrow array (pyarrow Array or
        ChunkedArray, polars Series: imported as ``Batch.from_arrow`` imports a column) or
        pandas Series."""
        if isinstance(values, Column):
            return values
        if isinstance(values, np.ndarray):
            return cls.from_numpy(values, name)
        if isinstance(values, (str, bytes, bytearray, memoryview, Mapping)) \
                or not isinstance(values, Iterable):
            raise TypeError(
                f"column {name!r}: expected a sequence of values (a list, numpy array, Arrow "
                f"array or Series), got {type(values).__name__}")
        pandas = _is_pandas(values)
        if pandas and isinstance(values.dtype, np.dtype) and values.dtype.kind == "O":
            return cls._from_pandas(values, name)
        if hasattr(values, "__arrow_c_stream__") or hasattr(values, "__arrow_c_array__"):
            from . import _arrow

            try:
                return _arrow.import_column(values, name)
            except Exception:
                # pandas exports Arrow through pyarrow, when installed, and pyarrow refuses
                # mixed object columns: its own path then names the row
                if not pandas:
                    raise
        if pandas:
            return cls._from_pandas(values, name)
        return cls._from_items(list(values), name)

    @classmethod
    def _from_items(cls, items: list, name: str) -> "Column":
        """A list of Python values, its kind that of the first one not missing: str or
        bytes, datetime, int (or a float, which must be a whole number); strings when every
        value is missing."""
        first = next((item for item in items if not _missing(item)), None)
        if first is None or isinstance(first, (str, bytes, bytearray)):
            return cls.from_strings(items, name)
        if isinstance(first, (_dt.datetime, np.datetime64)):
            return cls.from_datetimes(items, name)
        if isinstance(first, (int, np.integer, float, np.floating)) \
                and not isinstance(first, (bool, np.bool_)):
            return cls.from_ints(items, name)
        row = next(row for row, item in enumerate(items) if item is first)
        raise value_error(TypeError, name, row, f"cannot store {type(first).__name__} values "
                          "(use int, str, datetime or None)")

    # -- export ---------------------------------------------------------------------------

    def to_pylist(self) -> list:
        valid = self.valid_mask()
        if self.kind == "string":
            raw = self.data.tobytes()
            offsets = self.values.tolist()
            return [
                raw[offsets[i] : offsets[i + 1]].decode("utf-8") if valid[i] else None
                for i in range(self.length)
            ]
        if self.kind == "timestamp":
            values = self.values.tolist()
            try:
                return [_EPOCH + _dt.timedelta(milliseconds=v) if ok else None
                        for v, ok in zip(values, valid)]
            except OverflowError:
                # a time a parse accepts (an epoch_ms of any int64, a CLF time of year 0)
                # but a datetime cannot hold: name it rather than fail in the middle
                row = next(i for i, (v, ok) in enumerate(zip(values, valid))
                           if ok and not _DATETIME_MIN_MS <= v <= _DATETIME_MAX_MS)
                raise OverflowError(
                    f"row {row}: {values[row]} ms from 1970 is outside the years 1-9999 of a "
                    "Python datetime; the column's int64 milliseconds (Column.values) and "
                    "to_pyarrow() / to_polars() hold it"
                ) from None
        return [v if ok else None for v, ok in zip(self.values.tolist(), valid)]

    def take_rows(self, start: int, stop: int) -> "Column":
        """Rows ``[start, stop)``: views the int64 values and the string data; copies the
        validity bits and a string column's offsets (rebased to start at 0)."""
        valid = self.valid_mask()[start:stop]
        if self.kind == "string":
            offsets = self.values[start : stop + 1]
            data = self.data[offsets[0] : offsets[-1]]
            return Column._built("string", offsets - offsets[0], data, _pack_validity(valid))
        return Column._built(self.kind, self.values[start:stop], validity=_pack_validity(valid))


class Stats:
    """Record counts of a parse: ``accepted + rejected + empty == records`` always.

    ``normalized`` counts accepted records that were not byte-canonical (recovered by the
    unescaped retry, or written with escapes fastctx never writes).
    """

    __slots__ = ("records", "accepted", "rejected", "empty", "normalized")

    def __init__(self, records=0, accepted=0, rejected=0, empty=0, normalized=0):
        self.records = records
        self.accepted = accepted
        self.rejected = rejected
        self.empty = empty
        self.normalized = normalized

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other) -> bool:
        return isinstance(other, Stats) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return "Stats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


class Reject:
    """A record that was not accepted: where it was, why, and its raw bytes."""

    __slots__ = ("line", "offset", "reason", "raw")

    def __init__(self, line: int, offset: int, reason: str, raw: bytes):
        self.line = line
        self.offset = offset
        self.reason = reason
        self.raw = raw

    def __repr__(self) -> str:
        return f"Reject(line={self.line}, offset={self.offset}, reason={self.reason!r}, raw={self.raw!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Reject) and (self.line, self.offset, self.reason, self.raw) == (
            other.line,
            other.offset,
            other.reason,
            other.raw,
        )


class Batch:
    """A struct of arrays: named columns of equal length.

    Examples
    --------
    >>> import fastctx
    >>> b = fastctx.Batch.from_pydict({"status": [200, None], "requestId": ["a", "b"]})
    >>> b.num_rows, b.column_names
    (2, ['status', 'requestId'])
    >>> b.to_pydict()
    {'status': [200, None], 'requestId': ['a', 'b']}
    """

    def __init__(self, columns: Mapping[str, Column], num_rows: int | None = None, stats=None, rejects=None):
        self._columns = dict(columns)
        for name in self._columns:
            _check_name(name)
        lengths = {name: len(col) for name, col in self._columns.items()}
        if num_rows is None:
            num_rows = next(iter(lengths.values()), 0)
        for name, length in lengths.items():
            if length != num_rows:
                raise ValueError(f"column {name!r} has {length} rows, expected {num_rows}")
        self._num_rows = num_rows
        self.stats = stats
        self.rejects = rejects if rejects is not None else []

    @classmethod
    def from_pydict(cls, mapping: Mapping) -> "Batch":
        """Build from ``{name: list | numpy array | Column}``.

        Lists are inferred: int -> int64, str -> string, datetime -> timestamp; None is null.
        A value of another type is a ``TypeError`` naming the column and row.
        """
        return cls({name: Column.from_values(values, name) for name, values in mapping.items()})

    from_dict = from_pydict

    @property
    def num_rows(self) -> int:
        return self._num_rows

    def __len__(self) -> int:
        return self._num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    @property
    def columns(self) -> dict:
        return dict(self._columns)

    def column(self, name: str) -> Column:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {self.column_names}") from None

    def get(self, name: str) -> Column | None:
        return self._columns.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._columns

    @property
    def schema(self) -> dict:
        """``{name: Arrow type}`` of the columns, as they export through the Arrow interface.

        >>> Batch.from_pydict({"status": [200], "requestId": ["r"]}).schema
        {'status': 'int64', 'requestId': 'large_string'}
        """
        return {name: ARROW_TYPES[col.kind] for name, col in self._columns.items()}

    def to_pydict(self) -> dict:
        """``{name: list}`` of Python values: int, str, UTC datetime, None.

        A timestamp outside the years 1-9999 (which a parse can accept: an ``epoch_ms`` of
        any int64, a CLF time of year 0) raises ``OverflowError`` naming its column and row.
        """
        out = {}
        for name, col in self._columns.items():
            try:
                out[name] = col.to_pylist()
            except OverflowError as exc:
                raise OverflowError(f"column {name!r} {exc}") from None
        return out

    def slice(self, start: int, stop: int) -> "Batch":
        """Rows ``[start, stop)``."""
        start, stop, _ = slice(start, stop).indices(self._num_rows)
        stop = max(start, stop)
        return Batch({n: c.take_rows(start, stop) for n, c in self._columns.items()}, stop - start)

    def __repr__(self) -> str:
        cols = ", ".join(f"{n}: {c.kind}" for n, c in self._columns.items())
        return f"Batch({self._num_rows} rows; {cols})"

    # -- Arrow ------------------------------------------------------------------------------
    # The Arrow PyCapsule interface, in _arrow.pyx: exports point into the columns' own numpy
    # buffers (no copy, no pyarrow); a Batch is one record batch with nullable fields
    # int64 "l", timestamp[ms, UTC] "tsm:UTC" and large_string "U".

    def __arrow_c_schema__(self):
        """A PyCapsule ``arrow_schema``: a struct type with one field per column."""
        from . import _arrow

        return _arrow.export_schema(self)

    def __arrow_c_array__(self, requested_schema=None):
        """``(arrow_schema, arrow_array)`` PyCapsules: the columns as one struct array,
        sharing the Batch's memory. ``requested_schema`` is accepted and not applied (the
        protocol lets a producer keep its own schema)."""
        from . import _arrow

        return _arrow.export_array(self)

    def __arrow_c_stream__(self, requested_schema=None):
        """A PyCapsule ``arrow_array_stream`` yielding this Batch as one record batch.

        Each call makes a new stream, so a Batch can be consumed any number of times.
        ``requested_schema`` is accepted and not applied, as in ``__arrow_c_array__``.
        """
        from . import _arrow

        return _arrow.export_stream(self)

    @classmethod
    def from_arrow(cls, data, names=None) -> "Batch":
        """Import any Arrow PyCapsule exporter (pyarrow, polars, pandas, DuckDB).

        Matching layouts (int64, large_string, timestamp[ms]) are zero-copy; other integer
        widths, timestamp units, dates, string / string_view / dictionary strings are
        converted without going through Python objects; floats must be whole numbers (NaN
        is missing). An extension type (pandas' periods, ``arrow.bool8``...) is refused
        rather than read as its storage, except ``arrow.json``. A pandas DataFrame is read
        column by column, so that an object column of mixed values is an error rather than
        pyarrow's guess. ``names`` limits the columns.

        Examples
        --------
        >>> import fastctx
        >>> b = fastctx.Batch.from_pydict({"status": [200, None], "requestId": ["a", "b"]})
        >>> fastctx.Batch.from_arrow(b, names=["status"]).to_pydict()  # a Batch exports Arrow too
        {'status': [200, None]}
        """
        if is_pandas_frame(data):
            # column by column, as a dict of Series: a whole frame's Arrow export guesses the
            # type of a mixed object column (a 5 among datetimes became 5 microseconds)
            keep = None if names is None else set(names)
            wanted = [name for name in data.columns if keep is None or str(name) in keep]
            columns = {str(name): Column.from_values(data[name], str(name)) for name in wanted}
            return cls(columns, len(data))
        from . import _arrow

        return _arrow.import_batch(data, names)

    def to_pyarrow(self):
        """A ``pyarrow.Table`` over the same buffers (imports pyarrow only when called)."""
        import pyarrow

        return pyarrow.table(self)

    def to_polars(self):
        """A ``polars.DataFrame`` (imports polars only when called)."""
        import polars

        return polars.DataFrame(self)

    def to_pandas(self):
        """A ``pandas.DataFrame``: timestamps ``datetime64[ms, UTC]``, nullable integers as
        ``Int64`` (imports pandas and pyarrow only when called).

        pandas writes a missing time as the smallest int64 (``NaT``), so a time a parse
        accepted as that very value (an ``epoch_ms`` of -9223372036854775808) would turn
        into a missing one: it raises ``OverflowError`` naming its column and row instead."""
        import pandas
        import pyarrow

        for name, col in self._columns.items():
            if col.kind == "timestamp":
                nat = col.values[: col.length] == _INT64_MIN
                if col.validity is not None:
                    nat &= col.valid_mask()
                if nat.any():
                    raise OverflowError(
                        f"column {name!r} row {int(np.flatnonzero(nat)[0])}: "
                        f"{_INT64_MIN} ms from 1970 is the value pandas keeps for a missing "
                        "time (NaT); to_pyarrow() / to_polars() hold it")
        return self.to_pyarrow().to_pandas(types_mapper={pyarrow.int64(): pandas.Int64Dtype()}.get)


# -- concatenation ---------------------------------------------------------------------------
# Used to join the per-chunk results of a threaded parse and the blocks of a reader.


def _concat_validity(columns, total: int) -> np.ndarray | None:
    if all(col.validity is None for col in columns):
        return None
    # Chunks end at arbitrary rows, so the bitmaps are rarely byte-aligned: go through one bool
    # per row (about 1% of a typical parse's output bytes).
    valid = np.ones(total, dtype=bool)
    row = 0
    for col in columns:
        if col.validity is not None:
            valid[row : row + col.length] = col.valid_mask()
        row += col.length
    return _pack_validity(valid)


def _null_column(kind: str, length: int) -> Column:
    """A column of ``length`` nulls of ``kind``."""
    validity = np.zeros((length + 7) // 8, dtype=np.uint8)
    if kind == "string":
        return Column(kind, np.zeros(length + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8),
                      validity, length)
    return Column(kind, np.zeros(length, dtype=np.int64), None, validity, length)


def _concat_column(columns, name: str, submit) -> tuple[Column, list]:
    """One output column; the bulk copies go through ``submit(fn)`` (run now or on a thread)."""
    # a column of nulls only takes the kind of the others (a dict's [None] is text)
    kinds = {col.kind for col in columns if col.null_count < col.length} or {columns[0].kind}
    if len(kinds) > 1:
        first, other = sorted(kinds, key=[col.kind for col in columns].index)[:2]
        raise ValueError(f"column {name!r} is {first} in one batch and {other} in another")
    kind = kinds.pop()
    columns = [col if col.kind == kind else _null_column(kind, col.length) for col in columns]
    total = sum(col.length for col in columns)
    pending = []
    if kind == "string":
        sizes = [int(col.values[col.length] - col.values[0]) for col in columns]
        data = np.empty(sum(sizes), dtype=np.uint8)
        offsets = np.empty(total + 1, dtype=np.int64)
        offsets[total] = len(data)
        row = base = 0
        for col, size in zip(columns, sizes):
            n = col.length

            def copy(col=col, row=row, base=base, n=n, size=size):
                first = col.values[0]
                np.add(col.values[:n], base - first, out=offsets[row : row + n])
                data[base : base + size] = col.data[first : first + size]

            pending.append(submit(copy))
            row += n
            base += size
        out = (offsets, data)
    else:
        values = np.empty(total, dtype=np.int64)
        row = 0
        for col in columns:

            def copy(col=col, row=row):
                values[row : row + col.length] = col.values[: col.length]

            pending.append(submit(copy))
            row += col.length
        out = (values, None)
    validity = _concat_validity(columns, total)
    nulls = sum(col.null_count for col in columns)
    return (kind, out, validity, nulls), pending


def _sum_stats(batches) -> Stats | None:
    """The batches' stats summed, or None unless every batch has stats (a slice, a batch
    built from columns): a sum over some would count records for rows it does not cover."""
    stats = [b.stats for b in batches]
    if not stats or any(item is None for item in stats):
        return None
    total = Stats()
    for item in stats:
        for field in Stats.__slots__:
            setattr(total, field, getattr(total, field) + getattr(item, field))
    return total


def _batch_concat(cls, batches, executor=None) -> "Batch":
    """Rows of ``batches`` one after another, in new buffers.

    Every batch must have the same column names (in any order; the first batch's order is
    kept) and kinds (a column of nulls only takes the kind of the others). ``stats`` are
    summed (None unless every batch has them) and ``rejects`` are joined in order.

    Parameters
    ----------
    batches : sequence of Batch
    executor : concurrent.futures.Executor, optional
        Run the buffer copies on it (numpy releases the GIL while copying), so a join of
        large chunks uses every core.

    Examples
    --------
    >>> import fastctx
    >>> a = fastctx.Batch.from_pydict({"s": ["x", None], "n": [1, 2]})
    >>> b = fastctx.Batch.from_pydict({"s": ["yz"], "n": [3]})
    >>> fastctx.Batch.concat([a, b]).to_pydict()
    {'s': ['x', None, 'yz'], 'n': [1, 2, 3]}
    """
    batches = list(batches)
    if not batches:
        return cls({}, 0)
    names = batches[0].column_names
    for batch in batches[1:]:
        if sorted(batch.column_names) != sorted(names):
            raise ValueError(
                f"cannot concatenate batches with columns {names} and {batch.column_names}"
            )
    rejects = [reject for batch in batches for reject in batch.rejects]
    total = sum(batch.num_rows for batch in batches)
    if len(batches) == 1:
        only = batches[0]
        return cls(only.columns, only.num_rows, only.stats, rejects)

    def run_now(fn):
        fn()
        return None

    submit = run_now if executor is None else executor.submit
    parts, pending = {}, []
    for name in names:
        parts[name], waits = _concat_column([b.column(name) for b in batches], name, submit)
        pending += waits
    for future in pending:
        if future is not None:
            future.result()
    columns = {
        name: Column._built(kind, values, data, validity, nulls)
        for name, (kind, (values, data), validity, nulls) in parts.items()
    }
    return cls(columns, total, _sum_stats(batches), rejects)


Batch.concat = classmethod(_batch_concat)
