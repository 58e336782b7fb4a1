"""What every ``KashClient`` endpoint method shares: construction, lifecycle, response unwrapping.

Kept apart from :mod:`kashbot.client.client` so that module is only the endpoint list.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Self, TypeVar
from urllib.parse import quote as _quote

import aiohttp
from pydantic import BaseModel, ValidationError

from kashbot.client.config import DEFAULT_API_VERSION, ClientSettings, resolve_settings
from kashbot.client.deprecation import DeprecationNotice
from kashbot.client.errors import KashResponseError
from kashbot.client.models import Page
from kashbot.client.pagination import parse_page
from kashbot.client.ratelimit import RateLimitState, RequestBudget
from kashbot.client.transport import Response, RetryPolicy, Transport
from kashbot.clock import Clock

M = TypeVar("M", bound=BaseModel)


def path_segment(value: str) -> str:
    """An id as one path segment (no ``/`` or ``?`` smuggling)."""
    if not value:
        raise ValueError("id must not be empty")
    return _quote(value, safe="")


def csv_list(value: str | Sequence[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


def query_params(**values: str | int | None) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


class ClientBase:
    """Transport ownership and envelope helpers; :class:`KashClient` adds the endpoints."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        api_version: str | None = DEFAULT_API_VERSION,
        timeout: float = 30.0,
        max_retries: int = 3,
        budget: RequestBudget | None = None,
        sign_requests: bool = False,
        clock: Clock | None = None,
        user_agent_suffix: str | None = None,
        session: aiohttp.ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        settings: ClientSettings = resolve_settings(api_key, base_url, env)
        self.base_url = settings.base_url
        self._transport = Transport(
            api_key=settings.api_key,
            base_url=settings.base_url,
            api_version=api_version,
            timeout=timeout,
            retry=retry_policy if retry_policy is not None else RetryPolicy(max_retries),
            budget=budget,
            sign_requests=sign_requests,
            clock=clock,
            user_agent_suffix=user_agent_suffix,
            session=session,
            rng=rng,
        )

    def __repr__(self) -> str:
        return f"KashClient(base_url={self.base_url!r}, api_key={self._transport._key!r})"

    async def __aenter__(self) -> Self:
        await self._transport.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.close()

    @property
    def rate_limit(self) -> RateLimitState | None:
        """The rate-limit headers of the last response."""
        return self._transport.rate_limit

    @property
    def server_api_version(self) -> str | None:
        """Version the server reported (``X-Kash-Api-Version`` or ``X-API-Version``)."""
        return self._transport.server_api_version

    @property
    def deprecation(self) -> DeprecationNotice | None:
        """The first ``Deprecation``/``Sunset``/sunset-link notice the server sent (logged once)."""
        return self._transport.deprecation

    @property
    def deprecation_notices(self) -> int:
        """Responses that carried a deprecation notice (a counter for the metrics)."""
        return self._transport.deprecation_notices

    @property
    def api_version(self) -> str | None:
        """The ``X-Kash-Api-Version`` this client pins (None: the server's default)."""
        return self._transport.api_version

    # --- response unwrapping --------------------------------------------------------------

    async def _get(
        self, path: str, route: str, params: Mapping[str, str] | None = None
    ) -> Response:
        return await self._transport.request("GET", path, route=route, params=params)

    @staticmethod
    def _one(resp: Response, key: str, model: type[M], route: str) -> M:
        """Dual-key envelope ``{<key>: {...}, data: {...}}``: prefer the named key."""
        body = resp.body
        if not isinstance(body, dict):
            raise KashResponseError(f"{route}: expected a JSON object", request_id=resp.request_id)
        item = body.get(key, body.get("data"))
        if not isinstance(item, dict):
            raise KashResponseError(
                f"{route}: missing '{key}' resource", request_id=resp.request_id
            )
        return validate_as(model, item, route, resp.request_id)

    @staticmethod
    def _meta(resp: Response) -> dict[str, Any]:
        """The envelope's ``_meta`` block ({} when absent or not an object)."""
        meta = resp.body.get("_meta") if isinstance(resp.body, dict) else None
        return meta if isinstance(meta, dict) else {}

    @staticmethod
    def _page(resp: Response, model: type[M], route: str) -> Page[M]:
        try:
            return parse_page(resp.body, model, route=route, request_id=resp.request_id)
        except ValidationError as exc:
            raise KashResponseError(
                f"{route}: unexpected item shape: {exc}", request_id=resp.request_id
            ) from None


def validate_as(model: type[M], data: Any, route: str, request_id: str | None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise KashResponseError(
            f"{route}: unexpected response shape: {exc}", request_id=request_id
        ) from None
