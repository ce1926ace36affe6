"""The dashboard's words (core.dashboard): a gap says what it is with its interval, counts agree in
number. The sample data's dev -> test gap (-7.8 points) is a lower test error beyond chance."""

from __future__ import annotations

from labeler.core import frame as framemod
from labeler.core import tally as tallymod
from labeler.core.dashboard import Dashboard, gap_text
from labeler.core.stats import diagnose, plural
from labeler.core.store import Project


def test_a_gap_is_worded_for_what_it_is():
    assert gap_text(0.05, 0.02, "train", "dev") == \
        "train → dev: +5.00 points (95% interval +3.0 to +7.0; dev error is higher, beyond chance)"
    low = gap_text(-0.078, 0.037, "dev", "test")
    assert low.startswith("dev → test: -7.80 points (95% interval -11.5 to -4.1; test error is lower than dev error")
    assert "small" not in low
    assert "within chance" in gap_text(-0.013, 0.038, "train", "dev")
    assert "within chance" in gap_text(0.013, 0.038, "train", "dev")


def test_counts_agree_in_number():
    assert plural(1, "example") == "1 example" and plural(2, "example") == "2 examples"
    assert plural(14880, "example") == "14,880 examples"
    one = {"examples": 1, "errors": 1, "error_rate": 1.0, "ci95": [0.2, 1.0]}
    assert "(1 example)" in diagnose({"dev": one}) and "1 examples" not in diagnose({"dev": one})


def test_the_sample_dashboard_says_test_error_is_lower_beyond_chance(digits_project):
    with Project.open(digits_project, readonly=True) as p:
        frame = framemod.load(p)
        dev = tallymod.project_tally(p, frame)
        dash = Dashboard.of(tallymod.dashboard(frame, p.decisions(), dev), dev)
    assert "dev → test: -7.81 points (95% interval -11.5 to -4.1; test error is lower than dev error, beyond chance" \
        in dash.gaps
    assert "train → dev: -1.29 points (95% interval -5.1 to +2.5; within chance" in dash.gaps


def test_one_reviewed_error_is_one(digits_project):
    figures = {"splits": {}, "dev_error_corrected": {"error_rate": 0.1, "ci95": [0.05, 0.2], "fixed": 1, "reviewed": 1},
               "error_floor": {"error_rate": 0.1, "ci95": [0.05, 0.2], "count": 1, "reviewed": 1}}
    dash = Dashboard.of(figures, {"reviewed": 1})
    assert "1 of 1 reviewed error had its label corrected" in dash.corrected


def test_the_tally_note_and_the_import_summary_count_one_as_one(tmp_path):
    from labeler.core.importer import import_predictions
    from labeler.core.tally import _note

    assert _note(0, 1, True, False) == "The one error is not reviewed yet."
    assert _note(1, 1, True, True) == "The one error is reviewed: the figures are exact."
    assert _note(2, 40, True, False).startswith("2 of 40 errors reviewed in random order")
    src = tmp_path / "one.csv"
    src.write_text("id,text,label,pred\nt1,fine,pos,neg\nt2,meh,,neg\n", encoding="utf-8")
    lines = import_predictions(src, tmp_path / "one.labeler.db").lines()
    assert lines[0].startswith("Imported 2 examples from")
    assert "  1 example has no label (empty label cell): kept as unlabeled" in lines
