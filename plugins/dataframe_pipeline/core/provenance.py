"""Provenance of what the pipeline publishes: the code version and the hash of a step's configuration.
Pure: no Airflow import."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from typing import Any

from dataframe_pipeline.core import settings

#: overrides the git commit (an image built without ``.git`` sets it at build time)
CODE_VERSION_ENV = "DATAFRAME_PIPELINE_CODE_VERSION"


@functools.cache
def _git_head() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607  # git from PATH, as a developer runs it; no input of ours
            cwd=settings.PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    return head if done.returncode == 0 and head else None


def code_version() -> str:
    """The version of the code that ran: ``DATAFRAME_PIPELINE_CODE_VERSION``, else the project's git
    commit (``git rev-parse HEAD``), else ``"unknown"``."""
    return os.environ.get(CODE_VERSION_ENV) or _git_head() or "unknown"


def config_hash(config: Any) -> str:
    """sha256 of a configuration in canonical JSON (sorted keys), so equal settings hash equal."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
