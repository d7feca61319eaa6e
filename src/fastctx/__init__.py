"""fastctx: compile API Gateway access-log templates; render and parse log lines at native speed."""

from .api import Format, compile, parse, render
from .batch import Batch, Column, Reject, Stats
from .errors import (
    BufferTooSmallError,
    FastctxError,
    FormatError,
    FormatWarning,
    InputError,
    ParseError,
    RenderError,
    RenderWarning,
    UnknownVariableError,
)
from ._memory import memory_pool_limit, release_memory
from .io import read, read_all
from .presets import preset

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "BufferTooSmallError",
    "Column",
    "FastctxError",
    "Format",
    "FormatError",
    "FormatWarning",
    "InputError",
    "ParseError",
    "Reject",
    "RenderError",
    "RenderWarning",
    "Stats",
    "UnknownVariableError",
    "__version__",
    "compile",
    "memory_pool_limit",
    "parse",
    "preset",
    "read",
    "read_all",
    "release_memory",
    "render",
]
