"""Type stubs for the CSV and JSON Lines text kernel (``_textout.pyx``)."""

import numpy as np

__all__ = ["write_rows", "ISO_MIN_MS", "ISO_MAX_MS"]

#: Epoch milliseconds of 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the times
#: the kernel writes as ISO text.
ISO_MIN_MS: int
ISO_MAX_MS: int

def write_rows(
    columns: list[tuple[int, np.ndarray, np.ndarray | None, np.ndarray | None, bytes]],
    rows: int,
    json: bool,
) -> bytes:
    """Every row of the columns as CSV (no header) or JSON Lines, UTF-8."""
