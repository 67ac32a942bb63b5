#!/usr/bin/env python3
"""Runs one server under one client and prints one JSON result line, for scripts/bench.

    serve_and_drive.py --server-cpu 0 --client-cpu 1 [--parse wrk] SERVER... --client CLIENT...

The server starts pinned to one CPU (taskset) on a free port, the client pinned to another once
the port accepts connections; `{port}` and `{server_pid}` in either command are replaced. When the
client is done the server is stopped (SIGTERM, then SIGKILL).

The server's CPU time (utime+stime of its process and its children, e.g. nginx's worker) is
sampled from /proc around the client's run, unless the client measured it itself over its own
measured interval (echo_load --server-pid prints server_cpu_seconds). The result adds
`req_per_cpu_s` (requests per server-CPU-second) and `server_cpu` (the server's share of its CPU),
and the keys the server printed on its own JSON line (couring servers: the backend that ran).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, server: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve_and_drive: the server exited ({server.returncode}) before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"serve_and_drive: nothing listens on port {port} after {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """utime+stime of `pid` and of its children (threads included: /proc/PID/stat sums them)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime: fields 14 and 15
        except (OSError, IndexError, ValueError):
            pass
    return total


def parse_wrk(text: str) -> dict:
    """wrk --latency: requests, duration, and the 50% / 99% lines of its latency distribution."""
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise SystemExit("serve_and_drive: no request count in wrk's output:\n" + text)
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    result = {"ops": int(m.group(1)), "seconds": float(m.group(2)) * unit}
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        lm = re.search(rf"^\s*{pct}(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if lm:
            result[key] = float(lm.group(1)) * {"us": 1.0, "ms": 1e3, "s": 1e6}[lm.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        raise SystemExit(f"serve_and_drive: wrk got {bad.group(1)} error responses")
    # Read errors and timeouts are counted, not fatal: a server closing a kept-alive connection
    # at the end of the run shows up there.
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    return result


def fill(argv: list[str], subst: dict) -> list[str]:
    """Replaces {port} and {server_pid} anywhere in the arguments (e.g. inside a URL)."""
    out = []
    for a in argv:
        for key, value in subst.items():
            a = a.replace(key, value)
        out.append(a)
    return out


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.strip().startswith("{"):
            return json.loads(line)
    return {}


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-cpu", required=True)
    ap.add_argument("--client-cpu", required=True)
    ap.add_argument("--parse", choices=["json", "wrk"], default="json", help="the client's output format")
    ap.add_argument("server", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    if "--client" not in opts.server:
        ap.error("missing --client CLIENT...")
    split = opts.server.index("--client")
    server_argv, client_argv = opts.server[:split], opts.server[split + 1:]

    port = free_port()
    subst = {"{port}": str(port)}
    with tempfile.TemporaryFile("w+") as server_out, tempfile.TemporaryFile("w+") as server_err:
        server = subprocess.Popen(["taskset", "-c", opts.server_cpu, *fill(server_argv, subst)],
                                  stdout=server_out, stderr=server_err)
        try:
            wait_until_listening(port, server)
            subst["{server_pid}"] = str(server.pid)  # taskset execs the server: same pid
            cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
            client = subprocess.run(["taskset", "-c", opts.client_cpu, *fill(client_argv, subst)],
                                    capture_output=True, text=True)
            cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
            alive = server.poll() is None
        finally:
            stop(server)
        server_err.seek(0)
        if client.returncode != 0:
            tail = (client.stderr.strip().splitlines() or [""])[-1]
            print(f"client failed ({client.returncode}): {tail}", file=sys.stderr)
            return client.returncode
        if not alive:
            print(f"the server died during the run: {server_err.read().strip()[-300:]}", file=sys.stderr)
            return 1
        server_out.seek(0)
        announced = last_json(server_out.read())

    result = parse_wrk(client.stdout) if opts.parse == "wrk" else last_json(client.stdout)
    if "server_cpu_seconds" not in result:
        result["server_cpu_seconds"] = cpu1 - cpu0
        result.setdefault("seconds", t1 - t0)
    cpu = result["server_cpu_seconds"]
    result["req_per_cpu_s"] = result["ops"] / cpu if cpu > 0 else 0.0
    result["server_cpu"] = cpu / result["seconds"] if result["seconds"] > 0 else 0.0
    result.update({k: v for k, v in announced.items() if k not in result})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
