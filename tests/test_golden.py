"""Golden files: every preset x escape mode rendered from one fixed adversarial event set.

Any byte drift of the kernel, the reference interpreter or the public ``Format.render``
against ``tests/golden/*.log`` fails. After an intended rule change, regenerate with
``python tests/golden/regenerate.py`` and review the diff.
"""

import importlib.util
import warnings
from pathlib import Path

import pytest

import fastctx
from fastctx import _reference

_render = pytest.importorskip("fastctx._render")

_spec = importlib.util.spec_from_file_location("golden_regenerate", Path(__file__).parent / "golden" / "regenerate.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

BATCH = golden.load_events()
CASES = golden.golden_cases()


def test_every_preset_and_mode_has_a_golden_file():
    assert len(CASES) == 24
    for case in CASES:
        assert golden.golden_path(*case).is_file(), case


@pytest.fixture(params=[True, False], ids=["simd", "table"])
def clean_check(request):
    """Run with the vector clean-value check and with the plain table loop."""
    old = _render._use_simd(request.param)
    yield request.param
    _render._use_simd(old)


@pytest.mark.parametrize("api, name, escape", CASES)
def test_render_matches_golden_file(api, name, escape, clean_check):
    expected = golden.golden_path(api, name, escape).read_bytes()
    fmt = fastctx.compile(fastctx.preset(api, name), api=api, escape=escape)
    columns = [BATCH.get(column) for column in fmt.program.columns]
    kernel, kernel_dropped = _render.Renderer(fmt.program).render(columns, 0, BATCH.num_rows)
    reference, reference_dropped = _reference.render(fmt.program, BATCH)
    assert kernel == expected
    assert reference == expected
    assert kernel_dropped == reference_dropped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fmt.render(BATCH) == expected
    assert expected.count(b"\n") >= BATCH.num_rows


def test_golden_auto_xml_drops_what_xml_cannot_hold():
    fmt = fastctx.compile(fastctx.preset("websocket", "xml"))
    with pytest.warns(fastctx.RenderWarning):
        fmt.render(BATCH)
