#!/usr/bin/env python3
"""Projects that use couring, each built the way its users would, from a staged install of this
build (meson install --destdir) or from this source tree as a Meson subproject:

  pkg-config   c++ prog.cpp $(pkg-config --cflags --libs couring): runs on the shared library
  static       the same with -static and pkg-config --static: a fully static program that runs
  cmake        find_package(couring X.Y) and couring::couring
  subproject   dependency('couring', fallback: 'couring'): the library alone is built (no tests,
               benchmarks or samples), without -Werror, without Boost (-Dcouring:fibers=disabled),
               at -O0; its pkg-config file says nothing of Boost

Each case compiles and runs tests/packaging/consumer/hello.cpp, which writes and reads a file
through couring and prints the versions."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMER = os.path.join(HERE, "consumer")


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, what, ok, detail=""):
        print(f"{'ok' if ok else 'FAILED'}: {what}" + (f" ({detail})" if detail and not ok else ""))
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def run(cmd, **kw):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout[-4000:] + r.stderr[-4000:])
    return r


def staged_install(build_dir, tmp):
    stage = os.path.join(tmp, "stage")
    r = run(["meson", "install", "-C", build_dir, "--no-rebuild", "--quiet", "--destdir", stage])
    if r.returncode != 0:
        raise RuntimeError("meson install failed")
    prefix = stage + introspect(build_dir, "prefix")
    libdir = os.path.join(prefix, introspect(build_dir, "libdir"))
    return prefix, libdir


def introspect(build_dir, option):
    options = json.loads(run(["meson", "introspect", build_dir, "--buildoptions"]).stdout)
    return next(o["value"] for o in options if o["name"] == option and not o.get("subproject"))


def pkg_config(prefix, libdir, *args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
    r = run(["pkg-config", f"--define-variable=prefix={prefix}", *args, "couring"], env=env)
    return r.stdout.split()


def runs_hello(checks, exe, tmp, env=None):
    r = run([exe, os.path.join(tmp, "scratch")], env=dict(os.environ, **(env or {})))
    return checks.check(f"{os.path.basename(exe)} runs and round-trips a file", r.returncode == 0 and
                        r.stdout.startswith("ok headers "), r.stdout + r.stderr)


def case_pkg_config(args, checks, tmp):
    prefix, libdir = staged_install(args.build_dir, tmp)
    flags = pkg_config(prefix, libdir, "--cflags", "--libs")
    checks.check("pkg-config names no file by path (only -I, -L, -l and -pthread)",
                 all(re.match(r"^(-I|-L|-l|-pthread$)", f) for f in flags), " ".join(flags))
    exe = os.path.join(tmp, "hello")
    r = run([os.environ.get("CXX", "c++"), "-std=c++20", os.path.join(CONSUMER, "hello.cpp"), "-o", exe, *flags])
    if checks.check("a program builds with pkg-config's flags", r.returncode == 0):
        runs_hello(checks, exe, tmp, {"LD_LIBRARY_PATH": libdir})


def case_static(args, checks, tmp):
    prefix, libdir = staged_install(args.build_dir, tmp)
    flags = pkg_config(prefix, libdir, "--static", "--cflags", "--libs")
    checks.check("pkg-config --static names no file by path", all(re.match(r"^(-I|-L|-l|-pthread$)", f) for f in flags),
                 " ".join(flags))
    exe = os.path.join(tmp, "hello-static")
    r = run([os.environ.get("CXX", "c++"), "-std=c++20", "-static", os.path.join(CONSUMER, "hello.cpp"), "-o", exe,
             *flags])
    if checks.check("a fully static program links with pkg-config --static", r.returncode == 0):
        headers = run(["readelf", "-l", exe]).stdout
        checks.check("...and is static (no program interpreter, no shared library)", "INTERP" not in headers and
                     "DYNAMIC" not in headers)
        runs_hello(checks, exe, tmp)


def case_cmake(args, checks, tmp):
    prefix, _ = staged_install(args.build_dir, tmp)
    build = os.path.join(tmp, "cmake-build")
    wanted = ".".join(args.version.split(".")[:2])
    r = run(["cmake", "-S", CONSUMER, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCOURING_WANTED={wanted}"])
    if not checks.check(f"find_package(couring {wanted}) finds the staged install", r.returncode == 0):
        return
    r = run(["cmake", "--build", build])
    if checks.check("a program builds against couring::couring", r.returncode == 0):
        runs_hello(checks, os.path.join(build, "hello"), tmp)
    newer = f"{args.version.split('.')[0]}.{int(args.version.split('.')[1]) + 1}"
    r = run(["cmake", "-S", CONSUMER, "-B", os.path.join(tmp, "cmake-newer"), f"-DCMAKE_PREFIX_PATH={prefix}",
             f"-DCOURING_WANTED={newer}"])
    checks.check(f"find_package(couring {newer}) refuses {args.version} (another ABI)", r.returncode != 0)


def case_subproject(args, checks, tmp):
    project = os.path.join(tmp, "consumer")
    shutil.copytree(CONSUMER, project)
    source = os.path.realpath(args.source_dir)
    shutil.copytree(source, os.path.join(project, "subprojects", "couring"), symlinks=True,
                    ignore=lambda d, names: [n for n in names if n == ".git" or (d == source and n.startswith("build"))])
    build = os.path.join(project, "build")
    r = run(["meson", "setup", build, project, "--force-fallback-for=couring", "-Dcouring:fibers=disabled"])
    if not checks.check("meson setup with couring as a subproject", r.returncode == 0):
        return
    names = {t["name"] for t in json.loads(run(["meson", "introspect", build, "--targets"]).stdout)}
    extras = sorted(n for n in names if n.startswith(("core-", "fiber-", "couring-echo", "nop", "test_support")))
    checks.check("...configures the library alone: no tests, benchmarks or samples",
                 "couring" in names and not extras, f"targets: {sorted(names)}")
    r = run(["ninja", "-C", build])
    if not checks.check("...and builds", r.returncode == 0):
        return
    commands = open(os.path.join(build, "compile_commands.json")).read()
    checks.check("couring's own files are not built with -Werror", "-Werror" not in commands)
    pc = open(os.path.join(build, "meson-private", "couring.pc")).read()
    checks.check("without fibers its pkg-config file says nothing of Boost", "boost" not in pc.lower(), pc)
    runs_hello(checks, os.path.join(build, "hello"), tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["pkg-config", "static", "cmake", "subproject"])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--version", required=True)
    args = ap.parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="couring-consumer-") as tmp:
        try:
            globals()["case_" + args.case.replace("-", "_")](args, checks, tmp)
        except Exception as e:  # still print the summary, counted as one failed check
            checks.check(f"unexpected: {e!r}", False)
    print(f"couring-test-summary: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
