# kandian — the two commands are `make run` and `make test` (see README.md).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= etc/kandian.ini

.PHONY: install system-deps run test bench clean

# Debian 12 packages the end-to-end tests run for real: ffmpeg/ffprobe as the
# RTSP player; GStreamer's RTSP server, driven from the system Python
# (/usr/bin/python3 + python3-gi), as the camera (kandian/sim/gst_camera.py),
# with x264enc from plugins-ugly as its H.264 encoder.
SYSTEM_PACKAGES := ffmpeg python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly

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

# Installs only what is missing (a dpkg query per package: free when all are
# there); apt-get update runs only before an install. Needs root.
system-deps:
	@missing=; for p in $(SYSTEM_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs these Debian packages, not installed:$$missing" >&2; \
	  echo "install them as root: apt-get install --no-install-recommends$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get -qq -o DPkg::Lock::Timeout=300 update && \
	apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $$missing >/dev/null

test: install system-deps
	$(BIN)/trial --temp-directory=_trial_temp -j2 tests

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) _trial_temp* var *.egg-info
