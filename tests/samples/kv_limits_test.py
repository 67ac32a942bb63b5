"""couring-kv against what a demanding user tries: numbers at the edge of 64 bits."""
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


def body(args, checks, tmp):
    for part in [overflow]:
        try:
            part(args, checks, tmp)
        except harness.Skip:
            raise
        except Exception as e:  # one part's surprise must not hide what the others find
            checks.check(f"{part.__name__} ran to its end", False, repr(e))


harness.main(body)
