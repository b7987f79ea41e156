"""PPS at the whole pad (issue 12 item 4): the real firmware on the simulator, the card and
PSAM offering a TA1 (padsim.slot answers the PPS and times the wire at the rate in force).

Witnesses: the screens, the card's counter, the journal, and the slots' own record of the
PPS requests, activations and the rate in force."""
import pytest

from padkit import AFTER_INSERT, RESULT
from padsim.slot import CARD_HISTORICAL, make_atr

RIGHT = "123456"
REQ = {0x13: b"\xff\x10\x13\xfc", 0x18: b"\xff\x10\x18\xf7"}


@pytest.mark.parametrize("ta1, d", [(0x13, 4), (0x18, 12)])
def test_pps_accepted_the_session_runs_at_that_rate(make_pad, ta1, d):
    pad = make_pad(ta1=ta1)
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    cs, ps = pad.card_slot, pad.psam_slot
    assert cs.pps_requests == [REQ[ta1]] and cs.rate == (372, d) and cs.activations == 1
    assert ps.rate == (372, d) and set(ps.pps_requests) == {REQ[ta1]}
    # the wire time counted at that rate: the same characters at 9600 take d times longer
    etu9600 = 372 / 3571200
    assert abs(cs.etu_s() * d - etu9600) < 1e-12
    assert pad.card_fails() == 0
    pad.assert_no_crash()


def run_at_9600_and(make_pad, **kw):
    """The card's wire seconds and characters, for one right PIN."""
    pad = make_pad(**kw)
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    cs = pad.card_slot
    return cs.wire_s, len(cs.timeline), pad


def test_the_wire_time_follows_the_rate(make_pad):
    slow, n_slow, _ = run_at_9600_and(make_pad)
    fast, n_fast, _ = run_at_9600_and(make_pad, ta1=0x18)
    # the ATR (13 characters with TA1) and the PPS (4 + 4) stay at 9600; the rest is 12x
    assert fast < slow / 4, (fast, slow)
    assert n_fast == n_slow + 1 + 8  # TA1, PPS request and echo


@pytest.mark.parametrize("mode", ["refuse", "garble", "bad_pck", "silent"])
def test_pps_refused_or_failed_default_rate_and_the_pin_still_verifies(make_pad, mode):
    pad = make_pad(ta1=0x13, card_slot={"pps": mode})
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    cs = pad.card_slot
    assert cs.rate == (372, 1)
    if mode == "refuse":  # a successful exchange at the default rate: no reset
        assert cs.pps_requests == [REQ[0x13]] and cs.activations == 1
        assert ("tx", b"\xff\x00\xff") in cs.transcript
    else:  # deactivated, reset, used at the default rate without a second PPS
        assert cs.pps_requests == [REQ[0x13]] and cs.activations == 2
        # no PPS on the cold reset's activation: a PPS comes first after the ATR, so the
        # pad's first characters there are a command header (its later data, random
        # challenges and cryptograms, may start with FF: not a PPS)
        first = [b for d, b in cs.transcript if d == "rx"][0]
        assert first[:1] != b"\xff" and len(first) == 5, cs.transcript[:4]
        assert REQ[0x13] not in [b for d, b in cs.transcript if d == "rx"]
    assert pad.card_fails() == 0
    assert "PIN_ERROR" not in pad.kinds()
    pad.assert_no_crash()


def test_reserved_ta1_negotiable_mode_default_rate(make_pad):
    pad = make_pad(card_slot={"atr": make_atr(CARD_HISTORICAL, ta1=0x71)})
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    assert pad.card_slot.pps_requests == [] and pad.card_slot.rate == (372, 1)
    pad.assert_no_crash()


def test_reserved_ta1_specific_mode_refused_card_error_journaled(make_pad):
    # T0 97: TA1, TD1, 7 historical bytes; TA1 71 (Fi index 7 reserved); TD1 10: TA2,
    # T=0; TA2 00: specific mode, T=0 at TA1's rate (no TCK: T=0 only)
    atr = bytes((0x3B, 0x97, 0x71, 0x10, 0x00)) + CARD_HISTORICAL
    pad = make_pad(card_slot={"atr": atr})
    pad.insert()
    assert pad.expect(AFTER_INSERT) == ("Card error", "Remove card and try again")
    pad.pull()
    errs = [d for k, c, d in pad.journal() if k == "PIN_ERROR"]
    assert errs == ["0405"]  # card I/O, malformed ATR (reserved Fi/Di)
    assert pad.card_fails() == 0
    pad.assert_no_crash()


def test_tc1_guard_time_is_counted_on_the_pads_characters(make_pad):
    base, n, _ = run_at_9600_and(make_pad)
    atr = make_atr(CARD_HISTORICAL, tc1=20)
    slow, n2, pad = run_at_9600_and(make_pad, card_slot={"atr": atr})
    etu = 372 / 3571200
    cs = pad.card_slot
    # every character the pad sends after one of its own takes 20 ETU more (32), one it
    # sends after the card's its guard time, 32 ETU, not the 16 of a turnaround; the
    # card's characters as before; the ATR one character (TC1) more
    pairs = list(zip(cs.timeline, cs.timeline[1:]))
    rx_follow = sum(1 for (_, d0, _), (_, d1, _) in pairs if d0 == d1 == "rx")
    turns = sum(1 for (_, d0, _), (_, d1, _) in pairs if (d0, d1) == ("tx", "rx"))
    assert rx_follow > 0 and turns > 0
    assert abs(slow - base - 12 * etu - 20 * etu * rx_follow - 16 * etu * turns) < 1e-9
    # TC1 255: the minimum (12 ETU), as without TC1
    same, _, _ = run_at_9600_and(make_pad, card_slot={"atr": make_atr(CARD_HISTORICAL,
                                                                        tc1=255)})
    assert abs(same - base - 12 * etu) < 1e-9
