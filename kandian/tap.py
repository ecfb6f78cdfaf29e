"""``twistd kandian``: options and the service tree (PRODUCT.md "Process").

``twistd -n kandian [--config PATH]``.  Without ``--config`` the daemon runs on
the built-in defaults: embedded PostgreSQL under ``./var`` and the default
ports.  A bad configuration, or connection caps that do not fit in the
open-file limit (:mod:`kandian.limits`), stops start-up with one line on
stderr, before anything is started.
"""

from __future__ import annotations

import sys

from twisted.python import usage

from . import limits
from .config import ConfigError, load
from .service import KandianService


class Options(usage.Options):
    synopsis = "[--config PATH]"
    longdesc = ("Run the kandian province platform: device registration and link, "
                "MCU web service, RTSP relay, admin endpoint. See etc/kandian.ini.")
    optParameters = [
        ["config", "c", None, "Path of the INI configuration file (default: built-in defaults)."],
    ]


def makeService(options, reactor=None):
    if reactor is None:
        from twisted.internet import reactor as global_reactor
        reactor = global_reactor
    try:
        config = load(options["config"], reactor)
        limits.plan(config, limits.raise_open_file_limit())
    except ConfigError as e:
        # One line, no traceback: twistd has not started logging yet.
        print("kandian: config error: %s" % (e,), file=sys.stderr)
        raise SystemExit(1) from None
    return KandianService(config, reactor, exit_on_failure=True, tune_gc=True)
