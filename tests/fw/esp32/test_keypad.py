# boards/esp32_pinpad/keypad.py on the fake matrix: scripted presses read the way the
# app's wait loop reads them (select.poll on the keypad), debounce, no repeat, a stuck key.
import select
import time

import mptest
from mptest import eq, true

import pins as P
from world import KeyMatrix
from keypad import Keypad


class Dog:
    feeds = 0

    def feed(self):
        self.feeds += 1


def keys_within(kp, ms):
    """Every key the poll loop gets within ms (as firmware/events.py waits for them)."""
    p = select.poll()
    p.register(kp, select.POLLIN)
    got = []
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        if p.poll(max(1, time.ticks_diff(end, time.ticks_ms()))):
            got.append(kp.read_key())
    return "".join(got)


def test_scripted_keys_in_order():
    m = KeyMatrix(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    dog = Dog()
    kp = Keypad(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP, dog)
    for i, k in enumerate("123456E"):
        m.press(k, 20 + 100 * i, 50)
    eq(keys_within(kp, 900), "123456E")
    true(dog.feeds > 50, "the poll loop feeds the watchdog (%d)" % dog.feeds)


def test_bounce_is_not_a_key_and_a_held_key_counts_once():
    m = KeyMatrix(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    kp = Keypad(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    m.press("5", 10, 6)  # contact bounce: 6 ms down
    m.press("7", 60, 900)  # held almost a second: one key, no repeat
    eq(keys_within(kp, 1100), "7")


def test_stuck_key_is_masked_and_reported_others_still_work():
    m = KeyMatrix(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    kp = Keypad(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    m.stick("8")  # down from now on
    eq(keys_within(kp, 3300), "8")  # it typed once (a press), then went stuck
    eq(kp.stuck, "8")
    m.press("1", 20, 60)  # 1 shares 8's column ... and 9 its row: both still read
    m.press("9", 200, 60)
    m.press("E", 400, 60)
    eq(keys_within(kp, 700), "19E")


def test_key_down_at_power_up_is_stuck_from_the_start():
    m = KeyMatrix(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    m.stick("0")
    kp = Keypad(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    eq(kp.stuck, "0")
    m.press("4", 20, 60)
    eq(keys_within(kp, 300), "4")  # the stuck 0 never types
    m.stuck.discard("0")  # freed: it works again once seen up
    m.press("0", 50, 60)
    eq(keys_within(kp, 300), "0")


mptest.main(globals())
