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

Plain fitted state (builtin containers, JSON values, numpy arrays, the reusable transformers) is
written and read by :class:`_PlainWriter` and :class:`_PlainReader` in skops's own format (protocol 2,
the nodes skops writes), without importing skops, which imports the whole of scikit-learn and scipy
(2-6 s in a task process). The reader checks the whole tree before building anything: only those
node types, and objects of the allow-listed classes only; an archive with anything else (the
isolation forest's scikit-learn trees, a crafted file) goes to skops's audited loader above, and a
transformer with anything else is written by skops.

An archive names each object's class by module path, as it was when saved. A class whose module was
renamed since (``clean/outliers_more.py`` became ``clean/outliers.py``) is found again through the
catalogue by its class name before anything is checked or built (:func:`_relocate`), so a fitted state
published earlier stays readable; the allow-list check then applies to the current names.
"""

from __future__ import annotations

import collections
import importlib
import io
import json
import os
import platform
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


def save_fitted(transformers: list[BatchTransformer], path_or_fileobj: str | os.PathLike[str] | IO[bytes]) -> dict:
    """Save fitted, reusable transformers as a skops archive; return the sidecar description.

    :param transformers: fitted instances of the classes in :data:`REUSABLE`, in chain order.
    :param path_or_fileobj: a local path (the sidecar is written to ``<path>.json``) or a binary
        file object opened for writing (the caller stores the returned sidecar).
    :raises ConfigurationError: a transformer whose state is positional (not in :data:`REUSABLE`).
    :raises NotFittedError: a stateful transformer that has not been fitted.
    """
    transformers = list(transformers)
    for position, transformer in enumerate(transformers):
        _check_savable(position, transformer)
    sidecar = describe(transformers)
    try:
        archive = _PlainWriter(set(REUSABLE)).dump(transformers)
    except _NotPlain:
        import_skops().dump(transformers, path_or_fileobj)
    else:
        if isinstance(path_or_fileobj, str | os.PathLike):
            Path(path_or_fileobj).write_bytes(archive)
        else:
            path_or_fileobj.write(archive)
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
    data = _read_bytes(path_or_fileobj)
    try:
        data = _relocate(data)
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ArtifactError(f"not a skops fitted-state archive ({type(err).__name__}: {err})") from err
    classes = {*REUSABLE, *(trusted or ())}
    try:
        loaded = _PlainReader(data, classes).load()
    except _NotPlain:
        loaded = _load_with_skops(data, TRUSTED_TYPES | set(trusted or ()))
    if not isinstance(loaded, list) or not all(class_path(t) in classes for t in loaded):
        raise ArtifactError(f"expected a list of reusable transformers, got {type(loaded).__name__}: {loaded!r:.200}")
    return loaded


def _load_with_skops(data: bytes, allowed: set[str] | frozenset[str]) -> Any:
    """skops's own loader, after its audit: every type the archive would create must be in ``allowed``."""
    skops_io = import_skops()
    try:
        found = skops_io.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ArtifactError(f"not a skops fitted-state archive ({type(err).__name__}: {err})") from err
    refused = sorted(set(found) - allowed)
    if refused:
        raise ArtifactError(f"refusing to load untrusted types {refused}; trusted: {sorted(allowed)}")
    return skops_io.loads(data, trusted=sorted(set(found)))


class _NotPlain(Exception):
    """The archive holds a node the plain reader does not build; skops's own loader decides."""


#: the skops protocol the plain reader knows (skops.io._protocol.PROTOCOL of skops 0.16)
_SKOPS_PROTOCOL = 2
#: types a plain archive may name: containers built as such, and the types of dictionary keys
_PLAIN_CONTAINERS = {
    ("DictNode", "builtins", "dict"): dict,
    ("DictNode", "collections", "Counter"): collections.Counter,
    ("ListNode", "builtins", "list"): list,
    ("SetNode", "builtins", "set"): set,
    ("TupleNode", "builtins", "tuple"): tuple,
}
_KEY_TYPES = {"str": str, "int": int, "float": float}
_SEQUENCE_NODES: dict[type, str] = {list: "ListNode", set: "SetNode", tuple: "TupleNode"}


class _PlainReader:
    """Builds a skops archive of plain data without importing skops (or scikit-learn, which skops
    imports): builtin containers, JSON values, numpy arrays read with ``allow_pickle=False``, and
    instances of ``classes`` (the reusable transformers) restored as skops does, ``__new__`` then their
    ``__dict__``. Any other node (a scikit-learn estimator, a tree, a function, a numpy scalar or dtype)
    raises :class:`_NotPlain` before anything is built, and the archive goes to skops's audited loader.
    Nothing here imports or calls code an archive names, except looking up a class of ``classes``."""

    def __init__(self, data: bytes, classes: set[str]) -> None:
        self.data = data
        self.classes = classes
        self.memo: dict[int, Any] = {}

    def load(self) -> Any:
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            schema = json.loads(archive.read("schema.json"))
            if schema.get("protocol") != _SKOPS_PROTOCOL:
                raise _NotPlain(f"protocol {schema.get('protocol')!r}")
            try:
                self._check(schema)  # the whole tree first: nothing is built from an archive we refuse
            except (KeyError, TypeError, AttributeError) as err:
                raise _NotPlain(f"malformed node: {err!r}") from err
            self.archive = archive
            return self._build(schema)

    def _check(self, node: Any) -> None:
        if not isinstance(node, dict):
            raise _NotPlain(repr(node)[:80])
        loader, kind = node.get("__loader__"), (node.get("__loader__"), node.get("__module__"), node.get("__class__"))
        children: list[Any]
        leaf = loader in ("JsonNode", "CachedNode")
        if leaf or (loader == "TypeNode" and kind[1] == "builtins" and kind[2] in _KEY_TYPES):
            children = []
        elif loader == "NdArrayNode" and kind[1:] == ("numpy", "ndarray") and node.get("type") in ("numpy", "json"):
            children = [*node["content"], node["shape"]] if node["type"] == "json" else []
        elif loader == "ObjectNode" and f"{kind[1]}.{kind[2]}" in self.classes:
            children = [] if node.get("content") is None else [node["content"]]
        elif kind in _PLAIN_CONTAINERS and loader == "DictNode":
            children = [node["key_types"], *node["content"].values()]
        elif kind in _PLAIN_CONTAINERS:
            children = list(node["content"])
        else:
            raise _NotPlain(str(kind))
        for child in children:
            self._check(child)

    def _build(self, node: dict[str, Any]) -> Any:
        saved_id = node.get("__id__")
        if node["__loader__"] == "CachedNode":
            if saved_id not in self.memo:
                raise ArtifactError(f"the fitted-state archive refers to an unknown object id {saved_id!r}")
            return self.memo[saved_id]
        if saved_id in self.memo:
            return self.memo[saved_id]
        value = self._construct(node)
        if saved_id:
            self.memo[saved_id] = value
        return value

    def _construct(self, node: dict[str, Any]) -> Any:
        loader = node["__loader__"]
        if loader == "JsonNode":
            return json.loads(node["content"])
        if loader == "TypeNode":
            return _KEY_TYPES[node["__class__"]]
        if loader == "NdArrayNode":
            return self._array(node)
        if loader == "ObjectNode":
            return self._object(node)
        container = _PLAIN_CONTAINERS[(loader, node["__module__"], node["__class__"])]
        if loader == "DictNode":
            key_types = self._build(node["key_types"])
            out = container()
            for key_type, (key, value) in zip(key_types, node["content"].items(), strict=True):
                out[key_type(key)] = self._build(value)
            return out
        return container(self._build(item) for item in node["content"])

    def _array(self, node: dict[str, Any]) -> Any:
        import numpy as np

        if node["type"] == "numpy":
            return np.load(io.BytesIO(self.archive.read(node["file"])), allow_pickle=False)
        shape, items = self._build(node["shape"]), [self._build(item) for item in node["content"]]
        if len(shape) == 1:  # as skops builds object arrays
            array = np.ndarray(shape=len(items), dtype="O")
            for position, item in enumerate(items):
                array[position] = item
            return array
        return np.array(items, dtype="O")

    def _object(self, node: dict[str, Any]) -> Any:
        cls = getattr(importlib.import_module(node["__module__"]), node["__class__"])
        instance = cls.__new__(cls)
        attrs = None if node.get("content") is None else self._build(node["content"])
        if attrs is not None:
            if hasattr(instance, "__setstate__"):
                instance.__setstate__(attrs)
            else:
                instance.__dict__.update(attrs)
        return instance


class _PlainWriter:
    """Writes plain fitted state as a skops archive (protocol 2, the nodes skops itself would write,
    which skops and :class:`_PlainReader` both load) without importing skops or scikit-learn: the
    containers and values :class:`_PlainReader` builds, and instances of ``classes`` by their state.
    Anything else (a scikit-learn estimator, a numpy scalar, a subclass of a container) raises
    :class:`_NotPlain` and the caller lets skops write the archive."""

    def __init__(self, classes: set[str]) -> None:
        self.classes = classes
        self.keep: dict[int, Any] = {}  # every object stays alive while written: its id names it
        self.arrays: dict[str, bytes] = {}

    def dump(self, obj: Any) -> bytes:
        state = self._state(obj)
        state["protocol"] = _SKOPS_PROTOCOL
        state["_skops_version"] = _version_of("skops")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, body in self.arrays.items():
                archive.writestr(name, body)
            archive.writestr("schema.json", json.dumps(state, indent=2))
        return out.getvalue()

    def _state(self, value: Any) -> dict[str, Any]:
        self.keep.setdefault(id(value), value)
        state = self._node(value)
        state["__id__"] = id(value)
        return state

    def _node(self, value: Any) -> dict[str, Any]:
        kind = type(value)
        if kind in (dict, collections.Counter):
            return {
                **_head(kind, "DictNode"),
                "content": {key: self._state(item) for key, item in value.items()},
                "key_types": self._state([type(key) for key in value]),
            }
        if kind in _SEQUENCE_NODES:
            return {**_head(kind, _SEQUENCE_NODES[kind]), "content": [self._state(item) for item in value]}
        if kind in (str, int, float, bool, type(None)):
            return {**_head(str, "JsonNode"), "content": json.dumps(value), "is_json": True}
        if isinstance(value, type) and value in _KEY_TYPES.values():
            return _head(value, "TypeNode")
        if kind.__module__ == "numpy" and kind.__name__ == "ndarray":
            return self._array(value)
        if class_path(value) in self.classes and type(value).__reduce__ is object.__reduce__:
            attrs = value.__getstate__()
            return {**_head(kind, "ObjectNode"), **({} if attrs is None else {"content": self._state(attrs)})}
        raise _NotPlain(class_path(value))

    def _array(self, value: Any) -> dict[str, Any]:
        import numpy as np

        head = _head(type(value), "NdArrayNode")
        if value.dtype == object:
            return {**head, "content": self._state(value.tolist())["content"], "type": "json",
                    "shape": self._state(value.shape)}  # fmt: skip
        buffer = io.BytesIO()
        try:
            np.save(buffer, value, allow_pickle=False)
        except ValueError as err:
            raise _NotPlain(f"array of {value.dtype}") from err
        name = f"{id(value)}.npy"
        self.arrays.setdefault(name, buffer.getvalue())
        return {**head, "type": "numpy", "file": name}


def _head(kind: type, loader: str) -> dict[str, Any]:
    return {"__class__": kind.__name__, "__module__": kind.__module__, "__loader__": loader}


def _version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


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
