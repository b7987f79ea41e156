# PIN reset at the window (DESIGN section 7, docs/protocol.md 9.7): under the host's
# authorisation the holder types a new PIN twice at the pad (a mismatch or a weak PIN asks
# again, the reason on the screen: weakpin.py); the PSAM enciphers its PIN block (random
# fill) under the card's PIN session key and the window's key service MACs RELOAD PIN: the
# host never sees the PIN. app.Pad.session loads it for the card in a window boot
# (window.hook) once the authorisation (winauth.py) is done and dropped; then the new PIN
# (the PIN entry's code loaded for it, dropped), the command (winrelay.py), each in its turn.
import gc
import sys

from micropython import const


# messages (messages.py: lines of lang_*.txt)
_M_TIMED_OUT = const(11)
_M_CANCELLED = const(12)
_M_CHECKING = const(15)

# change.py's messages (lang_*.txt lines; by number: no RAM for names)
_ENTER_NEW = const(24)
_NEW_AGAIN = const(25)
_PINS_DIFFER = const(26)
_ROOM = const(448)  # winrelay.py's code (relay's 423 bytes, now in two pieces)


def run(pad, c, sam, a):
    # a: winauth.authorise's (the authorisation's ref, the tries flag for the intent)
    block = bytearray(c.block)
    try:
        room = bytearray(_ROOM)  # winrelay.py's piece, held through the PIN entry (whose
    except MemoryError:  # code and buffers leave the heap in smaller pieces)
        room = None
    try:
        gc.collect()
        if _new_pin(pad, c, block):  # the PIN entry's code out, the command's in
            room = None
            gc.collect()
            __import__("winrelay").relay(pad, c, sam, a[0], a[1], b"\x84\x5e\x00\x00", block)
    finally:
        for i in range(len(block)):
            block[i] = 0


def _new_pin(pad, c, block):
    # The new PIN typed twice (a mismatch or a weak PIN asks again) into its PIN block:
    # True, or False (cancelled or timed out: shown). The PIN entry's modules are loaded
    # for it and dropped after (sys.modules: only the local names here keep them).
    import pin_entry as P
    import pinblock
    import weakpin
    for m in ("pin_entry", "pinblock", "weakpin"):
        sys.modules.pop(m)
    wipe = pinblock.wipe
    pin, again = pad.pin, bytearray(12)  # every buffer made before the entries
    ms = pad.cfg["pin_timeout_s"] * 1000
    c.t0.until = None  # PIN entry: the session cap is over, the command cap stays
    try:
        why = None
        while True:
            n = P.enter_pin(pad, pin, ms, _ENTER_NEW, why)
            if n < 0:
                pad.show(_M_CANCELLED if n == P.CANCELLED else _M_TIMED_OUT)
                return False
            why = weakpin.reason(pin, n, c.holder)
            if why:
                why += weakpin.WEAK  # the rule's message, shown until the next key
                wipe(pin)
                continue
            m = P.enter_pin(pad, again, ms, _NEW_AGAIN)
            if m < 0:
                pad.show(_M_CANCELLED if m == P.CANCELLED else _M_TIMED_OUT)
                return False
            m ^= n  # the lengths, then every digit, compared
            for i in range(n):
                m |= pin[i] ^ again[i]
            wipe(again)
            if not m:
                break
            wipe(pin)
            why = _PINS_DIFFER
        pad.show(_M_CHECKING)
        pinblock.build(pin, n, block)
        return True
    finally:
        wipe(pin)
        wipe(again)
