"""A card cannot stretch the waiting time (hardening issue, item 5): the whole pad on the
simulator (tests/padkit.py).

The pad caps each command (config ``cmd_cap_s``, 30 s) and the card's session from its
activation to PIN entry (``session_cap_s``, 60 s), whatever waiting time the ATR asks
for; a cap hit is a "Card error", journaled as PIN_ERROR with the card-I/O reason and
the code of the fault (docs/protocol.md section 6), and nothing is spent. The caps are
set small here (2 s, 3-4 s) so the tests stay fast.
"""
import time

import pytest

from padkit import AFTER_INSERT, RESULT
from padsim.slot import make_atr

RIGHT = "123456"
NO_CARD = "0" * 32
# PIN_ERROR data: reason 04 (card I/O), then the fault's code (firmware/errors.py)
TIMEOUT, BAD_TCK, NO_T0, INVERSE = "0401", "0402", "0403", "0404"
CARD_ERROR = ("Card error", "Remove card and try again")
# the longest waiting time an ATR can ask for: TA1 D1 (Fi 2048), TC2 FF (WI 255): 140 s
LONG_WWT_ATR = make_atr(b"\x80\x31\xc0\x53SSC", ta1=0xD1, wi=0xFF)


def pin_errors(pad):
    """(card id hex, data hex) of every PIN_ERROR record."""
    return [(c, d) for k, c, d in pad.journal() if k == "PIN_ERROR"]


def test_null_a_second_with_the_longest_wwt_is_cut_at_the_command_cap(make_pad):
    pad = make_pad(config={"cmd_cap_s": 2},
                   card_slot={"atr": LONG_WWT_ATR, "stall_nulls": 1000, "stall_delay": 1.0})
    start = time.monotonic()
    pad.insert()
    # without the cap: one NULL a second, within a 140 s WWT, for 1000 s
    assert pad.expect(AFTER_INSERT, timeout=8) == CARD_ERROR
    took = time.monotonic() - start
    assert 2 <= took < 6, "card error after %.1f s, cap 2 s" % took
    assert pad.card_slot.transcript[-1][1] == b"\x60"  # the card was still stalling
    # journaled with the reason, about no card (it never said who it is); nothing spent
    assert pin_errors(pad) == [(NO_CARD, TIMEOUT)]
    assert "PENDING" not in pad.kinds()
    assert pad.card_fails() == 0
    assert not pad.vcard.log, "the card processed a command"
    pad.pull()
    # the same card, not stalling, is served as usual
    pad.card_slot.stall_nulls = 0
    assert pad.attempt(RIGHT) == ("PIN OK", "Please remove card")
    pad.assert_no_crash()


def test_card_session_cap_before_pin_entry(make_pad):
    # each command takes 1.5 s (under the 2 s command cap); the session cap, 3 s, ends
    # it at the third command, before any PIN is asked
    pad = make_pad(config={"cmd_cap_s": 2, "session_cap_s": 3},
                   card_slot={"atr": LONG_WWT_ATR, "stall_nulls": 3, "stall_delay": 0.5})
    start = time.monotonic()
    pad.insert()
    assert pad.expect(AFTER_INSERT, timeout=10) == CARD_ERROR
    took = time.monotonic() - start
    assert 3 <= took < 5.5, "card error after %.1f s, session cap 3 s" % took
    assert 1 <= len(pad.vcard.log) <= 2, pad.vcard.log
    assert pin_errors(pad) == [(NO_CARD, TIMEOUT)]
    assert "PENDING" not in pad.kinds()
    assert pad.card_fails() == 0
    pad.pull()
    pad.assert_no_crash()


def test_session_cap_ends_when_pin_entry_starts(make_pad):
    # a slowish card that reaches PIN entry within the session cap; the cardholder then
    # takes longer than what was left of it: the VERIFY still goes through (only the
    # command cap bounds the commands after PIN entry)
    pad = make_pad(config={"cmd_cap_s": 2, "session_cap_s": 8},
                   card_slot={"stall_nulls": 1, "stall_delay": 0.2})
    start = time.monotonic()
    pad.insert()
    assert pad.expect(AFTER_INSERT, timeout=10) == ("Enter PIN", "")
    assert time.monotonic() - start < 7
    time.sleep(8.5 - (time.monotonic() - start))  # past the session cap
    pad.press(RIGHT + "E")
    assert pad.expect(RESULT, timeout=10) == ("PIN OK", "Please remove card")
    assert pin_errors(pad) == []
    pad.pull()
    pad.assert_no_crash()


@pytest.mark.parametrize("atr, code", [
    (bytes.fromhex("3B80 0180"), BAD_TCK),        # T=1, check byte wrong (81 is right)
    (bytes.fromhex("3B80 0181"), NO_T0),          # T=1 only
    (bytes.fromhex("3F90 1140 0A"), INVERSE),     # TS 3F: inverse convention
], ids=["bad-tck", "t1-only", "inverse"])
def test_atr_fault_reason_goes_into_pin_error(make_pad, atr, code):
    pad = make_pad()
    pad.card_slot.atr = atr
    pad.insert()
    assert pad.expect(AFTER_INSERT, timeout=3) == CARD_ERROR
    assert pin_errors(pad) == [(NO_CARD, code)]
    assert "PENDING" not in pad.kinds()
    assert pad.card_fails() == 0
    pad.pull()
    pad.assert_no_crash()
