"""report.html with thousands of classes (issue 13). Before: the confusion matrix was K x K table
cells (1,000 classes: a 165 MB page, 600 MB of memory; 5,000: out of memory). Now, above
``HEAT_TABLE_MAX`` classes, the page holds a picture of the whole matrix, the largest off-diagonal
cells and the worst classes, and stays under a few MB; no K x K matrix is made on the way.
The expected cells are counted here from the rows written, with collections.Counter.
"""

from __future__ import annotations

import base64
import io
import random
import re
import tracemalloc
from collections import Counter

import pytest
from PIL import Image

from labeler.core import report, stats
from labeler.core.export import export_all
from labeler.core.importer import import_predictions
from labeler.core.store import Project


def _write(tmp_path, k: int, n: int, seed: int = 7):
    rng = random.Random(seed)
    classes = [f"class {i:05d}" for i in range(k)]
    rows = []
    for i in range(n):
        given = classes[rng.randrange(k)]
        pred = given if rng.random() < 0.8 else classes[rng.randrange(k)]
        rows.append((f"x{i}", given, pred))
    # a few confusions far larger than the rest, so the top of the list is known
    for j, (g, p, times) in enumerate([(3, 4, 60), (k - 1, 0, 45), (17, 3, 30)]):
        for t in range(times):
            rows.append((f"planted{j}-{t}", classes[g], classes[p]))
    lines = ["id,path,label,pred,split"] + [f"{i},{i}.png,{g},{p},dev" for i, g, p in rows]
    src = tmp_path / "preds.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src, rows


@pytest.mark.parametrize("k,n", [(1000, 20_000), (5000, 40_000)])
def test_report_of_many_classes_is_small_and_lists_the_largest_confusions(tmp_path, monkeypatch, k, n):
    src, rows = _write(tmp_path, k, n)
    import_predictions(src, tmp_path / "p.labeler.db")
    dense = stats.confusion

    def no_dense(frame, classes, split="dev"):
        assert len(classes) <= report.HEAT_TABLE_MAX, "a K x K matrix was made for the report"
        return dense(frame, classes, split)

    monkeypatch.setattr(stats, "confusion", no_dense)
    with Project.open(tmp_path / "p.labeler.db", readonly=True) as p:
        tracemalloc.start()
        export_all(p, tmp_path / "out", split="dev")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 3 * 2**20, f"report.html is {len(page.encode()) / 2**20:.1f} MB"
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB traced"
    assert page.count("<td") < 2000

    off = Counter((g, p) for _, g, p in rows if g != p)
    top = [pair for pair, _ in sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[: report.TOP_CELLS]]
    listed = re.findall(r'<tr data-given="([^"]*)" data-pred="([^"]*)">', page)
    assert listed == top
    first_count = re.search(r'data-pred="[^"]*"><td class="l">[^<]*</td><td class="l">[^<]*</td>'
                            r'<td class="num">(\d+)</td>', page)
    assert int(first_count.group(1)) == off[top[0]]

    # the picture: the whole matrix, a pixel per block of classes, the planted cell red
    uri = re.search(r'<img class="matrix"[^>]*src="data:image/png;base64,([^"]+)"', page).group(1)
    img = Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB")
    block = -(-k // report.PICTURE_MAX)
    assert img.size == (-(-k // block),) * 2
    r, g, b = img.getpixel((4 // block, 3 // block))  # x: predicted 4, y: given 3, the largest cell
    assert r > g + 60 and r > b + 60, (r, g, b)

    # the worst classes: by errors, counted here
    errors = Counter(g for _, g, p in rows if g != p)
    worst = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    section = page[page.index('id="per-class"'):]
    assert re.search(r'<tr data-class="([^"]*)"', section).group(1) == worst
    assert section.count("<tr data-class=") == report.TOP_CLASSES


def test_a_few_classes_keep_the_full_table(digits_project, tmp_path):
    with Project.open(digits_project, readonly=True) as p:
        export_all(p, tmp_path / "out", split="dev")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count('<td style="background') == 100  # 10 x 10 cells
    assert '<img class="matrix"' not in page


def test_per_class_from_cells_equals_per_class(digits_project):
    from labeler.core import frame as framemod

    with Project.open(digits_project, readonly=True) as p:
        frame = framemod.load(p)
        assert stats.per_class_from_cells(p.classes, *stats.confusion_cells(frame, p.classes, "dev")) == \
            stats.per_class(frame, p.classes, "dev")


def test_labeler_confusion_with_many_classes_lists_the_largest_cells(tmp_path):
    import json

    from click.testing import CliRunner

    from labeler.cli import main

    src, rows = _write(tmp_path, 1000, 20_000)
    import_predictions(src, tmp_path / "p.labeler.db")
    off = Counter((g, p) for _, g, p in rows if g != p)
    top = sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[:30]
    r = CliRunner().invoke(main, ["confusion", "--project", str(tmp_path / "p.labeler.db")])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("1000 classes: the 30 largest confusions") and len(lines) == 32
    assert [tuple(ln.rsplit(None, 1)[1:]) for ln in lines[2:3]] == [(str(top[0][1]),)]
    assert lines[2].split("  ")[0].strip() == top[0][0][0]
    r = CliRunner().invoke(main, ["confusion", "--project", str(tmp_path / "p.labeler.db"), "--json", "--cells"])
    cells = json.loads(r.output)["cells"]
    every = Counter((g, p) for _, g, p in rows)
    assert sorted(map(tuple, cells)) == sorted((g, p, n) for (g, p), n in every.items())
    assert [tuple(c[:2]) for c in cells[:30]] == [pair for pair, _ in top]
