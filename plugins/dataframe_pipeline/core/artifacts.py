"""Fitted state as a run artifact: save fitted transformers with skops, load them back safely.

Only transformers whose fitted state describes the data's values (means, bounds, categories,
scales, projections) can be re-applied to new data or to a backfill; state tied to the rows'
positions (duplicates seen, seeded splits and samples, class balancing) is not, so those classes
are refused by :func:`save_fitted`. The allow-list, :data:`REUSABLE`, is derived from the transform
catalogue (``core/catalogue.py``: each transform's ``reusable`` flag).

The file is a skops archive (never a pickle). Loading first lists the types the archive would
create (``skops.io.get_untrusted_types``) and refuses the file when one of them is outside
:data:`TRUSTED_TYPES` (plus the caller's ``trusted``), so a crafted file cannot build arbitrary
objects. A JSON sidecar describes what was saved: class path, parameters, fitted attribute names
and library versions; :func:`save_fitted` returns it and, when given a path, writes it next to the
archive as ``<path>.json``.

An archive names each object's class by module path, as it was when saved. A class whose module was
renamed since (``clean/outliers_more.py`` became ``clean/outliers.py``) is found again through the
catalogue by its class name before anything is checked or built (:func:`_relocate`), so a fitted state
published earlier stays readable; the allow-list check then applies to the current names.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import threading
import warnings
import zipfile
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dataframe_pipeline.core.catalogue import REUSABLE, relocated
from dataframe_pipeline.exceptions import ArtifactError, ConfigurationError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dataframe_pipeline.core.transform import BatchTransformer

#: types a fitted-state archive may hold besides skops's default-trusted ones (builtins, numpy arrays
#: and dtypes, scikit-learn estimators): the reusable transformers, the containers their attributes
#: use, and the isolation forest's trees (restored by skops's own Tree loader from arrays, no code)
TRUSTED_TYPES: frozenset[str] = frozenset({*REUSABLE, "collections.Counter", "sklearn.tree._tree.Tree"})
SIDECAR_SUFFIX = ".json"
_VERSIONED = ("numpy", "pandas", "pyarrow", "scikit-learn", "skops")


def class_path(obj: object) -> str:
    """``module.QualName`` of the object's class, as skops names types."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def fitted_attributes(transformer: object) -> list[str]:
    """Names of the fitted attributes (public, ending in ``_``), sorted."""
    return sorted(k for k in vars(transformer) if k.endswith("_") and not k.startswith("_"))


def _check_savable(position: int, transformer: object) -> None:
    name = class_path(transformer)
    if name not in REUSABLE:
        raise ConfigurationError(
            f"transformers[{position}]", name, f"its fitted state cannot be re-applied; reusable: {list(REUSABLE)}"
        )
    if getattr(transformer, "stateful", False) and not fitted_attributes(transformer):
        raise NotFittedError(f"transformers[{position}] ({name}) is not fitted; call fit() or finish_fit() first")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _json_safe(value: Any) -> Any:
    """``value`` as JSON data (unknown objects as their ``repr``)."""
    return json.loads(json.dumps(value, default=repr, sort_keys=True))


def describe(transformers: Iterable[BatchTransformer]) -> dict[str, Any]:
    """The sidecar: format, library versions and, per transformer, class path, params, fitted names."""
    return {
        "format": "skops",
        "versions": _versions(),
        "transformers": [
            {
                "class": class_path(t),
                "params": _json_safe(t.get_params()),
                "fitted_attributes": fitted_attributes(t),
            }
            for t in transformers
        ],
    }


def import_skops() -> Any:
    """``skops.io``, imported without flooding the task log.

    At import, skops looks up every public numpy and scipy ufunc in every loaded module. In a task
    process those include Airflow's deprecated-module shims, which warn on each lookup: about a
    thousand ``DeprecatedImportWarning`` lines per import. Warnings raised from that lookup are
    ignored (a filter on skops's module, added once; other warnings are untouched).
    """
    warnings.filterwarnings("ignore", module=r"skops\.io\._utils")
    import skops.io

    return skops.io


