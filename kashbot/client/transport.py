"""HTTP transport: headers, retries, ETag cache, signing, rate-limit bookkeeping.

One ``request`` call is one *logical* request. It may make several HTTP attempts, but only when
repeating is safe: GETs, POSTs carrying an Idempotency-Key (the same key and the same body bytes on
every attempt), and non-idempotent POSTs only after an error that proves the server refused them
before doing anything (rate limiter / kill switch).
"""

from __future__ import annotations

import json
import logging
import random
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import aiohttp

from kashbot import __version__ as _kashbot_version
from kashbot.client.config import ApiKey
from kashbot.client.deprecation import DeprecationNotice, notice_from_headers
from kashbot.client.errors import (
    KashError,
    KashNetworkError,
    KashResponseError,
    KashServerError,
    KashTimeoutError,
    KashUnavailableError,
    OutcomeUnknownError,
    RateLimitExceeded,
    RateLimitUnavailable,
    RequestDeadlineExceeded,
    RouteDisabled,
    error_from_problem,
)
from kashbot.client.ratelimit import (
    NoBudget,
    RateLimitState,
    RequestBudget,
    rate_limit_from_headers,
)
from kashbot.client.signing import SIGNATURE_HEADER, signature_header
from kashbot.clock import Clock, WallClock
from kashbot.retry import Backoff

log = logging.getLogger("kashbot.client")

RetryMode = Literal["always", "never", "refused-only"]
"""``always``: GET or keyed POST. ``refused-only``: non-idempotent POST, retried only after an error
the server raises before its handler runs. ``never``: one attempt."""

