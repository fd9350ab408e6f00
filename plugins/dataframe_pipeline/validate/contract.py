"""Schema contract of a dataset: its columns and their types, checked before any row is read.

A contract is a YAML file (``include/contracts/<dataset>.yaml``)::

    dataset: orders_curated          # what it describes (informative)
    allow_extra: false               # default true: columns the contract does not name are allowed
    columns:
      order_id: string               # an Arrow type as Arrow prints it ...
      order_ts: timestamp[us, tz=UTC]
      quantity: integer              # ... or a logical type (see LOGICAL)

Types are compared with the dataset's schema (the Arrow types of its manifest, which is what the next
step and the published table get). A logical type accepts a family of Arrow types: ``integer`` any
signed or unsigned int, ``float`` float16/32/64, ``number`` either, ``string`` string or large_string,
``boolean``, ``timestamp`` any unit and zone, ``date``. Differences are ``missing`` (named by the
contract, absent), ``added`` (present, not named, with ``allow_extra: false``) and ``retyped``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

_INT = r"u?int(8|16|32|64)"
LOGICAL = {
    "integer": _INT,
    "int": _INT,
    "float": r"(halffloat|float|double)",
    "number": rf"({_INT}|halffloat|float|double)",
    "string": r"(string|large_string)",
    "boolean": r"bool",
    "bool": r"bool",
    "timestamp": r"timestamp\[.*\]",
    "datetime": r"timestamp\[.*\]",
    "date": r"date(32|64)(\[.*\])?",
}


@dataclass(frozen=True)
class Contract:
    """Columns (name -> type) a dataset must have; ``allow_extra``: whether others may be present."""

    columns: Mapping[str, str]
    allow_extra: bool = True
    source: str = ""


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract file.

    :raises ConfigurationError: (field ``contract``) the file is missing or malformed, naming the problem.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError("contract", str(path), "no such file") from None
    except yaml.YAMLError as err:
        raise ConfigurationError("contract", str(path), f"not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict) or not data["columns"]:
        raise ConfigurationError("contract", str(path), "must be a mapping with a non-empty 'columns' mapping")
    unknown = sorted(set(data) - {"dataset", "allow_extra", "columns", "description"})
    if unknown:
        raise ConfigurationError("contract", str(path), f"unknown keys {unknown}")
    allow_extra = data.get("allow_extra", True)
    if not isinstance(allow_extra, bool):
        raise ConfigurationError("contract.allow_extra", allow_extra, "must be true or false")
    columns = {}
    for name, kind in data["columns"].items():
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigurationError(f"contract.columns.{name}", kind, "must be a type name")
        columns[str(name)] = kind.strip()
    return Contract(columns=columns, allow_extra=allow_extra, source=str(path))


def type_matches(expected: str, actual: str) -> bool:
    """Whether the Arrow type ``actual`` is ``expected`` (an Arrow type string or a logical type)."""
    pattern = LOGICAL.get(expected.lower())
    if pattern is not None:
        return re.fullmatch(pattern, actual) is not None
    return expected.replace(" ", "") == actual.replace(" ", "")


def compare(contract: Contract, schema: Mapping[str, str]) -> dict[str, Any]:
    """``{"success": bool, "differences": [{"column", "expected", "actual", "change"}]}``.

    :param schema: the dataset's columns, name -> Arrow type string, in order.
    """
    differences = []
    for column, expected in contract.columns.items():
        actual = schema.get(column)
        if actual is None:
            differences.append({"column": column, "expected": expected, "actual": None, "change": "missing"})
        elif not type_matches(expected, actual):
            differences.append({"column": column, "expected": expected, "actual": actual, "change": "retyped"})
    if not contract.allow_extra:
        for column, actual in schema.items():
            if column not in contract.columns:
                differences.append({"column": column, "expected": None, "actual": actual, "change": "added"})
    return {"success": not differences, "differences": differences}


def describe(result: Mapping[str, Any], source: str) -> str:
    """The failure message: every difference spelled out."""
    parts = []
    for d in result["differences"]:
        if d["change"] == "missing":
            parts.append(f"{d['column']}: missing (expected {d['expected']})")
        elif d["change"] == "added":
            parts.append(f"{d['column']}: added ({d['actual']}), not in the contract")
        else:
            parts.append(f"{d['column']}: retyped, expected {d['expected']}, actual {d['actual']}")
    return f"schema contract {source} broken: " + "; ".join(parts)
