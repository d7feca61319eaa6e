"""Errors say what, where, with an excerpt; they subclass ValueError and survive pickling."""

import pickle

import pytest

from fastctx import errors
from fastctx.errors import caret_excerpt

SAMPLES = [
    errors.FormatError("bad thing", "$context.requestId $context.", 20),
    errors.UnknownVariableError(["$context.a"], [1], {"$context.a": None}, "$context.a"),
    errors.RenderError("value 'x' is not an integer", "status", 3),
    errors.BufferTooSmallError(2, 100, 120),
    errors.BufferTooSmallError(2, 100, 120, start=5),
    errors.ParseError("not an integer", 7, 1234, 3, "$context.status", b"r1 2x0 ok"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle_with_their_message_and_attributes(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)
    assert isinstance(again, (errors.FastctxError, ValueError))


def test_parse_error_names_line_offset_expected_and_points_at_the_byte():
    error = SAMPLES[-1]
    text = str(error)
    assert text.startswith("line 7, byte offset 1234 (byte 3 of the record): not an integer; "
                           "expected $context.status")
    excerpt, caret = text.splitlines()[-2:]
    assert caret.index("^") == excerpt.index("2x0")


def test_caret_excerpt_cuts_long_text_around_the_spot():
    text = "a" * 500 + "X" + "b" * 500
    window, caret = caret_excerpt(text, 500).splitlines()
    assert window.strip().startswith("...") and window.endswith("...")
    assert window[caret.index("^")] == "X"
    assert len(window) < 100


@pytest.mark.parametrize("text, index", [
    ("a\r\n$context.requestId $context.", 23), ("日本語 $context.requestId $context.", 24),
    ("x\ty $z", 5), ("\n\n\n$a", 3),
])
def test_the_caret_stands_under_the_character_it_names(text, index):
    # CR and LF are shown as two characters each, a wide character takes two columns
    import unicodedata

    window, caret = errors.caret_excerpt(text, index).split("\n")
    pad = len(caret) - len(caret.lstrip(" "))
    shown, columns = window[4:], 4
    for k, ch in enumerate(shown):
        if columns == pad:
            break
        columns += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    assert columns == pad and caret.endswith("^")
    assert shown[k] == text[index]
