# A window operation's intent settled (protocol.md 8.3, 9.7): WINDOW was journaled before
# its UNBLOCK or RELOAD went to the card, and no outcome followed (a power cut, the link
# lost). Loaded by retry.resolve only then (rare), and dropped after.
import sys

from micropython import const

_UNLOCK = const(12)
_RESET = const(13)
_WINDOW = const(22)
_W_NOT = const(0xFE)  # WINDOW data byte 7: closed, the card did not do it
_W_UNKNOWN = const(0xFF)  # closed, the pad cannot tell


def settle(retry, cid, now, mx, authentic, p):
    """The intent (p: the card's tries before the command) against the tries the card
    reports now: back at its maximum, authenticated, the card did it (UNLOCK / RESET with
    the intent's reference and 02: reconciled); still below, it did not (WINDOW FE); a
    plain figure, or a reset of a card that was at its maximum already, the pad cannot
    tell (WINDOW FF: the run held here stays until an authenticated maximum ends it)."""
    sys.modules.pop("wintent", None)
    reset = retry.authentic >> 2
    kind = _RESET if reset else _UNLOCK
    j = retry.j
    ref = bytes(6)
    for r in j.iter_from(0):  # the intent's reference
        if r.raw[1] == _WINDOW and r.card_id == cid:
            ref = r.data[:6]
    if not authentic or now is None:
        out = _W_UNKNOWN
    elif now < mx:
        out = _W_NOT
    elif p < mx or not reset:  # (an UNBLOCK of a card at its maximum changes nothing)
        return j.append(kind, cid, ref + b"\x02")
    else:
        out = _W_UNKNOWN
    j.append(_WINDOW, cid, ref + bytes((kind, out)))
