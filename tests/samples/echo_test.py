"""couring-echo driven by couring-echo-client, nc and socat, over IPv4 and IPv6; couring-echo-client
checked for its JSON; both stopped by SIGTERM with exit 0; no fd left behind by a burst."""
import json
import os
import subprocess

import harness


def client(args, port, *extra, host="127.0.0.1"):
    return harness.run_sample(args, "couring-echo-client", "--port", str(port), "--host", host, *extra, timeout=30)


def busy_port(args, checks, tmp):
    """SO_REUSEPORT only when asked: without --reuse-port a second server on the same port would
    take part of the first one's connections without a word."""
    for first, second, label in [([], [], " (1 shard each)"), (["--shards", "2"], ["--shards", "2"], " (2 shards each)"),
                                 ([], ["--shards", "2"], " (2 shards, beside 1)"),
                                 (["--shards", "2"], [], " (1 shard, beside 2)"),
                                 (["--reuse-port"], [], " (without --reuse-port, beside a sharing one)")]:
        with harness.Server(args, "couring-echo", *first, tmp=tmp) as srv:
            harness.busy_port_refused(checks, args, "couring-echo", srv.port, *second, label=label)
            r = client(args, srv.port, "-c", "4", "-d", "0.3")
            checks.check(f"...and the first one still serves{label}", r.returncode == 0, r.stdout + r.stderr)
    with harness.Server(args, "couring-echo", "--reuse-port", "--shards", "2", tmp=tmp) as a:
        with harness.Server(args, "couring-echo", "--reuse-port", "--port", str(a.port), tmp=tmp) as b:
            checks.check("--reuse-port on both: the second one starts on the same port", b.port == a.port, b.startup_line)


def body(args, checks, tmp):
    seconds = str(max(0.3, 1.0 * harness.scale()))
    with harness.Server(args, "couring-echo", tmp=tmp) as srv:
        checks.check("startup line names the backend", srv.backend == args.backend or args.backend == "auto",
                     srv.startup_line)
        idle_fds = srv.fd_count()

        r = client(args, srv.port, "-c", "16", "-n", "512", "-d", seconds, "--json")
        checks.equal("echo-client --json exits 0", r.returncode, 0)
        result = json.loads(r.stdout)
        checks.check("echo-client: requests flowed over IPv4", result["requests"] > 0, r.stdout)
        checks.equal("echo-client: no errors", result["errors"], 0)
        lat = result["latency_us"]
        checks.check("echo-client: percentiles ordered p50 <= p99 <= p999 <= max",
                     0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat)

        r = client(args, srv.port, "-c", "4", "-n", "4096", "-d", seconds, host="::1")
        checks.check("echo-client over IPv6 (dual-stack listener): human output, exit 0",
                     r.returncode == 0 and "requests/s" in r.stdout and "p999" in r.stdout, r.stdout + r.stderr)

        r = client(args, srv.port, "-c", "8", "-n", "100", "-d", seconds, "--shards", "2", "--json")
        checks.check("echo-client spread over 2 shards", r.returncode == 0 and json.loads(r.stdout)["shards"] == 2,
                     r.stdout + r.stderr)

        r = harness.run(["nc", "-N", "127.0.0.1", str(srv.port)], input="hello from nc\n", timeout=10)
        checks.equal("nc gets its line back", r.stdout, "hello from nc\n")

        payload = os.urandom(256 * 1024)
        p = subprocess.run(["socat", "-t", "3", "-", f"TCP6:[::1]:{srv.port}"], input=payload, capture_output=True,
                           timeout=15)
        checks.check("socat over IPv6 gets 256 KiB of binary back byte for byte", p.stdout == payload,
                     f"got {len(p.stdout)} bytes")

        # A burst of connections that come and go, some closing mid-message.
        socks = [harness.connect(srv.port) for _ in range(50)]
        for i, s in enumerate(socks):
            s.sendall(b"x" * (i + 1))
        for s in socks[::2]:
            s.recv(1)
        for s in socks:
            s.close()
        n = srv.settled_fd_count(idle_fds)
        checks.equal("no fd leaked after a burst of 50 connections", n, idle_fds)

        code = srv.stop()
        checks.equal("SIGTERM: couring-echo exits 0", code, 0)
        checks.check("SIGTERM: says it is shutting down", "shutting down" in srv.stderr_text(), srv.stderr_text())

    with harness.Server(args, "couring-echo", "--shards", "2", "--address", "127.0.0.1", tmp=tmp) as srv:
        checks.equal("--shards 2 on the startup line", srv.shards, 2)
        r = client(args, srv.port, "-c", "16", "-d", seconds)
        checks.equal("2-shard server serves 16 connections", r.returncode, 0)
        # A client still connected when the signal arrives must not hold up the stop.
        s = harness.connect(srv.port)
        s.sendall(b"ping")
        s.recv(4)
        checks.equal("SIGTERM with a connection open: exit 0", srv.stop(), 0)
        s.close()

    busy_port(args, checks, tmp)

    harness.usage_errors(checks, args, "couring-echo", [["--port", "abc"], ["--port", "70000"], ["--bogus"],
                                                        ["--backend", "fast"], ["--shards"]])
    harness.usage_errors(checks, args, "couring-echo-client", [[], ["--port", "1", "-c", "0"], ["--port", "1", "-d", "x"]])


harness.main(body)
