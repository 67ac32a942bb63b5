"""shards: the echo server on 1 and on 2 shards (issue 5), 512-byte messages, 200 connections,
driven by the echo suite's closed-loop client. `scripts/dev bench shards`.

On this 2-vCPU machine the client needs a CPU too, so two shards cannot double anything: the
figure that tells whether sharding costs or pays is requests per server-CPU-second. The cases:
one shard pinned to one CPU with the client on the other (the echo suite's set-up); one shard and
two shards, each with server and client free to use both CPUs. On a machine with more cores,
`--shards N` on echo/couring_echo gives the scaling curve.
"""

from model import Case, Group, Suite


def plan(ctx) -> Suite:
    seconds, warmup = ctx.seconds(1.0), ctx.warmup(0.3)
    both = f"{ctx.server_cpu},{ctx.client_cpu}"
    client = [ctx.exe("echo/echo_load"), "--port", "{port}", "--server-pid", "{server_pid}",
              "--connections", "200", "--size", "512", "--seconds", str(seconds), "--warmup", str(warmup)]
    cases = []
    for backend in ("io_uring", "thread_pool"):
        label = "io_uring" if backend == "io_uring" else "thread pool"
        server = [ctx.exe("echo/couring_echo"), "--backend", backend, "--port", "{port}"]
        cases += [
            Case(f"couring {label}, 1 shard, own CPU", [*ctx.serve_and_drive(), *server, "--shards", "1",
                 "--client", *client], expect_backend=backend),
            Case(f"couring {label}, 1 shard, both CPUs",
                 [*ctx.serve_and_drive("--server-cpu", both, "--client-cpu", both), *server, "--shards", "1",
                  "--client", *client], expect_backend=backend),
            Case(f"couring {label}, 2 shards, both CPUs",
                 [*ctx.serve_and_drive("--server-cpu", both, "--client-cpu", both), *server, "--shards", "2",
                  "--client", *client], expect_backend=backend),
        ]
    return Suite(
        name="shards",
        title="echo on 1 and 2 shards, 512 B, 200 connections",
        unit="req/s",
        params=[],
        groups=[Group({}, cases)],
        client_server=True,
        extras=[("req_per_cpu_s", "req/server-CPU-s", "{:,.0f}"), ("server_cpu", "server CPU", "{:.0%}"),
                ("p50_us", "p50 µs", "{:.0f}"), ("p99_us", "p99 µs", "{:.0f}")],
    )
