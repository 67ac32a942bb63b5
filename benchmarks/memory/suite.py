"""memory: bytes per idle connection (10,000 of them: the server's resident memory plus its end of
the kernel's socket), per idle task and per idle fiber (issues 8 and 9). `scripts/dev bench memory`.

Connections: common/serve_and_drive.py runs each echo server (the echo benchmark's) pinned to one
CPU and idle_conns pinned to the other; idle_conns opens the connections, exchanges one echo on
each, and measures the server's VmRSS growth and the kernel's growth minus the client's end (see
idle_conns.cpp). Tasks and fibers: idle_tasks parks N of them on an event and measures its own
VmRSS growth.
"""

import json

from model import Case, Goal, Group, Suite

CONNECTIONS = 10_000
TASKS = 100_000
FIBERS = 10_000


def per_item(key: str):
    """The JSON line's `key` (bytes per connection, task or fiber) becomes the row's value."""
    def parse(stdout: str) -> dict:
        line = next(l for l in reversed(stdout.strip().splitlines()) if l.strip().startswith("{"))
        result = json.loads(line)
        result["rate"] = result[key]
        return result
    return parse


def plan(ctx) -> Suite:
    harness = ctx.serve_and_drive()
    client = [ctx.exe("memory/idle_conns"), "--port", "{port}", "--server-pid", "{server_pid}",
              "--connections", str(CONNECTIONS)]
    couring_echo = ctx.exe("echo/couring_echo")
    servers = [
        ("couring io_uring", [couring_echo, "--backend", "io_uring"], "io_uring"),
        ("couring thread pool", [couring_echo, "--backend", "thread_pool"], "thread_pool"),
        ("epoll", [ctx.exe("epoll_echo")], None),
        ("thread per connection", [ctx.exe("thread_echo")], None),
    ]
    conn_label = f"idle connection ({CONNECTIONS:,})"
    groups = [Group({"item": conn_label}, [
        Case(system, [*harness, *server, "--port", "{port}", "--client", *client], parse=per_item("bytes_per_conn"),
             expect_backend=backend)
        for system, server, backend in servers
    ])]
    tasks = ctx.exe("memory/idle_tasks")
    for kind, count in (("task", TASKS), ("fiber", FIBERS)):
        groups.append(Group({"item": f"idle {kind} ({count:,})"}, [
            Case(system, [tasks, "--kind", kind, "--count", str(count), "--backend", backend],
                 parse=per_item("bytes_per_item"), expect_backend=backend)
            for system, backend in (("couring io_uring", "io_uring"), ("couring thread pool", "thread_pool"))
        ]))
    return Suite(
        name="memory",
        title="resident bytes per idle connection (server + its kernel socket), task and fiber",
        unit="bytes each",
        params=[("item", "item")],
        groups=groups,
        client_server=True,
        extras=[("user_bytes_per_conn", "server RSS", "{:,.0f}"), ("kernel_bytes_per_conn", "kernel, server end", "{:,.0f}"),
                ("bare_socket_end_bytes", "kernel, bare socket end", "{:,.0f}")],
        goals=[Goal("couring io_uring <= 3.5 KiB (3,584 bytes) per idle connection, kernel socket included",
                    {"item": conn_label}, "couring io_uring", None, at_most=3584, format="{:,.0f} bytes")],
        notes=["server RSS: the server's VmRSS growth per connection. kernel, server end: the growth of live slab "
               "objects (/proc/slabinfo), kernel stacks and TCP buffer pages (/proc/net/sockstat) per connection, minus "
               "the client's end, i.e. minus 'kernel, bare socket end', which is measured first on loopback pairs of "
               "plain sockets (half of their cost). Both are system-wide figures: other processes add noise, hence "
               "the spread."],
    )
