"""The demo tour, quickly: scripts/tour with short workloads must exit 0 and print its table, with
a figure for every workload on every path that ran, the fallback's reason, and a line reading the
figures; and couring-tour alone must fall back when io_uring is denied, and refuse bad flags."""
import os
import re
import time
import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOUR_SCRIPT = os.path.join(ROOT, "scripts", "tour")
PATHS = ["io_uring", "thread pool", "io_uring denied"]
ROWS = ["file read, MiB/s", "echo, requests/s", "echo p99 latency", "HTTP, requests/s", "HTTP p99 latency"]


def table_rows(stdout):
    """The table as {first cell: [other cells]}."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def check_script(args, checks):
    build_dir = os.path.dirname(os.path.abspath(args.bin_dir))
    t0 = time.monotonic()
    r = harness.run(["python3", TOUR_SCRIPT, build_dir, "--seconds", "0.3", "--rounds", "1", "--file-mib", "16"],
                    timeout=120)
    took = time.monotonic() - t0
    checks.equal("scripts/tour exits 0", r.returncode, 0)
    checks.check("scripts/tour (short) takes under 60 s", took < 60, f"{took:.1f} s")
    rows = table_rows(r.stdout)
    header = rows.get("workload", [])
    checks.equal("the table's columns", header, PATHS + ["io_uring / pool"])
    ran = [i for i, said in enumerate(rows.get("checks", [])[:len(PATHS)]) if said != "not run"]
    checks.check("the thread pool and the denied run ran", 1 in ran and 2 in ran, r.stdout)
    for row in ROWS:
        cells = rows.get(row, [])
        numbers = all(i < len(cells) and re.fullmatch(r"[\d,.]+( ms| us)?", cells[i]) for i in ran)
        checks.check(f"a figure in '{row}' for every path that ran", bool(cells) and numbers, f"{cells}")
    checks.check("every path that ran matched every byte",
                 all(rows.get("checks", [""] * 3)[i] == "all bytes match" for i in ran), f"{rows.get('checks')}")
    denied = next((line for line in r.stdout.splitlines() if line.startswith("io_uring denied: ")), "")
    checks.check("the denied run fell back to the thread pool and says why",
                 "backend thread_pool: io_uring unavailable" in denied, denied)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    checks.check("a line reading the figures ends the output",
                 "automatic selection fell back to the thread pool" in last and last.endswith("."), last)


def check_program(args, checks):
    tour = os.path.join(args.bin_dir, "couring-tour")
    r = harness.run([tour, "--machine", "--deny-io-uring", "ENOSYS", "--seconds", "0.1", "--file-mib", "4"],
                    timeout=60, env=dict(os.environ, COURING_BACKEND="auto"))
    figures = dict(line.partition("\t")[::2] for line in r.stdout.splitlines())
    checks.equal("couring-tour with io_uring denied (ENOSYS) exits 0", r.returncode, 0)
    checks.equal("... and runs on the thread pool", figures.get("backend"), "thread_pool")
    checks.check("... and gives the reason", "io_uring unavailable" in figures.get("reason", ""), figures.get("reason"))
    checks.check("... and checked bytes", all(figures.get(k) == "0" for k in
                                              ["file_wrong", "echo_wrong", "echo_failed", "http_wrong", "http_failed"]),
                 f"{figures}")
    harness.usage_errors(checks, args, "couring-tour",
                         [["--deny-io-uring", "EINVAL"], ["--seconds", "0"], ["--file-mib", "x"], ["extra"]])


def body(args, checks, tmp):
    check_program(args, checks)
    check_script(args, checks)


harness.main(body)
