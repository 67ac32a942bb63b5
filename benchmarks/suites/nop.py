"""nop: `co_await nop()` throughput vs a raw liburing loop doing the same batch (issue 2)."""

from model import Case, Goal, Group, Plot, Suite

IN_FLIGHT = [1, 32, 256]


def plan(ctx) -> Suite:
    seconds = ctx.seconds(0.3)
    common = ["--seconds", str(seconds), "--warmup", str(ctx.warmup(0.05))]
    groups = []
    for n in IN_FLIGHT:
        k = ["--in-flight", str(n)]
        groups.append(Group({"in_flight": n}, [
            Case("couring io_uring", [ctx.exe("nop"), "--backend", "io_uring", *k, *common], pin=True,
                 expect_backend="io_uring"),
            Case("raw liburing", [ctx.exe("uring_nop"), *k, *common], pin=True),
            Case("couring thread pool", [ctx.exe("nop"), "--backend", "thread_pool", *k, *common], pin=True,
                 expect_backend="thread_pool"),
        ]))
    return Suite(
        name="nop",
        title="co_await nop() throughput",
        unit="ops/s",
        params=[("in_flight", "in flight")],
        groups=groups,
        references=["raw liburing"],
        extras=[("enters_per_op", "enters/op", "{:.3f}")],
        ns_per_op="ns/op",
        goals=[Goal(f"couring io_uring >= 0.85x raw liburing at {n} in flight", {"in_flight": n},
                    "couring io_uring", "raw liburing", 0.85) for n in IN_FLIGHT if n >= 32],
        plots=[Plot("nop", "co_await nop() vs raw liburing (pinned to one CPU)", "in_flight",
                    "ops in flight")],
        notes=["The thread-pool backend completes a NOP on the loop thread without a worker or a "
               "syscall, so its row measures the scheduler alone, not a worker round trip."],
    )
