"""Cursor pagination (§5): parse list envelopes and walk them as async iterators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from kashbot.client.errors import KashResponseError
from kashbot.client.models import Page

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

DEFAULT_MAX_PAGES = 1000  # same guard as the official SDK: a buggy cursor cannot loop forever


def parse_page(body: Any, model: type[M], *, route: str, request_id: str | None = None) -> Page[M]:
    """``{data: [...], pagination: {cursor, hasMore, limit}}``; a missing block means one page."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise KashResponseError(f"{route}: expected a list envelope with a 'data' array")
    items = [model.model_validate(item) for item in body["data"]]
    pagination = body.get("pagination")
    if not isinstance(pagination, dict):
        return Page(data=items, cursor=None, has_more=False, request_id=request_id)
    cursor = pagination.get("cursor")
    cursor = cursor if isinstance(cursor, str) and cursor else None
    has_more = bool(pagination.get("hasMore")) and cursor is not None
    limit = pagination.get("limit")
    return Page(
        data=items,
        cursor=cursor,
        has_more=has_more,
        limit=limit if isinstance(limit, int) else None,
        request_id=request_id,
    )


async def walk(
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> AsyncIterator[T]:
    """Yield every item, following cursors until ``hasMore`` is false or ``max_pages`` pages."""
    cursor: str | None = None
    for _ in range(max_pages):
        page = await fetch(cursor)
        for item in page.data:
            yield item
        if not page.has_more:
            return
        cursor = page.cursor
