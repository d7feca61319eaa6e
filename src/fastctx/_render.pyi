"""Type stubs for the render kernel (``_render.pyx``)."""

from collections.abc import Sequence

import numpy as np

from .batch import Column
from .program import Program

__all__ = ["Renderer", "BoundColumns", "enum_values"]

class Renderer:
    """Renders rows of bound columns with one compiled ``Program``; thread-safe."""

    @property
    def program(self) -> Program: ...
    def __init__(self, program: Program) -> None: ...
    def render(self, columns: Sequence[Column | None], start: int, stop: int) -> tuple[bytes, int]:
        """Rows ``[start, stop)`` -> ``(lines, dropped)``."""
    def estimate(self, columns: Sequence[Column | None], start: int, stop: int) -> int:
        """Expected bytes of rows ``[start, stop)`` (sampled; not an upper bound)."""
    def render_into(
        self, columns: Sequence[Column | None], start: int, stop: int, out: object
    ) -> tuple[int, int, int]:
        """Whole records from ``start`` into writable ``out`` -> ``(nbytes, rows, dropped)``."""
    def bind(self, columns: Sequence[Column | None], stop: int) -> BoundColumns:
        """The columns checked and bound once, for many ranges of rows below ``stop``."""
    def render_placed(
        self, columns: Sequence[Column | None], start: int, stop: int, scratch: object,
        out: object, offsets: np.ndarray, index: int, used: int = 0,
    ) -> tuple[int, int, int, int]:
        """``bind(columns, stop).render_placed(start, stop, ...)``."""
    def __reduce__(self) -> tuple[type[Renderer], tuple[Program]]: ...

class BoundColumns:
    """A renderer's columns bound once (``Renderer.bind``) for a threaded render's ranges."""

    def render_placed(
        self, start: int, stop: int, scratch: object, out: object, offsets: np.ndarray,
        index: int, used: int = 0,
    ) -> tuple[int, int, int, int]:
        """Rows of range ``index`` into ``scratch`` after its ``used`` bytes until
        ``offsets[index]`` is known, then into ``out`` at it -> ``(nbytes, rows, dropped,
        offset or -1)``."""

def prepare_output(address: int, size: int, populate: bool = True) -> None:
    """Prepare the fresh pages of an output built in place (huge or pre-faulted pages)."""

def output_done() -> None:
    """Note that a large output was just completed."""

def _use_stream(enabled: bool) -> bool:
    """Streaming stores for a threaded render's copies from scratch on or off (for tests);
    returns the previous state."""

def _use_simd(enabled: bool) -> bool:
    """Turn the SSE2 clean-value check on or off (for tests); returns the previous state."""

def _use_avx2(enabled: bool) -> bool:
    """Turn the AVX2 offsets check on (where the CPU has it) or off (for tests); returns the
    previous state."""

def enum_values() -> dict[str, dict[str, int]]:
    """The C enum values compiled into the kernel, keyed by enum name."""
