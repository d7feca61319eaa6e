"""Type stubs for the export-prefix kernel (``_export.pyx``)."""

import numpy as np

__all__ = ["strip_export"]

def strip_export(
    data: bytes | bytearray | memoryview,
) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """``(records, prefixed, times, empty)``: the lines without their export timestamps, and
    per line whether it had one (bool), its epoch milliseconds (int64) and whether what is
    left is an empty record (bool)."""
