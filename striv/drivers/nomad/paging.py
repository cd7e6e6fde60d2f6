"""Reading every page of ``GET /v1/allocations`` on every Nomad 1.6-1.11: ending, and missing nothing.

Nomad orders the list by (CreateIndex, ID) and its ``next_token`` is ``"<CreateIndex>.<ID>"``. Up to 1.10.1 the
server compares that token with the rows' tokens as strings (hashicorp/nomad#25435, fixed in 1.10.2), so once
indexes of different lengths are listed (``"100005" < "99998"``) a page can start over from the top, and a client
that follows ``X-Nomad-NextToken`` blindly repeats pages forever. Rows come in a strict order, so a page that starts
over shows itself: it brings a row that is not past the last one handed over. Such rows are dropped, and the rest of
the list is read by ID prefix instead (``prefix=0`` ... ``prefix=f``, paged by ID, whose tokens are all the same
length and so compare correctly on every release).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import requests

from striv.drivers.nomad.translate import alloc_page_decode

logger = logging.getLogger(__name__)

HEX_DIGITS = "0123456789abcdef"

Request = Callable[[dict[str, Any]], requests.Response]


def _key(alloc: dict[str, Any]) -> tuple[int, str]:
    return (int(alloc.get("CreateIndex", 0)), str(alloc.get("ID", "")))


def alloc_pages(
    request: Request, params: dict[str, Any], *, reverse: bool = False, floor: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Yield the allocation stubs ``params`` select, page by page, each exactly once.

    Pages come in CreateIndex order (newest first with `reverse`) until a page starts over; what is left then comes
    by ID. With `floor`, only allocations created after that index are read: paging newest first stops at the first
    older one.
    """
    params = dict(params)
    if reverse:
        params["reverse"] = "true"
    last: tuple[int, str] | None = None

    def past(key: tuple[int, str]) -> bool:
        return last is None or (key < last if reverse else key > last)

    while True:
        response = request(dict(params))
        rows = alloc_page_decode(response)
        fresh = [row for row in rows if past(_key(row))]
        restarted = len(fresh) < len(rows)
        if reverse and floor is not None:
            newer = [row for row in fresh if _key(row)[0] > floor]
            if len(newer) < len(fresh):
                if newer:
                    yield newer
                return
        if fresh:
            yield fresh
            last = _key(fresh[-1])
        token = response.headers.get("X-Nomad-NextToken")
        if not token:
            return
        if restarted or not fresh:
            logger.warning(
                "Nomad started the allocation list over at token %s (string-compared tokens, Nomad before 1.10.2); "
                "reading the rest by ID",
                params.get("next_token"),
            )
            yield from _by_id(request, params, lambda key: past(key) and (floor is None or key[0] > floor))
            return
        params["next_token"] = token


def _by_id(
    request: Request, params: dict[str, Any], wanted: Callable[[tuple[int, str]], bool]
) -> Iterator[list[dict[str, Any]]]:
    """Yield the wanted allocations of every ID prefix, a page at a time."""
    base = {name: value for name, value in params.items() if name not in ("next_token", "reverse")}
    for digit in HEX_DIGITS:
        page_params = dict(base, prefix=digit)
        seen: set[str] = set()
        while True:
            response = request(dict(page_params))
            rows = alloc_page_decode(response)
            new = [row for row in rows if row.get("ID") not in seen]
            seen.update(str(row.get("ID")) for row in new)
            wanted_rows = [row for row in new if wanted(_key(row))]
            if wanted_rows:
                yield wanted_rows
            token = response.headers.get("X-Nomad-NextToken")
            if not token or not new:
                break
            page_params["next_token"] = token
