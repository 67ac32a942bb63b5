"""spawn: steady-state spawning of short tasks; shows that frames are recycled (issue 2)."""

from model import Case, Group, Plot, Suite

BATCHES = [1, 32, 256]


def plan(ctx) -> Suite:
    common = ["--seconds", str(ctx.seconds(0.3)), "--warmup", str(ctx.warmup(0.05))]
    groups = []
    for b in BATCHES:
        groups.append(Group({"batch": b}, [
            Case(f"couring {label}", [ctx.exe("spawn"), "--backend", backend, "--batch", str(b), *common],
                 pin=True, expect_backend=backend)
            for backend, label in (("io_uring", "io_uring"), ("thread_pool", "thread pool"))
        ]))
    return Suite(
        name="spawn",
        title="spawn() of short tasks, steady state",
        unit="tasks/s",
        params=[("batch", "batch")],
        groups=groups,
        extras=[("fresh_frames_per_task", "fresh frames/task", "{:.4f}"),
                ("heap_allocs_per_task", "operator new/task", "{:.4f}")],
        ns_per_op="ns/task",
        plots=[Plot("spawn", "spawn() throughput (pinned to one CPU)", "batch", "tasks spawned per batch")],
        notes=["A parent spawns a batch of tasks and waits for all of them; each loop iteration that "
               "has ready work still checks the kernel for completions without blocking "
               "(one io_uring_enter or epoll_pwait2), so small batches pay about two such calls per batch.",
               "fresh frames/task: coroutine frames taken from the heap (couring::detail::frame_stats); "
               "operator new/task: every global operator new in the process (counted by the program). "
               "0 means every frame was recycled."],
    )
