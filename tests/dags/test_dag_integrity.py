"""Every DAG file imports cleanly and fast, and carries the project's operational defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DeadlineAlert

from dataframe_pipeline.core.operators import StepOperator
from tests.fresh_python import run_fresh_python

PROJECT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((PROJECT / "dags").glob("*.py"))
HEAVY = ("pandas", "pyarrow", "sklearn", "great_expectations", "numpy")


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT / "dags"))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES) >= 1


def test_every_dag_serializes(dagbag: DagBag) -> None:
    """What the dag-processor does before the scheduler sees a DAG (catches bad template fields)."""
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id, dag in dagbag.dags.items():
        assert DagSerialization.to_dict(dag)["dag"]["dag_id"] == dag_id


def test_every_dag_has_operational_defaults(dagbag: DagBag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert deadlines and all(isinstance(d, DeadlineAlert) for d in deadlines), dag_id
        for task in dag.tasks:
            assert task.retries >= 1, (dag_id, task.task_id)
            assert task.retry_exponential_backoff, (dag_id, task.task_id)
            assert task.on_failure_callback, (dag_id, task.task_id)
            assert task.execution_timeout is not None, (dag_id, task.task_id)


def test_step_operators_configuration_is_valid(dagbag: DagBag) -> None:
    """Configuration errors surface here, in CI, not at 3 a.m.: every step task's templated fields are
    rendered with the DAG's default params and a partition, and its transforms are built and checked."""
    checked = 0
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if isinstance(task, StepOperator):
                task.check_configuration()
                checked += 1
    assert checked == sum(isinstance(t, StepOperator) for d in dagbag.dags.values() for t in d.tasks) >= 20


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_fast_without_heavy_imports(path: Path) -> None:
    """Parse each file in a fresh interpreter: time it, and check no heavy library was imported."""
    code = (
        "import sys, time, runpy\n"
        "import airflow.sdk\n"
        "t = time.perf_counter()\n"
        f"runpy.run_path({str(path)!r})\n"
        "print(time.perf_counter() - t)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = run_fresh_python(code).split("\n")
    seconds, heavy = float(out[-3]), out[-2]
    print(f"{path.name}: parsed in {seconds:.3f}s")
    assert heavy == "", f"{path.name} imports {heavy} at parse time"
    assert seconds < 1.0, f"{path.name} took {seconds:.2f}s to parse"


def _dag_with(transforms: list, **params) -> StepOperator:
    from datetime import UTC, datetime

    from airflow.sdk import DAG, Param

    from dataframe_pipeline.refine.operators import RefineOperator

    with DAG(
        "bad", schedule="@daily", start_date=datetime(2026, 10, 1, tzinfo=UTC),
        params={k: Param(v) for k, v in params.items()}, render_template_as_native_obj=True,
    ):  # fmt: skip
        return RefineOperator(task_id="refine", input_dataset="file:///x", transforms=transforms)


@pytest.mark.parametrize(
    ("transforms", "params", "field", "value"),
    [
        # a misspelt parameter, inside a templated chain
        ([{"pca": {"colums": ["a"], "n_components": "{{ params.k }}"}}], {"k": 2}, "transforms[0].pca", None),
        # a wrong type that only shows once the template is rendered with the DAG's default params
        (
            [{"pca": {"columns": ["a", "b"], "n_components": "{{ params.k }}"}}],
            {"k": "two"},
            "transforms[0].pca.n_components",
            "two",
        ),
        (
            [{"stratified_split": {"fractions": {"train": "{{ params.f }}", "test": 0.2}}}],
            {"f": 0.9},
            "transforms[0].stratified_split.fractions",
            None,
        ),
        ([{"pcaa": {}}], {}, "transforms[0]", "pcaa"),
    ],
)
def test_a_bad_chain_fails_the_configuration_check_naming_the_field_and_value(transforms, params, field, value) -> None:
    from dataframe_pipeline.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        _dag_with(transforms, **params).check_configuration()
    assert err.value.field == field
    if value is not None:
        assert err.value.value == value
