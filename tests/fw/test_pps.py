# Unit tests of the PPS in firmware/iso7816/atr.py (run: the ATR, then the rate TA1
# offers; ISO 7816-3 clause 9) under the unix-port micropython, on a scripted slot.
# The expected bytes are written by hand from the standard: PPSS FF, PPS0 10 (PPS1
# follows, T=0), PPS1 = TA1, PCK = the XOR that makes the whole request XOR to 00.
import mptest
from mptest import eq, raises, true

from errors import CardRemoved
from mptest import ProtocolError
from fakeslot import D, FakeSlot, R, W, X
from iso7816 import atr

ATR13 = "3B 10 13"  # TA1 13: Fi 372, Di 4
ATR18 = "3B 10 18"  # TA1 18: Fi 372, Di 12
REQ13 = "FF 10 13 FC"
REQ18 = "FF 10 18 F7"


class RateSlot(FakeSlot):
    """A scripted slot with a UART rate: set_rate(F, D[, only asked]) -> whether it can
    make that rate (up to max_d: F/D of at least 372 / max_d)."""

    def __init__(self, script, max_d=64, **kw):
        FakeSlot.__init__(self, script, **kw)
        self.max_d = max_d
        self.rate = (372, 1)
        self.asked = []

    def set_rate(self, f, d, dry=False):
        self.asked.append((f, d, dry))
        if f * self.max_d < 372 * d:
            return False
        if not dry:
            self.rate = (f, d)
        return True

    def activate(self):
        FakeSlot.activate(self)
        self.rate = (372, 1)  # a new activation: the default rate
        if self.j and self.steps[self.k][0] == 0:  # what the card was sending is gone
            self.k += 1
            self.j = 0


def test_pps_accepted_at_13_and_18():
    for a, req, d in ((ATR13, REQ13, 4), (ATR18, REQ18, 12)):
        s = RateSlot([R(a), W(req), R(req)])
        got = atr.run(s)
        true(s.done(), "the whole request written, the echo read")
        eq(s.rate, (372, d))
        eq(s.asked, [(372, d, True), (372, d, False)])  # asked first, set after the echo
        eq((got.fi, got.di), (372, d))
        eq(s.activations, 0)  # no reset


def test_no_pps_without_ta1_or_at_the_default_rate():
    for a in ("3B 00", "3B 10 11", "3B 10 01"):
        s = RateSlot([R(a)])  # strict: any write would fail the script
        atr.run(s)
        true(s.done(), a)
        eq((s.rate, s.asked), ((372, 1), []), a)


def test_pps_code_loaded_only_for_a_rate_and_not_kept():
    # iso7816/pps.py is imported only for an ATR with a rate to select (most cards have
    # none: its code never takes their heap), and after its PPS (accepted, or failed and
    # the card reset) neither sys.modules nor the package keeps it
    import builtins
    import sys
    import iso7816
    imp = builtins.__import__
    for a, script, wanted in (("3B 00", [R("3B 00")], False),
                              ("3B 10 11", [R("3B 10 11")], False),
                              (ATR13, [R(ATR13), W(REQ13), R(REQ13)], True),
                              (ATR13, [R(ATR13), W(REQ13), R("FF 10 11 EE"), R(ATR13)],
                               True)):
        asked = []

        def spy(name, *args):
            if "pps" in name or len(args) > 2 and args[2] and "pps" in args[2]:
                asked.append(name)
            return imp(name, *args)
        builtins.__import__ = spy
        try:
            s = RateSlot(script)
            atr.run(s)
        finally:
            builtins.__import__ = imp
        true(s.done(), a)
        eq(bool(asked), wanted, a)
        true("iso7816.pps" not in sys.modules, "sys.modules keeps pps after " + a)
        true(not hasattr(iso7816, "pps"), "the package keeps pps after " + a)


def test_pps1_absent_in_the_answer_is_the_default_rate():
    # the card answers PPS0 00 (no PPS1): a successful exchange at Fd / Dd, no reset
    s = RateSlot([R(ATR13), W(REQ13), R("FF 00 FF")])
    atr.run(s)
    true(s.done())
    eq((s.rate, s.activations), ((372, 1), 0))


