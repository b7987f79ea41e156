# Weak PINs (issue 9): the rules a new PIN must pass (PIN change at the pad: change.py; a
# reset at the window: reset.py). reason() says which rule a PIN breaks, 0 for none.
#
# The PIN is read where it lies, digit by digit (no copy, no slice, no string: nothing
# holding its digits is allocated here; the caller wipes its buffer). Only the low four
# bits of each PIN byte are compared, so a PIN of ASCII digits ("1" is 0x31) and one of
# digit values 0-9 (as pin_entry leaves them in the pad's buffer) give the same answer.
# The helpers keep few locals, so their frames stay on the C stack, not the heap.
#
# Codes (the screen that names the rule is message WEAK + code: lang_*.txt lines 17-21):
#   1 one digit repeated (111111)
#   2 a run up or down, each digit one more (123456) or one less (654321) than the one
#     before; no wrap-around (890123 is not a run)
#   3 repeated pairs or triples: the PIN repeats its first 2 digits (121212) or its
#     first 3 (123123) to the end, at least twice over (a length of 4 or more for
#     pairs, 6 or more for triples); 112233 is acceptable (pairs of equal digits are
#     not a repeated pair)
#   4 the holder's birth date, YYMMDD or MMDDYY, from the ID number's YYYYMMDD (holder_id
#     bytes 6..13, GB 11643)
#   5 the last six characters of the holder's ID number (an ID ending in the check
#     character X never matches a PIN of digits)
# Rules 1-3 apply to any length (n >= 2); rules 4 and 5 are six-digit rules: they apply
# to a 6-digit PIN and a holder_id of 18 characters (EF06), and are skipped without one
# (holder_id None).
from micropython import const

WEAK = const(16)  # the message of code r is WEAK + r (messages.py names no weak-PIN line)


def _period(pin, n, p):
    """Every digit equals the one p places before it."""
    for i in range(p, n):
        if (pin[i] ^ pin[i - p]) & 15:
            return False
    return True


def _run(pin, n, s):
    """Each digit is the one before it plus s (1 up, -1 down)."""
    for i in range(1, n):
        if pin[i] & 15 != (pin[i - 1] & 15) + s:
            return False
    return True


def _is(pin, k, h, o, m):
    """The PIN's digits k..k+m-1 are h[o..o+m-1], which must be ASCII digits."""
    for i in range(m):
        c = h[o + i]
        if c < 48 or c > 57 or (c ^ pin[k + i]) & 15:
            return False
    return True


def reason(pin, n, holder_id):
    """0 if pin[0:n] is acceptable, else the code (1-5) of the first rule it breaks;
    holder_id: the 18 ASCII bytes of the card's EF06, or None (rules 4 and 5 skipped)."""
    if n < 2:
        return 0
    if _period(pin, n, 1):
        return 1
    if _run(pin, n, 1) or _run(pin, n, -1):
        return 2
    if n >= 4 and _period(pin, n, 2) or n >= 6 and _period(pin, n, 3):
        return 3
    if holder_id is None or n != 6 or len(holder_id) != 18:
        return 0
    if _is(pin, 0, holder_id, 8, 6) or _is(pin, 0, holder_id, 10, 4) and \
            _is(pin, 4, holder_id, 8, 2):
        return 4
    if _is(pin, 0, holder_id, 12, 6):
        return 5
    return 0
