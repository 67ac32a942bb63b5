"""couring-kv driven by redis-cli, redis-benchmark and raw sockets: the RESP2 commands, inline and
multibulk, pipelining, commands split across reads, protocol errors, bulk limits, keys spread
over 2 shards, no fd leak, SIGTERM exit 0."""
import re
import time
import harness


def cli(port, *argv):
    r = harness.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *argv], timeout=10)
    return r.stdout.rstrip("\n")


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_replies(s, n, timeout=5):
    """Reads n complete RESP replies (of the kinds couring-kv sends) and returns them raw."""
    s.settimeout(timeout)
    buf, replies = b"", []

    def one(at):
        end = buf.index(b"\r\n", at)
        kind, line = buf[at:at + 1], buf[at + 1:end]
        at = end + 2
        if kind == b"$" and int(line) >= 0:
            at += int(line) + 2
            if at > len(buf):
                raise ValueError
        elif kind == b"*":
            for _ in range(int(line)):
                at = one(at)
        return at

    at = 0
    while len(replies) < n:
        try:
            nxt = one(at)
            replies.append(buf[at:nxt])
            at = nxt
        except (ValueError, IndexError):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return replies


def body(args, checks, tmp):
    light = harness.scale() < 1
    with harness.Server(args, "couring-kv", tmp=tmp) as srv:
        p = srv.port
        idle_fds = srv.fd_count()
        harness.busy_port_refused(checks, args, "couring-kv", p)
        # ---- redis-cli round trips ------------------------------------------------------------------
        checks.equal("redis-cli PING", cli(p, "PING"), "PONG")
        checks.equal("redis-cli PING msg", cli(p, "PING", "hi there"), "hi there")
        checks.equal("redis-cli ECHO", cli(p, "ECHO", "échø"), "échø")
        checks.equal("redis-cli SET", cli(p, "SET", "greeting", "hello world"), "OK")
        checks.equal("redis-cli GET", cli(p, "GET", "greeting"), "hello world")
        checks.equal("redis-cli GET missing: nil", cli(p, "GET", "nope"), "")
        checks.equal("redis-cli EXISTS", cli(p, "EXISTS", "greeting", "nope", "greeting"), "2")
        checks.equal("redis-cli INCR new key", cli(p, "INCR", "counter"), "1")
        checks.equal("redis-cli INCR again", cli(p, "INCR", "counter"), "2")
        checks.equal("redis-cli INCRBY", cli(p, "INCRBY", "counter", "40"), "42")
        checks.equal("redis-cli DECR", cli(p, "DECR", "counter"), "41")
        checks.check("redis-cli INCR on a string: error", cli(p, "INCR", "greeting").startswith("ERR value is not an integer"))
        checks.equal("redis-cli TTL without expiry: -1", cli(p, "TTL", "greeting"), "-1")
        checks.equal("redis-cli TTL missing: -2", cli(p, "TTL", "nope"), "-2")
        checks.equal("redis-cli EXPIRE", cli(p, "EXPIRE", "greeting", "100"), "1")
        checks.check("redis-cli TTL after EXPIRE 100", cli(p, "TTL", "greeting") in ("99", "100"))
        checks.equal("redis-cli SET EX", cli(p, "SET", "ex", "v", "EX", "50"), "OK")
        checks.check("redis-cli TTL of SET EX 50", cli(p, "TTL", "ex") in ("49", "50"))
        checks.equal("redis-cli SET PX 150", cli(p, "SET", "px", "v", "PX", "150"), "OK")
        checks.equal("SET PX: there at once", cli(p, "GET", "px"), "v")
        time.sleep(0.3)
        checks.equal("SET PX: gone after 300 ms", cli(p, "GET", "px"), "")
        checks.equal("SET NX on an existing key: nil", cli(p, "SET", "ex", "w", "NX"), "")
        checks.equal("SET XX on a missing key: nil", cli(p, "SET", "zz", "w", "XX"), "")
        checks.check("SET EX 0: invalid expire time", cli(p, "SET", "k", "v", "EX", "0").startswith("ERR invalid expire"))
        checks.check("SET with junk option: syntax error", cli(p, "SET", "k", "v", "FOO") == "ERR syntax error")
        checks.equal("redis-cli DBSIZE", cli(p, "DBSIZE"), "3")
        checks.equal("redis-cli DEL", cli(p, "DEL", "greeting", "nope", "counter"), "2")
        checks.equal("redis-cli DBSIZE after DEL", cli(p, "DBSIZE"), "1")
        checks.equal("redis-cli CONFIG GET save: empty array", cli(p, "CONFIG", "GET", "save"), "")
        checks.check("redis-cli COMMAND COUNT", cli(p, "COMMAND", "COUNT").isdigit())
        checks.check("unknown command: ERR", cli(p, "FROBNICATE", "x").startswith("ERR unknown command"))
        checks.check("wrong arity: ERR", cli(p, "GET").startswith("ERR wrong number of arguments for 'get'"))
        checks.equal("redis-cli FLUSHALL", cli(p, "FLUSHALL"), "OK")
        checks.equal("redis-cli DBSIZE after FLUSHALL", cli(p, "DBSIZE"), "0")

        # ---- raw protocol ------------------------------------------------------------------------------
        with harness.connect(p) as s:
            s.sendall(b"PING\r\nSET inline value\r\nGET inline\r\n")
            checks.equal("inline commands, pipelined", read_replies(s, 3), [b"+PONG\r\n", b"+OK\r\n", b"$5\r\nvalue\r\n"])
            s.sendall(resp("SET", "bin", b"a\r\nb\x00c") + resp("GET", "bin") + resp("INCR", "n") + resp("INCR", "n"))
            checks.equal("multibulk with binary data, 4 pipelined",
                         read_replies(s, 4), [b"+OK\r\n", b"$6\r\na\r\nb\x00c\r\n", b":1\r\n", b":2\r\n"])
            whole = resp("SET", "split", "x" * 3000) + resp("GET", "split")
            for i in range(0, len(whole), 7):  # every command split across many reads
                s.sendall(whole[i:i + 7])
                if i % 700 == 0:
                    time.sleep(0.01)
            checks.equal("commands split across reads", read_replies(s, 2), [b"+OK\r\n", b"$3000\r\n" + b"x" * 3000 + b"\r\n"])
            s.sendall(resp("NOSUCH") + resp("GET") + resp("PING"))
            got = read_replies(s, 3)
            checks.check("errors that keep the connection working",
                         len(got) == 3 and got[0].startswith(b"-ERR unknown command") and
                         got[1].startswith(b"-ERR wrong number") and got[2] == b"+PONG\r\n", got)
            big = 1000 * (2 if light else 20)
            s.sendall(b"".join(resp("SET", f"k{i}", i) for i in range(big)) + resp("DBSIZE"))
            got = read_replies(s, big + 1, timeout=20)
            checks.check(f"{big} pipelined SETs, then DBSIZE", len(got) == big + 1 and got[-1] == b":%d\r\n" % (big + 4), got[-1:])
            s.sendall(resp("QUIT"))
            checks.check("QUIT: +OK and closed", read_replies(s, 1) == [b"+OK\r\n"] and s.recv(10) == b"")

        for name, raw, want in [
            ("bad multibulk count", b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length"),
            ("bad bulk length", b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length"),
            ("bulk over the limit (16 MiB)", b"*2\r\n$3\r\nSET\r\n$99999999999\r\n", b"-ERR Protocol error: invalid bulk length"),
            ("negative bulk length", b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length"),
            ("missing $", b"*1\r\n:3\r\n", b"-ERR Protocol error: expected '$', got ':'"),
            ("bulk not ended by CRLF", b"*1\r\n$4\r\nPINGxx", b"-ERR Protocol error: bulk string not terminated"),
            ("multibulk count over the limit", b"*99999999\r\n", b"-ERR Protocol error: invalid multibulk length"),
            ("inline line over 64 KiB", b"A" * (70 * 1024), b"-ERR Protocol error: too big inline request"),
        ]:
            with harness.connect(p) as s:
                s.sendall(raw)
                data = harness.recv_until_closed(s)
                checks.check(f"protocol error: {name}: -ERR, then closed", data.startswith(want), data[:80])
        checks.check("after the protocol errors: server alive", srv.alive() and cli(p, "PING") == "PONG")
        checks.equal("no fd leaked after the raw clients", srv.settled_fd_count(idle_fds), idle_fds)

        # ---- redis-benchmark -------------------------------------------------------------------------
        n = str(5000 if light else 20000)
        r = harness.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(p), "-t", "ping,set,get", "-n", n, "-P", "16",
                         "-q"], timeout=60)
        rates = re.findall(r"(PING_INLINE|PING_MBULK|SET|GET): ([\d.]+) requests per second", r.stdout)
        checks.check(f"redis-benchmark -t ping,set,get -n {n} -P 16: every test ran, no errors",
                     r.returncode == 0 and {t for t, _ in rates} == {"PING_INLINE", "PING_MBULK", "SET", "GET"} and
                     all(float(v) > 0 for _, v in rates) and "rror" not in r.stdout + r.stderr, r.stdout + r.stderr)
        r = harness.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(p), "-t", "incr", "-n", str(int(n) // 4),
                         "-q"], timeout=60)
        checks.check("redis-benchmark -t incr (no pipelining)", r.returncode == 0 and "INCR:" in r.stdout and
                     "rror" not in r.stdout + r.stderr, r.stdout + r.stderr)
        checks.equal("no fd leaked after redis-benchmark", srv.settled_fd_count(idle_fds), idle_fds)
        checks.equal("SIGTERM: couring-kv exits 0", srv.stop(), 0)

    with harness.Server(args, "couring-kv", "--shards", "2", "--max-bulk", "1024", tmp=tmp) as srv:
        p = srv.port
        keys = 400
        with harness.connect(p) as s:
            s.sendall(b"".join(resp("SET", f"key:{i}", f"value:{i}") for i in range(keys)))
            read_replies(s, keys)
            s.sendall(b"".join(resp("GET", f"key:{i}") for i in range(keys)) + resp("DBSIZE") +
                      resp("DEL", *[f"key:{i}" for i in range(0, keys, 2)]) + resp("DBSIZE"))
            got = read_replies(s, keys + 3)
            want = [b"$%d\r\nvalue:%d\r\n" % (len(f"value:{i}"), i) for i in range(keys)]
            checks.check("2 shards: 400 keys spread over both, every GET right",
                         got[:keys] == want, [g for g, w in zip(got, want) if g != w][:3])
            checks.equal("2 shards: DBSIZE sums the shards; DEL of keys on both",
                         got[keys:], [b":%d\r\n" % keys, b":%d\r\n" % (keys // 2), b":%d\r\n" % (keys // 2)])
            s.sendall(resp("SET", "k", "x" * 2000))
            data = harness.recv_until_closed(s)
            checks.check("--max-bulk 1024: a 2000-byte value is a protocol error", data.startswith(
                b"-ERR Protocol error: invalid bulk length"), data[:60])
        with harness.connect(p) as s:
            arg = b"$1000\r\n" + b"a" * 1000 + b"\r\n"
            try:  # 1.1 MB of small arguments in one command: over 2 * --max-bulk + 1 MiB in total (--max-query-buffer)
                s.sendall(b"*3000\r\n" + arg * 1100)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = harness.recv_until_closed(s)
            checks.check("a command of many small arguments over the total limit: -ERR, closed",
                         data.startswith(b"-ERR Protocol error: command too large"), data[:60])
        r = harness.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(p), "-t", "set,get", "-n",
                         str(2000 if light else 10000), "-P", "16", "-q"], timeout=60)
        checks.check("2 shards: redis-benchmark set,get", r.returncode == 0 and "GET:" in r.stdout and
                     "rror" not in r.stdout + r.stderr, r.stdout + r.stderr)
        checks.equal("2 shards: SIGTERM exits 0", srv.stop(), 0)

    harness.usage_errors(checks, args, "couring-kv", [["--port", "x"], ["--max-bulk", "0"], ["extra"]])


if __name__ == "__main__":  # kv_limits_test imports the helpers above
    harness.main(body)
