"""Run a snippet in a fresh interpreter with the project's plugins importable (nothing loaded yet)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def run_fresh_python(code: str) -> str:
    """The snippet's standard output; a failing snippet fails the test with its error."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PLUGINS)},
    ).stdout
