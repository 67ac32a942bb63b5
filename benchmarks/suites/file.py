"""file: 4 KiB random reads from one 512 MiB file, page cache warm and O_DIRECT (issue 3).

Every system reads the same blocks in the same issue order (benchmarks/common/offsets.hpp), except
fio, which draws its own random offsets: it is an outside reference, not a contestant.

The POSIX AIO program (peers/aio_file) runs twice more with libcouring-aio preloaded (issue 14), on
io_uring and on the thread pool: the same binary, glibc's <aio.h> ABI, served by couring, so the
table compares glibc AIO, libcouring-aio and couring's own co_await path on one workload.
"""

import errno
import json
import mmap
import os
import re
import shutil
import sys

from model import Case, Goal, Group, Plot, Suite, parse_json_line

FILE_SIZE = 512 << 20
QUEUE_DEPTHS = [1, 8, 32]
PAGE_CACHE, DIRECT = "page cache", "O_DIRECT"


def make_test_file(path: str) -> None:
    if os.path.exists(path) and os.path.getsize(path) == FILE_SIZE:
        return
    print(f"file: writing the {FILE_SIZE >> 20} MiB test file {path}", file=sys.stderr)
    chunk = os.urandom(1 << 20)  # incompressible, in case the filesystem compresses
    with open(path + ".tmp", "wb") as f:
        for i in range(FILE_SIZE >> 20):
            f.write(chunk[i:] + chunk[:i])
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def warm_page_cache(path: str) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def direct_io_problem(path: str):
    """None if O_DIRECT reads work on the file's filesystem, else why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        return f"open(O_DIRECT): {os.strerror(e.errno)}"
    try:
        buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT requires
        n = os.preadv(fd, [buf], 0)
        return None if n == 4096 else f"O_DIRECT read returned {n} bytes"
    except OSError as e:
        why = os.strerror(e.errno)
        return f"O_DIRECT read: {why}" + (" (the filesystem does not support it)" if e.errno == errno.EINVAL else "")
    finally:
        os.close(fd)


def fio_parse(stdout: str) -> dict:
    job = json.loads(stdout[stdout.index("{"):])["jobs"][0]["read"]
    return {"rate": job["iops"], "ops": job["total_ios"], "seconds": job["runtime"] / 1000.0}


def fio_case(ctx, path: str, engine: str, qd: int, direct: bool, seconds: float) -> Case:
    argv = ["fio", "--name=randread", f"--filename={path}", f"--size={FILE_SIZE}", "--rw=randread", "--bs=4k",
            f"--ioengine={engine}", f"--direct={int(direct)}", "--norandommap", "--randrepeat=1",
            f"--runtime={seconds}", "--time_based", "--output-format=json"]
    if not direct:
        argv.append("--invalidate=0")  # keep the warm page cache
    if engine == "psync":
        # A synchronous engine has one op in flight per job: QD N is N threads.
        argv += [f"--numjobs={qd}", "--thread", "--group_reporting"]
    else:
        argv.append(f"--iodepth={qd}")
    return Case(f"fio {engine}", argv, parse=fio_parse)


AIO_LIB = os.path.join("runtime", "aio", "libcouring-aio.so")
GLIBC_AIO = "glibc posix aio"
COURING_AIO = {"io_uring": "libcouring-aio io_uring", "thread_pool": "libcouring-aio thread pool"}


def preloaded_aio_case(ctx, argv: list, backend: str) -> Case:
    """aio_file with libcouring-aio preloaded. The library's exit report (COURING_AIO_REPORT) must
    say it served the requests on `backend`: a preload that silently fell back to glibc, or a
    library on another backend, fails the case instead of passing for it."""
    report = os.path.join(ctx.data_dir, f"couring-aio-report-{backend}.txt")

    def parse(stdout: str) -> dict:
        result = parse_json_line(stdout)
        try:
            with open(report) as f:
                lines = f.read().splitlines()
            os.unlink(report)
        except FileNotFoundError:
            lines = []
        # Page-cache hits are served on the caller's thread (docs/posix-aio.md): when every read was
        # one, the engine never started and the report names no backend, only that the library
        # served them all inline.
        all_inline = re.compile(r" inline (\d+) backend none submitted \1 ")
        if not any(f" backend {backend} submitted " in line or all_inline.search(line) for line in lines):
            raise RuntimeError(f"libcouring-aio did not serve it on {backend} (report: {lines or 'none'})")
        return result

    env = {"LD_PRELOAD": os.path.join(ctx.build_dir, AIO_LIB), "COURING_BACKEND": backend,
           "COURING_AIO_REPORT": report}
    return Case(COURING_AIO[backend], argv, parse=parse, env=env)


def plan(ctx) -> Suite:
    path = os.path.join(ctx.data_dir, "file-512M.dat")
    make_test_file(path)
    modes = [PAGE_CACHE]
    notes = []
    problem = direct_io_problem(path)
    if problem:
        message = f"O_DIRECT rows skipped: {problem} on {ctx.data_dir}"
        print(f"file: {message}", file=sys.stderr)
        notes.append(message)
    else:
        modes.append(DIRECT)

    seconds, warmup = ctx.seconds(0.5), ctx.warmup(0.1)
    use_fio = ctx.fio and shutil.which("fio")
    aio_lib = os.access(os.path.join(ctx.build_dir, AIO_LIB), os.R_OK)
    if not aio_lib:
        notes.append(f"{AIO_LIB} is not built: the libcouring-aio rows are missing.")
    if ctx.fio and not use_fio:
        notes.append("fio is not installed: its reference rows are missing.")
    groups = []
    for mode in modes:
        direct = mode == DIRECT
        for qd in QUEUE_DEPTHS:
            args = ["--path", path, "--qd", str(qd), "--seconds", str(seconds), "--warmup", str(warmup)]
            if direct:
                args.append("--direct")
            cases = [
                Case("couring io_uring", [ctx.exe("file"), "--backend", "io_uring", *args], expect_backend="io_uring"),
                Case("couring thread pool", [ctx.exe("file"), "--backend", "thread_pool", *args],
                     expect_backend="thread_pool"),
                Case("raw liburing", [ctx.exe("uring_file"), *args]),
                Case(GLIBC_AIO, [ctx.exe("aio_file"), *args]),
                Case("pread", [ctx.exe("pread_file"), *args]),
            ]
            if aio_lib:
                cases += [preloaded_aio_case(ctx, [ctx.exe("aio_file"), *args], b) for b in COURING_AIO]
            if use_fio:
                # fio measures whole seconds well; half a second is too short for its startup.
                fio_seconds = max(1, round(seconds * 2))
                cases += [fio_case(ctx, path, e, qd, direct, fio_seconds) for e in ("io_uring", "posixaio", "psync")]
            groups.append(Group({"mode": mode, "qd": qd}, cases,
                                before_round=None if direct else (lambda: warm_page_cache(path))))

    goals = [Goal("couring io_uring >= 0.9x raw liburing, page cache, QD 32", {"mode": PAGE_CACHE, "qd": 32},
                  "couring io_uring", "raw liburing", 0.9),
             Goal("couring thread pool >= 2x glibc POSIX AIO, page cache, QD 32", {"mode": PAGE_CACHE, "qd": 32},
                  "couring thread pool", "glibc posix aio", 2.0)]
    if DIRECT in modes:
        goals += [Goal("couring thread pool >= 4x glibc POSIX AIO, O_DIRECT, QD 32", {"mode": DIRECT, "qd": 32},
                       "couring thread pool", "glibc posix aio", 4.0),
                  Goal("couring io_uring >= 0.9x raw liburing, O_DIRECT, QD 32", {"mode": DIRECT, "qd": 32},
                       "couring io_uring", "raw liburing", 0.9)]
    if aio_lib:
        aio = COURING_AIO["io_uring"]
        for mode in modes:
            goals += [Goal(f"{aio} (C API) >= 0.7x couring io_uring (co_await), {mode}, QD {qd}",
                           {"mode": mode, "qd": qd}, aio, "couring io_uring", 0.7) for qd in (1, 32)]
            # "No slower at QD 1" holds for every backend the library may land on.
            goals += [Goal(f"{system} no slower than glibc POSIX AIO, {mode}, QD 1", {"mode": mode, "qd": 1},
                           system, GLIBC_AIO, 1.0) for system in COURING_AIO.values()]
        goals.append(Goal(f"{aio} >= 1.2x glibc POSIX AIO, page cache, QD 32", {"mode": PAGE_CACHE, "qd": 32},
                          aio, GLIBC_AIO, 1.2))
        if DIRECT in modes:
            goals.append(Goal(f"{aio} >= 4x glibc POSIX AIO, O_DIRECT, QD 32", {"mode": DIRECT, "qd": 32},
                              aio, GLIBC_AIO, 4.0))
        notes.append("libcouring-aio rows: the glibc POSIX AIO program (aio_file: aio_read + aio_suspend over QD "
                     "aiocbs), unchanged, run with LD_PRELOAD=libcouring-aio.so and COURING_BACKEND set; each run "
                     "must be reported served by the library (COURING_AIO_REPORT).")
    notes.append("pread at QD N is N threads each issuing blocking preads (QD 1: one thread); fio psync likewise "
                 "runs N jobs. fio draws its own random offsets and runs whole seconds.")
    return Suite(
        name="file",
        title="4 KiB random reads, one 512 MiB file",
        unit="IOPS",
        params=[("mode", "mode"), ("qd", "QD")],
        groups=groups,
        references=["raw liburing", GLIBC_AIO],
        extras=[("enters_per_op", "enters/op", "{:.3f}")],
        goals=goals,
        plots=[Plot(f"file-{'direct' if m == DIRECT else 'pagecache'}", f"4 KiB random reads, {m}", "qd",
                    "queue depth", where={"mode": m}) for m in modes],
        notes=notes,
    )
