"""ETags and If-Match: a versioned object's ETag is its version; a stale If-Match is refused with 412."""

from __future__ import annotations

from typing import Any

from django.utils.http import parse_etags, quote_etag
from drf_spectacular.utils import OpenApiParameter

from striv.core.api.problems import Problem


def etag(version: int) -> str:
    """The strong ETag of a versioned object: its version number, quoted."""
    return quote_etag(str(version))


def if_match_version(request: Any, current: int) -> int | None:
    """Check ``If-Match`` against the current version; return the version to expect while writing, or None.

    None means no precondition (no header, or ``*``): the last writer wins. When the header names the current
    version, that version is returned so the write itself can refuse a concurrent change. Raises a 412 Problem
    when no listed tag matches (weak tags never match, as RFC 9110 requires for If-Match).
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = parse_etags(header)
    if tags == ["*"]:
        return None
    # parse_etags drops the list members that are not entity tags; a header with any of them is malformed
    if len(tags) != len([member for member in header.split(",") if member.strip()]):
        raise stale(current, 'If-Match is not a list of entity tags such as "3"')
    # strong comparison: W/"3" differs from "3"
    if etag(current) in tags:
        return current
    raise stale(current, f"If-Match {header.strip()} does not match the current version {etag(current)}")


def stale(current: int, detail: str) -> Problem:
    """A 412 problem carrying the current ETag, so the client can re-read and retry."""
    return Problem(
        412,
        detail + "; fetch the object again and reapply your change.",
        slug="stale-version",
        title="The object was changed since you read it",
        headers={"ETag": etag(current)},
    )


IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        'The ETag of the version you read (e.g. "3"). When it is no longer current the request is refused with 412 '
        "and nothing changes. Without If-Match the request proceeds and the last writer wins."
    ),
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201],
    required=True,
    description='The job version as a strong entity tag, e.g. "3"; send it back in If-Match.',
)
