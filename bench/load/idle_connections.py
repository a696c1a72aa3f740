#!/usr/bin/env python3
"""Idle connections against Repères: what each one costs the service, and whether it stays
responsive while they are open. Used by `MODE=idle bench/load.sh`.

Opens N TCP connections to the service (127.0.0.1 only) and leaves them idle, in one or
both of two ways:

  silent     connect and send nothing: a client that never speaks. Rocket 0.5 never times
             these out (no header timeout); in production nginx does (deploy/nginx.conf).
  keepalive  send one `GET /healthz` with keep-alive, read the answer, then stay idle: a
             browser between two clicks. Rocket closes it after `keep_alive` seconds
             (ROCKET_KEEP_ALIVE, 5 in Rocket.toml; bench/load.sh raises it for this mode).

For each way: the service's resident memory before, with the connections open and after
they are closed; the memory per connection; the latency of `GET /healthz` (exempt from the
admission limit) and of `GET /connexion` (a page that takes one of the `max_in_flight`
places, REPERES_MAX_IN_FLIGHT) on fresh connections, before and while the idle ones are
open; and how many idle connections the service still holds after --hold seconds.

Idle connections hold no admission place: a place is taken per request and released when
its response is ready, so 10,000 idle connections leave all `max_in_flight` places free.

usage: idle_connections.py --port 8087 --pid 1234 [--connections 10000] [--kind both]
                           [--hold 30] [--samples 200] [--batch 500] [--json out.json]
"""
import argparse
import asyncio
import http.client
import json
import math
import resource
import subprocess
import time

HOST = "127.0.0.1"


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def established(port):
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def pct(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def latency(port, path, samples):
    """Sequential requests, each on a fresh connection; milliseconds."""
    times, errors, statuses = [], 0, {}
    for _ in range(samples):
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            conn.close()
        except OSError:
            errors += 1
            continue
        times.append((time.perf_counter() - start) * 1000)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status >= 400:
            errors += 1  # 503: refused by admission control
    return {
        "p50_ms": round(pct(times, 0.50), 2),
        "p99_ms": round(pct(times, 0.99), 2),
        "max_ms": round(max(times), 2) if times else 0.0,
        "errors": errors,
        "statuses": statuses,
    }


async def open_one(port, kind):
    reader, writer = await asyncio.open_connection(HOST, port)
    if kind == "keepalive":
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
    return reader, writer


async def measure(args, kind):
    port, pid = args.port, args.pid
    await asyncio.sleep(2)
    rss_before = status_kb(pid, "VmRSS")
    conns_before = established(port)
    healthz_before = await asyncio.to_thread(latency, port, "/healthz", args.samples)
    page_before = await asyncio.to_thread(latency, port, "/connexion", args.samples)

    conns, failures = [], 0
    started = time.perf_counter()
    for first in range(0, args.connections, args.batch):
        batch = min(args.batch, args.connections - first)
        results = await asyncio.gather(
            *(open_one(port, kind) for _ in range(batch)), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException):
                failures += 1
            else:
                conns.append(r)
    open_secs = time.perf_counter() - started
    await asyncio.sleep(2)
    rss_open = status_kb(pid, "VmRSS")
    conns_open = established(port)
    healthz_open = await asyncio.to_thread(latency, port, "/healthz", args.samples)
    page_open = await asyncio.to_thread(latency, port, "/connexion", args.samples)

    # Keep them idle; the event loop notices the ones the service closes.
    await asyncio.sleep(args.hold)
    alive = sum(1 for reader, _ in conns if not reader.at_eof())
    conns_held = established(port)

    for _, writer in conns:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)
    await asyncio.sleep(3)
    rss_after = status_kb(pid, "VmRSS")
    opened = len(conns)
    return {
        "kind": kind,
        "asked": args.connections,
        "opened": opened,
        "failed": failures,
        "open_secs": round(open_secs, 1),
        "rss_before_kb": rss_before,
        "rss_open_kb": rss_open,
        "rss_after_kb": rss_after,
        "hwm_kb": status_kb(pid, "VmHWM"),
        "per_connection_kb": round((rss_open - rss_before) / opened, 2) if opened else 0.0,
        "established_before": conns_before,
        "established_open": conns_open,
        "established_after_hold": conns_held,
        "alive_after_hold": alive,
        "hold_secs": args.hold,
        "healthz_before": healthz_before,
        "healthz_open": healthz_open,
        "connexion_before": page_before,
        "connexion_open": page_open,
    }


def markdown(results):
    lines = [
        "| idle connections | opened (failed) | RSS before MB | RSS open MB | per connection KB "
        "| RSS after close MB | established open | still open after hold "
        "| /healthz p50 / p99 ms, before → open | /connexion p50 / p99 ms, before → open | errors open |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        hb, ho, cb, co = r["healthz_before"], r["healthz_open"], r["connexion_before"], r["connexion_open"]
        lines.append(
            f"| {r['asked']} {r['kind']} | {r['opened']} ({r['failed']}) "
            f"| {r['rss_before_kb'] / 1024:.0f} | {r['rss_open_kb'] / 1024:.0f} "
            f"| {r['per_connection_kb']:.1f} | {r['rss_after_kb'] / 1024:.0f} "
            f"| {r['established_open']} | {r['alive_after_hold']} (after {r['hold_secs']} s) "
            f"| {hb['p50_ms']} / {hb['p99_ms']} → {ho['p50_ms']} / {ho['p99_ms']} "
            f"| {cb['p50_ms']} / {cb['p99_ms']} → {co['p50_ms']} / {co['p99_ms']} "
            f"| {ho['errors'] + co['errors']} |"
        )
    return "\n".join(lines)


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the service's process id")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--kind", choices=["silent", "keepalive", "both"], default="both")
    parser.add_argument("--hold", type=int, default=30, help="seconds to keep them idle")
    parser.add_argument("--samples", type=int, default=200, help="latency samples per route")
    parser.add_argument("--batch", type=int, default=500, help="connections opened at once")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    # Every connection is a file descriptor on this side too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 1024
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass

    kinds = ["silent", "keepalive"] if args.kind == "both" else [args.kind]
    results = []
    for kind in kinds:
        print(f"idle connections: {args.connections} {kind} …", flush=True)
        results.append(await measure(args, kind))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print()
    print(markdown(results))


if __name__ == "__main__":
    asyncio.run(main())
