"""``make bench``: every benchmark, one after the other (or only those named: ``make bench
BENCH="device_link soap relay"``, ``python bench/run.py device_link soap relay``); figures go to
docs/benchmarks.md."""

import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# each script with the arguments of its target's size (PRODUCT.md, the issues)
BENCHMARKS = [["startup.py"], ["device_link.py"], ["soap.py"], ["relay.py"], ["smgp.py"], ["ftp.py"],
              ["ftp_campaign.py"], ["sms.py"], ["media.py", "--streams", "200"], ["media_rec.py"], ["portal.py"],
              ["compat.py"], ["onenet.py"]]


def main(argv: list[str]) -> None:
    known = {name.removesuffix(".py"): [name, *args] for name, *args in BENCHMARKS}
    unknown = [name for name in argv if name.removesuffix(".py") not in known]
    if unknown:
        raise SystemExit("no benchmark %s; there are: %s" % (", ".join(unknown), " ".join(known)))
    chosen = [known[name.removesuffix(".py")] for name in argv] if argv else BENCHMARKS
    print("machine: %s, %d cores, Python %s" % (platform.platform(), os.cpu_count(), platform.python_version()))
    for name, *args in chosen:
        print("\n== %s" % " ".join([name, *args]), flush=True)
        t0 = time.monotonic()
        subprocess.run([sys.executable, os.path.join(HERE, name), *args], check=True)
        print("== %s: %.0f s" % (name, time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
