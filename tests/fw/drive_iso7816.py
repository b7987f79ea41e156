# Feeds cases from a file through the firmware's ATR reader and T=0 transport against
# a lax fake slot; prints one line per case (tests/test_iso7816_props.py writes the cases
# and judges the lines). Case lines:
#   A <need_t0 0|1> <stream...>
#   T <wwt_ms> <busy_ms> <max_get_response> <apdu hex> <stream...>
# Stream tokens: a hex run is bytes the card sends, s<ms> a silence, x the card pulled.
# Result lines: "ok <fields> t=<ms>", "err <ErrorClass> t=<ms> <message>",
# "crash <ExceptionClass> <message>" (anything that is not a firmware error).
import binascii
import gc
import sys

from errors import Error
from fakeslot import D, FakeSlot, R, X
from iso7816 import atr
from iso7816.t0 import T0
from mptest import kind


def _hex(b):
    return binascii.hexlify(b).decode() or "-"


_ONE = {}  # one shared step per single card byte: long NULL floods fit the 64 KB heap


def script(tokens):
    out = []
    for tok in tokens:
        if tok == "x":
            out.append(X)
        elif tok[0] == "s":
            out.append(D(int(tok[1:])))
        elif len(tok) == 2:
            step = _ONE.get(tok)
            if step is None:
                step = _ONE[tok] = R(binascii.unhexlify(tok))
            out.append(step)
        else:
            out.append(R(binascii.unhexlify(tok)))
    return out


def run_atr(need_t0, steps):
    s = FakeSlot(steps, strict=False)
    try:
        a = atr.read(s, clock=s.ticks_ms, need_t0=need_t0)
        return "ok hist=%s prot=%s wi=%d fi=%d di=%d t=%d" % (
            _hex(a.historical), ",".join(str(t) for t in a.protocols), a.wi, a.fi, a.di, s.now)
    except Error as e:
        return "err %s t=%d %s" % (kind(e), s.now, e)


def run_t0(wwt, busy, max_gr, cmd, steps):
    s = FakeSlot(steps, strict=False, log=True)
    t = T0(s, wwt)
    t.busy_ms = busy
    t.max_get_response = max_gr
    t.clock = s.ticks_ms
    try:
        data, sw = t.transmit(cmd)
        return "ok data=%s sw=%04x wrote=%s t=%d" % (_hex(data), sw, _hex(s.log), s.now)
    except Error as e:
        return "err %s t=%d %s" % (kind(e), s.now, e)


def run(line):
    f = line.split()
    if f[0] == "A":
        need_t0, steps = f[1] == "1", script(f[2:])
        del f
        gc.collect()
        return run_atr(need_t0, steps)
    wwt, busy, max_gr, cmd = int(f[1]), int(f[2]), int(f[3]), binascii.unhexlify(f[4])
    steps = script(f[5:])
    del f
    gc.collect()
    return run_t0(wwt, busy, max_gr, cmd, steps)


def main(path):
    with open(path) as cases:
        for line in cases:
            gc.collect()
            try:
                r = run(line)
            except Exception as e:  # anything else is a defect the test reports
                r = "crash %s %s" % (kind(e), e)
            print(r)


main(sys.argv[1])
