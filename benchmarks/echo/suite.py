"""echo: TCP echo servers under one closed-loop client (issues 8 and 9): requests/s, p50/p99
round-trip latency, and requests per server-CPU-second, at 64 and 512 byte messages and 1, 50, 200
and 1000 connections. `scripts/dev bench echo`.

Every case is common/serve_and_drive.py: the server pinned to one CPU, echo_load pinned to the
other, the server's utime+stime read from /proc over exactly the client's measured interval.
On loopback most of a request's cost is the kernel's TCP and wakeups on both sides, and the client
shares the machine: requests/s depends on the client as much as on the server, while requests per
server-CPU-second is what a server design changes. The goals are on the latter.
"""

from model import Case, Goal, Group, Plot, Suite

CONNECTIONS = [1, 50, 200, 1000]
SIZES = [64, 512]
PEERS = ["epoll", "raw liburing", "Boost.Asio epoll", "Boost.Asio io_uring"]


def plan(ctx) -> Suite:
    seconds, warmup = ctx.seconds(1.0), ctx.warmup(0.3)
    servers = [
        ("couring io_uring", [ctx.exe("echo/couring_echo"), "--backend", "io_uring"], "io_uring"),
        ("couring thread pool", [ctx.exe("echo/couring_echo"), "--backend", "thread_pool"], "thread_pool"),
        ("epoll", [ctx.exe("epoll_echo")], None),
        ("raw liburing", [ctx.exe("uring_echo")], None),
        ("Boost.Asio epoll", [ctx.exe("asio_echo_epoll")], None),
        ("Boost.Asio io_uring", [ctx.exe("asio_echo_uring")], None),
    ]
    harness = ctx.serve_and_drive()
    groups = []
    for size in SIZES:
        for n in CONNECTIONS:
            client = [ctx.exe("echo/echo_load"), "--port", "{port}", "--server-pid", "{server_pid}",
                      "--connections", str(n), "--size", str(size), "--seconds", str(seconds), "--warmup", str(warmup)]
            groups.append(Group({"size": size, "connections": n}, [
                Case(system, [*harness, *server, "--port", "{port}", "--client", *client], expect_backend=backend)
                for system, server, backend in servers
            ]))
    goal_where = {"size": 512, "connections": 200}
    return Suite(
        name="echo",
        title="TCP echo over loopback, closed loop, server and client pinned to different CPUs",
        unit="req/s",
        params=[("size", "bytes"), ("connections", "conns")],
        groups=groups,
        references=["best peer"],
        best_of=PEERS,
        client_server=True,
        ratio_metric="req_per_cpu_s",
        ratio_metric_header="req/CPU-s",
        extras=[("req_per_cpu_s", "req/server-CPU-s", "{:,.0f}"), ("server_cpu", "server CPU", "{:.0%}"),
                ("p50_us", "p50 µs", "{:.0f}"), ("p99_us", "p99 µs", "{:.0f}")],
        goals=[
            Goal("couring io_uring requests per server-CPU-second >= 1.15x the best peer (512 B, 200 conns)",
                 goal_where, "couring io_uring", "best peer", at_least=1.15),
            Goal("couring io_uring p99 no worse than that peer's (512 B, 200 conns)",
                 goal_where, "couring io_uring", "best peer", at_most=1.0, metric="p99_us"),
            Goal("the same at 64 B: requests per server-CPU-second >= 1.15x the best peer",
                 {"size": 64, "connections": 200}, "couring io_uring", "best peer", at_least=1.15),
            Goal("the same at 64 B: p99 no worse", {"size": 64, "connections": 200}, "couring io_uring",
                 "best peer", at_most=1.0, metric="p99_us"),
        ],
        plots=[Plot(f"echo-{size}", f"echo {size} B: requests/s vs connections (server and client on one CPU each)",
                    "connections", "connections", where={"size": size}, logy=False) for size in SIZES] +
              [Plot(f"echo-{size}-per-cpu", f"echo {size} B: requests per server-CPU-second", "connections",
                    "connections", where={"size": size}, logy=False, metric="req_per_cpu_s",
                    ylabel="requests per server-CPU-second (median)") for size in SIZES],
        notes=["÷ best peer: couring's requests per server-CPU-second divided by the best of epoll, raw liburing "
               "and Boost.Asio (epoll, io_uring) in the same round; the p99 goal compares with that same peer. "
               "server CPU: the server's utime+stime over the measured second (100% = its CPU saturated).",
               "couring and raw liburing use multishot accept and multishot recv with a provided-buffer ring; "
               "epoll and Asio use one recv per message into a per-server (epoll) or per-connection (Asio) buffer."],
    )
