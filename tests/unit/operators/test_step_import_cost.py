"""A task pays only for what it uses: each step of the demo pipeline, run in a fresh interpreter on the
demo day as a worker runs it, leaves the heavy libraries it does not need unimported.

Structural, not timed: after importing the step's operator module and executing it, the test lists
which heavy modules are in ``sys.modules``. The inputs of each step are made once, in this process, by
the steps before it (the same operators, the demo configuration with its templates filled in).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fresh_python import run_fresh_python

pytestmark = pytest.mark.unit

PROJECT = Path(__file__).resolve().parents[3]
DAY = "2026-10-28"
SOURCE = PROJECT / "include" / "data" / "orders" / f"orders_{DAY}.csv"
HEAVY = ("sklearn", "skops", "matplotlib", "scipy", "great_expectations", "deltalake")

#: per step: its operator (module, class) and keyword arguments besides task_id, input and root;
#: "fitted_from" is filled in with the state the training step published
STEPS: dict[str, tuple[str, str, dict]] = {
    "ingest": ("dataframe_pipeline.ingest.operators", "FileIngestOperator", {"source": str(SOURCE)}),
    "clean": ("dataframe_pipeline.clean.operators", "CleanOperator", {}),
    "enrich": ("dataframe_pipeline.enrich.operators", "EnrichOperator", {}),
    "refine": (
        "dataframe_pipeline.refine.operators",
        "RefineOperator",
        {
            "split_outputs": "split",
            "tsne_picture": {
                "columns": ["quantity_scaled", "unit_price_scaled", "amount_scaled"],
                "color_by": "returned",
                "sample_size": 1000,
            },
        },
    ),
    "validate": (
        "dataframe_pipeline.validate.operators",
        "ValidateOperator",
        # (no schema contract: its categories are those of the training window, not of this one day)
        {"suite": "include/expectations/orders_curated.json"},
    ),
}
#: what each step may import: fitting a PCA and drawing t-SNE need scikit-learn (and its scipy) and
#: matplotlib; validation runs Great Expectations; nothing else pays for any of them
ALLOWED = {
    "refine": {"sklearn", "scipy", "matplotlib"},
    "validate": {"great_expectations", "scipy"},
}


def _transforms(step: str) -> list[dict]:
    """The demo chain of a step, with the DAG's params filled in (no Airflow rendering here)."""
    from dataframe_pipeline.config import load_pipeline_config

    text = json.dumps(load_pipeline_config("orders_pipeline")[step])
    text = text.replace('"{{ params.pca_components }}"', "2")
    text = text.replace('"{{ 1 - params.test_fraction }}"', "0.8").replace('"{{ params.test_fraction }}"', "0.2")
    return json.loads(text)


def _snippet(step: str, kwargs: dict) -> str:
    module, cls = STEPS[step][:2]
    return f"""
import json, sys
from datetime import datetime, timezone
from types import SimpleNamespace
from {module} import {cls}
context = {{
    "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 28, tzinfo=timezone.utc), run_id="scheduled__x"),
    "ti": SimpleNamespace(try_number=1),
    "run_id": "scheduled__x",
}}
result = {cls}(task_id={step!r}, **json.loads({json.dumps(json.dumps(kwargs))})).execute(context)
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"heavy": heavy, "result": result}}, default=str))
"""


def _context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 28, tzinfo=UTC), run_id="manual__train"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "manual__train",
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The inputs of every step: the demo day run through the steps (fitting and publishing their
    state as orders_training does), in this process."""
    import importlib

    root = (tmp_path_factory.mktemp("lake") / "lake").as_uri()
    inputs: dict[str, dict] = {}
    previous = None
    for step, (module, cls, kwargs) in STEPS.items():
        args = {"storage_root": root, **kwargs}
        if previous is not None:
            args["input_dataset"] = previous
        if step in ("clean", "enrich", "refine"):
            args["transforms"] = _transforms(step)
            args["publish_fitted_as"] = f"probe_{step}"
        inputs[step] = args
        if step == "validate":  # the last one: its input is all it needs
            break
        operator = getattr(importlib.import_module(module), cls)(task_id=step, **args)
        previous = operator.execute(_context())
    return inputs


@pytest.mark.parametrize("step", list(STEPS))
def test_a_step_imports_only_what_it_uses(lake: dict, step: str) -> None:
    kwargs = dict(lake[step])
    if "publish_fitted_as" in kwargs:  # a daily run: apply the published state, as orders_pipeline does
        kwargs["fitted_from"] = kwargs.pop("publish_fitted_as")
    out = json.loads(run_fresh_python(_snippet(step, kwargs)).strip().splitlines()[-1])
    assert out["result"]["accounting"]["balanced"], out["result"]
    unexpected = set(out["heavy"]) - ALLOWED.get(step, set())
    assert not unexpected, f"{step} imported {sorted(unexpected)}"
    if "fitted_from" in kwargs:  # the run's fitted state is the archive it applied, byte for byte
        published = Path(kwargs["storage_root"].removeprefix("file://")) / "_fitted" / kwargs["fitted_from"]
        saved = Path(out["result"]["fitted_uri"].removeprefix("file://"))
        assert saved.read_bytes() == (published / "fitted.skops").read_bytes()


@pytest.mark.parametrize("step", ["clean", "enrich"])
def test_fitting_and_saving_state_does_not_import_scikit_learn(lake: dict, step: str) -> None:
    """orders_training: the step fits its chain and saves (and publishes) the fitted state."""
    kwargs = dict(lake[step])
    kwargs["publish_fitted_as"] = f"again_{step}"
    out = json.loads(run_fresh_python(_snippet(step, kwargs)).strip().splitlines()[-1])
    assert out["result"]["fitted_uri"].endswith("fitted.skops")
    assert not set(out["heavy"]) & {"sklearn", "skops", "scipy", "matplotlib"}, out["heavy"]
