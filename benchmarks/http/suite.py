"""http: couring-http (the sample static file server) vs nginx serving the same 4 KiB and 1 MiB
files to wrk (issue 8): requests/s, p50/p99 latency, requests per server-CPU-second.
`scripts/dev bench http`.

Every case is common/serve_and_drive.py: the server pinned to one CPU, wrk (one thread) to the
other; the server's utime+stime (nginx: master and worker) is read from /proc around wrk's run.
nginx runs from a config written by nginx.sh (one worker, access_log off, sendfile on).
"""

import os
import shutil

from model import Case, Goal, Group, Suite

FILES = [("4 KiB", "4k.bin", 4096), ("1 MiB", "1m.bin", 1 << 20)]
CONNECTIONS = 50


def make_root(data_dir: str) -> str:
    """The served directory: incompressible files, written once and reused."""
    root = os.path.join(data_dir, "http-root")
    os.makedirs(root, exist_ok=True)
    for _, name, size in FILES:
        path = os.path.join(root, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open(path + ".tmp", "wb") as f:
                f.write(os.urandom(size))
            os.replace(path + ".tmp", path)
    return root


def plan(ctx) -> Suite:
    here = os.path.dirname(os.path.abspath(__file__))
    root = make_root(ctx.data_dir)
    seconds = max(1, round(ctx.seconds(3.0)))  # wrk takes whole seconds
    harness = ctx.serve_and_drive("--parse", "wrk")
    couring_http = os.path.join(ctx.build_dir, "samples", "couring-http")
    servers = [
        ("couring-http io_uring", [couring_http, "--root", root, "--address", "127.0.0.1", "--port", "{port}",
                                   "--backend", "io_uring", "--max-connections", "4096"]),
        ("couring-http thread pool", [couring_http, "--root", root, "--address", "127.0.0.1", "--port", "{port}",
                                      "--backend", "thread_pool", "--max-connections", "4096"]),
    ]
    notes = []
    if shutil.which("nginx"):
        servers.append(("nginx", [os.path.join(here, "nginx.sh"), "{port}", root]))
    else:
        notes.append("nginx is not installed: no nginx rows (apt-get install nginx).")
    if not shutil.which("wrk"):
        raise SystemExit("scripts/bench: the http benchmark needs wrk (apt-get install wrk)")
    groups = []
    for label, name, _ in FILES:
        client = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{{port}}/{name}"]
        groups.append(Group({"file": label}, [
            Case(system, [*harness, *server, "--client", *client]) for system, server in servers
        ]))
    return Suite(
        name="http",
        title=f"static files over loopback, wrk -t1 -c{CONNECTIONS}, server and client pinned to different CPUs",
        unit="req/s",
        params=[("file", "file")],
        groups=groups,
        client_server=True,
        references=["nginx"],
        ratio_metric="req_per_cpu_s",
        ratio_metric_header="req/CPU-s",
        extras=[("req_per_cpu_s", "req/server-CPU-s", "{:,.0f}"), ("server_cpu", "server CPU", "{:.0%}"),
                ("p50_us", "p50 µs", "{:.0f}"), ("p99_us", "p99 µs", "{:.0f}")],
        goals=[Goal(f"couring-http requests per server-CPU-second >= 1.2x nginx ({label})", {"file": label},
                    "couring-http io_uring", "nginx", at_least=1.2) for label, _, _ in FILES],
        notes=notes + ["÷ nginx: requests per server-CPU-second divided by nginx's in the same round. "
                       "couring-http sends a file with send_file (splice through a pipe); nginx with sendfile."],
    )
