"""Type stubs for the parse kernel."""

from typing import Literal

from .batch import Batch
from .parseplan import ParsePlan
from .program import Program

ENUMS: dict[str, dict[str, int]]

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
