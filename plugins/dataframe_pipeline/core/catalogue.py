"""The transform catalogue: every transform of the clean, enrich and refine steps, declared once.

A transform's identity is one :class:`Transform` entry: its name (what a step's configuration says,
``{"iqr_outliers": {...}}``, and the rule its quarantined or dropped rows are counted under), the class
that implements it, the steps that offer it, and whether its fitted state is reusable (describes the
data's values, so it can be saved and re-applied to other data). Everything else is derived from here:

- the step operators' registries (:func:`registry`);
- the skops allow-list of fitted-state archives (:data:`REUSABLE`, used by ``core/artifacts.py``);
- the rule name of each transformer (``BatchTransformer.rule_name`` looks itself up here);
- the reference documentation ``docs/transforms.md`` (:func:`reference_docs`, checked by a test).

Entries name classes as ``"module:Class"`` strings, so this module imports nothing heavy: DAG files and
operators read it at parse time; classes are imported when a step builds its chain.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

STEPS = ("clean", "enrich", "refine")


@dataclass(frozen=True)
class Transform:
    """One transform of the catalogue.

    :param name: the name a chain declares it by; also the rule its rejected and dropped rows count under.
    :param target: ``"package.module:Class"`` of the implementing class.
    :param steps: the steps whose operators offer it.
    :param reusable: whether its fitted state describes the data's values (bounds, categories, scales,
        projections) and can be saved with the run and re-applied to other data; state tied to the rows at
        hand (duplicates seen, seeded splits) is not.
    """

    name: str
    target: str
    steps: tuple[str, ...]
    reusable: bool = False

    @property
    def module(self) -> str:
        return self.target.split(":")[0]

    @property
    def class_name(self) -> str:
        return self.target.split(":")[1]

    @property
    def class_path(self) -> str:
        """``package.module.Class``, as skops names types."""
        return f"{self.module}.{self.class_name}"

    def load(self) -> type:
        """The implementing class (imports its module)."""
        return getattr(import_module(self.module), self.class_name)


def _t(name: str, target: str, *steps: str, reusable: bool = False) -> Transform:
    return Transform(name, f"dataframe_pipeline.{target}", steps, reusable)


CATALOGUE: tuple[Transform, ...] = (
    # clean: duplicates, types and formats, missing values, outliers
    _t("exact_duplicates", "clean.duplicates:ExactDuplicates", "clean"),
    _t("key_duplicates", "clean.duplicates:KeyDuplicates", "clean"),
    _t("coerce_types", "clean.coercion:TypeCoercion", "clean", reusable=True),
    _t("normalize_text", "clean.formats:NormalizeText", "clean"),
    _t("rename_columns", "clean.formats:RenameColumns", "clean"),
    _t("convert_units", "clean.formats:ConvertUnits", "clean"),
    _t("convert_timezone", "clean.formats:ConvertTimezone", "clean"),
    _t("missing_values", "clean.missing:MissingValues", "clean", reusable=True),
    _t("group_impute", "clean.missing:GroupImputer", "clean", reusable=True),
    _t("fill_by_key", "clean.fill:FillByKey", "clean"),
    _t("interpolate", "clean.fill:InterpolateTimeSeries", "clean"),
    _t("drop_sparse_columns", "clean.sparse:DropSparseColumns", "clean", reusable=True),
    _t("drop_sparse_rows", "clean.sparse:DropSparseRows", "clean"),
    _t("iqr_outliers", "clean.outliers:IQROutliers", "clean", reusable=True),
    _t("zscore_outliers", "clean.outliers:ZScoreOutliers", "clean", reusable=True),
    _t("isolation_forest", "clean.isolation_forest:IsolationForestOutliers", "clean", reusable=True),
    # enrich: encodings, scaling, date-time, geospatial, reference joins, text
    _t("one_hot", "enrich.encoding:OneHotEncoder", "enrich", reusable=True),
    _t("ordinal", "enrich.encoding:OrdinalEncoder", "enrich", reusable=True),
    _t("frequency", "enrich.encoding:FrequencyEncoder", "enrich", reusable=True),
    _t("standard_scale", "enrich.scaling:StandardScaler", "enrich", "refine", reusable=True),
    _t("minmax_scale", "enrich.scaling:MinMaxScaler", "enrich", "refine", reusable=True),
    _t("robust_scale", "enrich.scaling:RobustScaler", "enrich", "refine", reusable=True),
    _t("datetime_features", "enrich.datetime_features:DateTimeFeatures", "enrich"),
    _t("haversine", "enrich.geo:HaversineDistance", "enrich"),
    _t("region", "enrich.geo:CoordinatesToRegion", "enrich"),
    _t("lookup", "enrich.lookup:LookupJoin", "enrich"),
    _t("text", "enrich.text:TextFeatures", "enrich", reusable=True),
    # refine: normalisation, dimensionality reduction, samples and splits
    _t("normalize", "refine.normalize:RowNormalizer", "refine"),
    _t("pca", "refine.pca:PCAProjection", "refine", reusable=True),
    _t("truncated_svd", "refine.svd:TruncatedSVDProjection", "refine", reusable=True),
    _t("stratified_split", "refine.sampling:StratifiedSplit", "refine"),
    _t("sample", "refine.sampling:Sample", "refine"),
    _t("systematic_sample", "refine.sampling:SystematicSample", "refine"),
    _t("balance_classes", "refine.balance:ClassBalancer", "refine"),
)

#: class paths (``module.Class``) of the transformers whose fitted state can be re-applied to other data
REUSABLE: tuple[str, ...] = tuple(t.class_path for t in CATALOGUE if t.reusable)


@cache
def _by_name() -> dict[str, Transform]:
    return {t.name: t for t in CATALOGUE}


@cache
def _by_class() -> dict[str, Transform]:
    return {t.class_path: t for t in CATALOGUE}


@cache
def _by_class_name() -> dict[str, Transform]:
    return {t.class_name: t for t in CATALOGUE}


def transform(name: str) -> Transform:
    """The catalogue entry named ``name``; KeyError when there is none."""
    return _by_name()[name]


def registry(step: str) -> dict[str, Transform]:
    """The transforms ``step`` offers, by name (what its operator's chain may declare)."""
    return {t.name: t for t in CATALOGUE if step in t.steps}


def entry_of(cls: type) -> Transform | None:
    """The catalogue entry of a transformer class, or None for a class the catalogue does not declare."""
    return _by_class().get(f"{cls.__module__}.{cls.__qualname__}")


def relocated(class_path: str) -> str | None:
    """Where a project class named by an older module path lives now (fitted-state archives record the
    module of each class when saved; a module renamed since must not make them unreadable)."""
    module, _, name = class_path.rpartition(".")
    entry = _by_class_name().get(name)
    if entry is None or not module.startswith("dataframe_pipeline.") or entry.class_path == class_path:
        return None
    return entry.class_path


def build_chain(step: str, chain: Any, field: str = "transforms") -> list:
    """Instantiate a step's declared chain ``[{name: params}, ...]`` (imports the classes).

    Names must be offered by ``step``; parameters must be the class's (a misspelt or missing one fails
    here, naming the position, the transform and the value); each transformer then checks its
    parameters' values without a schema (``check_params(None)``).

    :raises ConfigurationError: naming ``<field>[i].<name>`` and the bad value.
    """
    from dataframe_pipeline.exceptions import ConfigurationError

    offered = registry(step)
    if not isinstance(chain, list) or not chain:
        raise ConfigurationError(field, chain, "must be a non-empty list of {name: params}")
    built = []
    for i, item in enumerate(chain):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigurationError(f"{field}[{i}]", item, "must be a one-key mapping {name: params}")
        ((name, params),) = item.items()
        if name not in offered:
            known = ", ".join(sorted(offered))
            raise ConfigurationError(f"{field}[{i}]", name, f"unknown {step} transform; known: {known}")
        if not isinstance(params, dict):
            raise ConfigurationError(f"{field}[{i}].{name}", params, "params must be a mapping")
        try:
            transformer = offered[name].load()(**params)
        except TypeError as err:
            raise ConfigurationError(f"{field}[{i}].{name}", params, str(err)) from err
        try:
            transformer.check_params(None)
        except ConfigurationError as err:
            raise ConfigurationError(f"{field}[{i}].{name}.{err.field}", err.value, err.problem) from err
        built.append(transformer)
    return built


def rule_name(cls: type) -> str:
    """The rule a transformer's rows are counted under: its catalogue name (snake_case class name for a
    class outside the catalogue, such as a test's own transformer)."""
    entry = entry_of(cls)
    if entry is not None:
        return entry.name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


# --- reference documentation --------------------------------------------------------------------

_PARAM = re.compile(r"^\s*:param (\w+):(.*)$")


def _param_docs(cls: type[object]) -> dict[str, str]:
    """``:param name: text`` entries of the class and ``__init__`` docstrings (continuation lines joined)."""
    docs: dict[str, str] = {}
    current = None
    for line in inspect.cleandoc((cls.__doc__ or "") + "\n" + (cls.__init__.__doc__ or "")).splitlines():
        match = _PARAM.match(line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip() and not line.lstrip().startswith(":"):
            docs[current] += " " + line.strip()
        else:
            current = None
    return docs


def _summary(cls: type) -> str:
    """The first paragraph of the class docstring, on one line."""
    paragraph = inspect.cleandoc(cls.__doc__ or "").split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def _annotation(parameter: inspect.Parameter) -> str:
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return ""
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


def _default(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty:
        return "required"
    return f"`{parameter.default!r}`"


def parameters(cls: type[object]) -> list[dict[str, str]]:
    """Name, type, default and meaning of each constructor parameter of a transformer class.

    :raises ValueError: a parameter has no ``:param`` documentation (the reference would lie by omission).
    """
    docs = _param_docs(cls)
    rows = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in docs:
            raise ValueError(f"{cls.__module__}.{cls.__qualname__}: parameter {name!r} has no :param documentation")
        rows.append({"name": name, "type": _annotation(parameter), "default": _default(parameter), "doc": docs[name]})
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(entry: Transform) -> list[str]:
    cls = entry.load()
    lines = [
        f"### `{entry.name}`",
        "",
        _summary(cls),
        "",
        f"Steps: {', '.join(entry.steps)}. Class: `{entry.class_path}`. "
        + (
            "Fitted state reusable (saved with the run, `fitted_from` re-applies it)."
            if entry.reusable
            else "Fitted state not reusable (about the rows at hand, or none)."
        ),
        "",
        "| parameter | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for row in parameters(cls):
        lines.append(f"| `{row['name']}` | `{_cell(row['type'])}` | {_cell(row['default'])} | {_cell(row['doc'])} |")
    return [*lines, ""]


def reference_docs(entries: Iterable[Transform] = CATALOGUE) -> str:
    """``docs/transforms.md``: every transform, the steps offering it, its parameters with their types,
    defaults and meaning, generated from the catalogue and the classes' docstrings."""
    entries = list(entries)
    lines = [
        "# Transforms of the clean, enrich and refine steps",
        "",
        "Generated from `plugins/dataframe_pipeline/core/catalogue.py` and the classes' docstrings by",
        "`make docs`; `tests/unit/core/test_catalogue.py` fails when this file is out of date. Do not edit it.",
        "",
        "A step's chain is a list of `{<name>: {<parameters>}}`; the name is also the rule under which the",
        "transform's quarantined and dropped rows are counted.",
        "",
    ]
    for step in STEPS:
        names = ", ".join(f"[`{t.name}`](#{t.name})" for t in entries if step in t.steps)
        lines.append(f"- **{step}**: {names}")
    lines.append("")
    for step in STEPS:
        lines += [f"## {step}", ""]
        for entry in entries:
            if entry.steps[0] == step:
                lines += _section(entry)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":  # python -m dataframe_pipeline.core.catalogue > docs/transforms.md
    print(reference_docs(), end="")
