"""The "Figures" section of docs/reliability.md from `bench/hostile.py --json` runs.

    python bench/hostile_report.py BEFORE.json AFTER.json [AFTER2.json …]

BEFORE is one run on the code before the fixes; the AFTER runs are repeated
runs of one commit: the per-probe tables show BEFORE against the first AFTER,
and a spread table gives each probe's time and the fuzz rate over every AFTER
run (minimum, median, maximum).  Markdown on stdout.
"""

from __future__ import annotations

import json
import statistics
import sys


def _value(v) -> str:
    if isinstance(v, float):
        return "%g" % v
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _check(checks: dict, label: str) -> str:
    c = checks.get(label)
    if c is None:
        return "(not checked)"
    return "%s: %s" % ("PASS" if c["ok"] else "**FAIL**", c["detail"].replace("|", "/"))


def _probes(run: dict) -> dict:
    return {p["name"]: p for p in run["probes"]}


COMMON = ("seconds", "rss_mib_before", "rss_mib_after", "fds_before", "fds_after", "log")


def probe_table(name: str, before: dict | None, after: dict) -> list[str]:
    out = ["### %s" % name, "", "Sent: %s" % "; ".join(after.get("sent") or []), "",
           "| what held | before the fixes | after the fixes |", "| --- | --- | --- |"]
    b_checks = {c["label"]: c for c in (before or {}).get("checks", [])}
    a_checks = {c["label"]: c for c in after["checks"]}
    labels = list(a_checks) + [label for label in b_checks if label not in a_checks]
    for label in labels:
        out.append("| %s | %s | %s |" % (label, _check(b_checks, label) if before else "-", _check(a_checks, label)))
    bf, af = (before or {}).get("figures", {}), after["figures"]

    def pair(key_a, key_b, figures):
        return "%s / %s" % (_value(figures.get(key_a, "-")), _value(figures.get(key_b, "-")))
    out.append("| RSS before / after, MiB | %s | %s |" % (pair("rss_mib_before", "rss_mib_after", bf),
                                                         pair("rss_mib_before", "rss_mib_after", af)))
    log_b, log_a = bf.get("log") or {}, af.get("log") or {}
    out.append("| log lines / bytes written | %s / %s | %s / %s |" % (
        log_b.get("lines", "-"), log_b.get("bytes", "-"), log_a.get("lines", "-"), log_a.get("bytes", "-")))
    for key in list(af) + [k for k in bf if k not in af]:
        if key in COMMON:
            continue
        out.append("| %s | %s | %s |" % (key, _value(bf[key]) if key in bf else "-",
                                         _value(af[key]) if key in af else "-"))
    return out + [""]


def spread(runs: list[dict]) -> list[str]:
    names = [p["name"] for p in runs[0]["probes"]]
    out = ["| figure (%d runs of commit %s) | min | median | max |" % (len(runs), runs[0]["commit"]),
           "| --- | --- | --- | --- |"]

    def row(label, values):
        values = [v for v in values if v is not None]
        if values:
            out.append("| %s | %s | %s | %s |" % (label, _value(min(values)), _value(statistics.median(values)),
                                                 _value(max(values))))
    row("probes passed (of %d)" % len(names), [sum(p["passed"] for p in r["probes"]) for r in runs])
    for name in names:
        row("%s: seconds" % name, [_probes(r)[name]["figures"].get("seconds") for r in runs])
    row("fuzz: frames handled a second", [_probes(r)["fuzz"]["figures"].get("frames_per_s_handled") for r in runs
                                          if "fuzz" in _probes(r)])
    row("fuzz: log lines", [(_probes(r)["fuzz"]["figures"].get("log") or {}).get("lines") for r in runs
                            if "fuzz" in _probes(r)])
    row("tracebacks (all probes)", [sum((p["figures"].get("log") or {}).get("tracebacks", 0) for p in r["probes"])
                                    for r in runs])
    return out + [""]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    before, *after = [json.load(open(path)) for path in argv[1:]]
    first = after[0]
    out = ["| probe | before the fixes (%s) | after the fixes (%s) |" % (before["commit"], first["commit"]),
           "| --- | --- | --- |"]
    b, a = _probes(before), _probes(first)
    for name, probe in a.items():
        def cell(p):
            return "%s (%s s)" % ("PASS" if p["passed"] else "FAIL", _value(p["figures"].get("seconds", "-")))
        out.append("| %s | %s | %s |" % (name, cell(b[name]) if name in b else "-", cell(probe)))
    out += ["", "Over every run after the fixes:", ""] + spread(after)
    for name, probe in a.items():
        out += probe_table(name, b.get(name), probe)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
