#!/usr/bin/python3
"""Print kandian's run-time requirements for the packaged virtualenv.

The list is setup.cfg's [options] install_requires, less the packages the
package leaves out on purpose (EXCLUDED, each with its reason).  kandian itself
is then installed with --no-deps on top of these, so nothing excluded is pulled
back in.  Fails when setup.cfg has no install_requires (the metadata moved).
"""

import configparser
import re
import sys

EXCLUDED = {
    # The embedded PostgreSQL of development ([database] dsn empty): 34 MB of
    # PostgreSQL binaries outside Debian's security updates.  The package runs
    # against a real server (Recommends: postgresql); with pgserver absent an
    # empty dsn stops start-up with "the pgserver wheel is not installed; set
    # [database] dsn".  fasteners, platformdirs and psutil come only with it.
    "pgserver",
}


def main(path: str) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    raw = parser.get("options", "install_requires", fallback="")
    requirements = [line.strip() for line in raw.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not requirements:
        sys.exit("%s: no [options] install_requires" % (path,))
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        if re.sub(r"[-_.]+", "-", name).lower() not in EXCLUDED:
            print(requirement)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "setup.cfg")
