# ISO 7816-3 clause 9, PPS: the rate a card's TA1 offers, selected after its ATR
# (atr.run). Loaded by atr.run only for an ATR that offers a rate other than the default
# (most cards offer none: this code then never takes the heap); select drops the module
# (only its caller's local name keeps it, until atr.run returns). docs/protocol.md 4a.
import sys

from micropython import const

from errors import CardRemoved, Error, NoCard, fault

_IWT_MS = const(1001)  # 9600 etu (initial waiting time) at Fi 372, 3.57 MHz, rounded up:
# each character of the PPS response (atr.py's for the ATR)
_NO_T0 = const(3)  # the fault's code (errors.py; protocol.md section 4a): no T=0 to use


def select(slot, a):
    """The rate the Atr a offers (a.fi, a.di, not 372/1): in negotiable mode by a PPS
    exchange (PPSS FF, PPS0 10: T=0 and PPS1, PPS1 = TA1, PCK) when the slot can make
    that rate, in specific mode (TA2) at once. The slot's set_rate(F, D[, True: only
    asked]) says whether it can make a rate (False: it stays at the default); a slot
    without one has no rate of its own (the simulator's socket). A card that answers
    PPS0 without PPS1 stays at the default rate. True: done (at F/D, or at the default
    rate). Any other answer (PPSS, PPS0 or PPS1 not echoed, a bad PCK), no answer, or an
    error on the line: the card is deactivated and activated again (cold reset), False:
    the caller reads its new ATR and uses it at the default rate without PPS. Specific
    mode at a rate the slot cannot make: refused (a protocol fault, code 3)."""
    import iso7816
    sys.modules.pop("iso7816.pps", None)  # (this module: dropped, as app drops atr; a
    if hasattr(iso7816, "pps"):  # submodule is also an attribute of its package)
        del iso7816.pps
    f, d, t = a.fi, a.di, a.iface[0][0]
    r = getattr(slot, "set_rate", None)
    if a.specific is not None:  # the card speaks at TA1's rate already
        if r is None or r(f, d):
            return True
        raise fault(_NO_T0, "specific mode, F/D %d/%d: not on this slot" % (f, d))
    if r is not None and not r(f, d, True):  # a rate this slot cannot make: the default
        return True
    try:
        slot.write(bytes((0xFF, 0x10, t, 0xEF ^ t)))
        x = slot.read(_IWT_MS)
        p = slot.read(_IWT_MS)
        if x == 0xFF and not p & 0xEF:  # PPSS; PPS0: T=0, PPS1 or not, no PPS2 / PPS3
            x ^= p
            b = 0
            if p:  # PPS1, which must be the request's: the card is at F/D now
                b = slot.read(_IWT_MS)
                x ^= b
            if x == slot.read(_IWT_MS) and b == (t if p else 0):  # PCK
                if b and r is not None:
                    r(f, d)
                return True
    except CardRemoved:
        raise
    except Error:  # no answer in time, or a line error
        pass
    slot.deactivate()  # (ISO 7816-3 9.2: deactivation after a failed PPS)
    try:
        slot.activate()
    except NoCard:
        raise CardRemoved
    return False
