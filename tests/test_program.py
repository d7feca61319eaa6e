"""The kernels' C enums (``_opcodes.pxd``) must mirror the Python tables in ``program.py``."""

import numpy as np
import pytest

from fastctx import batch, program

_render = pytest.importorskip("fastctx._render")


@pytest.mark.parametrize("enum", [program.Op, program.VType, program.Esc, program.Action])
def test_c_enum_mirrors_python_enum(enum):
    assert _render.enum_values()[enum.__name__] == {member.name: int(member) for member in enum}


def test_column_kind_codes_follow_batch_kinds():
    assert _render.enum_values()["ColumnKind"] == {kind: index for index, kind in enumerate(batch.KINDS)}


def test_escape_tables_hold_one_table_per_escape_method():
    tables = np.frombuffer(program.ESCAPE_TABLES, dtype=np.uint8).reshape(len(program.Esc), 256)
    assert tables.max() <= max(program.Action)
    # the plain method never escapes; CSV only ever asks for quoting
    assert not tables[program.Esc.NONE].any()
    assert set(np.unique(tables[program.Esc.CSV])) == {program.Action.COPY, program.Action.CSV_QUOTE}


def test_renderer_rejects_a_program_that_does_not_alternate():
    good = program.Program.build([b"a", ("requestId", program.VType.TOKEN, program.Esc.NONE), b"b"], "text", "none")
    bad = program.Program(
        code=np.asarray([program.Op.VAR, 0, 0], dtype=np.int32).tobytes(),
        pool=b"", slots=good.slots, columns=good.columns, shape="text", escape="none",
    )
    _render.Renderer(good)
    with pytest.raises(ValueError, match="alternate"):
        _render.Renderer(bad)
