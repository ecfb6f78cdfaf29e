"""``make bench``: every benchmark, one after the other; figures go to docs/benchmarks.md."""

import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# each script with the arguments of its target's size (PRODUCT.md, the issues)
BENCHMARKS = [["startup.py"], ["device_link.py"], ["soap.py"], ["relay.py"], ["smgp.py"], ["ftp.py"],
              ["ftp_campaign.py"], ["sms.py"], ["media.py", "--streams", "200"], ["media_rec.py"], ["portal.py"],
              ["compat.py"], ["onenet.py"]]


def main() -> None:
    print("machine: %s, %d cores, Python %s" % (platform.platform(), os.cpu_count(), platform.python_version()))
    for name, *args in BENCHMARKS:
        print("\n== %s" % " ".join([name, *args]), flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, name), *args], check=True)


if __name__ == "__main__":
    main()
