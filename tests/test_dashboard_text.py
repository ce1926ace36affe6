"""The dashboard says the same thing everywhere: ``labeler summary``, the window's dashboard panel and
report.html show the sentences of :class:`labeler.core.dashboard.Dashboard`, in its order, and the
same rates, for the same project: nothing reviewed, a random sample reviewed, and errors reviewed in
a queue ordered by loss (not a random sample).
"""

from __future__ import annotations

import html.parser

import pytest

pytest.importorskip("pytestqt")

from click.testing import CliRunner  # noqa: E402

from labeler.cli import main  # noqa: E402
from labeler.core import frame as framemod  # noqa: E402
from labeler.core import report as reportmod  # noqa: E402
from labeler.core import tally as tallymod  # noqa: E402
from labeler.core.dashboard import Dashboard  # noqa: E402
from labeler.core.queue import QueueSpec  # noqa: E402
from labeler.core.session import ReviewSession  # noqa: E402
from labeler.core.store import Project  # noqa: E402
from test_tally import review  # noqa: E402


class _DashboardSection(html.parser.HTMLParser):
    """The paragraphs of report.html's dashboard section and the names of its rate rows."""

    def __init__(self):
        super().__init__()
        self.paragraphs: list[str] = []
        self.rows: list[str] = []
        self._in, self._p = False, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._in = a.get("id") == "dashboard"
        elif self._in and tag == "p":
            self._p = ""
        elif self._in and tag == "tr" and ("data-split" in a or "data-estimate" in a):
            self.rows.append(a.get("data-split") or a.get("data-estimate"))

    def handle_endtag(self, tag):
        if tag == "section":
            self._in = False
        elif tag == "p" and self._p is not None:
            self.paragraphs.append(self._p)
            self._p = None

    def handle_data(self, data):
        if self._p is not None:
            self._p += data


def cli_sentences(path, splits: int) -> list[str]:
    r = CliRunner().invoke(main, ["summary", "--project", str(path)])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line]
    assert lines[0].startswith("split") and "example files do not exist" not in r.output
    lines = lines[1 + splits:]  # after the table
    if lines and lines[0].startswith("files ("):  # the files the project holds, then the sentences
        lines = lines[1 + int(lines[0].split("(")[1].split(")")[0]):]
    cut = next((i for i, line in enumerate(lines) if line.startswith("Human-level error")), len(lines))
    return lines[:cut]  # (then the human-level error and the decomposition: labeler.core.agreement's)


def report_section(project, frame, dev_tally, figures) -> _DashboardSection:
    page = reportmod.build(project, frame, project.decisions(), tally=dev_tally, dashboard=figures)
    parser = _DashboardSection()
    parser.feed(page)
    return parser


def gui_panel(qtbot, project):
    from labeler.gui.analysis import Analysis, DashboardPanel

    s = ReviewSession(project, QueueSpec(), reviewer="window")
    analysis = Analysis()
    analysis.set_session(s)
    panel = DashboardPanel(analysis)
    qtbot.addWidget(panel)
    return panel


@pytest.mark.parametrize("reviewed", ["nothing", "random", "by loss"])
def test_cli_window_and_report_say_the_same(qtbot, digits_project, reviewed):
    project = Project.open(digits_project)
    try:
        if reviewed != "nothing":
            s = ReviewSession(project, QueueSpec(order="random" if reviewed == "random" else "loss"), reviewer="ann")
            review(s, 20)
            s.close()
        frame = framemod.load(project)
        dev_tally = tallymod.project_tally(project, frame, "dev")
        figures = tallymod.dashboard(frame, project.decisions(), dev_tally)
        want = Dashboard.of(figures, dev_tally)
        sentences = want.sentences()

        # what the core says, for each state
        assert want.gaps.startswith("Gaps: train → dev: ") and want.diagnosis and want.warning
        first = {"nothing": "Review a random sample of the dev errors",
                 "random": "Dev error once the labels marked wrong are corrected: ",
                 "by loss": "The reviewed dev errors are not a random sample"}[reviewed]
        assert want.corrected.startswith(first)
        assert bool(want.floor) == (reviewed == "random")
        names = [r.name for r in want.rates]
        assert names[:3] == ["train", "dev", "test"]
        assert names[3:] == (["dev, corrected", "floor"] if reviewed == "random" else [])

        # labeler summary
        assert cli_sentences(digits_project, 3) == sentences

        # report.html
        section = report_section(project, frame, dev_tally, figures)
        assert section.paragraphs == sentences
        assert section.rows == names

        # the window's dashboard panel
        panel = gui_panel(qtbot, project)
        shown = [w.text() for w in (panel.gaps, panel.corrected, panel.floor, panel.diagnosis, panel.warning)]
        assert [t for t in shown if t] == sentences
        assert [r[0] for r in panel.bars.rows()] == names
        assert [r[5] for r in panel.bars.rows()] == [r.text() for r in want.rates]
    finally:
        project.close()
