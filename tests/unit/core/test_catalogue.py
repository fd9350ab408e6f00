"""The transform catalogue is the one home of a transform's identity: everything else derives from it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core import artifacts, catalogue
from dataframe_pipeline.core.catalogue import CATALOGUE, build_chain, reference_docs, registry
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.refine.operators import RefineOperator
from tests.fresh_python import run_fresh_python

PROJECT = Path(__file__).resolve().parents[3]
DOCS = PROJECT / "docs" / "transforms.md"


def test_names_and_classes_are_unique_and_real_transformers() -> None:
    assert len({t.name for t in CATALOGUE}) == len(CATALOGUE)
    assert len({t.target for t in CATALOGUE}) == len(CATALOGUE)
    assert len({t.class_name for t in CATALOGUE}) == len(CATALOGUE)  # archives are relocated by class name
    for entry in CATALOGUE:
        cls = entry.load()
        assert issubclass(cls, BatchTransformer), entry
        assert set(entry.steps) <= set(catalogue.STEPS), entry
        assert not entry.reusable or cls.stateful, f"{entry.name}: reusable fitted state needs a fit"


@pytest.mark.parametrize("operator", [CleanOperator, EnrichOperator, RefineOperator])
def test_operator_registries_are_the_catalogue(operator) -> None:
    assert operator.registry == {t.name: t.target for t in CATALOGUE if operator.step in t.steps}
    assert operator.registry == {name: entry.target for name, entry in registry(operator.step).items()}


def test_scalers_are_offered_by_enrich_and_refine_from_one_module() -> None:
    for name in ("standard_scale", "minmax_scale", "robust_scale"):
        assert EnrichOperator.registry[name] == RefineOperator.registry[name]
        assert EnrichOperator.registry[name].startswith("dataframe_pipeline.enrich.scaling:")


def test_rule_name_is_the_config_name() -> None:
    for entry in CATALOGUE:
        cls = entry.load()
        assert cls.rule_name == entry.name, cls  # class and instance alike
    assert catalogue.rule_name(type("MyOwnRule", (BatchTransformer,), {})) == "my_own_rule"


RULE_TAKING = {"drop_rows": 2, "split_rows": 2, "reject": 1, "split_incomplete": 2, "_quarantine": 2}


def _literal_rules(path: Path) -> list[str]:
    """Calls in a transform module that count rows under a string literal instead of ``self.rule_name``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RULE_TAKING:
            position = RULE_TAKING[node.func.id]
            rule = node.args[position] if len(node.args) > position else None
            if isinstance(rule, ast.Constant | ast.JoinedStr) and not (
                isinstance(rule, ast.JoinedStr) and "rule_name" in ast.unparse(rule)
            ):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_transforms_count_their_rows_under_their_own_name() -> None:
    modules = {Path(inspect.getfile(t.load())) for t in CATALOGUE}
    offenders = [line for path in sorted(modules) for line in _literal_rules(path)]
    assert offenders == []


def test_the_skops_allow_list_is_the_reusable_transforms() -> None:
    assert set(artifacts.REUSABLE) == {t.class_path for t in CATALOGUE if t.reusable}
    assert set(artifacts.REUSABLE) <= artifacts.TRUSTED_TYPES
    assert len(artifacts.REUSABLE) == 16


def test_relocation_follows_the_class_name_into_the_project_only() -> None:
    assert catalogue.relocated("dataframe_pipeline.clean.outliers_more.ZScoreOutliers") == (
        "dataframe_pipeline.clean.outliers.ZScoreOutliers"
    )
    assert catalogue.relocated("dataframe_pipeline.clean.outliers.ZScoreOutliers") is None  # already current
    assert catalogue.relocated("evil.module.ZScoreOutliers") is None
    assert catalogue.relocated("dataframe_pipeline.anything.Evil") is None


def test_build_chain_names_the_position_the_transform_and_the_bad_value() -> None:
    with pytest.raises(ConfigurationError, match=r"transforms\[1\]='one_hot': unknown clean transform"):
        build_chain("clean", [{"exact_duplicates": {}}, {"one_hot": {"columns": ["c"]}}])
    unexpected = r"transforms\[0\].iqr_outliers=.*unexpected keyword argument 'colums'"
    with pytest.raises(ConfigurationError, match=unexpected):
        build_chain("clean", [{"iqr_outliers": {"colums": ["a"]}}])
    with pytest.raises(ConfigurationError, match=r"transforms\[0\].iqr_outliers.factor='3'"):
        build_chain("clean", [{"iqr_outliers": {"columns": ["a"], "factor": "3"}}])
    with pytest.raises(ConfigurationError, match=r"transforms\[0\].pca.n_components=0"):
        build_chain("refine", [{"pca": {"columns": ["a", "b"], "n_components": 0}}])
    assert [type(t).__name__ for t in build_chain("refine", [{"standard_scale": {"columns": ["a"]}}])] == [
        "StandardScaler"
    ]


def test_reference_docs_are_current() -> None:
    """docs/transforms.md is generated (make docs); a transform, parameter or docstring change shows here."""
    assert DOCS.read_text() == reference_docs(), "docs/transforms.md is out of date: run `make docs`"


def test_reference_docs_hold_every_transform_and_parameter() -> None:
    text = reference_docs()
    for entry in CATALOGUE:
        assert f"### `{entry.name}`" in text
        for name in inspect.signature(entry.load().__init__).parameters:
            if name != "self":
                assert f"| `{name}` |" in text, (entry.name, name)


def test_an_undocumented_parameter_fails_the_generation() -> None:
    class Undocumented(BatchTransformer):
        """A transform.

        :param a: documented.
        """

        def __init__(self, a: int = 1, b: int = 2) -> None:
            self.a, self.b = a, b

    with pytest.raises(ValueError, match="'b' has no :param documentation"):
        catalogue.parameters(Undocumented)


def test_the_catalogue_is_light_at_parse_time() -> None:
    out = run_fresh_python(
        "import sys; from dataframe_pipeline.core import catalogue; "
        "from dataframe_pipeline.clean.operators import CleanOperator; "
        "assert CleanOperator.registry['iqr_outliers']; "
        "print(','.join(m for m in ('pandas', 'numpy', 'pyarrow', 'sklearn') if m in sys.modules))"
    )
    assert out.strip() == ""
