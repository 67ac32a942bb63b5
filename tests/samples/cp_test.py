"""couring-cp on a 200 MiB file (sparse, with random data scattered through it) and on a tree,
checked with cmp and diff -r; modes preserved; the progress bar only on a terminal."""
import os
import pty
import resource
import signal
import stat
import subprocess
import time
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


def same_file_refused(args, checks, tmp):
    """GNU cp refuses to copy a file onto itself, however it is named; copying it would truncate
    the source first and then copy the zeros back."""
    d = os.path.join(tmp, "same")
    os.makedirs(os.path.join(d, "tree", "inner"))
    data = os.urandom(100000)
    a = os.path.join(d, "a")
    with open(a, "wb") as f:
        f.write(data)
    os.link(a, os.path.join(d, "hardlink"))
    os.symlink("a", os.path.join(d, "symlink"))
    for name, src, dst in [("onto itself", a, a), ("onto a hard link of itself", a, os.path.join(d, "hardlink")),
                           ("into its own directory", a, d + "/"), ("onto a symlink to itself", a, os.path.join(d, "symlink")),
                           ("through a symlink onto its target", os.path.join(d, "symlink"), a)]:
        r = harness.run_sample(args, "couring-cp", src, dst)
        with open(a, "rb") as f:
            intact = f.read() == data
        checks.check(f"cp {name}: exit 1, 'are the same file', the source intact",
                     r.returncode == 1 and "are the same file" in r.stderr and intact, (r.returncode, r.stderr))
    tree = os.path.join(d, "tree")
    with open(os.path.join(tree, "f"), "wb") as f:
        f.write(b"x" * 5000)
    for name, dst in [("into a subdirectory of itself", os.path.join(tree, "inner")),
                      ("onto a new name inside itself", os.path.join(tree, "inner", "copy")),
                      ("into itself", tree)]:
        before = sorted(os.walk(tree))
        try:
            r = harness.run_sample(args, "couring-cp", "-r", tree, dst, timeout=20)
            ok, detail = r.returncode == 1 and "into itself" in r.stderr, (r.returncode, r.stderr[-300:])
        except subprocess.TimeoutExpired:
            ok, detail = False, "still copying after 20 s"
        checks.check(f"cp -r a tree {name}: exit 1, 'into itself', nothing created",
                     ok and sorted(os.walk(tree)) == before, detail)
        if not ok:
            subprocess.run(["rm", "-rf", tree + "/inner"])
            os.makedirs(tree + "/inner")


def leftovers(d):
    return [n for n in os.listdir(d) if n.startswith(".couring-cp")]


def failed_copy_leaves_nothing(args, checks, tmp):
    """A copy that fails or is interrupted leaves the destination as it was (never truncated, never
    a full-size file with a zero-filled tail) and no temporary file behind."""
    d = os.path.join(tmp, "fail")
    os.mkdir(d)
    src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
    with open(src, "wb") as f:
        f.write(os.urandom(int(64 * (1 << 20) * harness.scale()) + 4096))
    precious = b"the user's data, which a failed copy must not destroy\n"
    with open(dst, "wb") as f:
        f.write(precious)

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    def limit_file_size():  # in the child: writes past 1 MiB fail with EFBIG instead of a signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    r = harness.run_sample(args, "couring-cp", src, dst, preexec_fn=limit_file_size)
    checks.check("a copy that fails (file size limit): exit 1, says why", r.returncode == 1 and "too large" in r.stderr,
                 (r.returncode, r.stderr))
    checks.check("...the existing destination is untouched, no temporary file left",
                 read(dst) == precious and leftovers(d) == [], (read(dst)[:60], leftovers(d)))

    # Interrupted: stopped as soon as its output appears, then SIGINT, so it is certainly mid-copy.
    with open(dst, "wb") as f:
        f.write(precious)
    p = subprocess.Popen([os.path.join(args.bin_dir, "couring-cp"), "--backend", args.backend, "--chunk", "4",
                          "--in-flight", "1", src, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while p.poll() is None and time.monotonic() < deadline and not leftovers(d) and os.path.getsize(dst) == len(precious):
        time.sleep(0.001)
    caught_mid_copy = p.poll() is None
    p.send_signal(signal.SIGSTOP)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=30)
    if p.returncode == harness.UNAVAILABLE:
        raise harness.Skip(f"couring-cp: backend {args.backend} unavailable")
    checks.check("SIGINT mid-copy: exit 130", caught_mid_copy and p.returncode == 130, (p.returncode, err))
    checks.check("...the existing destination is untouched, no temporary file left",
                 read(dst) == precious and leftovers(d) == [], (len(read(dst)), leftovers(d)))

    r = harness.run_sample(args, "couring-cp", src, dst)
    checks.check("then a copy that completes replaces it", r.returncode == 0 and same(src, dst) and leftovers(d) == [],
                 r.stderr)
    os.symlink("dst", os.path.join(d, "link"))
    os.symlink("nowhere", os.path.join(d, "dangling"))
    with open(src, "wb") as f:
        f.write(b"new")
    r = harness.run_sample(args, "couring-cp", src, os.path.join(d, "link"))
    checks.check("onto a symlink: writes through it, the link stays a link",
                 r.returncode == 0 and read(dst) == b"new" and os.path.islink(os.path.join(d, "link")), r.stderr)
    r = harness.run_sample(args, "couring-cp", src, os.path.join(d, "dangling"))
    checks.check("onto a dangling symlink: refused, as GNU cp does",
                 r.returncode == 1 and "dangling" in r.stderr and os.path.islink(os.path.join(d, "dangling")), r.stderr)


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
    same_file_refused(args, checks, tmp)
    failed_copy_leaves_nothing(args, checks, tmp)

    harness.usage_errors(checks, args, "couring-cp", [[], ["only-one"], ["a", "b", "c"], ["--in-flight", "0", "a", "b"],
                                                      ["--chunk", "x", "a", "b"], ["--bogus", "a", "b"]])


harness.main(body)
