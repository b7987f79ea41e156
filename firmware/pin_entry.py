# PIN entry on the keypad: digits shown as '*', Clear, Cancel, Enter, inactivity timeout.
# Returns the number of digits in buf; the caller wipes buf after use. On every other way
# out (Cancel, time-out, a pulled card, any exception) buf is wiped here. Cancel and the
# time-out are results, not exceptions (an exception class costs more RAM than this code).
from micropython import const

from errors import CardRemoved

# messages (messages.py: lines of lang_*.txt)
_M_ENTER_PIN = const(2)
_M_PIN_LENGTH = const(13)

PIN_LEN = const(6)
CANCELLED = const(-1)
TIMED_OUT = const(-2)
_POLL_MS = const(250)


def enter_pin(pad, buf, timeout_ms, prompt=_M_ENTER_PIN, first=None):
    """Collect exactly PIN_LEN digits into buf: their number, else CANCELLED or TIMED_OUT
    (buf wiped); raises CardRemoved (buf wiped). prompt: the message asking for them (its
    line 2 shows a star a digit); first: a message shown instead until the first key
    (why the PIN is asked again: change.py)."""
    try:
        n = 0
        idle = 0
        msg = first or prompt
        while True:
            pad.show(msg, "*" * n)
            k = pad.events.wait_key(_POLL_MS)
            if k == "":  # the card-detect switch: inserted or pulled
                if not pad.board.card.present():
                    raise CardRemoved("card pulled during PIN entry")
                continue
            if k is None:
                idle += _POLL_MS
                if idle >= timeout_ms:
                    n = TIMED_OUT
                    break
                if not pad.board.card.present():
                    raise CardRemoved("card pulled during PIN entry")
                continue
            idle = 0
            if "0" <= k <= "9":
                if n < PIN_LEN:
                    buf[n] = ord(k) - 48
                    n += 1
                    msg = prompt
                else:
                    pad.board.ui.beep(1)
            elif k == "C":
                for i in range(n):
                    buf[i] = 0
                n = 0
                msg = prompt
            elif k == "X":
                n = CANCELLED
                break
            elif k == "E":
                if n == PIN_LEN:
                    return n
                pad.board.ui.beep(2)
                msg = _M_PIN_LENGTH
    except BaseException:
        for i in range(len(buf)):
            buf[i] = 0
        raise
    for i in range(len(buf)):
        buf[i] = 0
    return n
