# ISO 7816-3 answer to reset, parsed as it is read from the slot within the waiting
# times, then the rate its TA1 offers (run: PPS, iso7816/pps.py, loaded only for an ATR
# that offers a rate). Direct convention only (TS 3B); the card must speak T=0.
# docs/protocol.md section 4a. Its code lives in RAM: the app drops this module once the
# ATR is read and the rate selected (run), and t0 does not import it.
from micropython import const
import time

from errors import Timeout, fault

_MAX = const(33)  # TS and at most 32 more characters
_IWT_MS = const(1001)  # 9600 etu (initial waiting time) at Fi 372, 3.57 MHz, rounded up
# (each character of the ATR; pps.py's for the PPS response)
_ATR_MS = const(2101)  # 20160 etu: the whole ATR (EMV's bound; generous for ISO cards)
_F_HZ = const(3570000)  # the pad's card clock unless the caller says otherwise
# the ATR faults' codes (errors.py; docs/protocol.md section 4a), for the journal
_BAD_TCK = const(2)
_NO_T0 = const(3)
_INVERSE = const(4)
_BAD_ATR = const(5)


def _bad(msg, code):
    """The protocol fault (errors.fault) with this code."""
    return fault(code, msg)


class Atr:
    """A parsed ATR: raw; iface[i-1] = [TAi, TBi, TCi, TDi] (None where absent);
    protocols offered, in order ((0,) when no TD says); historical; tck (None when
    absent); fi, di from TA1 (372, 1 without); wi from TC2 (10 without); specific: the
    protocol TA2 fixes in specific mode, None in negotiable mode."""

    def wwt_ms(self, f_hz=_F_HZ):
        """T=0 work waiting time WT = WI * 960 * Fi / f, in whole ms rounded up."""
        return (960 * self.wi * self.fi * 1000 + f_hz - 1) // f_hz


def read(slot, need_t0=True, clock=None):
    """The Atr of a freshly activated card. Each character must come within 9600 etu
    and the whole ATR within 20160 etu (else Timeout); a malformed ATR is a protocol
    fault (errors.fault, its code above), and so, with need_t0, is a card whose
    protocol after reset is not T=0 (the pad selects no other protocol)."""
    clock = clock or time.ticks_ms
    start = clock()
    raw = bytearray()

    def get():
        n = len(raw)
        if n >= _MAX:
            raise _bad("ATR longer than %d bytes" % _MAX, _BAD_ATR)
        left = _ATR_MS - time.ticks_diff(clock(), start)
        try:
            if left <= 0:
                raise Timeout
            raw.append(slot.read(left if left < _IWT_MS else _IWT_MS))
        except Timeout:
            raise Timeout("no ATR: %d bytes in %d ms"
                          % (n, time.ticks_diff(clock(), start)))
        return raw[n]

    ts = get()
    if ts != 0x3B:  # 3F, or 03 as it reads in direct convention: inverse convention
        if ts == 0x3F or ts == 0x03:
            raise _bad("TS %02X: inverse convention" % ts, _INVERSE)
        raise _bad("TS %02X: not an ATR" % ts, _BAD_ATR)
    y = get()  # T0: which of TA1..TD1 follow, and K historical bytes
    k = y & 0x0F
    iface = []
    protocols = []
    tck = False
    while True:
        g = [None] * 4
        for j in range(4):
            if y >> 4 + j & 1:
                g[j] = get()
        iface.append(g)
        y = g[3]
        if y is None:
            break
        t = y & 0x0F
        if t:
            tck = True  # TCK unless T=0 alone is indicated (T=15 counts)
        if t != 15 and t not in protocols:
            protocols.append(t)
    for _ in range(k + tck):  # historical bytes, TCK
        get()
    if tck:
        x = 0x3B
        for b in raw:  # T0 to TCK XOR to 0
            x ^= b
        if x:
            raise _bad("TCK %02X wrong" % raw[-1], _BAD_TCK)
    a = Atr()
    a.raw = bytes(raw)
    a.iface = iface
    a.protocols = tuple(protocols) if protocols else (0,)
    a.historical = a.raw[len(raw) - k - tck:len(raw) - tck]
    a.tck = raw[-1] if tck else None
    g = getattr(slot, "guard", None)  # a slot that can honour TC1 (extra guard time)
    if g is not None:
        g(iface[0][2] or 0)
    return _params(a, need_t0)


def _params(a, need_t0):
    """The parsed ATR's parameters (fi, di, wi, specific), checked: read()'s second half,
    a function of its own so that neither needs a large block of the heap when loaded
    (the heap is fragmented by the time a card comes)."""
    iface = a.iface
    # TA1: Fi and Di (ISO 7816-3 tables 7, 8; 0: reserved). Fi by the high nibble is
    # 372 372 558 744 1116 1488 1860 - - 512 768 1024 1536 2048 - -: 93 or 256 times
    # a factor. TC2: WI. TA2: specific mode.
    ta1 = iface[0][0]
    if ta1 is None:
        ta1 = 0x11
    a.fi = b"\x04\x04\x06\x08\x0c\x10\x14\x00\x00\x02\x03\x04\x06\x08\x00\x00"[
        ta1 >> 4] * (93 if ta1 < 0x70 else 256)
    a.di = b"\x00\x01\x02\x04\x08\x10\x20\x40\x0c\x14\x00\x00\x00\x00\x00\x00"[ta1 & 0x0F]
    ta2 = iface[1][0] if len(iface) > 1 else None
    if not a.fi or not a.di:  # reserved: refused in specific mode (TA2), where the card
        if ta2 is not None:  # speaks at that rate; in negotiable mode the pad carries on at
            raise _bad("TA1 %02X: reserved Fi/Di" % ta1, _BAD_ATR)  # the default rate
        a.fi, a.di = 372, 1  # (as EMV Book 1 asks of a terminal)
    a.wi = 10
    a.specific = None
    if len(iface) > 1:
        wi = iface[1][2]
        if wi == 0:
            raise _bad("TC2 00: WI 0 is reserved", _BAD_ATR)
        a.wi = wi or 10
        if ta2 is not None:
            a.specific = ta2 & 0x0F
    if need_t0:
        t = a.protocols[0] if ta2 is None else a.specific
        if t:
            raise _bad("T=%d, not T=0" % t, _NO_T0)
        if ta2 is not None and ta2 & 0x10:  # implicit parameters: not TA1's
            raise _bad("specific mode TA2 %02X: implicit Fi/Di" % ta2, _NO_T0)
    return a


def run(slot):
    """The ATR of a card just activated (read), then the rate its TA1 offers (ISO 7816-3
    clause 9: iso7816/pps.py, select). No TA1, or the default rate Fi/Di 372/1: nothing
    to select, and the PPS's code is not loaded (most cards: its RAM stays free for the
    flow's). Else pps.py is loaded for this card only (select drops it from the modules:
    only the local name here keeps it) and selects the rate; when its PPS failed it has
    deactivated the card and activated it again (a cold reset), and the card's new ATR
    is read and used at the default rate. Returns the Atr of the card's last ATR."""
    a = read(slot)
    if a.fi == 372 and a.di == 1:
        return a
    from iso7816 import pps
    return a if pps.select(slot, a) else read(slot)
