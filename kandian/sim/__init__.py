"""A simulated IPC / DVR / NVR, shipped for the platform's tests and benchmarks.

The device side of spec §7.2 (registration) and §7.3–§7.5 (the binary link):

* :mod:`kandian.sim.state` — the pure state of one device and the bodies it
  sends (§7.5.1–§7.5.5, §7.5.23, §7.5.27, §7.5.34). No Twisted.
* :mod:`kandian.sim.answers` — how it answers every platform command
  0x60–0x82 (§7.5.6–§7.5.39). No Twisted.
* :mod:`kandian.sim.link` — the device end of the TCP link (§7.3, §7.4):
  login, ability report, heartbeats, answers, token checks.
* :mod:`kandian.sim.register` — the §7.2 HTTP registration client.
* :mod:`kandian.sim.fleet` — many devices in one reactor, rate-limited, with
  the reconnect policy of §7.2–§7.3; ``python -m kandian.sim`` is its CLI.

Nothing is imported here, so that :mod:`kandian.sim.state` stays importable
without Twisted.
"""
