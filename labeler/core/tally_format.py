"""The tally as text: a terminal table, CSV (safe to open in a spreadsheet), Markdown or JSON."""

from __future__ import annotations

import csv
import io
import json
import re

SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number with a sign: "-1", "+3.5", "-0.25", "-.5", "-1e5", "+2.5E-3". Strict on
# purpose: ASCII digits only, no spaces, no "_" or thousands separators, no inf/nan, no hex. A cell
# that is exactly this is a number to a spreadsheet, not a formula, so it is written as it is.
SIGNED_NUMBER = re.compile(r"[+-](?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def spreadsheet_safe(value):
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): a text cell that
    begins with = + - @ tab or CR gets a quote in front, except a signed number (see
    :data:`SIGNED_NUMBER`: "-1" stays "-1", while "-1+2", "-cmd", "+A1" and "- 1" are quoted)."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_TRIGGERS) and not SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_line(row: list) -> str:
    """One CSV record ending in "\\n". The writer is told the terminator is "\\r\\n" so that it
    quotes a cell holding a bare "\\r" too (it only quotes the terminator's characters), and a
    reader does not end the record there."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(row)
    return buf.getvalue()[:-2] + "\n"


def _one_line(value) -> str:
    """A cell of a text or Markdown table: line breaks would end the row."""
    return " ".join(str(value).splitlines()) if isinstance(value, str) else str(value)


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _rows(t: dict) -> list[list]:
    rows = []
    for c in t["categories"]:
        lo, hi = c["ci95"]
        rows.append([
            _one_line(c["name"]), c["kind"], c["count"], _pct(c["share"]), f"{_pct(lo)}-{_pct(hi)}",
            "" if c["projected_errors"] is None else f"{c['projected_errors']:.1f}",
            "" if c["ceiling"] is None else f"{100 * c['ceiling']:.2f}",
        ])
    return rows


HEADER = ["category", "kind", "count", "share", "95% interval", "projected errors", "ceiling (points)"]


def render(t: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(t, indent=2) + "\n"
    if fmt == "csv":
        lines = [_csv_line(["category", "kind", "count", "share", "ci95_low", "ci95_high", "projected_errors", "ceiling"])]
        for c in t["categories"]:
            lines.append(_csv_line([
                spreadsheet_safe(c["name"]), c["kind"], c["count"], f"{c['share']:.6f}",
                f"{c['ci95'][0]:.6f}", f"{c['ci95'][1]:.6f}",
                "" if c["projected_errors"] is None else f"{c['projected_errors']:.4f}",
                "" if c["ceiling"] is None else f"{c['ceiling']:.6f}"]))
        return "".join(lines)
    head = (f"{t['split']}: {t['reviewed']} of {t['errors']} errors reviewed;"
            f" error rate {100 * t['error_rate']:.2f}%. {t['note']}")
    rows = _rows(t)
    if fmt == "md":
        lines = [head, "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(HEADER)]
    fmt_row = lambda r: "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    return "\n".join([head, "", fmt_row(HEADER)] + [fmt_row(r) for r in rows]) + "\n"