def preload_skops() -> threading.Thread:
    """Import skops in a background thread and return the thread.

    Importing ``skops.io`` takes one to two seconds (it imports every scikit-learn estimator and
    walks the loaded modules to list trusted types). A step that will save fitted state starts the
    import when it starts, so it overlaps the data passes instead of following them.
    """

    def load() -> None:
        with contextlib.suppress(ImportError):  # surfaces again, with its message, in save_fitted
            import_skops()

    thread = threading.Thread(target=load, name="preload-skops", daemon=True)
    thread.start()
    return thread


def save_fitted(transformers: list[BatchTransformer], path_or_fileobj: str | os.PathLike[str] | IO[bytes]) -> dict:
    """Save fitted, reusable transformers as a skops archive; return the sidecar description.

    :param transformers: fitted instances of the classes in :data:`REUSABLE`, in chain order.
    :param path_or_fileobj: a local path (the sidecar is written to ``<path>.json``) or a binary
        file object opened for writing (the caller stores the returned sidecar).
    :raises ConfigurationError: a transformer whose state is positional (not in :data:`REUSABLE`).
    :raises NotFittedError: a stateful transformer that has not been fitted.
    """
    skops_io = import_skops()
    transformers = list(transformers)
    for position, transformer in enumerate(transformers):
        _check_savable(position, transformer)
    sidecar = describe(transformers)
    skops_io.dump(transformers, path_or_fileobj)
    if isinstance(path_or_fileobj, str | os.PathLike):
        sidecar_path = Path(f"{os.fspath(path_or_fileobj)}{SIDECAR_SUFFIX}")
        sidecar_path.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return sidecar


def _read_bytes(path_or_fileobj: str | os.PathLike[str] | IO[bytes]) -> bytes:
    if isinstance(path_or_fileobj, str | os.PathLike):
        return Path(path_or_fileobj).read_bytes()
    return path_or_fileobj.read()


def load_fitted(
    path_or_fileobj: str | os.PathLike[str] | IO[bytes], trusted: list[str] | None = None
) -> list[BatchTransformer]:
    """Load transformers saved by :func:`save_fitted`, refusing any type not on the allow-list.

    :param path_or_fileobj: a local path or a binary file object opened for reading.
    :param trusted: extra type names (``module.QualName``) the caller vouches for, added to
        :data:`TRUSTED_TYPES`.
    :raises ArtifactError: not a skops archive (e.g. a pickle), untrusted types (named in the
        message), or content that is not a list of reusable transformers.
    """
    skops_io = import_skops()
    data = _read_bytes(path_or_fileobj)
    try:
        data = _relocate(data)
        found = skops_io.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ArtifactError(f"not a skops fitted-state archive ({type(err).__name__}: {err})") from err
    allowed = TRUSTED_TYPES | set(trusted or ())
    refused = sorted(set(found) - allowed)
    if refused:
        raise ArtifactError(f"refusing to load untrusted types {refused}; trusted: {sorted(allowed)}")
    loaded = skops_io.loads(data, trusted=sorted(set(found)))
    classes = {*REUSABLE, *(trusted or ())}
    if not isinstance(loaded, list) or not all(class_path(t) in classes for t in loaded):
        raise ArtifactError(f"expected a list of reusable transformers, got {type(loaded).__name__}: {loaded!r:.200}")
    return loaded


def _relocate(data: bytes) -> bytes:
    """The archive with the module paths of project classes that moved since it was saved updated to
    where the catalogue says they live now (the archive as is when nothing moved).

    :raises zipfile.BadZipFile, KeyError, ValueError: not a skops archive.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        if not _relocate_nodes(schema):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as updated:
            for info in archive.infolist():
                body = json.dumps(schema).encode() if info.filename == "schema.json" else archive.read(info)
                updated.writestr(info, body)
    return out.getvalue()


def _relocate_nodes(node: Any) -> bool:
    """Rewrite ``__module__`` of moved project classes in a skops schema, in place; True if any moved."""
    moved = False
    if isinstance(node, dict):
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str):
            current = relocated(f"{module}.{name}")
            if current is not None:
                node["__module__"] = current.rpartition(".")[0]
                moved = True
        for value in node.values():
            moved = _relocate_nodes(value) or moved
    elif isinstance(node, list):
        for value in node:
            moved = _relocate_nodes(value) or moved
    return moved
