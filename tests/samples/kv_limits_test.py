"""couring-kv against what a demanding user tries: numbers at the edge of 64 bits, more clients
than allowed, clients that idle or stream huge commands, a million keys with a time to live, and
a command of a million arguments trickling in."""
import os
import socket
import subprocess
import threading
import time

import harness
from kv_test import cli, read_replies, resp

INT64_MIN = -(1 << 63)


def overflow(args, checks, tmp):
    """Redis answers an error where the arithmetic would leave 64 bits, and leaves the key alone."""
    with harness.Server(args, "couring-kv", tmp=tmp) as srv:
        p = srv.port
        for argv, want in [(["EXPIRE", "k", "9223372036854775"], "ERR invalid expire time in 'expire' command"),
                           (["EXPIRE", "k", str(INT64_MIN)], "ERR invalid expire time in 'expire' command"),
                           (["PEXPIRE", "k", "9223372036854775807"], "ERR invalid expire time in 'pexpire' command"),
                           (["SET", "k", "v", "EX", "9223372036854775"], "ERR invalid expire time in 'set' command"),
                           (["SET", "k", "v", "PX", "9223372036854775807"], "ERR invalid expire time in 'set' command")]:
            cli(p, "SET", "k", "v")
            checks.equal(f"{' '.join(argv)}: an error", cli(p, *argv), want)
            checks.check("...and the key is still there, without a time to live",
                         cli(p, "GET", "k") == "v" and cli(p, "TTL", "k") == "-1", cli(p, "TTL", "k"))
        checks.equal("EXPIRE with a negative time still deletes the key (as Redis)", cli(p, "EXPIRE", "k", "-5"), "1")
        checks.equal("...gone", cli(p, "EXISTS", "k"), "0")
        cli(p, "SET", "n", "5")
        checks.equal("DECRBY n -9223372036854775808: an error", cli(p, "DECRBY", "n", str(INT64_MIN)),
                     "ERR decrement would overflow")
        checks.equal("...n unchanged", cli(p, "GET", "n"), "5")
        cli(p, "SET", "n", str(INT64_MIN + 1))
        checks.equal("DECR to the smallest 64-bit integer", cli(p, "DECR", "n"), str(INT64_MIN))
        checks.check("one more DECR: an error, not a wrap", cli(p, "DECR", "n").startswith("ERR increment or decrement"))
        checks.equal("...n unchanged", cli(p, "GET", "n"), str(INT64_MIN))
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def clients_and_idling(args, checks, tmp):
    """--max-clients (Redis's maxclients) and --timeout (Redis's timeout)."""
    with harness.Server(args, "couring-kv", "--max-clients", "4", "--timeout", "1", tmp=tmp) as srv:
        idle_fds = srv.fd_count()
        held = [harness.connect(srv.port) for _ in range(4)]
        for s in held:  # each is accepted and counted before the fifth comes
            s.sendall(resp("PING"))
            read_replies(s, 1)
        with harness.connect(srv.port) as s:
            data = harness.recv_until_closed(s)
            checks.equal("a fifth client over --max-clients 4: the Redis error, then closed", data,
                         b"-ERR max number of clients reached\r\n")
        for s in held:
            s.close()
        deadline, answer = time.monotonic() + 5, ""
        while answer != "PONG" and time.monotonic() < deadline:  # the server sees the closes asynchronously
            answer = cli(srv.port, "PING")
        checks.equal("below the limit again: served", answer, "PONG")

        with harness.connect(srv.port, timeout=10) as idle, harness.connect(srv.port) as busy:
            t0 = time.monotonic()
            for _ in range(8):  # 2 s of a PING every 0.25 s: never idle for a whole second
                busy.sendall(resp("PING"))
                read_replies(busy, 1)
                time.sleep(0.25)
            closed_after = time.monotonic() - t0 if harness.recv_until_closed(idle) == b"" else None
            checks.check("--timeout 1: an idle client is closed after about a second, without a word",
                         closed_after is not None and closed_after < 5, closed_after)
            busy.sendall(resp("PING"))
            checks.equal("...a client that keeps talking is not", read_replies(busy, 1), [b"+PONG\r\n"])
        checks.equal("no fd leaked", srv.settled_fd_count(idle_fds), idle_fds)
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def query_memory(args, checks, tmp):
    """Commands being received are held in memory until complete. One client may hold
    --max-query-buffer of them (Redis's client-query-buffer-limit), all clients together
    --max-query-memory: beyond it a client is answered an error and closed, so that twenty
    clients streaming huge values cannot take the machine's memory."""
    mib = 1 << 20
    budget = 64 * mib
    # Under ASan, freed memory waits in a quarantine (256 MiB by default) and would count here.
    asan = os.environ.get("ASAN_OPTIONS", "")
    with harness.Server(args, "couring-kv", "--max-bulk", str(4 * mib), "--max-query-memory", str(budget),
                        tmp=tmp, env={"ASAN_OPTIONS": asan + (":" if asan else "") + "quarantine_size_mb=0"}) as srv:
        rss0 = srv.rss_bytes()
        almost = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s" % (4 * mib, b"k" * (4 * mib), 4 * mib, b"v" * (4 * mib - 10))

        def send(s):  # 8 MiB of a SET of two 4 MiB arguments, and not its end
            try:
                s.sendall(almost)
            except OSError:  # refused and closed while sending
                pass
        socks = [harness.connect(srv.port, timeout=10) for _ in range(20)]
        senders = [threading.Thread(target=send, args=(s,)) for s in socks]
        for t in senders:
            t.start()
        for t in senders:
            t.join(timeout=20)
        time.sleep(0.3)
        grown, refused = srv.rss_bytes() - rss0, 0
        for s in socks:
            s.settimeout(0.5)
            try:
                data = s.recv(200)
            except socket.timeout:
                data = None
            except ConnectionResetError:
                data = b"reset"
            refused += data is not None and data.startswith(b"-ERR")
        checks.check(f"20 clients with 8 MiB each under --max-query-memory 64 MiB: some refused with -ERR ({refused})",
                     refused >= 10)
        checks.check(f"...the server's memory grew by less than the limit plus 48 MiB, not by 160 (grew {grown / mib:.0f} MiB)",
                     grown < budget + 48 * mib)
        for s in socks:
            s.close()
        big = b"x" * (4 * mib - 100)
        deadline, answer = time.monotonic() + 5, None
        while answer != [b"+OK\r\n"] and time.monotonic() < deadline:  # the closes are seen asynchronously
            with harness.connect(srv.port) as s:
                s.sendall(resp("SET", "big", big))
                answer = read_replies(s, 1)
        checks.equal("once they are gone, their memory is free again: a new client's 4 MiB SET is taken", answer,
                     [b"+OK\r\n"])
        with harness.connect(srv.port) as s:
            answers = []
            for i in range(20):  # 80 MiB in all, over the 64 MiB limit: fine, one at a time
                s.sendall(resp("SET", f"big{i % 2}", big))
                answers += read_replies(s, 1)
        checks.equal("20 complete 4 MiB SETs in a row on one connection: each one's memory is given back",
                     answers, [b"+OK\r\n"] * 20)
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def expiry(args, checks, tmp):
    keys = int(1_000_000 * harness.scale())
    with harness.Server(args, "couring-kv", tmp=tmp) as srv:
        # A million keys with a time to live, loaded through redis-cli --pipe.
        load = tmp + "/load.resp"
        with open(load, "wb") as f:
            f.write(b"".join(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n$2\r\nEX\r\n$4\r\n1000\r\n" % (len(k), k)
                             for k in (b"key:%d" % i for i in range(keys))))
        with open(load, "rb") as f:
            r = subprocess.run(["redis-cli", "-p", str(srv.port), "--pipe"], stdin=f, capture_output=True, text=True,
                               timeout=120)
        checks.check(f"{keys} keys with EX 1000 through redis-cli --pipe", f"replies: {keys}" in r.stdout, r.stdout)
        checks.equal("DBSIZE", cli(srv.port, "DBSIZE"), str(keys))
        # Idle now: the expiry sweep samples keys (as Redis does) instead of scanning all of them.
        cpu0, t0 = srv.cpu_seconds(), time.monotonic()
        time.sleep(3)
        share = (srv.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        checks.check(f"idle with {keys} keys that expire later: under 3% of a CPU (used {share:.1%})", share < 0.03)
        cli(srv.port, "FLUSHALL")

        # Keys that expire are still reclaimed without being read.
        with harness.connect(srv.port) as s:
            s.sendall(b"".join(resp("SET", f"short:{i}", "v", "PX", "100") for i in range(5000)) +
                      b"".join(resp("SET", f"long:{i}", "v") for i in range(100)))
            read_replies(s, 5100)
        deadline, size = time.monotonic() + 5, None
        while size != "100" and time.monotonic() < deadline:
            time.sleep(0.2)
            size = cli(srv.port, "DBSIZE")
        checks.equal("5000 keys with PX 100, never read: reclaimed by the sweep (DBSIZE)", size, "100")

        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def parsing(args, checks, tmp):
    with harness.Server(args, "couring-kv", tmp=tmp) as srv:
        # A command of many arguments, arriving in pieces: parsed once, not again from its start on
        # every read (which costs time quadratic in its length).
        n = int(1_000_000 * harness.scale())
        command = b"*%d\r\n$4\r\nECHO\r\n" % (n + 1) + b"$1\r\nx\r\n" * n
        cpu0 = srv.cpu_seconds()
        with harness.connect(srv.port, timeout=60) as s:
            sender = threading.Thread(target=lambda: [s.sendall(command[i:i + 4096])
                                                      for i in range(0, len(command), 4096)])
            sender.start()
            got = read_replies(s, 1, timeout=60)
            sender.join()
        used = srv.cpu_seconds() - cpu0
        checks.check(f"ECHO with {n} arguments in 4 KiB writes: the arity error", got and got[0].startswith(
            b"-ERR wrong number of arguments for 'echo'"), got[:1])
        checks.check(f"...parsed in linear time: under 0.5 s of server CPU (used {used:.2f} s)", used < 0.5)
        checks.equal("SIGTERM: exit 0", srv.stop(), 0)


def body(args, checks, tmp):
    for part in [overflow, clients_and_idling, query_memory, expiry, parsing]:
        try:
            part(args, checks, tmp)
        except harness.Skip:
            raise
        except Exception as e:  # one part's surprise must not hide what the others find
            checks.check(f"{part.__name__} ran to its end", False, repr(e))
    harness.usage_errors(checks, args, "couring-kv", [["--max-clients", "0"], ["--timeout", "-1"],
                                                      ["--max-query-buffer", "10"], ["--max-query-memory", "x"]])



harness.main(body)
