# kandian — the two commands are `make run` and `make test` (see README.md).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= etc/kandian.ini

.PHONY: install system-deps run lint test bench hostile clean

# Debian 12 packages the end-to-end tests run for real: ffmpeg/ffprobe as the
# RTSP player; GStreamer's RTSP server, driven from the system Python
# (/usr/bin/python3 + python3-gi), as the camera (kandian/sim/gst_camera.py),
# with x264enc from plugins-ugly as its H.264 encoder.
# Debian's chromium is the browser the portal's tests drive through Playwright
# (executable_path; Playwright's own browser download is never used), with a
# CJK font so that the screenshots show the Chinese UI.
SYSTEM_PACKAGES := ffmpeg python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly chromium \
	fonts-wqy-microhei

install: $(STAMP)

# Re-installs only when the package metadata changes; the editable install
# ("compat" mode puts the checkout on sys.path) lets twistd find
# twisted/plugins/kandian_plugin.py.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,embedded]' --config-settings editable_mode=compat
	$(BIN)/python -c "from twisted.plugin import IPlugin, getPlugins; import twisted.plugins; list(getPlugins(IPlugin, twisted.plugins))"
	touch $(STAMP)

run: install
	$(BIN)/twistd --nodaemon --pidfile= kandian --config $(CONFIG)

# $(call apt_ensure,WHO,PACKAGES): install the Debian PACKAGES not yet installed (a
# dpkg query per package: free when all are there); apt-get update runs only
# before an install. Needs root; WHO names the target in the error.
define apt_ensure
	@missing=; for p in $(2); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "$(1) needs these Debian packages, not installed:$$missing" >&2; \
	  echo "install them as root: apt-get install --no-install-recommends$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get -qq -o DPkg::Lock::Timeout=300 update && \
	apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $$missing >/dev/null
endef

system-deps:
	$(call apt_ensure,make test,$(SYSTEM_PACKAGES))

# ruff's rules and settings are in pyproject.toml ([tool.ruff]).
lint: install
	$(BIN)/ruff check kandian tests bench

# three workers on two cores: a good part of the suite waits on its real peers (PostgreSQL, ffmpeg,
# Chromium); 278 s against 342 s with -j2 on the 2-core machine, 1,537 tests
test: install system-deps lint
	$(BIN)/trial --temp-directory=_trial_temp -j3 tests

# Every benchmark, or those named in BENCH, e.g. make bench BENCH="device_link soap relay".
bench: install
	$(BIN)/python bench/run.py $(BENCH)

# The hostile suite (docs/reliability.md) against a live daemon; options through
# HOSTILE, e.g. make hostile HOSTILE="--frames 100000 --only fuzz,xml --json out.json".
# Exits non-zero when a probe fails.
hostile: install
	$(BIN)/python bench/hostile.py $(HOSTILE)

clean:
	rm -rf $(VENV) _trial_temp* var *.egg-info .ruff_cache

# --- The Debian package (debian/, see README "Install from the .deb") -------
# make deb: dist/kandian_VERSION_ARCH.deb, kandian in a dh-virtualenv venv on
# Debian's python3.11, built from a copy of the tree in build/deb/src (the
# build writes into debian/ and next to the source); then lintian (an error or
# warning fails) and systemd-analyze verify on the installed unit.
# make deb-test: that package installed, run and purged in a bookworm chroot
# (.ci/install-test).  deb-deps installs the Debian tools both need when
# missing (root); pip downloads the venv's packages from PyPI.
DEB_BUILD    := build/deb
DEB_PACKAGES := build-essential debhelper dh-virtualenv python3.11 python3.11-venv \
	lintian debootstrap iproute2 systemd systemd-container

.PHONY: deb deb-deps deb-test

deb-deps:
	$(call apt_ensure,make deb,$(DEB_PACKAGES))

deb: deb-deps
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/src dist
	git ls-files -z --cached --others --exclude-standard \
	  | tar --null -T - --ignore-failed-read -cf - | tar -C $(DEB_BUILD)/src -xf -
	cd $(DEB_BUILD)/src && dpkg-buildpackage -us -uc -b
	rm -f dist/kandian_*.deb && cp $(DEB_BUILD)/kandian_*.deb dist/
	lintian --fail-on error,warning dist/kandian_*.deb
	@# verify checks that ExecStart exists: the package's /opt over the host's,
	@# in a private mount namespace (root), without installing anything
	if ! command -v systemd-analyze >/dev/null || [ "$$(id -u)" != 0 ]; then \
	  echo "systemd-analyze verify skipped (needs systemd-analyze and root)"; \
	else \
	  unshare --mount sh -ec 'mount --bind "$$1/opt" /opt; systemd-analyze verify --man=no "$$1/lib/systemd/system/kandian.service"' \
	    sh "$(CURDIR)/$(DEB_BUILD)/src/debian/kandian" && echo "systemd-analyze verify kandian.service: ok"; \
	fi
	@ls -l dist/kandian_*.deb

deb-test: deb
	.ci/install-test dist/kandian_*.deb
