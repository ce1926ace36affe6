"""Decision keys on many examples at once (the grid's selection), and moving without judging.

Many examples are written in ONE transaction (all or none on disk) and undone with ONE Ctrl+Z;
Shift+Right moves without marking; Ctrl+G finds an example by id or path.
"""

from __future__ import annotations

import sqlite3

import pytest

from labeler.core.session import Batch, ReviewSession
from labeler.core.store import Project

from test_session import on_disk, events_on_disk


@pytest.fixture
def session(digits_project):
    p = Project.open(digits_project)
    s = ReviewSession(p, reviewer="ann")
    yield s
    s.close()
    p.close()


def test_a_tag_on_many_is_one_transaction_and_one_undo_step(session, digits_project):
    ids = session.items[2:7]
    session.toggle_tag("mislabeled", ids=ids)
    for eid in ids:
        d = on_disk(digits_project, eid)
        assert d["tags"] == ["mislabeled"] and d["reviewed"] == 1
    assert session.position == 0 and on_disk(digits_project, session.items[0]) is None
    assert len(session._undo) == 1 and isinstance(session._undo[0], Batch)
    session.undo()
    for eid in ids:
        assert on_disk(digits_project, eid)["tags"] == [] and on_disk(digits_project, eid)["reviewed"] == 0
        assert session.decision(eid).tags == frozenset()
    assert not session.can_undo and session.can_redo
    session.redo()
    assert all(on_disk(digits_project, eid)["tags"] == ["mislabeled"] for eid in ids)
    # one event per example, all with the action that names the batch
    actions = [a for eid, a, _, _ in events_on_disk(digits_project) if eid == ids[0]]
    assert actions == ["+mislabeled", "undo +mislabeled (5 examples)", "redo +mislabeled (5 examples)"]


def test_a_toggle_on_a_mixed_selection_adds_to_all_then_takes_from_all(session):
    a, b, c = session.items[:3]
    session.toggle_error_type(1, ids=[a])
    name = session.project.error_types()[0]
    session.toggle_error_type(1, ids=[a, b, c])
    assert all(name in session.decision(e).error_types for e in (a, b, c))
    session.toggle_error_type(1, ids=[a, b, c])
    assert all(name not in session.decision(e).error_types for e in (a, b, c))
    session.toggle_tag("very hard", ids=[a, b])
    session.toggle_tag("very easy", ids=[a, b])
    assert all(session.decision(e).tags == {"very easy"} for e in (a, b))


def test_accept_prediction_and_label_on_many(session):
    ids = session.items[:4]
    session.accept_prediction(ids=ids)
    assert [session.decision(e).label for e in ids] == [session.frame_row(e)["pred"] for e in ids]
    session.accept_prediction(ids=ids)  # all have it: cleared from all
    assert all(session.decision(e).label is None for e in ids)
    given = session.frame_row(ids[0])["label"]
    session.set_label(given, ids=ids)  # the first's given label: no correction for that one
    assert session.decision(ids[0]).label is None
    assert all(session.decision(e).label == given for e in ids[1:] if session.frame_row(e)["label"] != given)
    assert all(session.decision(e).reviewed for e in ids)


def test_a_batch_that_fails_writes_nothing(session, digits_project):
    ids = session.items[:5]
    conn = sqlite3.connect(digits_project)
    conn.execute(f"""CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.example_id = '{ids[-1]}'
                     BEGIN SELECT RAISE(ABORT, 'disk gone'); END""")
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.DatabaseError):
        session.toggle_tag("ambiguous", ids=ids)
    assert all(on_disk(digits_project, e) is None for e in ids)
    assert all(not session.decision(e).reviewed for e in ids) and not session.can_undo


def test_shift_right_moves_without_marking(session, digits_project):
    first = session.current_id
    session.skip()
    assert session.position == 1 and on_disk(digits_project, first) is None
    assert session.reviewed_count() == 0
    session.prev()
    assert session.position == 0 and on_disk(digits_project, first) is None


def test_end_of_queue_and_the_next_unreviewed(session):
    n = len(session.items)
    session.goto(n - 1)
    assert session.at_end
    session.next()  # the last one is marked; nowhere to go
    assert session.position == n - 1 and session.unreviewed_left() == n - 1
    assert session.next_unreviewed() and session.position == 0
    for _ in range(n):
        session.next()
    assert session.unreviewed_left() == 0 and not session.next_unreviewed()


def test_jump_finds_an_example_by_id_or_path(session):
    target = session.items[10]
    path = session.path_of(target)
    session.goto(0)
    assert session.jump(target) and session.position == 10
    session.goto(0)
    assert session.jump(path.rsplit("/", 1)[-1]) and session.position == 10
    session.goto(0)
    assert session.jump(path) and session.position == 10
    assert not session.jump("no such example") and session.position == 10
    assert session.reviewed_count() == 0  # jumping marks nothing
