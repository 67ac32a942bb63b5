"""switch: the cost of a suspend/resume round trip for a couring task, a couring fiber and a thread,
next to the floors they are built on (a raw coroutine transfer, a raw Boost.Context switch), and
the memory one idle task, fiber or thread holds (issue 6). `scripts/dev bench switch`.

Each case runs `switch --case NAME` once: it prints one JSON line with `ops` (round trips) and
`seconds` (process CPU time), and with --idle N also the resident and virtual bytes per idle unit, measured in a child
process that parks N units.
"""

from model import Case, Group, Suite

IDLE_UNITS = 10_000

# (system, case, measures idle memory): the ready=1 group, cheapest first.
ONE_READY = [
    ("C++20 coroutine (symmetric transfer)", "coroutine", False),
    ("couring task", "task", True),
    ("Boost.Context fiber (raw)", "boost-context", False),
    ("couring fiber", "fiber", True),
    ("thread, futex", "thread-futex", True),
    ("thread, pipe", "thread-pipe", False),
]


def plan(ctx) -> Suite:
    exe = ctx.exe("switch/switch")  # built in benchmarks/switch/
    seconds = ["--seconds", str(ctx.seconds(0.3))]

    def case(system, name, ready=1, idle=False):
        argv = [exe, "--case", name, "--ready", str(ready), *seconds]
        if idle:
            argv += ["--idle", str(IDLE_UNITS)]
        # Pinned: the thread cases must switch on one CPU, and the others must not migrate.
        return Case(system, argv, pin=True)

    groups = [
        Group({"ready": 1}, [case(system, name, 1, idle) for system, name, idle in ONE_READY]),
        Group({"ready": 64}, [case("couring task", "task", 64), case("couring fiber", "fiber", 64)]),
    ]
    return Suite(
        name="switch",
        title="suspend/resume round trips and memory per idle unit, one CPU",
        unit="round trips/s",
        params=[("ready", "ready")],
        groups=groups,
        ns_per_op="ns/round trip",
        extras=[("wall_ns_per_round_trip", "wall ns", "{:.0f}"),
                ("idle_resident_bytes", "resident/idle unit (B)", "{:.0f}"),
                ("idle_virtual_bytes", "virtual/idle unit (B)", "{:.0f}")],
        notes=["A round trip is two transfers: suspend and resume (task: co_await yield(); fiber: "
               "this_fiber::await(yield()); raw coroutine: symmetric transfer to a partner and back; "
               "Boost.Context: resume a fiber that resumes its caller; threads: a token handed to "
               "another thread on the same CPU and back, i.e. two context switches). ready: how many "
               "tasks or fibers yield in turn; they share each loop turn and its non-blocking look at "
               "the kernel for completions.",
               "Rates come from the process's CPU time (all its threads, user and kernel), so time other "
               "processes held the CPU is not charged to the switch; wall ns is the wall-clock figure "
               "beside it, equal on an idle machine.",
               f"Idle memory: {IDLE_UNITS:,} units parked on an async_event (tasks, fibers with the "
               "default 64 KiB stack) or a futex (threads, default attributes), RSS and address space "
               "from /proc/self/statm before and after, per unit. A thread's kernel stack and task "
               "struct are not in its RSS; a fiber's virtual size includes its 64 KiB guard area."],
    )
