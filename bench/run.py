"""``make bench``: every benchmark, one after the other; figures go to docs/benchmarks.md."""

import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ["startup.py", "device_link.py", "soap.py", "relay.py", "smgp.py", "ftp.py", "ftp_campaign.py",
              "sms.py", "media_rec.py", "compat.py", "onenet.py"]


def main() -> None:
    print("machine: %s, %d cores, Python %s" % (platform.platform(), os.cpu_count(), platform.python_version()))
    for name in BENCHMARKS:
        print("\n== %s" % name, flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, name)], check=True)


if __name__ == "__main__":
    main()
