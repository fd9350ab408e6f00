"""What an alert says: built from an Airflow callback context, rendered as text, e-mail and JSON.

Pure logic (no Airflow import): the context is read duck-typed, because the two callers hand in different
shapes. A task callback (in the task's process) gets objects: ``ti`` (``try_number``, ``map_index``),
``dag_run`` and ``task`` and the ``exception``. A deadline callback (in the triggerer) gets what the
scheduler put into the callback's data when it marked the deadline missed: ``dag_run`` as the REST
API's JSON (``dag_id``, ``dag_run_id``, ``state``, ...) and ``deadline`` (``id``, ``deadline_time``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: Run states after which a missed deadline is no news: the run already said how it ended.
FINISHED_STATES = frozenset({"success", "failed"})
#: Failure wrappers whose cause is the error worth naming (the operator re-raises pipeline errors as
#: ``AirflowFailException("ValidationFailedError: ...")`` so that they are not retried).
WRAPPER_ERRORS = frozenset({"AirflowFailException", "AirflowException"})
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Alert:
    """One alert. ``text`` is the one-line summary (the log line, Slack's ``text``)."""

    title: str
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    max_tries: int | None = None
    run_state: str | None = None
    error_class: str | None = None
    error: str | None = None
    deadline: str | None = None
    accounting: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    url: str | None = None

    @property
    def where(self) -> str:
        return " / ".join(str(v) for v in (self.dag_id, self.run_id, self.task_id) if v is not None)

    @property
    def text(self) -> str:
        line = f"[dataframe-pipeline] {self.title}: {self.where or 'unknown run'}"
        if self.try_number is not None:
            line += f" (try {self.try_number}" + (f" of {self.max_tries})" if self.max_tries else ")")
        if self.error_class:
            line += f" - {self.error_class}: {self.error or ''}".rstrip()
        if self.deadline:
            line += f" - deadline {self.deadline} passed, run {self.run_state or 'unknown'}"
        return line

    @property
    def subject(self) -> str:
        return f"[dataframe-pipeline] {self.title}: {self.where or 'unknown run'}"[:200]

    def lines(self) -> list[str]:
        """The body as ``label: value`` lines (the e-mail and the Slack message)."""
        rows = [
            ("DAG", self.dag_id),
            ("Run", self.run_id),
            ("Task", self.task_id if self.map_index in (None, -1) else f"{self.task_id}[{self.map_index}]"),
            ("Try", None if self.try_number is None else f"{self.try_number} of {self.max_tries or '?'}"),
            ("Run state", self.run_state),
            ("Deadline", self.deadline),
            ("Error", f"{self.error_class}: {self.error or ''}" if self.error_class else None),
        ]
        out = [f"{label}: {value}" for label, value in rows if value is not None]
        out += [f"Rows of {task}: {describe_accounting(acc)}" for task, acc in self.accounting.items()]
        out += self.details
        if self.url:
            out.append(f"Log: {self.url}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the webhook: Slack-compatible ``text`` plus the structured fields."""
        body = {
            "title": self.title,
            "text": self.text,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": None if self.map_index in (None, -1) else self.map_index,
            "try_number": self.try_number,
            "max_tries": self.max_tries,
            "run_state": self.run_state,
            "error_class": self.error_class,
            "error": self.error,
            "deadline": self.deadline,
            "accounting": self.accounting or None,
            "details": self.details or None,
            "url": self.url,
        }
        return {k: v for k, v in body.items() if v is not None}

    def html(self) -> str:
        """The e-mail body: the lines as a small table, every value escaped."""
        cells = []
        for line in self.lines():
            label, _, value = line.partition(": ")
            shown = html.escape(value)
            if label == "Log":
                shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
            cells.append(f"<tr><th align=left>{html.escape(label)}</th><td>{shown}</td></tr>")
        return f"<h3>{html.escape(self.title)}</h3><table>{''.join(cells)}</table>"


def describe_accounting(accounting: Mapping[str, Any]) -> str:
    """``in 100, out 97, quarantined 2, dropped 1`` (plus the rules of the dropped rows, if any)."""
    parts = [
        f"{label} {accounting[key]}"
        for key, label in (
            ("rows_in", "in"),
            ("rows_out", "out"),
            ("rows_quarantined", "quarantined"),
            ("rows_dropped", "dropped"),
        )
        if key in accounting
    ]
    by_rule = accounting.get("dropped_by_rule") or {}
    if by_rule:
        parts.append("by rule " + ", ".join(f"{rule}={n}" for rule, n in sorted(by_rule.items())))
    return ", ".join(parts)


def error_of(exception: BaseException | str | None) -> tuple[str | None, str | None]:
    """The error class and message worth showing: the cause of a failure wrapper, without its repeated
    ``Class: `` prefix; the message cut at :data:`MAX_MESSAGE` characters."""
    if exception is None or exception == "":
        return None, None
    if isinstance(exception, str):  # some callers only have the rendered error
        name, sep, rest = exception.partition(": ")
        return (name, rest[:MAX_MESSAGE]) if sep and name.isidentifier() else ("Error", exception[:MAX_MESSAGE])
    err: BaseException = exception
    while type(err).__name__ in WRAPPER_ERRORS and err.__cause__ is not None:
        err = err.__cause__
    name, message = type(err).__name__, str(err)
    if name in WRAPPER_ERRORS:  # no cause kept: the wrapped class is the message's prefix
        inner, sep, rest = message.partition(": ")
        if sep and inner.isidentifier():
            name, message = inner, rest
    elif message.startswith(f"{name}: "):
        message = message[len(name) + 2 :]
    return name, message[:MAX_MESSAGE]


def accounting_of(results: Sequence[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """The row accounting of each upstream step result (task id, XCom value) that has one."""
    out: dict[str, dict[str, Any]] = {}
    for task_id, result in results:
        accounting = result.get("accounting") if isinstance(result, Mapping) else None
        if isinstance(accounting, Mapping):
            out[task_id] = {k: v for k, v in accounting.items() if k.startswith(("rows_", "dropped_by"))}
    return out


def failed_warning_monitors(validation: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The monitors of a validation result (``result["validation"]["monitors"]``) that failed without
    failing the run: volume, freshness and rate anomalies of severity ``warning``."""
    monitors = (validation or {}).get("monitors") or []
    return [dict(m) for m in monitors if not m.get("success", True) and m.get("severity") == "warning"]


def task_log_url(
    base_url: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    map_index: int | None = None,
    try_number: int | None = None,
) -> str:
    """The task instance's log in the Airflow 3 UI (the route ``TaskInstance.log_url`` builds)."""
    url = f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    if try_number:
        url += f"?try_number={try_number}"
    return url


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The DAG run's page in the Airflow 3 UI."""
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"


def _get(obj: Any, *names: str) -> Any:
    """The first of ``names`` that ``obj`` has, as a key (the JSON of a deadline callback) or an
    attribute (the objects of a task callback)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def build_alert(
    context: Mapping[str, Any],
    title: str,
    *,
    base_url: str,
    upstream: Sequence[tuple[str, Any]] = (),
    details: Sequence[str] = (),
) -> Alert:
    """The alert for a callback ``context`` (see the module docstring for the two shapes it takes).

    :param upstream: ``(task_id, XCom result)`` of the steps before the failed one, for their accounting.
    :param details: extra lines (failed monitors, ...).
    """
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    deadline = context.get("deadline")
    dag_id = (
        _get(ti, "dag_id") or _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id") or context.get("dag_id")
    )
    run_id = _get(ti, "run_id") or _get(dag_run, "run_id", "dag_run_id") or context.get("run_id")
    task_id = _get(ti, "task_id")
    map_index = _get(ti, "map_index")
    try_number = _get(ti, "try_number")
    retries = _get(context.get("task"), "retries")
    error_class, error = error_of(context.get("exception"))
    deadline_time = _get(deadline, "deadline_time") if deadline is not None else None
    url = None
    if dag_id and run_id and task_id:
        url = task_log_url(base_url, dag_id, run_id, task_id, map_index=map_index, try_number=try_number)
    elif dag_id and run_id:
        url = run_url(base_url, dag_id, run_id)
    return Alert(
        title=title,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=try_number,
        max_tries=None if retries is None else int(retries) + 1,
        run_state=_state(_get(dag_run, "state")),
        error_class=error_class,
        error=error,
        deadline=None if deadline_time is None else str(deadline_time),
        accounting=accounting_of(upstream),
        details=list(details),
        url=url,
    )
