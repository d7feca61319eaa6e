"""Compiler: lexing, AWS validation rules, shapes, escape positions, Program emission."""

import json
import pickle
import warnings

import pytest

import fastctx
from fastctx import FormatError, FormatWarning, UnknownVariableError
from fastctx.compiler import MAX_TEMPLATE_BYTES, lex
from fastctx.program import Esc, Op, VType
from fastctx.presets import PRESETS

RID = "$context.requestId"


def slots(template, **kw):
    return [(s.name, s.esc) for s in fastctx.Format(template, **kw).program.slots]


# -- lexing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, names, tail",
    [
        ("$context.status.", ["status"], "."),
        ("$context.status-", ["status"], "-"),
        ("$context.status.-.", ["status"], ".-."),
        ("$context.identity.sourceIp:", ["identity.sourceIp"], ":"),
        ("$context.requestOverride.header.X-Trace-Id", ["requestOverride.header.X-Trace-Id"], ""),
        ("a\\n$context.status", ["status"], ""),
        ("$context.a$context.b", ["a", "b"], ""),
        ("$contextual $context", [], "$contextual $context"),
    ],
)
def test_lex_longest_name_and_trailing_punctuation(template, names, tail):
    parts = lex(template)
    assert [v.name for v in parts[1::2]] == names
    assert parts[-1] == tail


def test_backslashes_are_literal():
    fmt = fastctx.Format("$context.requestId\\n\\t", escape="none")
    assert fmt.program.literals()[-1] == b"\\n\\t"


@pytest.mark.parametrize("template, column", [("x $context.", 3), (RID + " $context. x", 20)])
def test_a_prefix_without_a_name_is_a_syntax_error_even_when_not_strict(template, column):
    with pytest.raises(FormatError) as info:
        fastctx.Format(template, strict=False)
    assert info.value.column == column
    assert "^" in str(info.value)


def test_a_name_with_empty_segments_is_a_name_like_any_other():
    # SPEC: the longest run of A-Z a-z 0-9 _ . - not ending in . or -; unknown here
    template = RID + " $context.a..b $context..c"
    with pytest.raises(UnknownVariableError) as info:
        fastctx.compile(template)
    assert info.value.names == ["$context.a..b", "$context..c"]
    assert fastctx.compile(template, strict=False).variables == ("requestId", "a..b", ".c")
    with pytest.warns(FormatWarning, match=r"\$context\.a\.\.b"):
        rest = fastctx.compile(template, api="rest")
    assert rest.render({"requestId": ["r"]}) == b"r - -\n"


@pytest.mark.parametrize("template", [
    '{"id":"$context.requestId","p":"\\$context.stage/"}',  # the value's first byte escaped
    '{"id":"$context.requestId","a":NaN}',
    '{"id":"$context.requestId","a":-Infinity}',
])
def test_not_json_unless_every_variable_has_a_json_position(template):
    fmt = fastctx.compile(template)
    assert fmt.shape == "text" and len(fmt.variables) == template.count("$context.")
    values = {"requestId": ["R1"], "stage": ["prod"]}
    # every literal and value is kept (the values hold nothing to escape)
    expected = template.replace("$context.requestId", "R1").replace("$context.stage", "prod")
    assert fmt.render(values) == expected.encode() + b"\n"


# -- AWS rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["", "   ", "\t\n"])
def test_empty_or_blank_is_rejected(template):
    with pytest.raises(FormatError, match="empty or blank"):
        fastctx.Format(template)


def test_single_line_rule_uses_aws_wording_and_column():
    with pytest.raises(FormatError) as info:
        fastctx.Format(RID + "\n$context.status")
    assert "Access Log format must be single line, new line character is allowed only at end of the format" in str(info.value)
    assert info.value.column == len(RID) + 1


def test_carriage_return_is_not_a_line_terminator():
    with pytest.raises(FormatError, match="single line"):
        fastctx.Format(RID + "\r\n")


def test_trailing_newline_is_the_terminator_not_an_extra_line():
    plain = fastctx.Format(RID)
    ended = fastctx.Format(RID + "\n")
    assert plain.program.code == ended.program.code and plain.program.pool == ended.program.pool


def test_double_trailing_newline_is_rejected():
    with pytest.raises(FormatError, match="single line"):
        fastctx.Format(RID + "\n\n")


