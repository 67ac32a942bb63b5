"""sched: cross-shard round trips and messages/s vs a std::mutex + std::condition_variable queue
(issue 5). scripts/bench finds it here (benchmarks/NAME/suite.py): `scripts/dev bench sched`.

Each case runs `sched --one`, which measures one cell once and prints one JSON line with `ops` and
`seconds` (and p50_ns, p99_ns, wakeups_per_msg). The program can also run the whole matrix by
itself: `build-release/benchmarks/sched/sched --json FILE --csv FILE` prints the same table.
"""

from model import Case, Group, Suite

SYSTEMS = [
    ("couring io_uring msg_ring", "io_uring"),
    ("couring io_uring eventfd", "io_uring"),
    ("couring thread pool", "thread_pool"),
    ("mutex+condvar", None),
]


def plan(ctx) -> Suite:
    exe = ctx.exe("sched/sched")  # built in benchmarks/sched/
    common = ["--seconds", str(ctx.seconds(1.0)), "--warmup", str(ctx.warmup(0.2))]
    groups = []
    for workload in ("round_trip", "stream"):
        groups.append(Group({"workload": workload}, [
            # Two threads each: not pinned to the runner's one CPU.
            Case(system, [exe, "--one", "--workload", workload, "--system", system, *common],
                 expect_backend=backend)
            for system, backend in SYSTEMS
        ]))
    return Suite(
        name="sched",
        title="cross-shard messaging, 2 shards",
        unit="msgs/s",
        params=[("workload", "workload")],
        groups=groups,
        references=["mutex+condvar"],
        extras=[("p50_ns", "p50 ns", "{:.0f}"), ("p99_ns", "p99 ns", "{:.0f}"),
                ("wakeups_per_msg", "wakeups/msg", "{:.3f}")],
        notes=["round_trip: shard 0 awaits on_shard(1, fn) in a loop (the rate is round trips/s); the "
               "baseline pushes a request and pops the reply between two threads. stream: "
               "channel<std::uint64_t>(256) from shard 0 to shard 1 vs a bounded queue of 256.",
               "Echo throughput with 1 vs 2 shards needs the echo sample and is not measured here."],
    )
