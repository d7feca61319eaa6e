"""Regenerate the golden render outputs from ``events.json`` with the reference interpreter.

Run ``python tests/golden/regenerate.py`` only when a rendering rule changes on purpose, and
review the diff: ``tests/test_golden.py`` fails on any byte drift of the kernel or the
reference against these files. Files are named ``{api}-{preset}-{escape}.log``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ESCAPES = ("none", "json", "auto")


def load_events():
    """``events.json`` -> a ``fastctx.Batch`` (kinds as recorded, nulls as None)."""
    from fastctx.batch import Batch, Column

    spec = json.loads((HERE / "events.json").read_text(encoding="utf-8"))
    columns = {}
    for name, column in spec["columns"].items():
        values = column["values"]
        if column["kind"] == "string":
            columns[name] = Column.from_strings(values, name)
        else:
            valid = np.array([v is not None for v in values])
            columns[name] = Column(
                column["kind"], [0 if v is None else v for v in values],
                validity=None if valid.all() else np.packbits(valid, bitorder="little"),
            )
    return Batch(columns, spec["rows"])


def golden_cases():
    from fastctx.presets import PRESETS

    return [(api, name, escape) for api in PRESETS for name in PRESETS[api] for escape in ESCAPES]


def golden_path(api: str, name: str, escape: str) -> Path:
    return HERE / f"{api}-{name}-{escape}.log"


def main() -> None:
    import fastctx
    from fastctx import _reference

    batch = load_events()
    for api, name, escape in golden_cases():
        fmt = fastctx.compile(fastctx.preset(api, name), api=api, escape=escape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, _ = _reference.render(fmt.program, batch)
        golden_path(api, name, escape).write_bytes(out)
        print(f"wrote {golden_path(api, name, escape).name}: {len(out)} bytes")


if __name__ == "__main__":
    main()
