"""Object-store API servers on loopback for the integration tests, each in a process of its own: moto
(S3), gcp-storage-emulator (GCS) and Azurite (Azure Blob).

They run as subprocesses, not threads: delta-rs holds the GIL while it waits for its HTTP answers, so
a server thread in the test's own interpreter would never get to answer (the request times out).
A missing tool skips the test with the reason, and fails it under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import require_service

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AZURITE = PROJECT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's well-known development account (public, documented by Microsoft)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JsonReceiver:
    """A real HTTP server on a free loopback port that keeps the JSON body of every POST (webhook
    alerts): ``received`` in arrival order, ``connection`` an Airflow HTTP connection pointing at it."""

    def __init__(self) -> None:
        import http.server
        import threading

        received: list[dict] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def connection(self) -> str:
        return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.port, "schema": "http"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(port: int, proc: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {seconds}s")


@contextlib.contextmanager
def _serve(command: list[str], port: int, what: str, env: dict | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    try:
        _wait(port, proc, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto in server mode; yields its endpoint URL."""
    tool = BIN / "moto_server"
    require_service(tool.exists(), f"moto_server not installed in {BIN}")
    port = free_port()
    with _serve([str(tool), "-H", "127.0.0.1", "-p", str(port)], port, "moto_server"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator, in memory; yields its endpoint URL."""
    tool = BIN / "gcp-storage-emulator"
    require_service(tool.exists(), f"gcp-storage-emulator not installed in {BIN} (requirements-dev.txt)")
    port = free_port()
    command = [str(tool), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"]
    with _serve(command, port, "gcp-storage-emulator"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def azurite_blob() -> Iterator[str]:
    """Azurite's blob service, in memory; yields the blob endpoint URL (``.../devstoreaccount1``)."""
    node = shutil.which("node")
    require_service(
        node is not None and AZURITE.exists(), f"Azurite not installed at {AZURITE} (make venv installs it with npm)"
    )
    port = free_port()
    command = [
        str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
        "--skipApiVersionCheck", "--loose", "--silent",
    ]  # fmt: skip
    with _serve(command, port, "azurite-blob"):
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
