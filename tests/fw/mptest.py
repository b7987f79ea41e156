# Tiny test runner for firmware unit tests on the unix port (no unittest there).
# A test file defines test_* functions and ends with `mptest.main(globals())`.
import sys


class Fail(Exception):
    pass


def eq(a, b, msg=""):
    if a != b:
        raise Fail("%r != %r %s" % (a, b, msg))


def true(x, msg=""):
    if not x:
        raise Fail("not true: %s" % msg)


class ProtocolError(Exception):
    """Stands, in raises(), for the firmware's protocol faults: Errors with a code 2-6
    (errors.fault; no class in the firmware: a class costs RAM)."""


def _is(e, exc):
    if isinstance(exc, tuple):
        return any(_is(e, x) for x in exc)
    if exc is ProtocolError:
        return type(e).__name__ == "Error" and 2 <= e.code <= 6
    return isinstance(e, exc)


def kind(e):
    """The error's class name, or for a coded Error (errors.fault) the name the tests know
    it by: ProtocolError (2-6), Refused (9), PsamError (10)."""
    n = type(e).__name__
    if n != "Error":
        return n
    return "ProtocolError" if 2 <= e.code <= 6 else {9: "Refused", 10: "PsamError"}.get(
        e.code, n)


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except Exception as e:
        if _is(e, exc):
            return e
        raise
    raise Fail("%s not raised by %s" % (getattr(exc, "__name__", exc),
                                        getattr(fn, "__name__", fn)))


def main(g):
    only = sys.argv[1:]
    names = sorted(k for k in g if k.startswith("test_") and (not only or k in only))
    failed = 0
    for name in names:
        try:
            g[name]()
            print("ok", name)
        except Exception as e:  # report every failure, then go on
            failed += 1
            print("FAIL", name)
            sys.print_exception(e)
    print("fw: %d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)
