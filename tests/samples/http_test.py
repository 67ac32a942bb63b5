"""couring-http driven by wrk, ab, curl and raw sockets: byte-exact bodies, the HTTP features the
sample claims, every hostile input answered with its status code (never a file outside the
root), slowloris, the connection limit, no fd leak, SIGTERM exit 0."""
import os
import re
import resource
import socket
import subprocess
import time
import harness


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())


class Reader:
    """Reads HTTP responses one after another off a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        self.buf += chunk

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only or status == 304 else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def closed(self):
        """True if the server closes the connection (EOF or reset) with nothing more to say."""
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def exchange(port, raw, head_only=False, host="127.0.0.1"):
    """Sends raw bytes, returns the first response's status (or 'closed' if none came)."""
    with harness.connect(port, host) as s:
        s.sendall(raw)
        try:
            return Reader(s).response(head_only).status
        except (EOFError, ConnectionResetError):
            return "closed"


def make_site(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(root, "noindex"))
    files = {
        "index.html": b"<html><body>couring-http test root</body></html>\n",
        "small.txt": b"hello, world\n",
        "empty.txt": b"",
        "big.bin": os.urandom(3 * 1024 * 1024 + 17),
        "sub/index.html": b"<p>sub</p>\n",
        "sub/style.css": b"body { color: red }\n",
        "sub/data.json": b'{"a": 1}\n',
        "name with space.txt": b"spaced\n",
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:
        f.write(b"SECRET: outside the root\n")
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "link_out"))
    os.symlink("../secret.txt", os.path.join(root, "relative_link_out"))
    os.symlink("/etc", os.path.join(root, "etc_link"))
    os.symlink("small.txt", os.path.join(root, "link_in"))
    os.mkfifo(os.path.join(root, "fifo"))
    os.makedirs(os.path.join(root, ".git"))
    os.makedirs(os.path.join(root, ".well-known"))
    for name, data in [(".env", b"PASSWORD=hunter2\n"), (".git/config", b"[core]\n"),
                       (".well-known/security.txt", b"Contact: mailto:security@example.com\n")]:
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return root, files


def curl(*argv):
    return subprocess.run(["curl", "-s", "--max-time", "10", *argv], capture_output=True, timeout=20)


def has_ubsan_vptr_check(binary):
    with open(binary, "rb") as f:
        return b"__ubsan_handle_dynamic_type_cache_miss" in f.read()


def descriptor_pressure(args, checks, tmp, root, files):
    """With the descriptor limit all but reached, a body that cannot be spliced (the pipe cannot
    be made) still arrives whole: never a 200 head followed by a cut body."""
    if has_ubsan_vptr_check(os.path.join(args.bin_dir, "couring-http")):
        # UBSan's vptr check tests whether a vtable is readable by writing it to a pipe: out of
        # descriptors, it reports the std::error_category of the EMFILE itself as "invalid vptr"
        # and stops the server. Nothing to learn there; the plain build runs this check.
        print("skip  descriptor pressure: not under UBSan's vptr check (it needs a pipe to check a vtable)")
        return
    with harness.Server(args, "couring-http", "--root", root, tmp=tmp) as srv:
        used = sorted(int(fd) for fd in os.listdir(f"/proc/{srv.proc.pid}/fd"))
        free = [n for n in range(used[-1] + 3) if n not in used][:2]
        limit = free[1] + 1  # room for exactly two more: the connection and the file
        hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (limit, hard))
        for name in ["big.bin", "small.txt"]:
            with harness.connect(srv.port, timeout=10) as s:
                s.sendall(f"GET /{name} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
                data = harness.recv_until_closed(s)
            head, _, body = data.partition(b"\r\n\r\n")
            whole = head.startswith(b"HTTP/1.1 200") and body == files[name]
            clean_refusal = head.startswith(b"HTTP/1.1 5") and b"200" not in head
            checks.check(f"one descriptor short of a pipe: GET /{name} is whole (or a clean 5xx before any head)",
                         whole or clean_refusal, (head[:40], len(body)))
        resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (hard, hard))
        checks.equal("...and the server goes on: a 3 MiB file afterwards", fetch_body(srv.port, "/big.bin"), files["big.bin"])
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def fetch_body(port, target):
    with harness.connect(port) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        try:
            return Reader(s).response().body
        except (EOFError, ConnectionResetError) as e:
            return repr(e)