def fallback(answer, waits=False):
    """A card answering the PPS request with `answer` (hex, "" none), then silent (for the
    initial waiting time when the pad waits for more): the slot after."""
    script = [R(ATR13), W(REQ13)]
    if answer:
        script.append(R(answer))
    if waits:
        script.append(D(1001))
    script.append(R(ATR13))  # the ATR of the cold reset after the deactivation
    s = RateSlot(script)
    a = atr.run(s)
    true(s.done(), "the card reset and its ATR read again")
    eq(s.activations, 1)  # deactivated, activated again: a cold reset
    eq(s.rate, (372, 1))
    eq((a.fi, a.di), (372, 4))  # (its TA1 still says so; WWT is WI * 960 * Fi / f)
    eq(a.raw, bytes((0x3B, 0x10, 0x13)))
    return s


def test_an_answer_that_differs_from_the_request_falls_back_to_the_default_rate():
    fallback("FF 10 11 EE")  # PPS1 not echoed (PCK right for what came)
    fallback("FF 10 12 ED")
    fallback("FE 10 13 FD")  # PPSS
    fallback("FF 11 13 FD")  # PPS0: another protocol
    fallback("FF 30 13 00 DC")  # PPS0: a PPS2 that was not asked for
    fallback("FF 10 13 FD")  # PCK wrong
    fallback("FF 00 00")  # PCK wrong for PPS0 00


def test_no_answer_or_a_short_one_falls_back_after_the_initial_waiting_time():
    s = fallback("", True)
    true(1001 <= s.now <= 1100, "waited %d ms" % s.now)  # 9600 etu at 372 / 3.57 MHz
    s = fallback("FF 10", True)
    true(1001 <= s.now <= 1100, "waited %d ms" % s.now)


def test_a_rate_the_slot_cannot_make_stays_at_the_default_without_pps():
    s = RateSlot([R(ATR18)], max_d=8)  # Di 12: no
    a = atr.run(s)
    true(s.done())
    eq((s.rate, s.asked), ((372, 1), [(372, 12, True)]))
    eq(a.di, 12)


def test_a_slot_without_a_rate_negotiates():
    # the simulator's socket slot has no rate of its own (no set_rate): the PPS is
    # exchanged all the same, and nothing has to follow
    s = FakeSlot([R(ATR13), W(REQ13), R(REQ13)])
    atr.run(s)
    true(s.done())


def test_reserved_ta1_negotiable_mode_default_rate_no_pps():
    for a in ("3B 10 71", "3B 10 1A", "3B 10 00", "3B 10 F1"):
        s = RateSlot([R(a)])
        got = atr.run(s)
        true(s.done(), a)
        eq(((got.fi, got.di), s.rate, s.asked), ((372, 1), (372, 1), []), a)


def test_reserved_ta1_specific_mode_refused():
    e = raises(ProtocolError, atr.run, RateSlot([R("3B 90 71 10 00")]))
    eq(e.code, 5)
    true("TA1 71" in str(e), str(e))


def test_specific_mode_speaks_at_ta1s_rate_at_once_or_is_refused():
    s = RateSlot([R("3B 90 13 10 00")])  # TA2 00: T=0 at TA1's rate, no PPS allowed
    atr.run(s)
    true(s.done())
    eq(s.rate, (372, 4))
    s = RateSlot([R("3B 90 18 10 00")], max_d=8)
    e = raises(ProtocolError, atr.run, s)
    eq(e.code, 3)  # no T=0 the pad can use
    true("specific mode" in str(e), str(e))


def test_card_pulled_during_the_pps_or_before_its_new_atr():
    s = RateSlot([R(ATR13), W(REQ13), R("FF 10"), X])
    raises(CardRemoved, atr.run, s)
    eq(s.activations, 0)
    s = RateSlot([R(ATR13), W(REQ13), R("FF 10 11 EE")])
    s.activate = lambda: (_ for _ in ()).throw(__import__("errors").NoCard("gone"))
    raises(CardRemoved, atr.run, s)


def test_tc1_is_told_to_the_slot_again_after_the_reset():
    got = []
    s = RateSlot([R("3B 50 13 14"), W(REQ13), R("FF 10 13 FD"), R("3B 50 13 14")])
    s.guard = got.append
    atr.run(s)
    eq(got, [20, 20])


mptest.main(globals())
