"""If-Match against a version's strong ETag: which headers match, which are stale, which are malformed."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from striv.core.api.etags import etag, if_match_version
from striv.core.api.problems import Problem


def check(if_match: str | None, current: int = 3) -> int | None:
    headers = {} if if_match is None else {"If-Match": if_match}
    return if_match_version(RequestFactory().patch("/api/jobs/1", headers=headers), current)


def test_etag_is_the_quoted_version():
    assert etag(3) == '"3"'


@pytest.mark.parametrize("if_match", [None, "*", " * "])
def test_no_header_or_star_sets_no_precondition(if_match):
    assert check(if_match) is None


@pytest.mark.parametrize("if_match", ['"3"', ' "3" ', '"7", "3"', 'W/"3", "3"', '"3",', '"7",,"3"'])
def test_a_listed_current_version_matches(if_match):
    assert check(if_match) == 3


@pytest.mark.parametrize("if_match", ['"2"', 'W/"3"', '"30"', ""])
def test_other_or_weak_tags_are_stale(if_match):
    with pytest.raises(Problem) as raised:
        check(if_match)
    assert raised.value.status_code == 412
    assert "does not match the current version" in str(raised.value.detail)
    assert raised.value.headers == {"ETag": '"3"'}


@pytest.mark.parametrize("if_match", ["3", '"3', '"3" "4"', '*, "3"', '"3", 4'])
def test_malformed_lists_are_refused(if_match):
    with pytest.raises(Problem) as raised:
        check(if_match)
    assert raised.value.status_code == 412
    assert str(raised.value.detail).startswith("If-Match is not a list of entity tags")
    assert raised.value.headers == {"ETag": '"3"'}
