"""Secrets replaced by ``***`` in URLs, log lines, messages and provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

    from dataframe_pipeline.ingest.http.source import HttpSource

REDACTED = "***"


#: query parameters whose values are always redacted, whatever the auth
SECRET_QUERY_NAMES = frozenset({"access_token", "api_key", "apikey", "api-key", "client_secret", "password", "token"})


#: headers whose values are always redacted
SECRET_HEADER_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)


_MIN_SCRUBBED_SECRET = 4


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class _Redactor:
    """Replaces secrets by ``***`` in URLs and free text."""

    def __init__(self, query_names: frozenset[str]) -> None:
        self._query_names = query_names
        self._variants: list[str] = []

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_SCRUBBED_SECRET:
            return
        # a secret may show up percent-encoded (in a URL) as well as raw
        variants = {secret, quote(secret, safe=""), quote_plus(secret)} - set(self._variants)
        self._variants = sorted([*self._variants, *variants], key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self._variants:
            text = text.replace(secret, REDACTED)
        return text

    def url(self, url: httpx.URL | str) -> str:
        parts = urlsplit(_strip_userinfo(str(url)))
        pairs = [
            f"{pair.partition('=')[0]}={REDACTED}"
            if unquote_plus(pair.partition("=")[0]).lower() in self._query_names
            else pair
            for pair in parts.query.split("&")
        ]
        return self.text(urlunsplit(parts._replace(query="&".join(pairs) if parts.query else "")))


def _redactor_for(source: HttpSource) -> _Redactor:
    redactor = _Redactor(source.secret_query_names())
    for secret in source.auth.secrets() if source.auth is not None else []:
        redactor.add(secret)
    for name, value in (source.params or {}).items():
        if name.lower() in source.secret_query_names():
            redactor.add(str(value))
    for name, value in (source.headers or {}).items():
        if name.lower() in source.secret_header_names():
            redactor.add(value)
            redactor.add(value.partition(" ")[2])  # the credentials after "Bearer " or "Basic "
    return redactor
