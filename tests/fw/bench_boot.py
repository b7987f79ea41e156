# Bench helper, not a test (padsim.bench_boot runs it): how long the pad's journal takes to
# open (Journal(defer=True) and Retry: what boot waits for) on the default 168-sector
# partition, new and with its ring full (every slot unsynced), and how long the audit and
# the retry index that run after boot take.  Medians of 7 openings, microseconds.
# usage: micropython bench_boot.py IMAGE_DIR
# prints "open new|full <records> <opening us> <audit us>"
import gc
import time

import jfix
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
import retry as R


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def measure(p, tag):
    o, a = [], []
    for _ in range(7):
        gc.collect()
        t = time.ticks_us()
        j = J.Journal(jfix.dev(p), defer=True)
        R.Retry(j, 3, 8)
        t1 = time.ticks_us()
        j.audit()
        t2 = time.ticks_us()
        o.append(time.ticks_diff(t1, t))
        a.append(time.ticks_diff(t2, t1))
        j = None
    print("open %s %d %d %d" % (tag, J.Journal(jfix.dev(p)).head, _median(o), _median(a)))


def main():
    p = jfix.image(168)
    try:
        J.Journal.format(jfix.dev(p), 1)
        measure(p, "new")
        j = J.Journal(jfix.dev(p))
        i = 0
        while j.fits(2):  # verifications of 5 cards, one in 3 wrong, as a pad never synced
            c = jfix.card(i % 5)
            j.append(J.PENDING, c, b"\x03\x03")
            j.append(J.PIN_WRONG if i % 3 else J.PIN_OK, c, b"\x02\x01" if i % 3 else b"")
            i += 1
        j = None
        measure(p, "full")
    finally:
        jfix.cleanup()


main()
