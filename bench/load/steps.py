#!/usr/bin/env python3
"""Figures of one load step, and the final table; used by bench/load.sh.

  steps.py step --users N --summaries A.json [B.json] --monitor MON.txt \
                --hwm-kb KB --cpu-secs S --elapsed S
      prints one tab-separated row: users, started, req/s, p50, p95, p99, requests,
      failures, server RSS max (MB), VmHWM (MB), connections max, server CPU %, first error
  steps.py table STEPS.tsv
      prints the markdown table of every row

The summaries are written by the goose scenario (SUMMARY_FILE): with two goose processes
(two service instances) their latency histograms are merged before taking percentiles.
The monitor file has one line per second: "<epoch> <RSS kB of each instance> <connections>".
"""
import argparse
import json
import math
import sys

COLUMNS = [
    "virtual users",
    "started",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "requests",
    "errors",
    "server RSS max MB",
    "VmHWM MB",
    "connections max",
    "server CPU %",
    "most frequent error",
]


def percentile(hist, p):
    total = sum(hist.values())
    if total == 0:
        return 0
    rank = max(1, math.ceil(p * total))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return ms
    return max(hist)


def step(args):
    hist, errors = {}, {}
    requests = failures = started = 0
    rps = 0.0
    for path in args.summaries:
        try:
            with open(path) as f:
                s = json.load(f)
        except (OSError, ValueError) as e:
            print(f"steps.py: no summary in {path}: {e}", file=sys.stderr)
            continue
        for ms, n in s.get("histogram_ms", {}).items():
            hist[int(ms)] = hist.get(int(ms), 0) + n
        requests += s.get("requests", 0)
        failures += s.get("failures", 0)
        rps += s.get("rps", 0.0)
        started += s.get("users", 0)
        for e in s.get("errors", []):
            errors[e["error"]] = errors.get(e["error"], 0) + e["occurrences"]
    rss_max = conns_max = 0
    try:
        with open(args.monitor) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                rss_max = max(rss_max, sum(int(x) for x in parts[1:-1]))
                conns_max = max(conns_max, int(parts[-1]))
    except OSError:
        pass
    cpu = 100.0 * args.cpu_secs / args.elapsed if args.elapsed > 0 else 0.0
    top = max(errors.items(), key=lambda kv: kv[1])[0] if errors else ""
    top = " ".join(top.split()).replace("|", "/")[:90]
    row = [
        args.users,
        started,
        f"{rps:.1f}",
        percentile(hist, 0.50),
        percentile(hist, 0.95),
        percentile(hist, 0.99),
        requests,
        failures,
        f"{rss_max / 1024:.0f}",
        f"{args.hwm_kb / 1024:.0f}",
        conns_max,
        f"{cpu:.0f}",
        top,
    ]
    print("\t".join(str(x) for x in row))


def table(args):
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---:" if i < len(COLUMNS) - 1 else "---" for i in range(len(COLUMNS))) + "|")
    with open(args.tsv) as f:
        for line in f:
            if not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            cells += [""] * (len(COLUMNS) - len(cells))
            print("| " + " | ".join(cells[: len(COLUMNS)]) + " |")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("step")
    s.add_argument("--users", type=int, required=True)
    s.add_argument("--summaries", nargs="+", required=True)
    s.add_argument("--monitor", required=True)
    s.add_argument("--hwm-kb", type=int, default=0)
    s.add_argument("--cpu-secs", type=float, default=0.0)
    s.add_argument("--elapsed", type=float, default=0.0)
    t = sub.add_parser("table")
    t.add_argument("tsv")
    args = parser.parse_args()
    step(args) if args.command == "step" else table(args)


if __name__ == "__main__":
    main()
