"""Where ingest finds its files: local paths confined to a landing root, and the incremental manifest.

Local sources are resolved inside a configured landing root: no ``..``, no absolute path outside it,
no symlink leading out of it (checked on the resolved path of every file a glob matches).

The manifest records every file ingested (path, size, sha256, partition key, when), so that
incremental ingestion reads only files not ingested before, while a re-run of the same partition
re-reads exactly the files that partition took (a retry never loses them to "already ingested").
A file whose content changed since it was ingested counts as new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.dataset import write_atomic
from dataframe_pipeline.exceptions import ConfigurationError, SourceNotFoundError, UnsafePathError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fsspec import AbstractFileSystem

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in GLOB_CHARS)


def confine(landing_root: str | Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` (a path or glob, relative to ``landing_root`` or absolute
    inside it), each checked to resolve inside the root. Sorted; raises if none matches."""
    root = Path(landing_root).resolve()
    parts = PurePosixPath(pattern).parts
    if ".." in parts:
        raise UnsafePathError("source", pattern, "'..' is not allowed in a source path")
    path = Path(pattern)
    if path.is_absolute():
        try:
            relative = path.relative_to(root)
        except ValueError:
            raise UnsafePathError("source", pattern, f"is outside the landing root {root}") from None
    else:
        relative = path
    candidates = sorted(root.glob(str(relative))) if is_glob(str(relative)) else [root / relative]
    files = []
    for candidate in candidates:
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise UnsafePathError("source", str(candidate), f"resolves to {resolved}, outside the landing root {root}")
        if resolved.is_file():
            files.append(candidate)
    if not files:
        raise SourceNotFoundError(f"source={pattern!r}: no file under the landing root {root}")
    return files


@dataclass(frozen=True)
class FileInfo:
    """A source file as the manifest sees it."""

    path: str
    size: int
    sha256: str


def file_info(fs: AbstractFileSystem, path: str, chunk: int = 1 << 20) -> FileInfo:
    """Size and sha256 of a file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return FileInfo(path=path, size=size, sha256=digest.hexdigest())


class FileManifest:
    """The JSON record of ingested files, on any fsspec filesystem, rewritten atomically."""

    def __init__(self, fs: AbstractFileSystem, path: str) -> None:
        self.fs = fs
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.fs.exists(self.path):
            return {}
        try:
            data = json.loads(self.fs.cat_file(self.path))
        except json.JSONDecodeError as err:
            raise ConfigurationError("manifest", self.path, f"is not valid JSON: {err}") from err
        return data.get("files", {})

    def plan(self, files: Iterable[FileInfo], partition: str) -> tuple[list[FileInfo], list[FileInfo]]:
        """Split ``files`` into (to ingest in ``partition``, already ingested by another partition)."""
        known = self.load()
        take, skip = [], []
        for info in files:
            entry = known.get(info.path)
            unchanged = entry is not None and entry["sha256"] == info.sha256 and entry["size"] == info.size
            if entry is not None and unchanged and entry["partition"] != partition:
                skip.append(info)
            else:
                take.append(info)
        return take, skip

    def record(self, files: Iterable[FileInfo], partition: str) -> None:
        """Mark ``files`` as ingested by ``partition`` (files it no longer takes are released)."""
        known = self.load()
        for path in [p for p, e in known.items() if e["partition"] == partition]:
            del known[path]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for info in files:
            known[info.path] = {"size": info.size, "sha256": info.sha256, "partition": partition, "recorded_at": now}
        body = json.dumps({"format_version": 1, "files": dict(sorted(known.items()))}, indent=1).encode()
        parent = self.path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        write_atomic(self.fs, self.path, body)
