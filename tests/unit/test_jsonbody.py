"""jsonbody.loads: json.loads with the limits the rest of the code relies on, each refusal naming the field."""

import json

import pytest
from wa_notify.domain import jsonbody
from wa_notify.domain.problems import Invalid, Malformed


def refusal(text):
    with pytest.raises((Invalid, Malformed)) as caught:
        jsonbody.loads(text)
    return caught.value.status, caught.value.problems[0].field


@pytest.mark.parametrize(("text", "expected"), [
    ('{"params": {"first_name": "\\ud800"}}', (422, "params.first_name")),
    ('{"a": ["ok", "x\\udfffy"]}', (422, "a[1]")),
    ('{"metadata": {"k\\uDBFF": 1}}', (422, "metadata.k\\udbff")),  # keys too, printable in the answer
    ('{"a": "\\ude00\\ud83d"}', (422, "a")),  # a pair in the wrong order is two lone halves
    ('{"a": 1, "b": ' + "9" * 5000 + "}", (422, "b")),  # int() refuses over 4,300 digits
    ('{"a": [-' + "1" * 39 + "]}", (422, "a[0]")),
    ('{"a": NaN}', (400, "a")),
    ('{"a": {"b": [Infinity]}}', (400, "a.b[0]")),
    ("[" * 100_000 + "]" * 100_000, (422, "")),  # RecursionError in the C parser
    ('{"a": ' + "[" * 40 + "]" * 40 + "}", (422, "a" + "[0]" * 31)),
    ('{"to": "+14155550100", "to": "+886912345678"}', (422, "to")),  # last-wins here, first-wins elsewhere
    ('{"template": {"name": "a", "language": "en_US", "name": "b"}}', (422, "template.name")),
    ('[{"k": 1}, {"k": 2, "k": 3}]', (422, "[1].k")),
])
def test_what_python_would_take_is_refused_naming_the_field(text, expected):
    assert refusal(text) == expected


def test_the_first_problem_in_document_order_is_named():
    assert refusal('{"a": "ok", "b": "\\ud800", "c": NaN}') == (422, "b")


@pytest.mark.parametrize("text", [
    '{"emoji": "\\ud83d\\ude00", "escaped": "\\\\ud800"}',  # a pair is one character; `\\ud800` is text
    '{"deep in a string": "' + "[" * 500 + '"}',  # brackets inside strings are not nesting
    json.dumps({"n": 10**37, "f": 1e308, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),  # 32 levels
    json.dumps({"items": [{"t": [1, {"a": "b"}]} for _ in range(5000)]}),  # many brackets, shallow
])
def test_ordinary_json_is_parsed_as_json_loads_does(text):
    assert jsonbody.loads(text) == json.loads(text)


def test_text_that_is_not_json_raises_json_decode_error():
    with pytest.raises(json.JSONDecodeError):
        jsonbody.loads('{"a": ')


def test_the_same_key_in_different_objects_is_no_duplicate():
    assert jsonbody.loads('{"a": {"k": 1}, "b": {"k": 2}, "k": 3}') == {"a": {"k": 1}, "b": {"k": 2}, "k": 3}
