"""Type stubs for the export-prefix kernel (``_export.pyx``)."""

import numpy as np

__all__ = ["strip_export"]

def strip_export(data: bytes | bytearray | memoryview) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``(records, prefixed, times)``: the lines without their export timestamps, and per
    line whether it had one (bool) and its epoch milliseconds (int64)."""
