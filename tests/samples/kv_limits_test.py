"""couring-kv against what a demanding user tries: numbers at the edge of 64 bits, a million keys
with a time to live, and a command of a million arguments trickling in."""
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
    for part in [overflow, expiry, parsing]:
        try:
            part(args, checks, tmp)
        except harness.Skip:
            raise
        except Exception as e:  # one part's surprise must not hide what the others find
            checks.check(f"{part.__name__} ran to its end", False, repr(e))


harness.main(body)
