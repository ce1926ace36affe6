"""The export's report.html: one self-contained page (inline CSS, images as data URIs, nothing fetched
from the network) with the train/dev/test dashboard, the tally of error categories, the confusion
matrix as a heat map, the per-class errors and a strip of example thumbnails per error category.

Every piece of user text (class names, categories, notes, ids, paths) is escaped.
"""

from __future__ import annotations

import base64
import html
import threading
from pathlib import Path

import pandas as pd

from . import dashboard as dashmod
from . import stats
from . import tally as tallymod
from .store import Decision, Project, now_iso

STRIP = 12  # thumbnails per category
THUMB = (128, 128)  # decoded size bound; shown at 72 px

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d232a;
 background:#f4f5f7;margin:0;padding:24px}
main{max-width:1120px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}
.meta{color:#5b6570;font-size:12.5px;margin-bottom:18px;word-break:break-all}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 18px;margin-bottom:18px}
table{border-collapse:collapse}
th,td{padding:4px 9px;text-align:right;white-space:nowrap}
th{font-weight:600;color:#47515b;font-size:12.5px;border-bottom:1px solid #dde1e6}
td.l,th.l{text-align:left}
tbody tr:nth-child(even){background:#fafbfc}
.heat tbody tr:nth-child(even){background:none}
.num{font-variant-numeric:tabular-nums}
.track{position:relative;width:220px;height:14px;background:#eef0f3;border-radius:3px}
.bar{position:absolute;left:0;top:0;bottom:0;background:#4a7fc1;border-radius:3px}
.bar.err{background:#d0614d}
.bar.est{background:#e08e1e}
.ci{position:absolute;top:6px;height:2px;background:#1d232a}
.ci:before,.ci:after{content:"";position:absolute;top:-4px;width:1.5px;height:10px;background:#1d232a}
.ci:before{left:0}.ci:after{right:0}
#dashboard p{margin:8px 0 0}
.diag{background:#fff8e6;border-left:4px solid #e0a800;padding:8px 12px;margin:10px 0 0}
.diag.warn{background:#fdf1e3;border-left-color:#e08e1e}
.note{color:#5b6570;font-size:12.5px;margin:0 0 8px}
.heat td{width:44px;height:34px;text-align:center;padding:0;border:1px solid #fff;font-size:12.5px}
.heat th{border:none;text-align:center;padding:2px 4px}
.heat th.row{text-align:right}
.heat .corner{font-size:11px;color:#5b6570;text-align:left}
.strip{display:flex;flex-wrap:wrap;gap:6px}
.ex{width:84px;font-size:11px;color:#47515b;text-align:center}
.ex img,.ex .ph{width:72px;height:72px;object-fit:contain;image-rendering:pixelated;background:#fff;
 border:1px solid #cfd4da;border-radius:4px;display:block;margin:0 auto 3px}
.ex .ph{display:flex;align-items:center;justify-content:center;color:#a33;font-size:10.5px;background:#fbeeee}
.ex .txt{width:80px;height:72px;overflow:hidden;font-size:10.5px;text-align:left;border:1px solid #cfd4da;
 border-radius:4px;padding:3px;margin:0 auto 3px;background:#fff}
.ex .id{font-weight:600;color:#1d232a;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.ex .fix{color:#1f7a3a;font-weight:600}
.ex .n{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-style:italic}
.muted{color:#8a939c}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:3px 14px;margin:0}
dl.kv dt{color:#5b6570}dl.kv dd{margin:0;word-break:break-all}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def pct(x, digits: int = 1) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}%"


def _bar(value: float, ci: list[float] | None, scale: float, err: bool = False, est: bool = False) -> str:
    """A horizontal bar for ``value`` with a whisker for its interval, on a 0..scale track; red for an
    error rate (``err``), orange for an estimate from the review (``est``)."""
    scale = scale or 1.0
    w = max(0.0, min(1.0, value / scale)) * 100
    kind = " err" if err else " est" if est else ""
    out = f'<div class="track"><div class="bar{kind}" style="width:{w:.2f}%"></div>'
    if ci is not None:
        lo = max(0.0, min(1.0, ci[0] / scale)) * 100
        hi = max(0.0, min(1.0, ci[1] / scale)) * 100
        out += f'<div class="ci" style="left:{lo:.2f}%;width:{max(hi - lo, 0.3):.2f}%"></div>'
    return out + "</div>"


def _dashboard(dash: dict, dev_tally: dict | None) -> str:
    """The rates as a table with bars, then what :class:`labeler.core.dashboard.Dashboard` says about
    them (the sentences of ``labeler summary`` and the window's dashboard)."""
    d = dashmod.Dashboard.of(dash, dev_tally)
    top = max([r.ci95[1] for r in d.rates] + [0.01])
    rows = []
    for r in d.rates:
        lo, hi = r.ci95
        which = f'data-estimate="{esc(r.name)}"' if r.estimate else f'data-split="{esc(r.name)}"'
        counts = ("<td></td><td></td>" if r.estimate
                  else f'<td class="num">{r.examples:,}</td><td class="num">{r.errors:,}</td>')
        rows.append(
            f'<tr {which}><td class="l">{esc(r.name)}</td>{counts}<td class="num rate">{pct(r.error_rate, 2)}</td>'
            f'<td class="num">{pct(lo, 2)} – {pct(hi, 2)}</td>'
            f'<td class="l">{_bar(r.error_rate, r.ci95, top, not r.estimate, r.estimate)}</td></tr>'
        )
    p = lambda text, cls="": (f'<p class="{cls}">' if cls else "<p>") + f"{esc(text)}</p>" if text else ""
    return (
        f'<section id="dashboard"><h2>{esc(dashmod.TITLE)}</h2>'
        '<table><thead><tr><th class="l">split</th><th>examples</th><th>errors</th><th>error rate</th>'
        '<th>95% interval</th><th class="l">error rate and interval</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table>"
        + p(d.gaps, "gaps")
        + (f"<h3>{esc(dashmod.ESTIMATES)}</h3>" + p(d.corrected) + p(d.floor) if d.corrected else "")
        + (f"<h3>{esc(dashmod.DIAGNOSIS)}</h3>" + p(d.diagnosis, "diag") if d.diagnosis else "")
        + p(d.warning, "diag warn")
        + "</section>"
    )


def _tally(t: dict) -> str:
    cats = t["categories"]
    top = max([c["ci95"][1] for c in cats if t["reviewed"]] + [c["share"] for c in cats] + [0.01])
    rows = []
    none = t["reviewed"] == 0  # nothing reviewed: no interval or projection worth drawing
    for c in cats:
        lo, hi = c["ci95"]
        proj = "" if none or c.get("projected_errors") is None else f'{c["projected_errors"]:.1f}'
        ceil = "" if none or c.get("ceiling") is None else f'{100 * c["ceiling"]:.2f}'
        interval = "" if none else f"{pct(lo)} – {pct(hi)}"
        muted = ' class="muted"' if c["count"] == 0 else ""
        rows.append(
            f'<tr data-category="{esc(c["name"])}"{muted}><td class="l name">{esc(c["name"])}</td>'
            f'<td class="l">{esc(c["kind"].replace("_", " "))}</td><td class="num count">{c["count"]}</td>'
            f'<td class="num share">{pct(c["share"])}</td><td class="l">{_bar(c["share"], None if none else c["ci95"], top)}</td>'
            f'<td class="num">{interval}</td><td class="num projected">{proj}</td>'
            f'<td class="num ceiling">{ceil}</td></tr>'
        )
    head = (f'{esc(t["split"])}: <span class="reviewed">{t["reviewed"]}</span> of '
            f'<span class="errors">{t["errors"]}</span> errors reviewed; error rate {pct(t["error_rate"], 2)}.')
    return (
        '<section id="tally"><h2>Why the model fails: error categories</h2>'
        f'<p class="note">{head} {esc(t["note"])}</p>'
        '<table><thead><tr><th class="l">category</th><th class="l">kind</th><th>count</th><th>share</th>'
        '<th class="l">share and 95% interval</th><th>95% interval</th><th>projected errors</th>'
        '<th>ceiling (points)</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        '<p class="note" style="margin-top:8px">Ceiling: how many points of dev error fixing all errors of'
        " that category at most removes.</p></section>"
    )


def _heat(classes: list[str], m) -> str:
    k = len(classes)
    off = [int(m[i][j]) for i in range(k) for j in range(k) if i != j]
    diag = [int(m[i][i]) for i in range(k)]
    max_off, max_diag = max(off + [1]), max(diag + [1])
    head = "".join(f'<th title="predicted {esc(c)}">{esc(c)}</th>' for c in classes)
    rows = []
    for i, c in enumerate(classes):
        cells = []
        for j in range(k):
            v = int(m[i][j])
            if i == j:
                a = 0.12 + 0.5 * v / max_diag if v else 0
                bg = f"rgba(74,127,193,{a:.3f})"
                fg = "#1d232a"
            else:
                a = 0.1 + 0.85 * v / max_off if v else 0
                bg = f"rgba(208,97,77,{a:.3f})"
                fg = "#fff" if a > 0.6 else "#1d232a"
            text = str(v) if v else '<span class="muted">·</span>'
            cells.append(f'<td style="background:{bg};color:{fg}" title="given {esc(c)}, predicted '
                         f'{esc(classes[j])}: {v}" data-given="{esc(c)}" data-pred="{esc(classes[j])}">{text}</td>')
        rows.append(f'<tr><th class="row" title="given {esc(c)}">{esc(c)}</th>{"".join(cells)}</tr>')
    return (
        '<section id="confusion"><h2>Confusion matrix (dev)</h2>'
        '<p class="note">Rows: given label; columns: predicted label. Red: errors (darker = more), blue: correct.</p>'
        f'<table class="heat"><thead><tr><th class="corner">given \\ predicted</th>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


# Above this many classes the confusion matrix is not a table of K x K cells (1,000 classes made a
# 165 MB page): a picture of the whole matrix, the largest off-diagonal cells and the worst classes.
HEAT_TABLE_MAX = 40
TOP_CELLS = 50  # off-diagonal cells listed
TOP_CLASSES = 100  # per-class rows listed above HEAT_TABLE_MAX
PICTURE_MAX = 800  # pixels a side; a pixel stands for a block of classes beyond that


def _matrix_png(k: int, given, pred, counts) -> tuple[str, int]:
    """The whole matrix as a PNG data URI (errors red, correct blue, darker = more, log scale) and
    how many classes a pixel stands for."""
    import io

    import numpy as np
    from PIL import Image

    block = -(-k // PICTURE_MAX)
    side = -(-k // block)
    gi, pj = given // block, pred // block
    diag = given == pred
    off_sum = np.zeros((side, side))
    np.add.at(off_sum, (gi[~diag], pj[~diag]), counts[~diag])
    diag_sum = np.zeros((side, side))
    np.add.at(diag_sum, (gi[diag], pj[diag]), counts[diag])
    img = np.full((side, side, 3), 255.0)
    for total, rgb in ((diag_sum, (74, 127, 193)), (off_sum, (208, 97, 77))):
        if total.max() > 0:
            t = np.log1p(total) / np.log1p(total.max())
            t = np.where(total > 0, 0.25 + 0.75 * t, 0.0)[..., None]
            img = img * (1 - t) + np.array(rgb, float) * t
    buf = io.BytesIO()
    Image.fromarray(img.round().astype(np.uint8)).save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), block


def _big_confusion(classes: list[str], cells) -> str:
    """The confusion section for many classes: a picture and the largest off-diagonal cells."""
    given, pred, counts = cells
    k = len(classes)
    uri, block = _matrix_png(k, given, pred, counts)
    support = {}
    for g, c in zip(given.tolist(), counts.tolist()):
        support[g] = support.get(g, 0) + c
    off = [(int(c), int(g), int(p)) for g, p, c in zip(given, pred, counts) if g != p]
    off.sort(key=lambda t: (-t[0], t[1], t[2]))
    rows = "".join(
        f'<tr data-given="{esc(classes[g])}" data-pred="{esc(classes[p])}"><td class="l">{esc(classes[g])}</td>'
        f'<td class="l">{esc(classes[p])}</td><td class="num">{c}</td>'
        f'<td class="num">{pct(c / support[g]) if support.get(g) else ""}</td></tr>'
        for c, g, p in off[:TOP_CELLS])
    scale = "one pixel per class" if block == 1 else f"one pixel per block of {block} x {block} classes"
    return (
        '<section id="confusion"><h2>Confusion matrix (dev)</h2>'
        f'<p class="note">{k} classes: too many for a table. The whole matrix ({scale}; rows: given label,'
        " columns: predicted label; red: errors, blue: correct, darker = more, on a log scale), then the"
        f" {min(TOP_CELLS, len(off))} largest of its {len(off)} off-diagonal cells. <code>labeler confusion --cells</code>"
        " gives every cell.</p>"
        f'<img class="matrix" alt="confusion matrix of {k} classes" src="{uri}" '
        'style="image-rendering:pixelated;width:100%;max-width:800px;border:1px solid #ccd">'
        '<table><thead><tr><th class="l">given</th><th class="l">predicted</th><th>count</th>'
        f'<th>of given</th></tr></thead><tbody>{rows}</tbody></table></section>'
    )


def _per_class(rows: list[dict]) -> str:
    top = max([r["error_rate"] for r in rows] + [0.01])
    shown = rows
    note = ""
    if len(rows) > HEAT_TABLE_MAX:
        shown = sorted(rows, key=lambda r: (-r["errors"], -r["error_rate"], r["class"]))[:TOP_CLASSES]
        note = (f'<p class="note">The {len(shown)} classes with the most errors, of {len(rows)}, most first'
                " (the errors of every class: <code>labeler confusion --cells</code>).</p>")
    rows = shown
    body = "".join(
        f'<tr data-class="{esc(r["class"])}"><td class="l">{esc(r["class"])}</td><td class="num">{r["support"]}</td>'
        f'<td class="num">{r["errors"]}</td><td class="num">{pct(r["error_rate"])}</td>'
        f'<td class="l">{_bar(r["error_rate"], None, top, True)}</td><td class="num">{r["precision"]:.3f}</td>'
        f'<td class="num">{r["recall"]:.3f}</td><td class="num">{r["f1"]:.3f}</td></tr>'
        for r in (rows if note else sorted(rows, key=lambda r: -r["error_rate"]))
    )
    return (
        '<section id="per-class"><h2>Errors per class (dev)</h2>' + note +
        '<table><thead><tr><th class="l">class</th><th>support</th><th>errors</th><th>error rate</th>'
        '<th class="l"></th><th>precision</th><th>recall</th><th>F1</th></tr></thead>'
        f"<tbody>{body}</tbody></table></section>"
    )


def category_examples(frame: pd.DataFrame, decisions: dict[str, Decision], error_types: list[str],
                      split: str = "dev", limit: int = STRIP) -> dict[str, list[dict]]:
    """Up to ``limit`` reviewed errors of ``split`` per category, in file order."""
    part = frame[(frame["split"] == split) & frame["wrong"].to_numpy(dtype=bool)].sort_values("row")
    out: dict[str, list[dict]] = {}
    for r in part.itertuples(index=False):
        d = decisions.get(r.id)
        if d is None or not d.reviewed:
            continue
        for cat in tallymod.categories_of(d, error_types):
            items = out.setdefault(cat, [])
            if len(items) < limit:
                items.append({"id": r.id, "label": r.label, "pred": r.pred, "decision": d})
    return out


def _thumb(project: Project, example: dict | None, cache: dict) -> str:
    if example is None:
        return '<div class="ph">gone</div>'
    if example.get("path"):
        path = project.resolve(example["path"])
        key = str(path)
        if key not in cache:
            png = None
            try:
                from .images import thumbnail_png_bytes

                png = thumbnail_png_bytes(path, THUMB)
            except Exception:  # a bad image must not stop the report
                png = None
            cache[key] = png
        png = cache[key]
        if png is None:
            return f'<div class="ph" title="{esc(example["path"])}">no image</div>'
        data = base64.b64encode(png).decode("ascii")
        return f'<img alt="{esc(example["path"])}" src="data:image/png;base64,{data}">'
    text = example.get("text") or ""
    return f'<div class="txt">{esc(text[:240])}</div>'


def _strips(project: Project, examples: dict[str, list[dict]], tally: dict, cancel) -> str:
    cache: dict = {}
    parts = []
    for c in tally["categories"]:
        items = examples.get(c["name"], [])
        if not items:
            continue
        cells = []
        for it in items:
            if cancel is not None and cancel.is_set():
                return ""
            d = it["decision"]
            ex = project.example(it["id"], topk=False)
            fix = f'<div class="fix" title="corrected label">fixed: {esc(d.label)}</div>' if d.label is not None else ""
            note = f'<div class="n" title="{esc(d.note)}">{esc(d.note)}</div>' if d.note else ""
            cells.append(
                f'<div class="ex" data-id="{esc(it["id"])}">{_thumb(project, ex, cache)}'
                f'<div class="id" title="{esc(it["id"])}">{esc(it["id"])}</div>'
                f'<div title="given {esc(it["label"])}, predicted {esc(it["pred"])}">{esc(it["label"])} → '
                f'{esc(it["pred"])}</div>{fix}{note}</div>'
            )
        more = c["count"] - len(items)
        parts.append(
            f'<h3 data-category="{esc(c["name"])}">{esc(c["name"])} <span class="muted">({c["count"]}'
            f'{f", {len(items)} shown" if more > 0 else ""})</span></h3><div class="strip">{"".join(cells)}</div>'
        )
    if not parts:
        parts.append('<p class="note">No reviewed dev errors yet.</p>')
    return ('<section id="examples"><h2>Examples by category (reviewed dev errors)</h2>'
            '<p class="note">Under each example: its id, given label → predicted label, the corrected label'
            ' (green) and the note.</p>' + "".join(parts) + "</section>")


def _export(export: dict) -> str:
    rows = [
        ("corrections (all splits)", export.get("corrections")),
        (f"{export.get('split')} file", export.get("source_file") or "none registered"),
        ("corrected copy", export.get("corrected_file") or "not written"),
        ("matched by column", export.get("match_by")),
        ("labels corrected", export.get("relabelled")),
        ("ambiguous rows left out", export.get("dropped_ambiguous")),
        ("tagged mislabeled without a label", export.get("mislabeled_without_label")),
        ("corrections matching no row", (export.get("unmatched") or {}).get("count")),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v is not None)
    warn = "".join(f'<p class="diag">{esc(w)}</p>' for w in export.get("warnings") or [])
    return f'<section id="export"><h2>Export</h2><dl class="kv">{body}</dl>{warn}</section>'


def render(*, title: str, subtitle: str, dashboard: dict, tally: dict, classes: list[str], confusion,
           per_class: list[dict], strips_html: str, export: dict | None, human: list[str] | None = None,
           cells=None) -> str:
    """The page. ``confusion``: the K x K matrix, or None with ``cells`` (given, predicted, count
    arrays of :func:`stats.confusion_cells`) where there are more than :data:`HEAT_TABLE_MAX` classes."""
    matrix_html = _heat(classes, confusion) if confusion is not None else _big_confusion(classes, cells)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><main>"
        f"<h1>{esc(title)}</h1><div class=\"meta\">{esc(subtitle)}</div>"
        + _dashboard(dashboard, tally if tally.get("split", "dev") == "dev" else None)
        + _human(human)
        + _tally(tally) + matrix_html + _per_class(per_class)
        + strips_html + (_export(export) if export else "")
        + "</main></body></html>\n"
    )


def build(project: Project, frame: pd.DataFrame, decisions: dict[str, Decision], *, tally: dict,
          dashboard: dict, summary: dict | None = None, export: dict | None = None,
          cancel: threading.Event | None = None) -> str:
    """report.html for a project, from the figures the export computed."""
    classes = project.classes
    examples = category_examples(frame, decisions, project.error_types(), tally.get("split", "dev"))
    source = project.meta("source")
    subtitle = f"{project.path}" + (f" · predictions {source}" if source else "") + f" · generated {now_iso()}"
    if len(classes) > HEAT_TABLE_MAX:  # no K x K matrix, in memory or in the page
        cells = stats.confusion_cells(frame, classes, "dev")
        matrix, per_class = None, stats.per_class_from_cells(classes, *cells)
    else:
        cells, matrix = None, stats.confusion(frame, classes, "dev")
        per_class = stats.per_class(frame, classes, "dev", matrix=matrix)
    return render(
        title=f"labeler report: {Path(project.path).name}",
        subtitle=subtitle,
        dashboard=dashboard,
        tally=tally,
        classes=classes,
        confusion=matrix,
        cells=cells,
        per_class=per_class,
        strips_html=_strips(project, examples, tally, cancel),
        export=export,
        human=_human_lines(project, frame, summary),
    )


def _human_lines(project: Project, frame: pd.DataFrame, summary: dict | None) -> list[str] | None:
    """The human-level error and the decomposition in words, where reviewers gave blind labels."""
    from . import agreement, annotations

    if summary is None or not annotations.labels(project):
        return None
    human = agreement.compute(project, "dev", frame=frame).human
    return agreement.decomposition_lines(human, agreement.decomposition(summary["splits"], human))


def _human(lines: list[str] | None) -> str:
    if not lines:
        return ""
    return ('<section id="human"><h2>How good could the model be?</h2>'
            + "".join(f'<p class="{"diag" if line.strip().startswith("bottleneck") else ""}">{esc(line.strip())}</p>'
                      for line in lines)
            + "</section>")
