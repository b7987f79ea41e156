# The start of a window boot (protocol.md 9.7; winboot.py loads it after window.py, and it
# drops itself): the host's W request checked, READY, the window's hooks in the pad. Its
# own module so that its code is gone by the time the card's session needs the room.
import sys

from micropython import const

import window as W
from cmac import ct_eq

# journal kinds (journal.py; private here: a name costs RAM)
_J_TAMPER = const(3)
_J_AUTH_REFUSED = const(15)

_KW = const(0)  # window.py's keys: W


def run(pad, flow):
    """The W request (pad.linkbuf: its payload and the pad nonce of the session that sent
    it): its MAC under K(01,57) and the nonce checked (else ERROR, and the normal boot);
    READY; then the app's loop serves the card with the window's hooks (window.hook)."""
    sys.modules.pop("winstart", None)
    w = pad.linkbuf
    op = w[1]
    ev = pad.events
    if ev.host is not None:  # the host's frames are read by window.py, not the link
        ev._poll.unregister(ev.host.pollable)  # (events.py would answer them busy)
        ev.host = None
    if not ct_eq(W.mac(pad, _KW, w[:20]), w[20:36]):
        pad.journal.event(_J_TAMPER, None, b"\x4c\x57\x05")  # as the link's (9.4)
        W._send(pad, 5, 2, False)  # ERROR 05: MAC wrong
        return pad._reset()
    if not ct_eq(w[4:20], w[36:52]) or op - 1 & ~1:  # not the session's nonce: replayed
        pad.journal.event(_J_AUTH_REFUSED, None, b"\x4c\x57\x06")
        W._send(pad, 6, 2, False)  # ERROR 06: stale
        return pad._reset()
    W._S[0] = op
    W._M[:] = w[20:36]
    W._B[2] = op
    W._send(pad, 1, 3)  # READY
    W.hook(pad, flow, (w[2] << 8 | w[3]) * 1000)
