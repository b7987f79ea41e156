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


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise Fail("%s not raised by %s" % (exc.__name__, getattr(fn, "__name__", fn)))


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
