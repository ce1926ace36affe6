"""The team review screenshot (docs/img/team.png): a throwaway PostgreSQL server (tests/pg.py), the
sample project pushed to it, two reviewers who reviewed some items, and alice's window with the Team
panel raised. Needs the server binaries (make system-deps).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/team_screenshot.py docs/img/team.png docs/img/team-offline.png
"""
import os, sys, tempfile, shutil, time
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
os.environ["QT_QPA_PLATFORM"] = "offscreen"
tmp = tempfile.mkdtemp()
os.environ["XDG_DATA_HOME"] = tmp + "/home"
import pg
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from labeler.core import store_pg
from labeler.core.team_sync import TeamLink
from labeler.core.store import Project
from labeler.core.queue import QueueSpec
srv = pg.start_server()
try:
    proj = tmp + "/digits.labeler.db"
    import subprocess
    subprocess.run([sys.executable, "-m", "labeler", "import", str(ROOT / "sample_data/digits/predictions.csv"), "--project", proj, "--taxonomy", str(ROOT / "sample_data/digits/taxonomy.txt")], check=True, capture_output=True)
    url = srv.url() + "?project=digits"
    store_pg.push(proj, url)
    # bob and carol review some first
    for who, n in (("bob", 7), ("carol", 4)):
        link = TeamLink(url, who); link.open()
        from labeler.core.team_review import TeamReviewSession
        with Project.open(link.path) as p:
            s = TeamReviewSession(p, QueueSpec(), link=link)
            for _ in range(n):
                s.toggle_tag("mislabeled" if n % 2 else "very hard"); s.next()
            s.close()
        link.close()
    app = QApplication([])
    from labeler.gui import keymap as km
    from labeler.gui.main_window import MainWindow
    win = MainWindow(settings=QSettings(tmp + "/s.ini", QSettings.Format.IniFormat), keymap=km.default_keymap(), reviewer="alice")
    assert win.open_team(url)
    win.resize(1280, 800); win.show()
    win.toggle_panels(); win.team.dock.show(); win.team.dock.raise_()
    for _ in range(3):
        win.session.toggle_tag("ambiguous"); win.session.next()
    end = time.time() + 8
    while time.time() < end:
        app.processEvents(); time.sleep(0.05)
    win.grab().save(sys.argv[1])
    # offline
    srv.stop("immediate")
    win.session.toggle_tag("mislabeled"); win.session.next()
    end = time.time() + 5
    while time.time() < end:
        app.processEvents(); time.sleep(0.05)
    win.grab().save(sys.argv[2])
    srv.start()
    win.close()
finally:
    srv.stop("fast"); shutil.rmtree(srv.base, ignore_errors=True)
