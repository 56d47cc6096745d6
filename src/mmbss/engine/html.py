"""``mmbss report DIR --html OUT.html``: one self-contained page of a run or a comparison.

Everything is inside the file: the figures (the PNGs of :mod:`mmbss.engine.plots`, embedded as
``data:`` URIs), the tables, inline CSS, no script and no reference to any other file or host,
so the page opens offline, can be mailed, and makes no network request. Sections: results (with
the intervals of ``mmbss compare``), learning curves, per-modality accuracy, balance scores,
pacing, method statistics, timings and the resolved config; a comparison whose runs did not all
finish lists the missing ones.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import tempfile
from pathlib import Path

from ..core.errors import InvalidValueError

__all__ = ["write_html", "SECTIONS"]

SECTIONS = {"results": "Results", "learning": "Learning curves", "modality": "Per-modality accuracy",
            "scores": "Balance scores", "pacing": "Pacing", "method": "Method statistics",
            "timings": "Timings", "config": "Configuration"}
"""Section id -> title, in page order."""

_FIGURES = {"learning": ["learning_curves.png", "comparison_curves.png", "comparison_bars.png"],
            "modality": ["modality_accuracy.png", "comparison_modality.png"],
            "scores": ["score_histograms.png"], "pacing": ["pacing.png", "comparison_pacing.png"],
            "method": ["method_statistics.png"]}

_CSS = """body{font:15px/1.45 system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}table{border-collapse:collapse;
font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}.note{color:#666}"""


def write_html(directory: str | Path, out: str | Path) -> Path:
    """Write the report of a run or comparison directory to ``out`` (an ``.html`` file).

    Raises:
        ValueError: ``directory`` is neither a run (``metrics.jsonl``) nor a comparison
            (``runs/``).
    """
    from .plots import plot_comparison, plot_run

    d, out = Path(directory), Path(out)
    comparison, run = (d / "runs").is_dir(), (d / "metrics.jsonl").is_file()
    if not (comparison or run):
        raise InvalidValueError(f"'{d}' is neither a run directory (no metrics.jsonl) nor a "
                                f"comparison directory (no runs/); give a folder written by "
                                f"'mmbss train' or 'mmbss compare'.")
    with tempfile.TemporaryDirectory() as tmp:
        pngs = plot_comparison(d, tmp) if comparison else plot_run(d, tmp)
        images = {p.name: base64.b64encode(p.read_bytes()).decode() for p in pngs}
    body = {"results": _comparison_results(d) if comparison else _run_results(d),
            "timings": _timings(d, comparison),
            "config": _config(d, comparison)}
    for sid, names in _FIGURES.items():
        figs = [f'<img alt="{n}" src="data:image/png;base64,{images[n]}">' for n in names
                if n in images]
        body[sid] = "".join(figs) or '<p class="note">Not logged by this run.</p>'
    title = f"mmbss {'comparison' if comparison else 'run'}: {html.escape(d.name)}"
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
             f"<style>{_CSS}</style></head><body><h1>{title}</h1>",
             "<nav>" + " · ".join(f'<a href="#{s}">{t}</a>' for s, t in SECTIONS.items()) + "</nav>"]
    parts += [f'<section id="{s}"><h2>{t}</h2>{body[s]}</section>' for s, t in SECTIONS.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(parts) + "</body></html>", encoding="utf-8")
    return out


def _table(rows: list[list[str]]) -> str:
    head, *rest = rows
    return ("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rest)
            + "</table>")


def _markdown_table(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("|") and not ln.startswith("|---")]
    notes = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return (_table(rows) if rows else "") + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def _comparison_results(d: Path) -> str:
    table = d / "table.md"
    out = _markdown_table(table.read_text()) if table.is_file() else \
        '<p class="note">No table.md: the comparison has not finished.</p>'
    missing = sorted(str(p.relative_to(d / "runs")) for p in (d / "runs").glob("*/seed*")
                     if p.is_dir() and not (p / "summary.json").is_file())
    if missing:
        out += (f'<p class="note">{len(missing)} run(s) did not finish and are not in the figures '
                f"as finished runs: {html.escape(', '.join(missing))}.</p>")
    return out


def _run_results(d: Path) -> str:
    summary = d / "summary.json"
    if not summary.is_file():
        return '<p class="note">No summary.json: the run has not finished.</p>'
    s = json.loads(summary.read_text())
    t = s.get("test") or {}
    rows = [["metric (test, at the best-validation epoch)", "value"],
            ["method", str(s.get("method"))], ["seed", str(s.get("seed"))],
            ["best epoch (by " + str(s.get("selected_by")) + ")", str(s.get("best_epoch"))]]
    rows += [[k, f"{100 * v:.2f} %"] for k, v in t.items() if isinstance(v, float) and k != "loss"]
    rows += [[f"accuracy of the {m} head", f"{100 * v:.2f} %"]
             for m, v in (t.get("modality_acc") or {}).items()]
    return _table(rows)


def _timings(d: Path, comparison: bool) -> str:
    if comparison:
        path = d / "results.csv"
        if not path.is_file():
            return '<p class="note">No results.csv yet.</p>'
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        keys = [k for k in ("time_train", "time_scoring", "time_eval") if rows and k in rows[0]]
        return _table([["method", "seed", *[k.replace("time_", "") + " s" for k in keys]]]
                      + [[r["method"], r["seed"], *[f"{float(r[k]):.1f}" for k in keys]] for r in rows])
    path = d / "timings.jsonl"
    if not path.is_file():
        return '<p class="note">No timings.jsonl.</p>'
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return _table([["epoch", "train s", "scoring s", "eval s"]]
                  + [[str(r["epoch"]), *[f"{r[k]:.2f}" for k in ("train", "scoring", "eval")]]
                     for r in recs])


def _config(d: Path, comparison: bool) -> str:
    path = d / "config.yaml"
    if comparison:
        first = sorted((d / "runs").glob("*/seed*/config.yaml"))
        path = first[0] if first else path
    if not path.is_file():
        return '<p class="note">No config.yaml.</p>'
    where = f"<p class=note>{html.escape(str(path.relative_to(d)))}</p>"
    return where + f"<pre>{html.escape(path.read_text())}</pre>"