@pytest.mark.parametrize("name", ["requestId", "extendedRequestId"])
def test_request_id_rule_accepts_either_id(name):
    assert fastctx.Format(f"$context.{name} $context.status").variables[0] == name


def test_request_id_rule_wants_whole_names():
    with pytest.raises(FormatError, match="requestId or"):
        fastctx.Format("$context.status $context.authorizer.requestId")


def test_request_id_rule_names_a_misspelt_id():
    with pytest.raises(FormatError) as caught:
        fastctx.Format("$context.status $context.reqestId")
    assert "did you mean $context.requestId where the template has $context.reqestId?" in str(caught.value)
    assert caught.value.column == 17
    with pytest.raises(FormatError) as caught:  # nothing like an id: the rule alone
        fastctx.Format("$context.status $context.bogus")
    assert str(caught.value).splitlines()[0].endswith("$context.extendedRequestId")


def test_size_limit_is_3072_utf8_bytes():
    filler = "é" * ((MAX_TEMPLATE_BYTES - len(RID)) // 2)
    template = RID + filler
    assert len(template.encode()) <= MAX_TEMPLATE_BYTES
    fastctx.Format(template)
    with pytest.raises(FormatError, match="3072 bytes"):
        fastctx.Format(template + "éé")


def test_unknown_names_are_listed_like_aws_with_suggestions():
    with pytest.raises(UnknownVariableError) as info:
        fastctx.Format(RID + " $context.requestID $context.sourceIp $context.requestID")
    err = info.value
    assert str(err).startswith(
        "The following context variables are not supported: [$context.requestID, $context.sourceIp]"
    )
    assert err.suggestions["$context.requestID"] == "$context.requestId"
    assert err.suggestions["$context.sourceIp"] == "$context.identity.sourceIp"
    assert err.columns == [len(RID) + 2, len(RID) + 21]
    assert "did you mean $context.requestId?" in str(err)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("api", ["websocket", "http"])
def test_unknown_names_fail_for_websocket_and_http(api):
    with pytest.raises(UnknownVariableError):
        fastctx.Format(RID + " $context.nope", api=api)


def test_rest_renders_unknown_names_as_dash_with_a_warning():
    with pytest.warns(FormatWarning, match=r"\$context\.resourcePth \(did you mean \$context\.resourcePath\?\)"):
        fmt = fastctx.Format(RID + " $context.resourcePth", api="rest")
    assert fmt.variables == ("requestId",)
    assert fmt.unsupported == ("$context.resourcePth",)
    assert fmt.program.literals() == [b"", b" -"]


def test_not_strict_skips_aws_rules_but_keeps_unknown_names_as_text():
    fmt = fastctx.Format("$context.custom.field $context.status", strict=False)
    assert fmt.variables == ("custom.field", "status")
    assert fmt.program.slots[0].vtype == VType.TEXT


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown API type"):
        fastctx.Format(RID, api="graphql")
    with pytest.raises(ValueError, match="unknown escape mode"):
        fastctx.Format(RID, escape="html")
    with pytest.raises(TypeError):
        fastctx.Format(b"$context.requestId")


# -- shapes and positions -------------------------------------------------------------------

EXPECTED_SHAPES = {
    ("websocket", "clf"): "clf", ("websocket", "json"): "json", ("websocket", "xml"): "xml",
    ("websocket", "csv"): "csv", ("rest", "clf"): "clf", ("rest", "json"): "json",
    ("rest", "csv"): "csv", ("http", "clf"): "clf",
}


@pytest.mark.parametrize("api, name", sorted(EXPECTED_SHAPES))
def test_presets_have_their_shape(api, name):
    assert fastctx.Format(PRESETS[api][name], api=api).shape == EXPECTED_SHAPES[(api, name)]


def test_clf_positions():
    fmt = fastctx.Format(fastctx.preset("websocket", "clf"))
    esc = {s.name: s.esc for s in fmt.program.slots}
    assert esc["identity.sourceIp"] == Esc.CLF_BARE
    assert esc["requestTime"] == Esc.CLF_BRACKET
    assert esc["routeKey"] == Esc.CLF_QUOTED
    assert esc["status"] == Esc.CLF_BARE


def test_json_string_and_bare_positions():
    template = '{"a": $context.status, "b":"$context.requestId", "c": [ $context.responseLatency ]}'
    assert slots(template, api="http") == [
        ("status", Esc.JSON_BARE), ("requestId", Esc.JSON_STR), ("responseLatency", Esc.JSON_BARE)]


def test_json_key_position_is_a_string_position():
    assert slots('{"$context.stage": "$context.requestId"}')[0] == ("stage", Esc.JSON_STR)


@pytest.mark.parametrize(
    "template",
    [
        '{"a": 1$context.status, "b":"$context.requestId"}',  # bare variable glued to text
        '{"a":"$context.requestId" $context.status}',  # not a JSON object once filled
        '["$context.requestId"]',  # JSON, but not an object
    ],
)
def test_not_json_falls_back_to_text(template):
    assert fastctx.Format(template).shape == "text"


def test_xml_attribute_and_text_positions():
    fmt = fastctx.Format('<r id="$context.requestId" s=\'$context.status\'>$context.routeKey</r>')
    assert fmt.shape == "xml"
    assert {s.esc for s in fmt.program.slots} == {Esc.XML}


@pytest.mark.parametrize(
    "template",
    [
        '<$context.stage id="$context.requestId"/>',  # variable as a tag name
        '<r id="$context.requestId">',  # not well-formed
    ],
)
def test_xml_variables_only_in_text_and_attribute_values(template):
    assert fastctx.Format(template).shape != "xml"


@pytest.mark.parametrize(
    "template",
    [
        '<r><!-- $context.stage --><i>$context.requestId</i></r>',
        '<r id="$context.requestId"><ua><![CDATA[$context.identity.userAgent]]></ua></r>',
    ],
)
def test_xml_variable_no_escape_reaches_warns_in_auto(template):
    with pytest.warns(FormatWarning, match="inside a comment or CDATA section"):
        assert fastctx.compile(template).shape == "text"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastctx.compile(template, escape="none").shape == "text"
        # a comment or CDATA section without variables is just XML
        assert fastctx.compile('<r><![CDATA[x]]><!-- y --><i>$context.requestId</i></r>').shape == "xml"


def test_csv_is_variables_and_commas_only():
    assert fastctx.Format("$context.requestId,$context.status\n").shape == "csv"
    assert fastctx.Format("$context.requestId, $context.status").shape == "text"
    assert fastctx.Format("$context.requestId,,$context.status").shape == "text"
    assert fastctx.Format("x$context.requestId,$context.status").shape == "text"


def test_clf_needs_the_reference_layout():
    assert fastctx.Format('$context.requestId "$context.routeKey"').shape == "text"
    assert fastctx.Format('$context.requestId [$context.requestTime] "$context.routeKey"').shape == "clf"


@pytest.mark.parametrize(
    "escape, expected",
    [("none", [Esc.NONE, Esc.NONE]), ("json", [Esc.JSON_STR, Esc.NONE]), ("auto", [Esc.JSON_STR, Esc.JSON_BARE])],
)
def test_escape_modes_choose_methods(escape, expected):
    fmt = fastctx.Format('{"a":"$context.requestId", "b": $context.status}', escape=escape)
    assert [s.esc for s in fmt.program.slots] == expected


@pytest.mark.parametrize("escape", ["none", "json"])
def test_non_json_shapes_are_plain_outside_auto(escape):
    fmt = fastctx.Format(fastctx.preset("websocket", "clf"), escape=escape)
    assert {s.esc for s in fmt.program.slots} == {Esc.NONE}


# -- Program ---------------------------------------------------------------------------------


def test_program_alternates_literals_and_slots():
    fmt = fastctx.Format("[$context.requestId$context.status]")
    ops = [int(op) for op, _, _ in fmt.program.instructions]
    assert ops == [Op.LIT, Op.VAR, Op.LIT, Op.VAR, Op.LIT]
    assert fmt.program.literals() == [b"[", b"", b"]"]


def test_repeated_variable_shares_a_column():
    fmt = fastctx.Format("$context.requestId $context.status $context.requestId")
    assert fmt.variables == ("requestId", "status")
    assert [s.column for s in fmt.program.slots] == [0, 1, 0]


def test_types_come_from_the_catalog():
    fmt = fastctx.Format(
        "$context.requestId $context.status $context.requestTime $context.requestTimeEpoch "
        "$context.routeKey $context.error.messageString"
    )
    assert [s.vtype for s in fmt.program.slots] == [
        VType.TOKEN, VType.INT, VType.CLF_TIME, VType.EPOCH_MS, VType.TEXT, VType.QUOTED]


def test_program_is_immutable_and_picklable():
    fmt = fastctx.Format(fastctx.preset("websocket", "json"))
    again = pickle.loads(pickle.dumps(fmt.program))
    assert again == fmt.program
    with pytest.raises(AttributeError):
        fmt.program.pool = b""
    assert pickle.loads(pickle.dumps(fmt)) == fmt


def test_non_ascii_literals_are_utf8():
    fmt = fastctx.Format("é $context.requestId ✓")
    assert fmt.program.literals() == ["é ".encode(), " ✓".encode()]


def test_dis_lists_every_instruction():
    text = fastctx.Format(fastctx.preset("websocket", "clf")).dis()
    assert text.splitlines()[0].startswith("program: shape clf, escape auto, 9 slots")
    assert "VAR  3      requestTime        clf_time clf_bracket" in text
    assert len(text.splitlines()) == 1 + 19


def test_compile_is_cached():
    assert fastctx.compile(RID) is fastctx.compile(RID)
    assert fastctx.compile(RID) is not fastctx.compile(RID, escape="none")


def test_format_describes_itself():
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    assert fmt.template == fastctx.preset("websocket", "csv")
    assert fmt.variables[0] == "identity.sourceIp"
    assert "csv" in repr(fmt)


def test_preset_errors():
    with pytest.raises(ValueError, match="no 'xml' preset for http"):
        fastctx.preset("http", "xml")
    with pytest.raises(ValueError, match="unknown API type"):
        fastctx.preset("soap", "clf")


def test_warning_is_emitted_once_per_compiled_format():
    template = RID + " $context.unknownThing"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastctx.Format(template, api="rest")
    assert [w.category for w in caught] == [FormatWarning]


def test_compile_warns_at_every_call_though_the_format_is_cached():
    template = RID + " $context.anotherUnknownThing"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = fastctx.compile(template, api="rest")
        second = fastctx.compile(template, api="rest")
    assert first is second
    assert [w.category for w in caught] == [FormatWarning, FormatWarning]
    assert all(w.filename == __file__ for w in caught)  # at the caller, not in fastctx


@pytest.mark.parametrize("template, shape, escape, line", [
    ("$context.requestId,$context.resourcePath,$context.foo", "csv", "auto", b'r,"/a,b ""c""",-\n'),
    ('{"id":"$context.requestId","p":"$context.resourcePath","x":$context.foo}', "json", "auto",
     b'{"id":"r","p":"/a,b \\"c\\"","x":null}\n'),
    ('{"id":"$context.requestId","p":"$context.resourcePath","x":$context.foo}', "json", "none",
     b'{"id":"r","p":"/a,b "c"","x":-}\n'),  # as AWS writes it
    ('{"id":"$context.requestId","x":"$context.foo"}', "json", "auto", b'{"id":"r","x":"-"}\n'),
])
def test_rest_unknown_names_keep_the_shape_of_the_whole_template(template, shape, escape, line):
    with pytest.warns(FormatWarning):
        fmt = fastctx.Format(template, api="rest", escape=escape)
    assert fmt.shape == shape
    assert fmt.render({"requestId": ["r"], "resourcePath": ['/a,b "c"']}) == line


@pytest.mark.parametrize("literal", ["\ue000", "\ue000\ue001", "\U000f0000"])
def test_private_use_characters_in_a_literal_do_not_change_the_shape(literal):
    assert fastctx.compile('{"icon":"%s","r":"$context.requestId"}' % literal).shape == "json"
    assert fastctx.compile('<a i="%s">$context.requestId</a>' % literal).shape == "xml"
    line = fastctx.compile('{"icon":"%s","r":"$context.requestId"}' % literal).render({"requestId": ["a\x01"]})
    assert json.loads(line) == {"icon": literal, "r": "a\x01"}


def test_a_lone_surrogate_in_a_template_is_a_format_error_with_a_caret():
    for strict in (True, False):
        with pytest.raises(fastctx.FormatError) as info:
            fastctx.compile("$context.requestId \ud83d x", strict=strict)
        assert info.value.column == 20 and "lone surrogate" in str(info.value)
        str(info.value).encode("utf-8")  # printable: the surrogate is shown escaped


def test_an_unpickled_format_does_not_warn_again():
    with pytest.warns(FormatWarning):
        fmt = fastctx.compile(RID + " $context.notInRest", api="rest")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(pickle.dumps(fmt))
    assert again == fmt and again.unsupported == fmt.unsupported
