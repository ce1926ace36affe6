# Two commands for a fresh machine: `make run` (set up, open the app on the sample data) and
# `make test` (set up, run the tests). Both create .venv/ and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := sample_data/digits

.PHONY: run test setup system-deps bench screenshots clean

$(BIN)/labeler: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

setup: $(BIN)/labeler

# Qt's xcb platform and the real-window test need these (Debian/Ubuntu; run as root or with sudo);
# postgresql: the team store's tests start their own server from its binaries (tests/pg.py);
# fonts-noto-color-emoji: class names with emoji are drawn, not shown as empty boxes.
system-deps:
	apt-get update -qq
	apt-get install -y -qq xvfb xdotool libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 \
	  libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libfontconfig1 libdbus-1-3 \
	  postgresql fonts-noto-color-emoji

# The project goes into the repository root (digits.labeler.db, ignored by git), never into sample_data/.
run: setup
	$(BIN)/labeler review $(SAMPLE)/predictions.csv --project digits.labeler.db --taxonomy $(SAMPLE)/taxonomy.txt

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run_all.py

screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache
