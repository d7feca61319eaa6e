"""Type stubs for the parse kernel."""

from typing import Any, Callable, Iterable, Literal

from .batch import Batch, Reject, Stats
from .parseplan import ParsePlan
from .program import Program

ENUMS: dict[str, dict[str, int]]
VSET_SIZE: int
FAST_PATHS: bool

def vector_set(members: Iterable[int]) -> bytes: ...
def _use_simd(enabled: bool) -> bool: ...
def _use_stream(enabled: bool) -> bool: ...
def _fast_rows() -> int: ...
def _kept_after_array(capacity: int, size: int) -> int: ...

class _Chunk:
    """A ``parse_chunk`` result: growable column buffers, counts and rejects."""

    rows: int
    stats: Stats
    rejects: list[Reject]
    used: bool
    tail_open: bool

class Parser:
    """Parses records of one compiled ``Program`` into a ``Batch`` (thread-safe, immutable)."""

    plan: ParsePlan
    def __init__(self, program: Program) -> None: ...
    def parse(
        self,
        data: bytes | bytearray | memoryview | str,
        on_error: Literal["raise", "skip", "collect"] = "raise",
        line_base: int = 1,
        offset_base: int = 0,
    ) -> Batch: ...
    def parse_chunk(
        self,
        data: bytes | bytearray | memoryview | str,
        on_error: Literal["raise", "skip", "collect"] = "raise",
        line_base: int = 1,
        offset_base: int = 0,
        reserve: int = 0,
        end: int | None = None,
        more: Callable[[int], int | None] | None = None,
        last: bool = True,
    ) -> _Chunk: ...
    def join(self, chunks: Iterable[_Chunk], submit: Callable[[Callable[[], None]], Any] | None = None) -> Batch: ...
