"""The gzip inflater the readers use: ISA-L when installed, zlib otherwise.

Decompression, not parsing, bounds the speed of reading gzip logs: zlib inflated the
benchmark's 160 MB of CLF lines in 711 ms on one core here (``benchmarks/test_read_bench.py``),
and the parse kernel reads 400 MB/s and more. ISA-L's inflate (the optional ``isal``
package, ``pip install fastctx[gzip]``) gives the same bytes in 353 ms, and releases the
GIL, so it overlaps the parse of the previous batch on another thread.
"""

from __future__ import annotations

import os
import zlib

__all__ = ["decompressobj", "errors", "backend"]

#: ``wbits`` for a gzip member (header and trailer checked)
GZIP_WBITS = 31


def _load():
    if os.environ.get("FASTCTX_GZIP", "").lower() != "zlib":
        try:
            from isal import isal_zlib
        except ImportError:
            pass
        else:
            return "isal", isal_zlib.decompressobj, (isal_zlib.error, zlib.error)
    return "zlib", zlib.decompressobj, (zlib.error,)


#: which library inflates ("isal" or "zlib"); ``FASTCTX_GZIP=zlib`` forces zlib
backend, _factory, errors = _load()


def decompressobj():
    """A new inflater for one gzip member (the ``zlib.decompressobj`` interface)."""
    return _factory(GZIP_WBITS)


def use(name: str) -> str:
    """Switch the inflater to ``"isal"`` or ``"zlib"`` (tests run both); returns the previous one."""
    global backend, _factory, errors
    previous = backend
    if name == "zlib":
        backend, _factory, errors = "zlib", zlib.decompressobj, (zlib.error,)
    elif name == "isal":
        from isal import isal_zlib

        backend, _factory, errors = "isal", isal_zlib.decompressobj, (isal_zlib.error, zlib.error)
    else:
        raise ValueError(f"unknown gzip backend {name!r}; expected 'isal' or 'zlib'")
    return previous
