"""The one reader of JSON request bodies (N2): a JSON object in UTF-8, or a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from secretum.lib import jsonbody


def _request(body: bytes) -> Any:
    return RequestFactory().post("/", body, content_type="application/json")


def test_an_object_is_read() -> None:
    body = jsonbody.parse_object(_request(b'{"credential": {"id": "x"}, "name": "Key"}'))
    assert jsonbody.member(body, "credential", dict) == {"id": "x"}
    assert jsonbody.member(body, "name", str) == "Key"
    assert jsonbody.member({}, "name", str, default="") == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "must be a JSON object"),
        (b'"x"', "must be a JSON object"),
        (b"1", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),  # an integer past Python's conversion limit
        (b"[" * 100_000, "not valid JSON"),  # the parser's recursion exhausted
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested too deeply"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"name": "a\\u0000b"}', "Null characters"),
        (b'{"name": "\\ud800"}', "not valid Unicode"),
        (b'{"\\ud800": 1}', "not valid Unicode"),
    ],
)
def test_anything_else_is_refused_with_a_sentence(body: bytes, message: str) -> None:
    with pytest.raises(jsonbody.JsonBodyError, match=message):
        jsonbody.parse_object(_request(body))


@pytest.mark.parametrize(
    ("body", "name", "kind"),
    [
        ({}, "credential", dict),
        ({"credential": []}, "credential", dict),
        ({"password": None}, "password", str),
        ({"password": 1}, "password", str),
    ],
)
def test_a_member_of_the_wrong_kind_is_refused(body: dict[str, Any], name: str, kind: Any) -> None:
    with pytest.raises(jsonbody.JsonBodyError, match=f'"{name}" as a JSON'):
        jsonbody.member(body, name, kind)
