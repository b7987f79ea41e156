"""The card-detect switch (docs/protocol.md 7.1, issue 10 item 7): the board reports a card
insertion or removal as an event, so the pad never polls an empty slot and serves a card
as soon as it is inserted. Without the switch the pad still finds cards by polling.

The real firmware on the simulator (tests/padkit.py); the slot server counts every
connection the pad makes to the card slot (a poll is a connection).
"""
import time

from padkit import ENTER, RESULT

RIGHT = "123456"


def test_an_empty_slot_is_not_polled(make_pad):
    pad = make_pad()
    before = pad.card_slot.connections
    time.sleep(1.5)  # five of the old 300 ms idle polls
    assert pad.card_slot.connections == before
    pad.attempt(RIGHT)  # and a card is served
    assert pad.card_slot.activations == 1
    pad.assert_no_crash()


def test_a_card_pulled_during_pin_entry_is_seen_at_once(make_pad):
    pad = make_pad()
    pad.insert()
    pad.expect(ENTER)
    pad.press("12")
    pad.pull(idle=False)
    assert pad.expect("^Card removed$")
    pad.expect(pad.idle)
    assert pad.card_fails() == 0
    pad.assert_no_crash()


def test_a_card_already_in_the_slot_at_boot_is_served(make_pad):
    pad = make_pad(boot=False)
    pad.insert()
    pad.mark()
    pad.start(env={"PAD_TRACE": "1"})
    pad.expect(ENTER, timeout=15)
    pad.press(RIGHT + "E")
    assert pad.expect(RESULT)[0] == "PIN OK"


def test_without_the_switch_the_pad_polls(make_pad):
    pad = make_pad(card_slot={"detect": False})
    assert "PAD_CARD_DETECT" not in pad.env()
    time.sleep(1)
    assert pad.card_slot.connections > 0  # polled: connections to the empty slot
    assert pad.attempt(RIGHT)[0] == "PIN OK"
    pad.assert_no_crash()
