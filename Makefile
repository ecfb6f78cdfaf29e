# kandian — the two commands are `make run` and `make test` (see README.md).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= etc/kandian.ini

.PHONY: install run test bench clean

install: $(STAMP)

# Re-installs only when the package metadata changes; the editable install
# ("compat" mode puts the checkout on sys.path) lets twistd find
# twisted/plugins/kandian_plugin.py.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -c "from twisted.plugin import IPlugin, getPlugins; import twisted.plugins; list(getPlugins(IPlugin, twisted.plugins))"
	touch $(STAMP)

run: install
	$(BIN)/twistd --nodaemon --pidfile= kandian --config $(CONFIG)

test: install
	$(BIN)/trial --temp-directory=_trial_temp -j2 tests

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) _trial_temp* var *.egg-info
