"""The HTTP side of one read: clients, credentials added after httpx logs a request, retries with
backoff and jitter (``Retry-After`` honoured), the per-host rate limit, OAuth2 tokens.

Retries are :class:`tenacity.Retrying`: ``stop_after_attempt``, a retry predicate on the internal
:class:`_Retryable` (429, 5xx, transport errors), ``before_sleep`` logging and the injected ``sleep``.
Two pieces are written here because tenacity has no parameter for them: the wait reads the server's
``Retry-After`` first, and the full jitter is tenacity's ``wait_random_exponential`` formula drawn
from the injected random source (tenacity's own draws from the ``random`` module, so tests could not
pin the waits). The one token refresh on 401 is a second run of the retries rather than a retry
inside them: it is not a failure to back off from and does not use up ``max_retries``.

Written here because no library does it for httpx: the rate limiter (one slot every ``1/rate``
seconds per host, shared by the readers of a process) and the credential transport (see
:class:`_CredentialTransport`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import httpx
import tenacity

from dataframe_pipeline.exceptions import HttpSourceError
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from dataframe_pipeline.ingest.http.checks import _DEFAULT_PORTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from dataframe_pipeline.ingest.http.redaction import _Redactor
    from dataframe_pipeline.ingest.http.source import HttpSource, HttpStats

log = logging.getLogger(__name__)


_MESSAGE_CHARS = 500


class _RateLimiter:
    """One request slot every ``1/rate`` seconds per host, shared by all readers of the process.

    Slots are reserved under a lock and waited for outside it, so concurrent readers queue up
    instead of bursting; there is no burst allowance, so N requests take at least (N-1)/rate seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def wait(self, key: str, rate: float, sleep: Callable[[float], None]) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(key, now))
            self._next_slot[key] = slot + 1.0 / rate
        if slot > now:
            sleep(slot - now)


_RATE_LIMITER = _RateLimiter()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme)


class _Random(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


class _CredentialTransport(httpx.BaseTransport):
    """Adds credentials to a copy of each request just before it is sent.

    httpx logs the request it was given (``HTTP Request: GET <url>``) and keeps it as
    ``response.request``; adding the credentials to a copy here keeps an API key in the query
    string out of both.
    """

    def __init__(
        self, inner: httpx.BaseTransport, credentials: Callable[[], tuple[dict[str, str], dict[str, str]]]
    ) -> None:
        self._inner = inner
        self._credentials = credentials

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers, query = self._credentials()
        url = request.url
        for name, value in query.items():
            url = url.copy_set_param(name, value)
        merged = request.headers.copy()
        merged.update(headers)
        outgoing = httpx.Request(request.method, url, headers=merged, stream=request.stream)
        outgoing.extensions = request.extensions
        return self._inner.handle_request(outgoing)

    def close(self) -> None:
        self._inner.close()


def _response_message(response: httpx.Response, redactor: _Redactor) -> str:
    """The server's message: a ``message``/``error``/``detail`` field of a JSON body, else the text."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                text = body[key]
                break
    # redact before truncating, so half a secret cannot survive the cut
    text = redactor.text(" ".join(text.split()))
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


def _retry_after(response: httpx.Response | None, wall_clock: Callable[[], float]) -> float | None:
    """Seconds asked by ``Retry-After`` (delta seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - wall_clock())


class _Retryable(Exception):
    """Internal: a 429, a 5xx or a transport error, retried with backoff.

    :param outcome: the response or the transport error.
    :param retry_after: the seconds the server asked to wait (``Retry-After``), or None.
    """

    def __init__(self, outcome: httpx.Response | httpx.TransportError, retry_after: float | None) -> None:
        super().__init__(type(outcome).__name__)  # never shown; no URL or message that could hold a secret
        self.outcome = outcome
        self.retry_after = retry_after


class _TokenRejected(Exception):
    """Internal: the API answered 401 to the OAuth2 token: fetch a new one and send again (once)."""


def _retried(state: tenacity.RetryCallState) -> _Retryable:
    """The :class:`_Retryable` of the attempt the retries are deciding on."""
    error = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(error, _Retryable):  # the retry predicate retries nothing else
        raise TypeError(f"not a retryable attempt: {error!r}")
    return error


class _FullJitter(tenacity.wait_exponential):
    """Full jitter: a wait drawn evenly from 0 to ``min(cap, first * 2**retry)``, so the retries of many
    clients spread out. Tenacity's ``wait_random_exponential`` with the random source injected.
    """

    def __init__(self, first: float, cap: float, rng: _Random) -> None:
        super().__init__(multiplier=first, max=cap)
        self._rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self._rng.uniform(0.0, super().__call__(retry_state))


class _RetryAfterOr(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when it sent one, else ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self._fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        asked = _retried(retry_state).retry_after
        return asked if asked is not None else self._fallback(retry_state)


class _Session:
    """The HTTP side of one read: clients, credentials, retries, rate limit and statistics."""

    def __init__(self, source: HttpSource, stats: HttpStats, redactor: _Redactor, hooks: _Hooks) -> None:
        self.source = source
        self.stats = stats
        self.redactor = redactor
        self.hooks = hooks
        self._token: str | None = None
        self._token_expires = 0.0
        timeout = httpx.Timeout(source.timeout_seconds)
        transport = _CredentialTransport(httpx.HTTPTransport(), self._credentials)
        # environment proxies are ignored by both clients alike (a custom transport disables them anyway)
        self._api = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
        self._plain = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
        host = httpx.URL(source.base_url)
        self._rate_key = "{}://{}:{}".format(*_origin(host))

    def close(self) -> None:
        self._api.close()
        self._plain.close()

    def get_page(self, url: httpx.URL) -> httpx.Response:
        return self._send(self._api, self.source.method, url, api=True)

    def _credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.source.auth
        if isinstance(auth, BasicAuth):
            return {"Authorization": auth.header()}, {}
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token}"}, {}
        if isinstance(auth, ApiKeyAuth):
            return ({auth.name: auth.key}, {}) if auth.location == "header" else ({}, {auth.name: auth.key})
        if isinstance(auth, OAuth2ClientCredentials) and self._token is not None:
            return {"Authorization": f"Bearer {self._token}"}, {}
        return {}, {}

    def _send(self, client: httpx.Client, method: str, url: httpx.URL, *, api: bool, **kwargs: Any) -> httpx.Response:
        refreshable = api and isinstance(self.source.auth, OAuth2ClientCredentials)
        try:
            return self._retrying(url)(self._try, client, method, url, kwargs, api=api, refreshable=refreshable)
        except _TokenRejected:
            pass  # outside the except block, so a failure of the second run does not chain to this one
        # the token may have been revoked before its announced expiry: fetch a new one, once
        self._token = None
        self.stats.retries += 1
        return self._retrying(url)(self._try, client, method, url, kwargs, api=api, refreshable=False)

    def _retrying(self, url: httpx.URL) -> tenacity.Retrying:
        source = self.source
        jitter = _FullJitter(source.backoff_seconds, source.max_backoff_seconds, self.hooks.rng)
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(source.max_retries + 1),
            wait=_RetryAfterOr(jitter),
            sleep=self.hooks.sleep,
            before_sleep=lambda state: self._before_retry(url, state),
            retry_error_callback=lambda state: self._give_up(url, state),
        )

    def _try(
        self, client: httpx.Client, method: str, url: httpx.URL, kwargs: dict[str, Any], *, api: bool, refreshable: bool
    ) -> httpx.Response:
        """One request: the response when it succeeded, else raises what the retries decide on."""
        if api:
            self._before_api_request()
        outcome = self._attempt(client, method, url, kwargs)
        if isinstance(outcome, httpx.Response) and outcome.is_success:
            return outcome
        if refreshable and isinstance(outcome, httpx.Response) and outcome.status_code == httpx.codes.UNAUTHORIZED:
            raise _TokenRejected
        raise self._failure(url, outcome)

    def _attempt(
        self, client: httpx.Client, method: str, url: httpx.URL, kwargs: dict[str, Any]
    ) -> httpx.Response | httpx.TransportError:
        self.stats.requests += 1
        try:
            response = client.request(
                method, url, headers=self.source.headers if client is self._api else None, **kwargs
            )
        except httpx.TransportError as exc:
            return exc
        self.stats.bytes += len(response.content)
        return response

    def _describe(self, outcome: httpx.Response | httpx.TransportError) -> str:
        if isinstance(outcome, httpx.Response):
            return f"HTTP {outcome.status_code}"
        return self.redactor.text(f"{type(outcome).__name__}: {outcome}")

    def _message(self, outcome: httpx.Response | httpx.TransportError) -> str:
        if isinstance(outcome, httpx.Response):
            return _response_message(outcome, self.redactor)
        return self._describe(outcome)

    def _failure(self, url: httpx.URL, outcome: httpx.Response | httpx.TransportError) -> Exception:
        """What a failed request raises: :class:`_Retryable`, or :class:`HttpSourceError` when not retrying."""
        response = outcome if isinstance(outcome, httpx.Response) else None
        if response is None:
            return _Retryable(outcome, None)
        shown = self.redactor.url(url)
        status = response.status_code
        if response.is_redirect:
            location = self.redactor.url(response.headers.get("location", ""))
            return HttpSourceError(shown, status, f"redirect to {location} not followed", retryable=False)
        if status != httpx.codes.TOO_MANY_REQUESTS and status < 500:
            return HttpSourceError(shown, status, self._message(response), retryable=False)
        asked = _retry_after(response, self.hooks.wall_clock)
        if asked is not None and asked > self.source.max_backoff_seconds:
            return HttpSourceError(
                shown,
                status,
                f"{self._message(response)} (Retry-After asks for {asked:.0f}s, more than max_backoff_seconds="
                f"{self.source.max_backoff_seconds})",
                retryable=True,
            )
        return _Retryable(response, asked)

    def _before_retry(self, url: httpx.URL, state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1
        log.warning(
            "%s: %s; retry %d/%d in %.2fs",
            self.redactor.url(url),
            self._describe(_retried(state).outcome),
            state.attempt_number,
            self.source.max_retries,
            state.upcoming_sleep,
        )

    def _give_up(self, url: httpx.URL, state: tenacity.RetryCallState) -> NoReturn:
        outcome = _retried(state).outcome
        status = outcome.status_code if isinstance(outcome, httpx.Response) else None
        message = f"{self._message(outcome)} (gave up after {state.attempt_number - 1} retries)"
        raise HttpSourceError(self.redactor.url(url), status, message, retryable=True)

    def _before_api_request(self) -> None:
        if self.source.rate_limit_per_second is not None:
            _RATE_LIMITER.wait(self._rate_key, self.source.rate_limit_per_second, self.hooks.sleep)
        auth = self.source.auth
        if isinstance(auth, OAuth2ClientCredentials) and (
            self._token is None or self.hooks.clock() >= self._token_expires
        ):
            self._fetch_token(auth)

    def _fetch_token(self, auth: OAuth2ClientCredentials) -> None:
        data = {"grant_type": "client_credentials"}
        if auth.scope:
            data["scope"] = auth.scope
        basic = None
        if auth.credentials_in_body:
            data |= {"client_id": auth.client_id, "client_secret": auth.client_secret}
        else:
            basic = httpx.BasicAuth(auth.client_id, auth.client_secret)
        started = self.hooks.clock()
        response = self._send(self._plain, "POST", httpx.URL(auth.token_url), api=False, data=data, auth=basic)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise HttpSourceError(
                self.redactor.url(auth.token_url), response.status_code, "no access_token in the token response",
                retryable=False,
            )  # fmt: skip
        self.redactor.add(token)
        lifetime = _seconds(body.get("expires_in"))
        # renew a little early so a token does not expire between the check and the request
        self._token_expires = started + lifetime - min(30.0, lifetime / 10)
        self._token = token


def _seconds(value: Any) -> float:
    """A token lifetime (``expires_in``, a number or a numeric string); without one it lasts until a 401."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return math.inf
    return seconds if seconds > 0 and not isinstance(value, bool) else math.inf


@dataclass(frozen=True)
class _Hooks:
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    rng: _Random
