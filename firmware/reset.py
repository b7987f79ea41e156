# PIN reset at the window (DESIGN section 7, docs/protocol.md 9.7): under the host's
# authorisation the holder types a new PIN twice at the pad (a mismatch or a weak PIN asks
# again, the reason on the screen: weakpin.py); the PSAM enciphers its PIN block (random
# fill) under the card's PIN session key and the window's key service MACs RELOAD PIN: the
# host never sees the PIN. Loaded by the window boot with window.py (pwrup.py), weakpin.py
# with it; app.Pad.session runs it for the card (window.hook).
import sys

from micropython import const

import pin_entry as P
import pinblock
import weakpin
import window

# messages (messages.py: lines of lang_*.txt)
_M_TIMED_OUT = const(11)
_M_CANCELLED = const(12)
_M_CHECKING = const(15)

sys.modules.pop("weakpin")  # (only this module's name keeps it: dropped once the new PIN
# passed it, as change.py does)

# change.py's messages (lang_*.txt lines; by number: no RAM for names)
_ENTER_NEW = const(24)
_NEW_AGAIN = const(25)
_PINS_DIFFER = const(26)


def run(pad, c, sam):
    global weakpin
    a = window.authorise(pad, c, sam)
    if not a:
        return
    wipe = pinblock.wipe
    pin, again = pad.pin, bytearray(12)  # every buffer made before the entries
    block = bytearray(c.block)
    ms = pad.cfg["pin_timeout_s"] * 1000
    c.t0.until = None  # PIN entry: the session cap is over, the command cap stays
    try:
        why = None
        while True:
            n = P.enter_pin(pad, pin, ms, _ENTER_NEW, why)
            if n < 0:
                return pad.show(_M_CANCELLED if n == P.CANCELLED else _M_TIMED_OUT)
            why = weakpin.reason(pin, n, c.holder)
            if why:
                why += weakpin.WEAK  # the rule's message, shown until the next key
                wipe(pin)
                continue
            m = P.enter_pin(pad, again, ms, _NEW_AGAIN)
            if m < 0:
                return pad.show(_M_CANCELLED if m == P.CANCELLED else _M_TIMED_OUT)
            m ^= n  # the lengths, then every digit, compared
            for i in range(n):
                m |= pin[i] ^ again[i]
            wipe(again)
            if not m:
                break
            wipe(pin)
            why = _PINS_DIFFER
        weakpin = None  # its room for the command
        pad.show(_M_CHECKING)
        pinblock.build(pin, n, block)
        wipe(pin)
        window.relay(pad, c, sam, a[0], a[1], b"\x84\x5e\x00\x00", block)
    finally:
        wipe(pin)
        wipe(again)
        wipe(block)