def body(args, checks, tmp):
    root, files = make_site(tmp)
    light = harness.scale() < 1
    with harness.Server(args, "couring-http", "--root", root, "--header-timeout", "1", tmp=tmp) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        checks.check("startup line says what is served", root in srv.startup_line, srv.startup_line)
        idle_fds = srv.fd_count()
        harness.busy_port_refused(checks, args, "couring-http", srv.port, "--root", root)

        # ---- byte-exact bodies with curl --------------------------------------------------------
        for name in ["small.txt", "big.bin", "sub/style.css", "empty.txt"]:
            out = os.path.join(tmp, "out-" + name.replace("/", "_"))
            r = curl("-o", out, "-w", "%{http_code}", f"{base}/{name}")
            same = subprocess.run(["cmp", out, os.path.join(root, name)]).returncode == 0
            checks.check(f"curl GET /{name}: 200 and cmp-identical", r.stdout == b"200" and same, r.stdout)
        r = curl("-g", f"http://[::1]:{srv.port}/big.bin")
        checks.check("curl over IPv6: big.bin identical", r.stdout == files["big.bin"], len(r.stdout))
        r = curl("--http1.0", f"{base}/small.txt")
        checks.equal("curl --http1.0 GET", r.stdout, files["small.txt"])
        r = curl(f"{base}/")
        checks.equal("GET / serves index.html", r.stdout, files["index.html"])
        r = curl(f"{base}/sub/")
        checks.equal("GET /sub/ serves sub/index.html", r.stdout, files["sub/index.html"])
        r = curl(f"{base}/name%20with%20space.txt")
        checks.equal("percent-decoded name", r.stdout, files["name with space.txt"])
        r = curl(f"{base}/link_in")
        checks.equal("a symlink inside the root is served", r.stdout, files["small.txt"])
        r = curl(f"{base}/small.txt?query=1#frag")
        checks.equal("query string ignored", r.stdout, files["small.txt"])

        # ---- heads, types, conditionals, ranges ---------------------------------------------------
        with harness.connect(srv.port) as s:
            rd = Reader(s)
            def ask(raw, head_only=False):
                s.sendall(raw)
                return rd.response(head_only)
            r = ask(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", head_only=True)
            checks.check("HEAD: Content-Length, no body", r.status == 200 and r.header("content-length") ==
                         str(len(files["big.bin"])) and r.body == b"", r.headers)
            for path, ctype in [("/small.txt", "text/plain"), ("/sub/style.css", "text/css"),
                                ("/sub/data.json", "application/json"), ("/", "text/html"),
                                ("/big.bin", "application/octet-stream")]:
                r = ask(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), head_only=True)
                checks.check(f"Content-Type of {path} is {ctype}", (r.header("content-type") or "").startswith(ctype),
                             r.header("content-type"))
            r = ask(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            last_modified = r.header("last-modified")
            checks.check("Last-Modified and Date present", last_modified and r.header("date"), r.headers)
            r = ask(f"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {last_modified}\r\n\r\n".encode())
            checks.check("If-Modified-Since equal: 304 with no body", r.status == 304 and r.body == b"", r.status)
            r = ask(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n\r\n")
            checks.equal("If-Modified-Since older: 200", r.status, 200)
            r = ask(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: yesterday\r\n\r\n")
            checks.equal("If-Modified-Since unparseable: ignored, 200", r.status, 200)
            # RFC 9110 5.6.7: a recipient must also understand the two obsolete formats.
            for label, later, earlier in [("RFC 850", "Friday, 31-Dec-49 23:59:59 GMT", "Thursday, 01-Jan-98 00:00:00 GMT"),
                                          ("asctime", "Fri Dec 31 23:59:59 2049", "Thu Jan  1 00:00:00 1998")]:
                r = ask(f"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {later}\r\n\r\n".encode())
                checks.equal(f"If-Modified-Since in the {label} format, later than the file: 304", r.status, 304)
                r = ask(f"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {earlier}\r\n\r\n".encode())
                checks.equal(f"If-Modified-Since in the {label} format, earlier: 200", r.status, 200)
            big = files["big.bin"]
            r = ask(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-1999999\r\n\r\n")
            checks.check("Range a-b: 206, exact bytes, Content-Range",
                         r.status == 206 and r.body == big[1000:2000000] and
                         r.header("content-range") == f"bytes 1000-1999999/{len(big)}", (r.status, r.headers))
            r = ask(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-100\r\n\r\n")
            checks.check("Range suffix -100: the last 100 bytes", r.status == 206 and r.body == big[-100:], r.status)
            r = ask(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=3000000-\r\n\r\n")
            checks.check("Range open-ended", r.status == 206 and r.body == big[3000000:], r.status)
            r = ask(f"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes={len(big)}-\r\n\r\n".encode())
            checks.check("Range past the end: 416 with Content-Range */size",
                         r.status == 416 and r.header("content-range") == f"bytes */{len(big)}", (r.status, r.headers))
            r = ask(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n")
            checks.check("several ranges: the whole file, 200", r.status == 200 and r.body == files["small.txt"], r.status)
            r = ask(b"GET /sub HTTP/1.1\r\nHost: t\r\n\r\n")
            checks.check("a directory without its slash: 301 to it", r.status == 301 and r.header("location") == "/sub/",
                         (r.status, r.headers))
            for target, want in [("//sub", "/sub/"), ("//sub?a=1&b=%2F", "/sub/?a=1&b=%2F"), ("/sub?x", "/sub/?x"),
                                 ("/./sub", "/sub/"), ("/%2F%2Fsub", "/sub/"), ("///sub#frag", "/sub/")]:
                r = ask(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                checks.check(f"GET {target}: 301 to {want}, a path on this server (never //host), query kept",
                             r.status == 301 and r.header("location") == want, (r.status, r.header("location")))
            r = ask(b"GET /.well-known/security.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            checks.check("/.well-known/ is served (RFC 8615), dotfiles or not", r.status == 200 and r.body.startswith(
                b"Contact:"), r.status)
            r = ask(b"GET /noindex/ HTTP/1.1\r\nHost: t\r\n\r\n")
            checks.equal("a directory without index.html: 404", r.status, 404)
            r = ask(b"GET /missing.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            checks.equal("a missing file: 404, connection kept", r.status, 404)
            r = ask(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            checks.equal("...and the same connection still answers", r.body, files["small.txt"])

        # ---- pipelining and connection handling ---------------------------------------------------
        with harness.connect(srv.port) as s:
            s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /sub/style.css HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\n"
                      b"Connection: close\r\n\r\n")
            rd = Reader(s)
            got = [rd.response(), rd.response(head_only=True), rd.response(), rd.response()]
            checks.check("4 pipelined requests in one write: 4 answers in order",
                         [g.status for g in got] == [200] * 4 and got[0].body == files["small.txt"] and
                         got[2].body == files["sub/style.css"] and got[3].body == files["index.html"],
                         [g.status for g in got])
            checks.check("Connection: close: closed after the answer", rd.closed())
        with harness.connect(srv.port) as s:
            s.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
            rd = Reader(s)
            r = rd.response()
            checks.check("HTTP/1.0 without keep-alive: answered, then closed", r.body == files["small.txt"] and rd.closed())
        with harness.connect(srv.port) as s:
            rd = Reader(s)
            s.sendall(b"GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r1 = rd.response()
            s.sendall(b"GET /small.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            r2 = rd.response()
            checks.check("HTTP/1.0 keep-alive: Connection: keep-alive, second request on the same socket",
                         (r1.header("connection") or "").lower() == "keep-alive" and r2.body == files["small.txt"],
                         r1.headers)
        with harness.connect(srv.port) as s:
            # Split in the middle of the request line and of a header.
            for part in [b"GE", b"T /small", b".txt HTTP/1.1\r\nHo", b"st: t\r\n", b"\r\n"]:
                s.sendall(part)
                time.sleep(0.02)
            checks.equal("a request split over 5 writes", Reader(s).response().body, files["small.txt"])

        # ---- hostile input: each status asserted, nothing from outside the root -------------------
        def get(target, version="HTTP/1.1"):
            return f"GET {target} {version}\r\nHost: t\r\n\r\n".encode()
        cases = [
            ("dot-dot traversal", get("/../secret.txt"), 403),
            ("nested dot-dot", get("/sub/../../secret.txt"), 403),
            ("encoded %2e%2e", get("/%2e%2e/secret.txt"), 403),
            ("encoded %2E%2E%2F", get("/%2E%2E%2Fsecret.txt"), 403),
            ("dot-dot that stays inside is still refused", get("/sub/../small.txt"), 403),
            ("absolute path /etc/passwd is beneath the root", get("/etc/passwd"), 404),
            ("double slash //etc/passwd", get("//etc/passwd"), 404),
            ("absolute-form target", get("http://t/etc/passwd"), 400),
            ("symlink to an absolute path outside", get("/link_out"), 403),
            ("relative symlink outside", get("/relative_link_out"), 403),
            ("through a symlink to /etc", get("/etc_link/passwd"), 403),
            ("a FIFO", get("/fifo"), 403),
            ("encoded NUL", get("/small.txt%00.html"), 400),
            ("bad escape", get("/%zz"), 400),
            ("truncated escape", get("/small.txt%4"), 400),
            ("garbage request line", b"GARBAGE\r\n\r\n", 400),
            ("four words in the request line", b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n", 400),
            ("HTTP/0.9 style", b"GET /\r\n\r\n", 400),
            ("lowercase version", b"GET / http/1.1\r\nHost: t\r\n\r\n", 400),
            ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", 400),
            ("header without a colon", b"GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400),
            ("space before the colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
            ("obsolete line folding", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
            ("two different Content-Lengths", b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("control character in the target", b"GET /a\x01b HTTP/1.1\r\nHost: t\r\n\r\n", 400),
            ("POST", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 405),
            ("DELETE", b"DELETE /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405),
            ("unknown method BREW", b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501),
            ("a 10 KiB header", b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 10240 + b"\r\n\r\n", 431),
            ("100 headers", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
            ("a head that never ends", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 2000, 431),
            ("two Host fields (RFC 9112 3.2)", b"GET / HTTP/1.1\r\nHost: t\r\nHost: evil\r\n\r\n", 400),
            ("two Host fields in HTTP/1.0", b"GET / HTTP/1.0\r\nHost: t\r\nhost: t\r\n\r\n", 400),
            ("a NUL in a field value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
            ("a bare CR in a field value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
            ("a bare CR in the Host", b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400),
            ("a control character in a field value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x07b\r\n\r\n", 400),
            ("a dotfile", get("/.env"), 404),
            ("a file in a dot directory", get("/.git/config"), 404),
            ("a dotfile, percent-encoded", get("/%2eenv"), 404),
            ("a dot directory with its index", get("/.git/"), 404),
        ]
        for name, raw, want in cases:
            checks.equal(f"hostile: {name} -> {want}", exchange(srv.port, raw), want)
        with harness.connect(srv.port) as s:
            s.sendall(get("/link_out"))
            data = Reader(s).response().body
            checks.check("no byte of the secret file ever comes back", b"SECRET" not in data)
        with harness.connect(srv.port) as s:
            s.sendall(os.urandom(4096))
            harness.recv_until_closed(s)
        checks.check("random binary input: server still alive", srv.alive())

        # ---- slow clients ----------------------------------------------------------------------------
        with harness.connect(srv.port, timeout=6) as s:
            t0 = time.monotonic()
            s.sendall(b"GET /small.txt HTTP/1.1\r\n")
            for _ in range(4):  # slowloris: a byte now and then, never the end of the head
                time.sleep(0.3)
                try:
                    s.sendall(b"X")
                except OSError:
                    break
            data = harness.recv_until_closed(s)
            checks.check("slowloris: 408 and closed after --header-timeout (1 s), not after the last byte",
                         data.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 5, data[:40])
        with harness.connect(srv.port, timeout=6) as s:
            checks.equal("an idle connection is closed after the timeout, without a word", harness.recv_until_closed(s), b"")

        checks.equal("no fd leaked after the hostile and slow clients", srv.settled_fd_count(idle_fds), idle_fds)

        # ---- real load generators -----------------------------------------------------------------
        duration = "1s" if light else "3s"
        r = harness.run(["wrk", "-t1", "-c32", "-d" + duration, f"{base}/index.html"], timeout=30)
        reqs = re.search(r"(\d+) requests in", r.stdout)
        checks.check("wrk -t1 -c32: requests completed, no socket errors, no non-2xx",
                     r.returncode == 0 and reqs and int(reqs.group(1)) > 0 and "Socket errors" not in r.stdout
                     and "Non-2xx" not in r.stdout, r.stdout)
        n = str(500 if light else 5000)
        r = harness.run(["ab", "-k", "-q", "-n", n, "-c", "16", f"{base}/small.txt"], timeout=60)
        checks.check(f"ab -k -n {n} -c 16: all complete, 0 failed, all kept alive",
                     r.returncode == 0 and f"Complete requests:      {n}" in r.stdout and
                     "Failed requests:        0" in r.stdout and f"Keep-Alive requests:    {n}" in r.stdout and
                     "Non-2xx" not in r.stdout, r.stdout + r.stderr)
        r = harness.run(["ab", "-q", "-n", str(int(n) // 5), "-c", "8", f"{base}/big.bin"], timeout=60)
        checks.check("ab without keep-alive on a 3 MiB file: 0 failed, every byte",
                     r.returncode == 0 and "Failed requests:        0" in r.stdout and
                     f"Document Length:        {len(files['big.bin'])} bytes" in r.stdout, r.stdout + r.stderr)
        checks.equal("no fd leaked after wrk and ab", srv.settled_fd_count(idle_fds), idle_fds)
        checks.equal("SIGTERM: couring-http exits 0", srv.stop(), 0)

    descriptor_pressure(args, checks, tmp, root, files)
    with harness.Server(args, "couring-http", "--root", root, "--dotfiles", tmp=tmp) as srv:
        checks.equal("--dotfiles: a dotfile is served", exchange(srv.port, b"GET /.env HTTP/1.1\r\nHost: t\r\n\r\n"), 200)
        checks.equal("--dotfiles: SIGTERM exits 0", srv.stop(), 0)

    # The connection limit, and a sharded server under load.
    with harness.Server(args, "couring-http", "--root", root, "--max-connections", "4", "--header-timeout", "5",
                        "--address", "127.0.0.1", tmp=tmp) as srv:
        held = [harness.connect(srv.port) for _ in range(4)]
        for s in held:  # proves each was accepted (and is counted) before the fifth comes
            s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            Reader(s).response()
        with harness.connect(srv.port) as s:
            data = harness.recv_until_closed(s)
            checks.check("over --max-connections: 503 and closed", data.startswith(b"HTTP/1.1 503"), data[:40])
        answers = []
        for _ in range(20):  # the request is sent before the server sees the connection: unread when it closes
            with harness.connect(srv.port) as s:
                s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
                try:
                    answers.append(harness.recv_until_closed(s, raise_reset=True)[:12])
                except ConnectionResetError:
                    answers.append("reset")
        checks.equal("turned away with a request already sent: the 503 every time, never a reset",
                     answers, [b"HTTP/1.1 503"] * 20)
        for s in held:
            s.close()
        status = None
        deadline = time.monotonic() + 5
        while status != 200 and time.monotonic() < deadline:  # the server sees the closes asynchronously
            status = exchange(srv.port, b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            time.sleep(0.05)
        checks.equal("below the limit again: served", status, 200)
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)

    with harness.Server(args, "couring-http", "--root", root, "--shards", "2", tmp=tmp) as srv:
        r = harness.run(["wrk", "-t1", "-c16", "-d1s", f"http://127.0.0.1:{srv.port}/small.txt"], timeout=30)
        checks.check("2 shards: wrk without errors", r.returncode == 0 and "Socket errors" not in r.stdout and
                     "Non-2xx" not in r.stdout, r.stdout)
        held = harness.connect(srv.port)
        held.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n")  # a request in progress at the signal
        time.sleep(0.1)
        checks.equal("2 shards, SIGTERM with a connection mid-request: exit 0", srv.stop(), 0)
        held.close()

    harness.usage_errors(checks, args, "couring-http", [[], ["--root"], ["--root", "/nonexistent-dir"],
                                                        ["--root", root, "--header-timeout", "0"],
                                                        ["--root", root, "--port", "-1"]])


harness.main(body)
