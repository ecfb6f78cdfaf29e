"""The relay's own work per read of media, in this process: what bench/relay.py's
middle-man spends in Python on each 64 KiB read from the camera, beside
``twisted.protocols.portforward``'s ``Proxy.dataReceived`` (a bare write).

No sockets: the camera's flood (bench/relay.py's 1,404-byte frames in
64,584-byte writes) cut into 64 KiB reads, as the middle-man reads it, goes
through ``UpstreamConnection.dataReceived`` of a relaying ``ClientConnection``
whose transport's ``write`` does nothing — the system calls, the same for
both middle-men, are left out, so this is the part of the relay's CPU per
byte that the relay adds.  CPU time (``time.process_time``), the best of
``--rounds`` rounds, the variants measured in turn in each round: robust to
other load on the machine, unlike throughput.  ``--against PATH`` measures
another checkout's relay (e.g. a worktree of main) in the same process.

    python bench/relay_read.py [--rounds 30] [--against /path/to/other/checkout ...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

# bench/_measure.py and bench/relay.py, beside this script
from relay import FRAME, rtp_frame

from _measure import git_commit, say, say_state

READ = 64 * 1024


class _NoTransport:
    def write(self, data: bytes) -> None:
        pass


def reads() -> list[bytes]:
    """40 of the camera's writes (64,584 bytes, 46 frames each) as 64 KiB reads, ending on a frame boundary."""
    stream = b"".join(rtp_frame(n) for n in range(46)) * 40
    return [stream[i : i + READ] for i in range(0, len(stream), READ)]


def relay_reader(root: str | None):
    """``UpstreamConnection.dataReceived`` of the relay in *root* (this checkout when None)."""
    for name in [n for n in sys.modules if n == "kandian" or n.startswith("kandian.")]:
        del sys.modules[name]
    if root is not None:
        sys.path.insert(0, root)
    try:
        relay = importlib.import_module("kandian.rtsp.relay")
    finally:
        if root is not None:
            sys.path.remove(root)
    from twisted.internet.task import Clock

    factory = relay.RelayFactory(authorizer=None, clock=Clock(), endpoints=lambda host, port: None)
    client = factory.buildProtocol(None)
    client.transport = _NoTransport()
    upstream = relay.UpstreamConnection(client)
    client.upstream = upstream
    return upstream.dataReceived, os.path.dirname(os.path.dirname(os.path.dirname(relay.__file__)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--against", action="append", default=[], help="another checkout's relay too")
    args = parser.parse_args(argv)
    from twisted.protocols.portforward import Proxy

    say("commit %s; command: %s" % (git_commit(), " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])))
    say_state("before")
    proxy, peer = Proxy(), Proxy()
    peer.transport = _NoTransport()
    proxy.peer = peer
    variants = {"portforward (Proxy.dataReceived)": proxy.dataReceived}
    for root in [None, *args.against]:
        reader, where = relay_reader(root)
        variants["relay in %s" % (where,)] = reader
    data = reads()
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.rounds):
        for name, read in variants.items():
            t0 = time.process_time()
            for _ in range(10):
                for chunk in data:
                    read(chunk)
            best[name] = min(best[name], time.process_time() - t0)
    say_state("after")
    n = 10 * len(data)
    megabytes = 10 * sum(len(chunk) for chunk in data) / 1e6
    say("\n%d reads of up to %d bytes (frames of %d bytes), best of %d rounds:" % (n, READ, FRAME, args.rounds))
    for name, seconds in best.items():
        say("  %-60s %6.2f us a read  %7.1f us a MB" % (name, 1e6 * seconds / n, 1e6 * seconds / megabytes))


if __name__ == "__main__":
    main()
