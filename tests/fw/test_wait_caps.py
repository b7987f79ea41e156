# Unit tests of the pad's wait caps (firmware/iso7816/t0.py: busy_ms capped by cap_ms,
# until) and of the card-error codes the errors of atr.py and t0.py carry for the
# journal (errors.py, docs/protocol.md sections 4a and 6). The caps are small here (2 s)
# so the simulated clock stays short; the pad's are 30 s and 60 s (config.py).
import mptest
from mptest import eq, raises, true

from errors import CardRemoved, Error, StatusError, Timeout
from mptest import ProtocolError
from fakeslot import WWT, D, FakeSlot, R, W, X, h, t0_for  # noqa: F401
from iso7816 import atr
from iso7816.t0 import T0

# The longest waiting time an ATR can ask for: TA1 D1 (Fi 2048, Di 1), TD1 40 (TC2
# follows, T=0), TC2 FF (WI 255). WWT = 255 * 960 * 2048 / 3.57 MHz = 140,435 ms (rounded up).
LONG_WWT_ATR = "3B 90 D1 40 FF"
CAP = 2000
# the card-fault codes (docs/protocol.md section 4a), as the journal carries them
TIMEOUT, BAD_TCK, NO_T0, INVERSE, BAD_ATR, BAD_ANSWER, REMOVED, STATUS = range(1, 9)


def slow_nulls(n=200, every=1000):
    """A card that answers a header with one NULL a second (within any WWT), for ever."""
    script = [W("00 A4 04 00 02"), R("A4"), W("3F 00")]
    for _ in range(n):
        script += [D(every - 1), R("60")]
    return script + [R("90 00")]


def long_wwt_t0(script, cap_ms=CAP):
    """The T0 the app builds for a card with LONG_WWT_ATR, on the fake slot's clock."""
    s = FakeSlot([R(LONG_WWT_ATR)] + script)
    a = atr.read(s, clock=s.ticks_ms)
    t = T0(s, a.wwt_ms(), cap_ms)
    t.clock = s.ticks_ms
    return s, a, t


def test_long_wwt_atr_asks_for_minutes():
    s, a, t = long_wwt_t0([])
    eq((a.fi, a.di, a.wi), (2048, 1, 255))
    eq(a.wwt_ms(), 140435)
    eq(t.wwt_ms, 140435)
    eq(t.busy_ms, CAP, "the pad's cap, not 30 WWT (70 minutes)")


def test_command_cap_cuts_slow_nulls_whatever_the_atr():
    s, a, t = long_wwt_t0(slow_nulls())
    t0 = s.now
    e = raises(Timeout, t.transmit, h("00 A4 04 00 02 3F 00"))
    took = s.now - t0
    true(CAP - 1000 < took <= CAP, "cut after %d ms, cap %d" % (took, CAP))
    eq(e.code, TIMEOUT)
    true("%d ms" % CAP in str(e), str(e))


def test_command_cap_default_is_30_s():
    s, a, t = long_wwt_t0([], cap_ms=30000)
    eq(t.busy_ms, 30000)
    eq(T0(s, a.wwt_ms()).busy_ms, 30000, "the default cap")
    eq(T0(s, 100).busy_ms, 3000, "30 WWT when that is less")


def test_command_cap_bounds_silence_too():
    # no NULLs at all: one byte wait of the WWT (140 s) is cut at the cap as well
    s, a, t = long_wwt_t0([W("00 B0 85 00 26")])
    t0 = s.now
    e = raises(Timeout, t.transmit, h("00 B0 85 00 26"))
    eq(s.now - t0, CAP)
    eq(e.code, TIMEOUT)


def test_session_deadline_cuts_sooner_than_the_command_cap():
    s, a, t = long_wwt_t0(slow_nulls(), cap_ms=30000)
    t.until = s.now + 3500  # the app's card-session deadline
    t0 = s.now
    e = raises(Timeout, t.transmit, h("00 A4 04 00 02 3F 00"))
    true(2500 < s.now - t0 <= 3500, "cut after %d ms" % (s.now - t0))
    eq(e.code, TIMEOUT)
    # past the deadline, the next command gets no wait at all
    s, a, t = long_wwt_t0([W("00 20 00 00 00"), D(5000), R("90 00")], cap_ms=30000)
    t.until = s.now - 1
    t1 = s.now
    e = raises(Timeout, t.transmit, h("00 20 00 00"))
    eq(s.now, t1, "no wait past the deadline")
    eq(e.code, TIMEOUT)
    # the deadline lifted (PIN entry started): the command cap rules again
    s, a, t = long_wwt_t0([W("00 20 00 00 00"), D(5000), R("90 00")], cap_ms=30000)
    t.until = s.now - 1
    t.until = None
    eq(t.transmit(h("00 20 00 00")), (b"", 0x9000))


def test_session_deadline_later_than_the_cap_changes_nothing():
    s, a, t = long_wwt_t0(slow_nulls())
    t.until = s.now + 60000
    t0 = s.now
    raises(Timeout, t.transmit, h("00 A4 04 00 02 3F 00"))
    true(s.now - t0 <= CAP, "cut after %d ms" % (s.now - t0))


# --- the codes the journal gets (PIN_ERROR data byte 1) --------------------------------

def atr_error(hexatr):
    s = FakeSlot([R(hexatr)] if hexatr else [])
    return raises((ProtocolError, Timeout), atr.read, s, clock=s.ticks_ms)


def test_atr_error_codes():
    eq(atr_error("3B 80 01 80").code, BAD_TCK, "T=1, TCK 80 (81 is right)")
    eq(atr_error("3B 80 01 81").code, NO_T0, "T=1 only")
    eq(atr_error("3B 90 11 11 01 91").code, NO_T0, "specific mode T=1")  # TA2 11
    eq(atr_error("3F 90 11 40 0A").code, INVERSE)
    eq(atr_error("03").code, INVERSE, "3F as a direct UART reads it")
    eq(atr_error("3B 80 40 00").code, BAD_ATR, "TC2 00")
    eq(atr_error("3B 90 00 10 00").code, BAD_ATR, "TA1 00: reserved Fi/Di, specific mode")
    eq(atr_error("42").code, BAD_ATR, "not an ATR")
    eq(atr_error("").code, TIMEOUT, "no ATR")
    eq(atr_error("3B 02 14").code, TIMEOUT, "truncated ATR")


def test_t0_error_codes():
    s, t = t0_for([W("00 B0 85 00 26"), R("42")])
    eq(raises(ProtocolError, t.transmit, h("00 B0 85 00 26")).code, BAD_ANSWER)
    s, t = t0_for([W("00 B0 85 00 26"), X])
    eq(raises(CardRemoved, t.transmit, h("00 B0 85 00 26")).code, REMOVED)
    s, t = t0_for([W("00 B0 85 00 26")])
    eq(raises(Timeout, t.transmit, h("00 B0 85 00 26")).code, TIMEOUT)
    eq(StatusError(0x6A82, "SELECT").code, STATUS)
    eq(Error("x").code, 0)


mptest.main(globals())
