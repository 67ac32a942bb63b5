"""What the sample tests share: command-line arguments, counted checks, and running a sample
server the way a user would (start it, read its startup line for the port, stop it with SIGTERM).

Every check counts: the script ends with "couring-test-summary: N passed, M failed", which
scripts/count-tests adds to the suite's total. A sample that exits 69 (its forced backend cannot
run here) makes the whole script exit 77, meson's SKIP.

COURING_SAMPLES_SCALE (default 1) scales the loads down, e.g. 0.25 under the sanitizers."""
import argparse
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77
UNAVAILABLE = 69  # what a sample exits with when its forced backend cannot run here


class Skip(Exception):
    pass


def scale():
    return float(os.environ.get("COURING_SAMPLES_SCALE", "1"))


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bin-dir", required=True, help="where the sample programs are (build/samples)")
    p.add_argument("--backend", required=True, choices=["io_uring", "thread_pool", "auto"])
    return p.parse_args()


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))
        sys.stdout.flush()
        return ok

    def equal(self, name, got, want):
        return self.check(name, got == want, f"got {got!r}, want {want!r}")

    def finish(self):
        print(f"couring-test-summary: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def main(body):
    """Runs body(args, checks, tmpdir) and exits with the right code."""
    args = parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="couring-samples-") as tmp:
        try:
            body(args, checks, tmp)
        except Skip as e:
            print(f"SKIP: {e}")
            sys.exit(SKIP)
        except Exception:  # an unexpected failure still prints the summary, counted as one failed check
            traceback.print_exc()
            checks.check("the script ran to its end", False)
    sys.exit(checks.finish())


def run(argv, timeout=60, **kw):
    """Runs a program to completion; returns CompletedProcess with text output."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def run_sample(args, name, *extra, timeout=60, **kw):
    r = run([os.path.join(args.bin_dir, name), "--backend", args.backend, *extra], timeout=timeout, **kw)
    if r.returncode == UNAVAILABLE:
        raise Skip(f"{name}: backend {args.backend} unavailable: {r.stderr.strip()}")
    return r


STARTUP = re.compile(r"listening on (\S+):(\d+) \((\d+) shards?, backend (\w+)")


class Server:
    """A sample server: started with --port 0, its port read back from its startup line."""

    def __init__(self, args, name, *extra, tmp, env=None):
        self.name = name
        self.stderr_path = os.path.join(tmp, f"{name}-{time.monotonic_ns()}.stderr")
        self.stderr = open(self.stderr_path, "w")
        argv = [os.path.join(args.bin_dir, name), "--backend", args.backend, "--port", "0", *extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env={**os.environ, **env} if env else None)
        line = self._first_line(timeout=20)
        m = STARTUP.search(line)
        if not m:
            code = self.proc.poll()
            if code == UNAVAILABLE:
                raise Skip(f"{name}: backend {args.backend} unavailable: {self.stderr_text().strip()}")
            self.kill()
            raise RuntimeError(f"{name}: no startup line (got {line!r}, exit {code}, stderr {self.stderr_text()!r})")
        self.startup_line = line
        self.port = int(m.group(2))
        self.shards = int(m.group(3))
        self.backend = m.group(4)

    def _first_line(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in data and time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").split("\n")[0]

    def stderr_text(self):
        if not self.stderr.closed:
            self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        """User plus system CPU time the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def settled_fd_count(self, want, timeout=5.0):
        """Polls until the server's fd count is `want` (connections close asynchronously after
        the client's side has closed); returns the last count seen."""
        deadline = time.monotonic() + timeout
        n = self.fd_count()
        while n != want and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fd_count()
        return n

    def stop(self, timeout=10):
        """SIGTERM, then the exit status (None if it did not exit in time: then it is killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self.stderr.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.stderr.close()


def busy_port_refused(checks, args, name, port, *extra, label=""):
    """A second server on a port that another one listens on must fail at once (exit 1, saying
    why), not start and silently take a share of the first one's connections."""
    argv = [os.path.join(args.bin_dir, name), "--backend", args.backend, "--port", str(port), *extra]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        out = "still running after 5 s: " + out
    checks.check(f"{name}{label}: a second instance on a busy port exits 1, 'Address already in use'",
                 p.returncode == 1 and "Address already in use" in err, (p.returncode, out.strip(), err.strip()))


def connect(port, host="127.0.0.1", timeout=5.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_until_closed(s, limit=1 << 24, raise_reset=False):
    """Everything the peer sends until it closes (or the socket's timeout, or a reset: raised
    instead with raise_reset)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        if raise_reset:
            raise
    return data


def usage_errors(checks, args, name, bad_argvs):
    """A bad command line is a usage message on stderr and exit status 2."""
    for argv in bad_argvs:
        r = run([os.path.join(args.bin_dir, name), *argv], timeout=10)
        checks.check(f"{name} {' '.join(argv)!r}: usage error, exit 2",
                     r.returncode == 2 and "usage:" in r.stderr, f"exit {r.returncode}, stderr {r.stderr!r}")
