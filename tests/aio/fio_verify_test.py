#!/usr/bin/env python3
"""fio's posixaio engine, unmodified (Debian's binary), under LD_PRELOAD=libcouring-aio.so: random
writes then reads verified with crc32c, on the given backend. Passes when fio reports no error and
no verify failure, and the library's exit report (COURING_AIO_REPORT) shows it served every request.
Exits 77 (SKIP) without fio, or with io_uring forced where it is unavailable. fio runs its job as a
thread (--thread): a forked job process ends with _exit(), which skips the library's exit report."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--backend", required=True, help="the backend that must serve fio")
    ap.add_argument("--choose", help="COURING_BACKEND to set (default: --backend); 'auto' under seccomp")
    args = ap.parse_args()
    fio = shutil.which("fio")
    if not fio:
        print("SKIP: fio is not installed (scripts/dev installs it)")
        return 77
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="couring-aio-fio-") as d:
        report = os.path.join(d, "report")
        env = dict(os.environ, LD_PRELOAD=args.lib, COURING_BACKEND=args.choose or args.backend, COURING_LOG="quiet",
                   COURING_AIO_REPORT=report)
        for depth in (1, 32):
            cmd = [fio, "--name=verify", "--ioengine=posixaio", f"--iodepth={depth}", "--rw=randwrite",
                   "--bs=4k", "--size=8m", f"--filename={d}/data", "--verify=crc32c", "--do_verify=1",
                   "--verify_fatal=1", "--thread", "--output-format=terse", "--terse-version=3"]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            if r.returncode != 0 and "io_uring" in args.backend and "none" in r.stderr:
                print("SKIP: io_uring unavailable")
                return 77
            ok = r.returncode == 0 and "verify" not in r.stderr.lower()
            print(f"fio posixaio iodepth={depth} verify=crc32c: rc {r.returncode}" + ("" if ok else f"\n{r.stderr}"))
            if ok:
                passed += 1
            else:
                failed += 1
        lines = open(report).read().splitlines() if os.path.exists(report) else []
        print("\n".join(lines) or "no report: the library did not serve fio")
        served = [l for l in lines if re.search(rf"backend {args.backend} submitted (\d+) completed \1$", l)]
        # 8 MiB in 4 KiB blocks, written then read back for verification, at each depth.
        total = sum(int(re.search(r"submitted (\d+)", l).group(1)) for l in served)
        if served and total >= 2 * 2 * 2048:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: expected >= {2 * 2 * 2048} requests served on {args.backend}, saw {total}")
    print(f"couring-test-summary: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
