"""The report as one self-contained HTML page: pictures inlined as ``data:image/png`` URIs, no script.

The Airflow UI shows it in an iframe whose sandbox depends on where the view is (a run's tab allows
scripts and same-origin requests in 3.3.2; a navigation view allows neither): a page that needs no
script and no further request (which, from a sandboxed page, would carry no session cookie) renders
the same in every one. The reports app also serves it with a CSP that forbids anything else."""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1f2933;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #d9e2ec;padding:.2rem .5rem;
text-align:left}th{background:#f0f4f8}.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b42318;font-weight:600}.good{color:#027a48;font-weight:600}.note{color:#52606d;font-style:italic}
img{max-width:100%;border:1px solid #eef2f6;margin:.5rem 0}.verdict{font-size:1.05rem;padding:.5rem .8rem;
background:#f0f4f8;border-left:4px solid #3b75af}code{font-size:.85rem}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.2%}"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _flag(ok: Any, yes: str = "passed", no: str = "FAILED") -> str:
    if ok is None:
        return "-"
    return f'<span class="good">{yes}</span>' if ok else f'<span class="bad">{no}</span>'


def _pictures(section: Mapping[str, Any], pictures: Mapping[str, bytes]) -> str:
    out = []
    for name in section.get("pictures") or []:
        if name in pictures:
            data = base64.b64encode(pictures[name]).decode()
            out.append(f'<img alt="{esc(name)}" data-picture="{esc(name)}" src="data:image/png;base64,{data}">')
    return "".join(out)


def _note(section: Mapping[str, Any]) -> str:
    parts = []
    if section.get("error"):
        parts.append(f'<p class="bad">{esc(section["error"])}</p>')
    if section.get("note"):
        parts.append(f'<p class="note">{esc(section["note"])}</p>')
    return "".join(parts)


def _accounting(s: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(r["step"]),
            esc(r.get("state") or ""),
            _num(r["rows_in"]),
            _num(r["rows_out"]),
            _num(r["rows_quarantined"]),
            _num(r["rows_dropped"]),
            esc(", ".join(f"{k}={v}" for k, v in {**r["quarantined_by_rule"], **r["dropped_by_rule"]}.items())),
            _flag(r.get("balanced"), "yes", "NO"),
        ]
        for r in s.get("steps", [])
    ]
    headers = ["step", "state", "in", "out", "quarantined", "dropped", "by rule", "balanced"]
    return _table(headers, rows) if rows else ""


def _cleaning(s: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(c["column"]),
            _rate(c["null_rate_before"]),
            _num(c["nulls_before"]),
            _rate(c["null_rate_after"]),
            _num(c["nulls_after"]),
        ]
        for c in s.get("columns", [])
    ]
    if not rows:
        return ""
    intro = f"<p>{_num(s.get('rows_before'))} rows before cleaning, {_num(s.get('rows_after'))} after.</p>"
    return intro + _table(["column", "null rate before", "nulls", "null rate after", "nulls"], rows)


def _outliers(s: Mapping[str, Any]) -> str:
    rules = {**s.get("quarantined_by_rule", {}), **s.get("dropped_by_rule", {})}
    out = "".join(f"<p>{esc(rule)}: <b>{_num(n)}</b> rows removed</p>" for rule, n in rules.items())
    rows = [
        [
            esc(c),
            esc(e["rule"]),
            _num(e["count"]),
            esc(e["fences"] and f"[{e['fences'][0]:.6g}, {e['fences'][1]:.6g}]"),
            esc(", ".join(f"{v:.6g}" for v in e["values"][:12])),
        ]
        for c, e in (s.get("columns") or {}).items()
    ]
    return out + (_table(["column", "rule", "rows", "fences", "removed values (smallest first)"], rows) if rows else "")


def _expectations(items: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            _flag(e.get("success")),
            esc(e.get("severity")),
            f"<code>{esc(e.get('type'))}</code>",
            esc(e.get("column")),
            _num(e.get("unexpected_count")),
            _rate(e["unexpected_percent"] / 100) if e.get("unexpected_percent") is not None else "-",
            esc(", ".join(map(str, (e.get("examples") or [])[:3]))),
            esc(e.get("exception") or e.get("observed_value")),
        ]
        for e in items
    ]
    headers = ["result", "severity", "expectation", "column", "unexpected", "%", "examples", "observed / error"]
    return _table(headers, rows) if rows else ""


def _validation(s: Mapping[str, Any]) -> str:
    parts = [f"<p>Suite <code>{esc(s.get('suite'))}</code>: {_flag(s.get('success'))}</p>"]
    stats = s.get("statistics") or {}
    if stats:
        parts.append(_table(list(stats), [[_num(v) for v in stats.values()]]))
    parts.append(_expectations(s.get("expectations") or []))
    contract = s.get("contract")
    if contract:
        diffs = contract.get("differences") or []
        parts.append(f"<p>Schema contract: {_flag(contract.get('success'))}</p>")
        parts.append("<ul>" + "".join(f"<li>{esc(d)}</li>" for d in diffs) + "</ul>" if diffs else "")
    monitors = s.get("monitors") or []
    if monitors:
        rows = [[_flag(m.get("success")), esc(m.get("name")), esc(m.get("severity")), esc(m.get("message")),
                 _num(m.get("observed")), _num(m.get("threshold"))] for m in monitors]  # fmt: skip
        parts.append(_table(["result", "monitor", "severity", "message", "observed", "threshold"], rows))
    if s.get("missing"):
        parts.append(f'<p class="note">not in this validation result: {esc(", ".join(s["missing"]))}</p>')
    return "".join(parts)


def _drift(s: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(d["column"]),
            esc(d["kind"]),
            _num(d["psi"]),
            _num(d["ks"]),
            _flag(not d["drifted"], "stable", "DRIFT") if d["psi"] is not None else "-",
            esc(d.get("note")),
        ]
        for d in s.get("columns", [])
    ]
    if not rows:
        return ""
    drifted = ", ".join(s.get("drifted") or []) or "none"
    intro = f"<p>PSI threshold {esc(s.get('threshold'))}; drifted: <b>{esc(drifted)}</b></p>"
    return intro + _table(["column", "kind", "PSI", "KS", "verdict", "note"], rows)


SECTIONS: list[tuple[str, str, Callable[[Mapping[str, Any]], str]]] = [
    ("accounting", "Row accounting per step", _accounting),
    ("cleaning", "Null rates and distributions, before and after cleaning", _cleaning),
    ("outliers", "Outliers removed", _outliers),
    ("validation", "Expectation results", _validation),
    ("drift", "Drift against the previous published version", _drift),
    ("tsne", "t-SNE picture (refine)", lambda s: ""),
    ("history", "Quality history", lambda s: ""),
]


def render(report: Mapping[str, Any], pictures: Mapping[str, bytes]) -> str:
    """The report page."""
    partition = "/".join(f"{k}={v}" for k, v in (report.get("partition") or {}).items())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Quality report {esc(report['dag_id'])} {esc(report['run_id'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Quality report: {esc(report['dag_id'])} / {esc(report['run_id'])}</h1>",
        f"<p>Partition <code>{esc(partition)}</code>, generated {esc(report['generated_at'])}</p>",
        f'<p class="verdict" id="verdict">{esc(report["verdict"])}</p>',
    ]
    for key, title, body in SECTIONS:
        section = report["sections"].get(key) or {}
        content = "" if section.get("error") else body(section)
        figures = _pictures(section, pictures)
        parts.append(f'<section id="{key}"><h2>{esc(title)}</h2>{_note(section)}{content}{figures}</section>')
    parts.append("</body></html>")
    return "".join(parts)
