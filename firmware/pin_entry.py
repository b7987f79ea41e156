# PIN entry on the keypad: digits shown as '*', Clear, Cancel, Enter, inactivity timeout.
# Returns the number of digits in buf; the caller wipes buf after use. On every other way
# out (Cancel, time-out, a pulled card, any exception) buf is wiped here.
from micropython import const

import messages as M
from errors import CardRemoved, Error

PIN_LEN = const(6)
_POLL_MS = const(250)


class Cancelled(Error):
    pass


class TimedOut(Error):
    pass


def enter_pin(pad, buf, timeout_ms):
    """Collect exactly PIN_LEN digits into buf; raises Cancelled, TimedOut or CardRemoved."""
    try:
        n = 0
        idle = 0
        msg = M.ENTER_PIN
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
                    raise TimedOut("PIN entry timed out")
                if not pad.board.card.present():
                    raise CardRemoved("card pulled during PIN entry")
                continue
            idle = 0
            if "0" <= k <= "9":
                if n < PIN_LEN:
                    buf[n] = ord(k) - 48
                    n += 1
                    msg = M.ENTER_PIN
                else:
                    pad.board.ui.beep(1)
            elif k == "C":
                for i in range(n):
                    buf[i] = 0
                n = 0
                msg = M.ENTER_PIN
            elif k == "X":
                raise Cancelled("cancelled")
            elif k == "E":
                if n == PIN_LEN:
                    return n
                pad.board.ui.beep(2)
                msg = M.PIN_LENGTH
    except BaseException:
        for i in range(len(buf)):
            buf[i] = 0
        raise
