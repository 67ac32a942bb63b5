"""couring-cp on a 200 MiB file (sparse, with random data scattered through it) and on a tree,
checked with cmp and diff -r; modes preserved; the progress bar only on a terminal."""
import os
import pty
import stat
import subprocess
import harness


def make_big_file(path, size):
    """A sparse file with random blocks at scattered, unaligned offsets and an unaligned tail:
    every chunk boundary of the copy falls somewhere that a misplaced byte would show."""
    with open(path, "wb") as f:
        f.truncate(size)
        step = max(size // 23, 1)
        for k in range(23):
            off = k * step + (k * 4093) % step
            if off < size:
                f.seek(off)
                f.write(os.urandom(min(1 << 20, size - off)))
        f.seek(size - 777)
        f.write(os.urandom(777))
    os.chmod(path, 0o640)


def make_tree(root):
    os.makedirs(os.path.join(root, "a/b/c"))
    os.makedirs(os.path.join(root, "empty"))
    os.makedirs(os.path.join(root, "private"))
    sizes = [0, 1, 4095, 4096, 4097, 65536, (1 << 20) + 7, 3 * (1 << 20) + 1]
    n = 0
    for d in ["", "a", "a/b", "a/b/c", "private"]:
        for size in sizes:
            path = os.path.join(root, d, f"f{n}_{size}")
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            os.chmod(path, [0o644, 0o600, 0o755, 0o400][n % 4])
            n += 1
    os.symlink("a/b/c", os.path.join(root, "link_to_c"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling"))
    os.chmod(os.path.join(root, "private"), 0o700)
    os.chmod(os.path.join(root, "a/b"), 0o750)


def modes(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode) if not os.path.islink(p) else os.readlink(p)
    return out


def same(a, b):
    return subprocess.run(["cmp", a, b], capture_output=True).returncode == 0


def body(args, checks, tmp):
    size = int(200 * (1 << 20) * harness.scale()) + 12345
    src = os.path.join(tmp, "big.src")
    make_big_file(src, size)

    dst = os.path.join(tmp, "big.dst")
    r = harness.run_sample(args, "couring-cp", src, dst)
    checks.check(f"copy a {size >> 20} MiB file: exit 0", r.returncode == 0, r.stderr)
    checks.check("cmp: identical", same(src, dst))
    allocated = lambda path: os.stat(path).st_blocks * 512
    checks.check("the copy of a sparse file is as sparse (allocated bytes no more than the source's + 1 MiB)",
                 allocated(dst) <= allocated(src) + (1 << 20), (allocated(dst), allocated(src)))
    checks.equal("mode preserved (0640)", stat.S_IMODE(os.stat(dst).st_mode), 0o640)
    checks.check("final line: throughput and backend", "MiB/s" in r.stdout and f"backend {args.backend}" in r.stdout,
                 r.stdout)
    checks.check("no progress bar when stdout is not a terminal", "\r" not in r.stdout and "[#" not in r.stdout, r.stdout)
    os.unlink(dst)

    dst = os.path.join(tmp, "small-chunks.dst")
    r = harness.run_sample(args, "couring-cp", "--chunk", "4", "--in-flight", "64", "--fsync", src, dst)
    checks.check("4 KiB chunks, 64 in flight, --fsync: identical", r.returncode == 0 and same(src, dst), r.stderr)
    os.unlink(dst)

    # On a terminal: the bar is drawn.
    master, slave = pty.openpty()
    dst = os.path.join(tmp, "tty.dst")
    p = subprocess.Popen([os.path.join(args.bin_dir, "couring-cp"), "--backend", args.backend, src, dst],
                         stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    checks.check("on a terminal: a progress bar, then the final line",
                 p.returncode == 0 and b"\r[" in out and b"%" in out and b"copied" in out and same(src, dst), out[-200:])
    os.unlink(dst)
    os.unlink(src)

    # A tree.
    tree = os.path.join(tmp, "tree")
    make_tree(tree)
    copy = os.path.join(tmp, "copy")
    r = harness.run_sample(args, "couring-cp", "-r", tree, copy)
    checks.check("cp -r a tree: exit 0", r.returncode == 0, r.stderr)
    d = subprocess.run(["diff", "-r", "--no-dereference", tree, copy], capture_output=True, text=True)
    checks.check("diff -r: identical (files, directories, symlinks)", d.returncode == 0, d.stdout[:500])
    checks.equal("every mode preserved, every symlink target kept", modes(copy), modes(tree))

    into = os.path.join(tmp, "into")
    os.mkdir(into)
    r = harness.run_sample(args, "couring-cp", "-r", tree + "/", into)
    checks.check("cp -r into an existing directory lands under SRC's name",
                 r.returncode == 0 and os.path.isdir(os.path.join(into, "tree", "a", "b", "c")), r.stderr)
    r = harness.run_sample(args, "couring-cp", os.path.join(tree, "a", "f8_0"), into)
    checks.check("a file into a directory", r.returncode == 0 and os.path.isfile(os.path.join(into, "f8_0")), r.stderr)

    r = harness.run_sample(args, "couring-cp", tree, os.path.join(tmp, "nope"))
    checks.check("a directory without -r: exit 1, says why", r.returncode == 1 and "-r not specified" in r.stderr, r.stderr)
    r = harness.run_sample(args, "couring-cp", os.path.join(tmp, "missing"), os.path.join(tmp, "nope"))
    checks.check("a missing source: exit 1, says why", r.returncode == 1 and "No such file" in r.stderr, r.stderr)
    harness.usage_errors(checks, args, "couring-cp", [[], ["only-one"], ["a", "b", "c"], ["--in-flight", "0", "a", "b"],
                                                      ["--chunk", "x", "a", "b"], ["--bogus", "a", "b"]])


harness.main(body)
