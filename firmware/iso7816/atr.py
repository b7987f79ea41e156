# ISO 7816-3 answer to reset: read it from the slot within the waiting times, parse it.
# Direct convention only (TS 3B); the pad does no PPS, so it needs T=0 as the card's
# first (or, in specific mode, only) protocol. docs/protocol.md section 4a.
from micropython import const
import time

from errors import ProtocolError, Timeout

MAX_LEN = const(33)  # TS and at most 32 more characters
F_HZ = const(3570000)  # the pad's card clock unless the caller says otherwise
WI_DEFAULT = const(10)
_IWT_ETU = const(9600)  # at most this between two ATR characters (initial waiting time)
_ATR_ETU = const(20160)  # the whole ATR (EMV's bound; generous for ISO cards)

# Fi (clock rate conversion) and f max (kHz) by the high nibble of TA1, Di by the low;
# 0 marks reserved values.
_FI = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
_FMAX = (4000, 5000, 6000, 8000, 12000, 16000, 20000, 0, 0, 5000, 7500, 10000, 15000, 20000, 0, 0)
_DI = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)


def etu_ms(n, f_hz=F_HZ, fi=372, di=1):
    """n elementary time units in whole ms, rounded up."""
    return (n * fi * 1000 + di * f_hz - 1) // (di * f_hz)


IWT_MS = etu_ms(_IWT_ETU)  # 1001 at 3.57 MHz
ATR_MS = etu_ms(_ATR_ETU)  # 2101


class Atr:
    """A parsed ATR. iface[i-1] = (TAi, TBi, TCi, TDi), None where absent."""

    def __init__(self, raw=None):
        if raw is not None:
            _parse(_Bytes(bytes(raw)), self)

    def _iface(self, i, j):
        return self.iface[i - 1][j] if 1 <= i <= len(self.iface) else None

    def ta(self, i):
        return self._iface(i, 0)

    def tb(self, i):
        return self._iface(i, 1)

    def tc(self, i):
        return self._iface(i, 2)

    def td(self, i):
        return self._iface(i, 3)

    def offers(self, t):
        return t in self.protocols

    def guard_etu(self):
        """Minimum delay between the leading edges of two characters the pad sends."""
        return 12 if self.n == 255 else 12 + self.n

    def fd(self):
        """(F, D) the card uses right after this ATR: TA1's in specific mode, else 372, 1."""
        return (self.fi, self.di) if self.specific is not None else (372, 1)

    def wwt_ms(self, f_hz=F_HZ):
        """T=0 work waiting time WT = WI * 960 * Fi / f, in whole ms rounded up."""
        return (960 * self.wi * self.fi * 1000 + f_hz - 1) // f_hz

    def hex(self):
        return " ".join("%02X" % b for b in self.raw)

    def __repr__(self):
        return "<ATR %s T=%s>" % (self.hex(), ",".join(str(t) for t in self.protocols))


class _Bytes:
    def __init__(self, raw):
        self.raw = raw
        self.i = 0

    def byte(self, what):
        if self.i >= MAX_LEN:
            raise ProtocolError("ATR longer than %d bytes" % MAX_LEN)
        if self.i >= len(self.raw):
            raise ProtocolError("ATR truncated: %s missing after %d bytes" % (what, self.i))
        b = self.raw[self.i]
        self.i += 1
        return b

    def got(self):
        if self.i != len(self.raw):
            raise ProtocolError("%d bytes after the ATR's end" % (len(self.raw) - self.i))
        return self.raw


class _Slot:
    def __init__(self, slot, wait_ms, total_ms, clock):
        self.slot = slot
        self.wait = wait_ms
        self.total = total_ms
        self.clock = clock
        self.start = clock()
        self.raw = bytearray()

    def byte(self, what):
        n = len(self.raw)
        if n >= MAX_LEN:
            raise ProtocolError("ATR longer than %d bytes" % MAX_LEN)
        left = self.total - time.ticks_diff(self.clock(), self.start)
        if left <= 0:
            raise Timeout("ATR not complete within %d ms (%d bytes)" % (self.total, n))
        wait = self.wait if self.wait < left else left
        try:
            b = self.slot.read(wait)
        except Timeout:
            if n == 0:
                raise Timeout("no ATR within %d ms" % wait)
            raise Timeout("ATR stopped after %d bytes: no %s within %d ms" % (n, what, wait))
        self.raw.append(b)
        return b

    def got(self):
        return self.raw


