"""Agreement of a team review's overlapped items (labeler.core.team_agreement) on a real server:
two reviewers given the same items (--overlap 2) judge them; `labeler agreement --project URL`
reports their raw agreement, Cohen's kappa and Krippendorff's alpha over the items both judged,
beside the blind labels' figures. Expected figures are worked out by hand in the test."""

from __future__ import annotations

import json

from click.testing import CliRunner

from labeler.cli import main
from labeler.core import store_pg
from labeler.core.queue import QueueSpec
from labeler.core.store import Project
from labeler.core.team_agreement import verdict
from labeler.core.team_review import TeamReviewSession
from labeler.core.team_sync import TeamLink


def test_verdict_is_the_label_a_reviewer_judged_right():
    assert verdict("3", "5", [], True) == "5"  # corrected
    assert verdict("3", None, [], True) == "3"  # reviewed, not tagged: the given label stands
    assert verdict("3", None, ["mislabeled"], True) is None  # wrong, but no label said
    assert verdict("3", None, ["very hard"], True) == "3"
    assert verdict("3", None, [], False) is None  # not reviewed


def test_agreement_of_a_team_project_reports_the_overlapped_items(pg_db, digits_project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    url = f"{pg_db}?project=digits"
    store_pg.push(digits_project, url)
    ann, ben = TeamLink(url, "ann", overlap=2), TeamLink(url, "ben")
    ann.open()
    ben.open()
    with Project.open(ann.path) as p:
        s = TeamReviewSession(p, QueueSpec(), link=ann)
        items = s.items[:4]
        given = [s.frame_row(e)["label"] for e in items]
        # X for item 0, Y and Z for item 3: distinct from each other and from item 2's given label
        x, y, z = [c for c in p.classes if c not in (given[0], given[2], given[3])][:3]
        s.set_label(x)
        s.next()
        s.next()  # item 1: reviewed as given
        s.next()  # item 2: as given
        s.set_label(y)
        s.close()
    ann.flush()
    with Project.open(ben.path) as p:
        s = TeamReviewSession(p, QueueSpec(), link=ben)
        assert s.items[:4] == items and s.current_id == items[0]  # the same items, undecided for ben
        s.set_label(x)
        s.next()
        s.toggle_tag("mislabeled")  # item 1: wrong, no label: no verdict
        s.next()
        s.next()  # item 2: as given
        s.set_label(z)
        s.close()
    ben.flush()
    ann.close()
    ben.close()

    r = CliRunner().invoke(main, ["agreement", "--project", url, "--json"])
    assert r.exit_code == 0, r.output
    team = json.loads(r.output)["team_overlap"]
    # judged by both: items 0 (x, x), 2 (g2, g2), 3 (y, z); item 1 by ann only
    assert team["items"] == 3 and team["reviewers"] == ["ann", "ben"]
    (pair,) = team["pairs"]
    assert (pair["a"], pair["b"], pair["common"]) == ("ann", "ben", 3)
    assert abs(pair["agreement"] - 2 / 3) < 1e-12
    # kappa: po = 2/3, pe = (1*1 + 1*1 + 1*0 + 0*1) / 9 = 2/9, (2/3 - 2/9) / (1 - 2/9) = 4/7
    assert abs(pair["kappa"] - 4 / 7) < 1e-12
    # alpha: coincidences x-x 2, g2-g2 2, y-z 1, z-y 1; n = 6; 1 - (6-1) * 2 / (36 - (4+4+1+1)) = 8/13
    assert abs(team["alpha"] - 8 / 13) < 1e-12
    text = CliRunner().invoke(main, ["agreement", "--project", url]).output
    assert "Team review overlap: 3 items judged by two or more of 2 reviewers (not blind" in text
    assert "ann / ben: 3 in common, agree on 66.7%, kappa 0.571" in text