_REFUSED_BEFORE_HANDLER = (RateLimitExceeded, RateLimitUnavailable, RouteDisabled)
# ETag cache: raw JSON bytes kept at most. The bytes are kept, not the parsed body (which takes
# ~5x as much): a 304 parses them again, so the cache's memory is this figure (issue 17 soak)
ETAG_CACHE_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter and a cap; ``Retry-After`` wins when present."""

    max_retries: int = 3
    base_delay: float = 0.2
    max_delay: float = 10.0
    retry_after_max: float = 60.0  # a longer Retry-After is surfaced to the caller, not slept

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        return Backoff(self.base_delay, self.max_delay, jitter="full").delay(retry_number, rng)

    def delay_for(self, error: KashError, retry_number: int, rng: random.Random) -> float | None:
        """Seconds to wait before the next attempt, or None when we must not wait that long."""
        if error.retry_after is not None:
            if error.retry_after > self.retry_after_max:
                return None
            return error.retry_after + rng.uniform(0.0, self.base_delay)
        return self.backoff(retry_number, rng)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON (None for an empty body)
    request_id: str | None
    from_cache: bool = False


class Transport:
    """Owns the aiohttp session (unless one is given) and all cross-cutting request behaviour."""

    def __init__(
        self,
        *,
        api_key: ApiKey,
        base_url: str,
        api_version: str | None,
        timeout: float,
        retry: RetryPolicy,
        budget: RequestBudget | None,
        sign_requests: bool,
        clock: Clock | None,
        user_agent_suffix: str | None,
        session: aiohttp.ClientSession | None,
        rng: random.Random | None = None,
        etag_cache_size: int = 512,
    ) -> None:
        self._key = api_key
        self.base_url = base_url
        self.api_version = api_version
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry = retry
        self.budget: RequestBudget = budget if budget is not None else NoBudget()
        self.sign_requests = sign_requests
        self.clock: Clock = clock if clock is not None else WallClock()
        ua = f"kashbot/{_kashbot_version} (python; aiohttp/{aiohttp.__version__})"
        self.user_agent = f"{ua} {user_agent_suffix}" if user_agent_suffix else ua
        self._session = session
        self._owns_session = session is None
        self._rng = rng if rng is not None else random.Random()
        # url -> (etag, raw body): parsed again on a 304 (a fresh object for each caller)
        self._etags: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._etag_cache_size = etag_cache_size
        self._etag_bytes = 0  # raw bytes of the cached bodies: pages of 100 trades add up
        self.rate_limit: RateLimitState | None = None
        self.server_api_version: str | None = None
        self.deprecation: DeprecationNotice | None = None  # the first notice (logged once)
        self.deprecation_notices = 0  # responses that carried one (a metric)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, api_key={self._key!r})"

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotency_key: str | None = None,
        retry: RetryMode = "always",
        auth: bool = True,
        outcome_unknown: bool = False,
        not_after: float | None = None,
    ) -> Response:
        """Send one logical request; raise the typed error of the final attempt.

        ``outcome_unknown``: for ``POST /v1/trades``. A failure that may have reached the server
        (timeout, dropped connection, 500/502/504) becomes :class:`OutcomeUnknownError`.
        ``not_after`` (``clock`` seconds): no attempt is written once it has passed, checked
        after the budget wait. If no attempt may have been processed yet this raises
        :class:`RequestDeadlineExceeded`; otherwise the outcome is unknown and the error says so
        (``OutcomeUnknownError`` under ``outcome_unknown``, else the last attempt's error).
        """
        if self._session is None:
            raise RuntimeError("KashClient is not open: use `async with KashClient(...) as c:`")
        if method != "GET" and retry == "always" and idempotency_key is None:
            raise ValueError("a POST may only be retried under an Idempotency-Key")
        url = self.url(path)
        query = urlencode(sorted(params.items())) if params else ""
        full_url = f"{url}?{query}" if query else url
        maybe_sent = False  # has any attempt possibly reached the server's handler?
        last_error: KashError | None = None
        retry_number = 0
        while True:
            try:
                return await self._attempt(
                    method,
                    full_url,
                    route=route,
                    body=body,
                    key=idempotency_key,
                    auth=auth,
                    not_after=not_after,
                )
            except RequestDeadlineExceeded as expired:
                if not maybe_sent:
                    raise
                # An earlier attempt may have landed: giving up must not look like "not sent".
                assert last_error is not None
                if outcome_unknown:
                    raise self._unknown(
                        route, retry_number, last_error, idempotency_key, body
                    ) from last_error
                raise last_error from expired
            except KashError as error:
                maybe_sent = maybe_sent or _maybe_processed(error)
                last_error = error
                delay = self._retry_delay(error, retry, retry_number)
                if delay is None:
                    if outcome_unknown and maybe_sent and not _definitive(error):
                        raise self._unknown(
                            route, retry_number, error, idempotency_key, body
                        ) from error
                    raise
                retry_number += 1
                log.debug(
                    "kash retry route=%s attempt=%d delay=%.3f error=%s",
                    route,
                    retry_number + 1,
                    delay,
                    error.code or type(error).__name__,
                )
                await self.clock.sleep(delay)

    @staticmethod
    def _unknown(
        route: str, retry_number: int, error: KashError, key: str | None, body: bytes | None
    ) -> OutcomeUnknownError:
        assert key is not None and body is not None
        return OutcomeUnknownError(
            f"{route}: outcome unknown after {retry_number + 1} attempt(s) "
            f"({type(error).__name__}); reconcile with the same Idempotency-Key",
            idempotency_key=key,
            body=body,
            cause=error,
            status=error.status,
            request_id=error.request_id,
        )

    def _retry_delay(self, error: KashError, mode: RetryMode, retry_number: int) -> float | None:
        if retry_number >= self.retry.max_retries or not error.retryable:
            return None
        if mode == "never":
            return None
        if mode == "refused-only" and not isinstance(error, _REFUSED_BEFORE_HANDLER):
            return None
        return self.retry.delay_for(error, retry_number, self._rng)

    def _headers(
        self, method: str, url: str, body: bytes | None, key: str | None, auth: bool
    ) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if auth:
            headers["X-API-Key"] = self._key.reveal()
        if self.api_version:
            headers["X-Kash-Api-Version"] = self.api_version
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        if self.sign_requests and method != "GET" and auth:
            path = urlsplit(url).path
            headers[SIGNATURE_HEADER] = signature_header(
                self._key.reveal(), method, path, body or b"", self.clock.now_ms()
            )
        return headers

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        route: str,
        body: bytes | None,
        key: str | None,
        auth: bool,
        not_after: float | None,
    ) -> Response:
        """One HTTP attempt: budget wait, deadline check, exchange, bookkeeping, verdict."""
        await self.budget.acquire(route, write=method != "GET")
        # After the budget wait (minutes during a 429 pause): a request past its deadline stays.
        if not_after is not None and self.clock.now() > not_after:
            raise RequestDeadlineExceeded(
                f"{route}: deadline passed {self.clock.now() - not_after:.3f} s before sending"
            )
        # Headers after the wait, so a request signature's timestamp is fresh.
        headers = self._headers(method, url, body, key, auth)
        cached = self._etags.get(url) if method == "GET" else None
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        status, resp_headers, raw = await self._exchange(method, url, route, body, headers)
        request_id = resp_headers.get("X-Request-Id")
        parsed, parse_failed = _parse_json(raw)
        problem = parsed if isinstance(parsed, dict) and status >= 400 else None
        state = self._observe(route, status, resp_headers, problem)
        if status == 304 and cached is not None:
            self._etags.move_to_end(url)
            body, _ = _parse_json(cached[1])  # stored only when it parsed
            return Response(status, resp_headers, body, request_id, from_cache=True)
        if 200 <= status < 300:
            if parse_failed:
                raise KashResponseError(
                    f"{route}: response is not JSON", status=status, request_id=request_id
                )
            etag = resp_headers.get("ETag")
            if method == "GET" and etag:
                self._remember(url, etag, raw)
            return Response(status, resp_headers, parsed, request_id)
        error = error_from_problem(
            status, problem, request_id=request_id, retry_after=state.retry_after_s
        )
        error.api_version = self.api_version  # so a version/chain refusal can name the pin
        raise error

    async def _exchange(
        self, method: str, url: str, route: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        """Send and read the whole response; transport failures become typed errors."""
        assert self._session is not None
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=self._timeout
            ) as resp:
                return resp.status, resp.headers, await resp.read()
        except TimeoutError as exc:
            # aiohttp >= 3.10 distinguishes a connect timeout (request never sent).
            unsent = isinstance(exc, getattr(aiohttp, "ConnectionTimeoutError", ()))
            raise KashTimeoutError(
                f"{route}: timed out waiting for the server", unsent=unsent
            ) from None
        except aiohttp.ClientConnectorError:
            raise KashNetworkError(
                f"{route}: could not connect to {urlsplit(url).netloc}", unsent=True
            ) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            # Only the exception type: aiohttp error texts can carry request details.
            raise KashNetworkError(f"{route}: connection failed ({type(exc).__name__})") from None

    def _observe(
        self,
        route: str,
        status: int,
        resp_headers: Mapping[str, str],
        problem: dict[str, Any] | None,
    ) -> RateLimitState:
        """Learn from any response: API version, rate-limit state (fed to the budget), sunset."""
        version = resp_headers.get("X-Kash-Api-Version") or resp_headers.get("X-API-Version")
        if version:
            self.server_api_version = version
        code = problem.get("code") if problem is not None else None
        state = rate_limit_from_headers(
            resp_headers, status, code if isinstance(code, str) else None, self.clock.now()
        )
        self.rate_limit = state
        self.budget.observe(state)
        log.debug(
            "kash response route=%s status=%d request_id=%s remaining=%s",
            route,
            status,
            resp_headers.get("X-Request-Id"),
            state.remaining,
        )
        notice = notice_from_headers(resp_headers, pinned=self.api_version, route=route)
        if notice is not None:
            self.deprecation_notices += 1
            if self.deprecation is None:
                self.deprecation = notice
                log.warning("%s", notice.message())
        return state

    def _remember(self, url: str, etag: str, raw: bytes) -> None:
        """Cache a GET body's bytes under its ETag; bounded by entries and by ETAG_CACHE_BYTES
        (512 cursor pages of trades, parsed, grew a daemon by megabytes an hour)."""
        old = self._etags.pop(url, None)
        if old is not None:
            self._etag_bytes -= len(old[1])
        if len(raw) > ETAG_CACHE_BYTES:
            return
        self._etags[url] = (etag, bytes(raw))
        self._etag_bytes += len(raw)
        while len(self._etags) > self._etag_cache_size or self._etag_bytes > ETAG_CACHE_BYTES:
            self._etag_bytes -= len(self._etags.popitem(last=False)[1][1])


def _maybe_processed(error: KashError) -> bool:
    """Could the server have acted on this attempt? Not on 4xx/503 refusals or failed connects."""
    if isinstance(error, KashNetworkError):
        return not error.unsent
    return isinstance(error, KashServerError) and not isinstance(error, KashUnavailableError)


def _definitive(error: KashError) -> bool:
    """A 4xx answer to a keyed retry is the server's real verdict (a created trade would replay)."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in (408, 429)


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw, parse_float=Decimal), False  # numbers never round through float
    except (ValueError, UnicodeDecodeError):
        return None, True


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact, deterministic JSON: the exact bytes reused on every retry and for signing."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
