"""The ways to authenticate to an API: basic, bearer token, API key (header or query), OAuth2 client credentials."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.http.checks import _check_http_url, _check_text


class HttpAuth:
    """Base class of the ways to authenticate; secret fields are kept out of ``repr``."""

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the bad field (secret values shown as ``***``)."""

    def secrets(self) -> list[str]:
        """The secret values, to scrub from messages."""
        return []


@dataclass(frozen=True)
class BasicAuth(HttpAuth):
    """HTTP basic authentication (an Airflow HTTP connection's login and password)."""

    login: str
    password: str = field(repr=False)

    def validate(self) -> None:
        _check_text("auth.login", self.login)
        _check_text("auth.password", self.password, secret=True)

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode("ascii")

    def secrets(self) -> list[str]:
        return [self.password, self.header().removeprefix("Basic ")]


@dataclass(frozen=True)
class BearerAuth(HttpAuth):
    """A static bearer token, sent as ``Authorization: Bearer <token>``."""

    token: str = field(repr=False)

    def validate(self) -> None:
        _check_text("auth.token", self.token, secret=True)

    def secrets(self) -> list[str]:
        return [self.token]


@dataclass(frozen=True)
class ApiKeyAuth(HttpAuth):
    """An API key sent in a header or in a query parameter.

    :param key: the secret key.
    :param name: the header or query parameter name.
    :param location: ``"header"`` or ``"query"``.
    """

    key: str = field(repr=False)
    name: str = "X-API-Key"
    location: Literal["header", "query"] = "header"

    def validate(self) -> None:
        _check_text("auth.key", self.key, secret=True)
        _check_text("auth.name", self.name)
        if self.location not in ("header", "query"):
            raise ConfigurationError("auth.location", self.location, "must be 'header' or 'query'")

    def secrets(self) -> list[str]:
        return [self.key]


@dataclass(frozen=True)
class OAuth2ClientCredentials(HttpAuth):
    """OAuth2 client credentials grant: a token is fetched, cached until it expires, refreshed once on 401.

    :param token_url: the token endpoint.
    :param client_id: the client id.
    :param client_secret: the client secret.
    :param scope: space-separated scopes, or None.
    :param credentials_in_body: send client id and secret in the form body instead of basic auth.
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    credentials_in_body: bool = False

    def validate(self) -> None:
        _check_http_url("auth.token_url", self.token_url)
        _check_text("auth.client_id", self.client_id)
        _check_text("auth.client_secret", self.client_secret, secret=True)
        if self.scope is not None:
            _check_text("auth.scope", self.scope)
        if not isinstance(self.credentials_in_body, bool):
            raise ConfigurationError("auth.credentials_in_body", self.credentials_in_body, "must be True or False")

    def secrets(self) -> list[str]:
        return [self.client_secret, base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()]
