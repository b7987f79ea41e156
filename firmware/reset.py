# PIN reset at the window (DESIGN section 7, docs/protocol.md 9.7): under the host's
# authorisation the holder types a new PIN twice at the pad (weak PINs refused with their
# reason, weakpin.py); the PSAM enciphers its PIN block (random fill) under the card's PIN
# session key and the window's key service MACs RELOAD PIN: the host never sees the PIN.
# Loaded by the window boot with window.py (pwrup.py); window.serve runs it for the card.
from micropython import const

import messages as M
import pin_entry
import pinblock
import weakpin
import window

# its messages (lang_*.txt; by number, as window.py's)
_NEW_PIN = const(24)
_NEW_PIN_AGAIN = const(25)
_PIN_MISMATCH = const(26)
_WEAK_PIN = const(27)  # + weakpin.reason() - 1: its rule (1 to 5)


def _digits(pad, n, into):
    # the PIN typed (pad.pin: digits 0-9) as ASCII digits in into, for weakpin
    for i in range(n):
        into[i] = pad.pin[i] + 48


def run(pad, c, sam):
    a = window.authorise(pad, c, sam)
    if not a:
        return
    wipe = pinblock.wipe
    first = bytearray(12)  # before the entry: no allocation between PIN and wipe
    block = bytearray(c.block)
    c.t0.until = None  # PIN entry: the session cap is over, the command cap stays
    ms = pad.cfg["pin_timeout_s"] * 1000
    try:
        while True:
            window._S[5] = _NEW_PIN  # (pin_entry's prompt, in the window's words)
            n = pin_entry.enter_pin(pad, pad.pin, ms)
            if n < 0:
                return pad.show(M.CANCELLED if n == pin_entry.CANCELLED else M.TIMED_OUT)
            _digits(pad, n, first)
            why = weakpin.reason(first, n, c.holder)
            if why:
                wipe(pad.pin)
                pad.show(_WEAK_PIN + why - 1)
                pad.events.wait_key(2000)
                continue
            for i in range(n):
                first[i] = pad.pin[i]
            window._S[5] = _NEW_PIN_AGAIN
            m = pin_entry.enter_pin(pad, pad.pin, ms)
            if m < 0:
                return pad.show(M.CANCELLED if m == pin_entry.CANCELLED else M.TIMED_OUT)
            d = m ^ n
            for i in range(n):
                d |= first[i] ^ pad.pin[i]
            if not d:
                break
            wipe(pad.pin)
            pad.show(_PIN_MISMATCH)
            pad.events.wait_key(2000)
        window._S[5] = 0
        pad.show(M.CHECKING)
        pinblock.build(pad.pin, n, block)
        wipe(pad.pin)
        wipe(first)
        window.relay(pad, c, sam, a[0], a[1], b"\x84\x5e\x00\x00", block)
    finally:
        wipe(pad.pin)
        wipe(first)
        wipe(block)
