"""Arrow C data interface for ``Batch`` (export and import); see ``_arrow.pyx``."""

from collections.abc import Iterable
from typing import Any

from .batch import Batch, Column

def export_schema(batch: Batch) -> Any:
    """A PyCapsule named ``arrow_schema``: a struct type with one field per column."""

def export_array(batch: Batch) -> tuple[Any, Any]:
    """``(arrow_schema, arrow_array)`` PyCapsules: the Batch as one struct array."""

def export_stream(batch: Batch) -> Any:
    """A new PyCapsule named ``arrow_array_stream`` yielding the Batch as one record batch."""

def import_batch(obj: Any, names: Iterable[str] | None = None) -> Batch:
    """Any ``__arrow_c_stream__`` / ``__arrow_c_array__`` exporter -> ``Batch``."""

def import_column(obj: Any, name: str = "?") -> Column:
    """One exporter of a single array type (pyarrow Array / ChunkedArray, polars or pandas
    Series) -> ``Column``."""