def _parse(src, a):
    ts = src.byte("TS")
    if ts in (0x3F, 0x03):  # 03: an inverse-convention TS read in direct convention
        raise ProtocolError("inverse convention (TS 3F) is not supported")
    if ts != 0x3B:
        raise ProtocolError("TS %02X: not an ATR (expected 3B)" % ts)
    t0 = src.byte("T0")
    y = t0 >> 4
    iface = []
    protocols = []
    tck_needed = False
    i = 1
    while True:
        ta = src.byte("TA%d" % i) if y & 1 else None
        tb = src.byte("TB%d" % i) if y & 2 else None
        tc = src.byte("TC%d" % i) if y & 4 else None
        td = src.byte("TD%d" % i) if y & 8 else None
        iface.append((ta, tb, tc, td))
        if td is None:
            break
        t = td & 0x0F
        if t:
            tck_needed = True  # anything but T=0 alone (T=15 included)
        if t != 15 and t not in protocols:
            protocols.append(t)
        y = td >> 4
        i += 1
    hist = bytearray()
    for j in range(t0 & 0x0F):
        hist.append(src.byte("historical byte %d" % (j + 1)))
    tck = None
    if tck_needed:
        tck = src.byte("TCK")
    raw = src.got()
    if tck is not None:
        x = 0
        for b in raw[1:]:
            x ^= b
        if x:
            raise ProtocolError("ATR check byte TCK %02X is wrong (XOR %02X)" % (tck, x))
    a.raw = bytes(raw)
    a.ts = ts
    a.t0 = t0
    a.iface = iface
    a.protocols = tuple(protocols) if protocols else (0,)
    a.historical = bytes(hist)
    a.tck = tck
    _interpret(a)


def _interpret(a):
    ta1 = a.ta(1)
    if ta1 is None:
        ta1 = 0x11
    a.fi = _FI[ta1 >> 4]
    a.f_max_khz = _FMAX[ta1 >> 4]
    a.di = _DI[ta1 & 0x0F]
    if not a.fi or not a.di:
        raise ProtocolError("TA1 %02X: reserved Fi/Di" % ta1)
    tc1 = a.tc(1)
    a.n = 0 if tc1 is None else tc1  # extra guard time in etu; 255: the minimum
    wi = a.tc(2)  # TC2 is specific to T=0
    if wi == 0:
        raise ProtocolError("TC2 00: WI 0 is reserved")
    a.wi = WI_DEFAULT if wi is None else wi
    ta2 = a.ta(2)  # present: specific mode, protocol in b4-b1, b5 set: implicit Fi/Di
    a.specific = None if ta2 is None else ta2 & 0x0F
    a.implicit = ta2 is not None and bool(ta2 & 0x10)


def parse(raw):
    """An Atr from the complete ATR bytes; ProtocolError when malformed."""
    return Atr(raw)


def read(slot, wait_ms=IWT_MS, total_ms=ATR_MS, clock=None, need_t0=True):
    """Read the ATR of a freshly activated card. Each character must come within
    wait_ms (9600 etu) and the whole ATR within total_ms; silence is a Timeout, a
    malformed ATR a ProtocolError. With need_t0, a card whose protocol after reset is
    not T=0 is refused (the pad does no PPS)."""
    src = _Slot(slot, wait_ms, total_ms, clock or time.ticks_ms)
    a = Atr()
    _parse(src, a)
    if need_t0:
        t = a.protocols[0] if a.specific is None else a.specific
        if t != 0:
            raise ProtocolError("card speaks T=%d after reset; the pad speaks only T=0" % t)
        if a.specific is not None and (a.implicit or a.fd() != (372, 1)):
            raise ProtocolError("card in specific mode (TA2 %02X) at Fi/Di %d/%d; the pad runs "
                                "at 372/1 and does no PPS" % (a.ta(2), a.fi, a.di))
    return a
