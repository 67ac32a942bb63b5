"""couring-du against du on a generated tree: allocated blocks (du -s), apparent sizes
(du --apparent-size -s, du -sb), human units (du -sh); hard links counted once, symlinks not
followed, a wide directory and a deep one."""
import os
import harness


def make_tree(root):
    os.makedirs(root)
    deep = root
    for i in range(40):  # deeper than the walker's concurrency: parents wait for children
        deep = os.path.join(deep, f"d{i}")
    os.makedirs(deep)
    with open(os.path.join(deep, "bottom"), "wb") as f:
        f.write(b"x" * 5000)
    wide = os.path.join(root, "wide")
    os.makedirs(wide)
    for i in range(1500):
        with open(os.path.join(wide, f"f{i}"), "wb") as f:
            f.write(b"y" * (i * 37 % 9000))
    for i in range(60):  # many sibling directories: more than the walkers at once
        sub = os.path.join(root, "many", f"s{i}")
        os.makedirs(sub)
        with open(os.path.join(sub, "file"), "wb") as f:
            f.write(os.urandom(i * 1000))
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.truncate(50 * 1024 * 1024)
        f.seek(10 * 1024 * 1024)
        f.write(b"z" * 100000)
    with open(os.path.join(root, "linked"), "wb") as f:
        f.write(os.urandom(300000))
    os.link(os.path.join(root, "linked"), os.path.join(wide, "hardlink1"))
    os.link(os.path.join(root, "linked"), os.path.join(root, "many", "hardlink2"))
    os.symlink("/usr", os.path.join(root, "symlink_to_usr"))
    os.makedirs(os.path.join(root, "empty_dir"))


def body(args, checks, tmp):
    tree = os.path.join(tmp, "tree")
    make_tree(tree)
    for flags in [[], ["--apparent-size"], ["-b"], ["-h"], ["--apparent-size", "-h"]]:
        want = harness.run(["du", "-s", *flags, tree])
        got = harness.run_sample(args, "couring-du", *flags, tree)
        checks.check(f"couring-du {' '.join(flags)} matches du -s {' '.join(flags)}",
                     got.returncode == 0 and got.stdout == want.stdout, f"got {got.stdout!r}, du {want.stdout!r}, {got.stderr}")
    sub = [os.path.join(tree, "wide"), os.path.join(tree, "many"), os.path.join(tree, "linked")]
    want = harness.run(["du", "-s", *sub])
    got = harness.run_sample(args, "couring-du", *sub)
    checks.check("several paths, hard links counted once across them, a plain file",
                 got.returncode == 0 and got.stdout == want.stdout, f"got {got.stdout!r}, du {want.stdout!r}")
    got = harness.run_sample(args, "couring-du", tree)
    checks.check("the startup line goes to stderr, with the backend", f"backend {args.backend}" in got.stderr, got.stderr)
    got = harness.run_sample(args, "couring-du", os.path.join(tmp, "missing"))
    checks.check("a missing path: exit 1, says why", got.returncode == 1 and "No such file" in got.stderr, got.stderr)
    harness.usage_errors(checks, args, "couring-du", [[], ["--bogus", tree], ["-x", tree]])


harness.main(body)
