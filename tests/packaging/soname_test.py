#!/usr/bin/env python3
"""The shared libraries carry the soname docs/versioning.md promises: while the major version is
0, major.minor (libcouring.so.0.1), so that a minor release, which may break the ABI, never
replaces the library an installed program was linked with."""
import re
import subprocess
import sys


def soname(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return m.group(1) if m else None


def main():
    version, libs = sys.argv[1], sys.argv[2:]
    major, minor = version.split(".")[:2]
    abi = f"0.{minor}" if major == "0" else major
    failed = 0
    for lib in libs:
        name = re.sub(r"\.so.*$", "", lib.rsplit("/", 1)[-1])
        want, got = f"{name}.so.{abi}", soname(lib)
        ok = got == want
        failed += not ok
        print(f"{'ok' if ok else 'FAILED'}: {lib}: soname {got}, expected {want} for version {version}")
    print(f"couring-test-summary: {len(libs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
