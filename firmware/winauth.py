# The window's authorisation (DESIGN section 7, docs/protocol.md 9.7): the card genuine,
# its holder ID read, CARD to the host with the pad's fresh nonce, the host's U checked.
# app.Pad.session loads it in a window boot once the card is identified (into the room the
# ATR's parser left) and drops it once the card is authorised, with secure.py (the flow's
# code goes into their room), so that neither the parser's code nor the flow's is ever in
# the heap beside it.
import gc
import time

from micropython import const

import secure
import window as W
from cmac import ct_eq, rand
from errors import SecurityError

# journal kinds (journal.py; private here: a name costs RAM)
_J_CARD_REFUSED = const(11)
# messages (messages.py: lines of lang_*.txt)
_M_CARD_ERROR = const(8)
_M_NOT_GENUINE = const(14)
_KU = const(1)  # window.py's keys: U, the holder-ID hash's
_KH = const(5)
# why the pad refused an authorisation (window.py: AUTH_REFUSED data byte 6, END's reason)
_A_MAC = const(1)  # U's MAC wrong: forged, or another pad's key
_A_STALE = const(2)  # not this operation's nonce: replayed
_A_EXPIRED = const(3)  # later than window_auth_s after the nonce
_A_PAD = const(4)
_A_CARD = const(5)
_A_OP = const(6)
_A_HOLDER = const(7)  # the card's holder ID does not hash to the authorisation's

_N = bytearray(16)  # the pad's nonce for the authorisation (wiped once one came)
# room held once the tries are read (the scan's garbage gone) and freed with this module: the
# piece the next phase's code needs (winrelay.py's: relay's 423 bytes, now in two pieces)
_ROOM_N = const(448)
_ROOM = None


def authorise(pad, c, sam):
    """The card genuine, its tries left (what a power cut left open settled), its holder ID
    read; CARD to the host with a fresh nonce; the authorisation U checked: (its ref, the
    tries flag for the intent), or None (refused or lost: the screen shown, AUTH_REFUSED
    journaled where the pad refused it)."""
    global _ROOM
    cid = c.card_id
    pad._state("pre", cid)
    try:
        secure.authenticate(c, sam)
    except SecurityError:
        pad.journal.event(_J_CARD_REFUSED, cid, b"\x03")  # app.py's reason: not genuine
        return pad.show(_M_NOT_GENUINE)
    try:
        tries, auth = pad._resolve(c, sam, True)
    except SecurityError:
        return pad.show(_M_CARD_ERROR)
    pad._state("post", cid)
    gc.collect()
    try:
        _ROOM = bytearray(_ROOM_N)
    except MemoryError:  # (winrelay.py's code goes where it can)
        pass
    c.holder = c.read(6, 18)  # EF06 (reset.py: the weak-PIN rules)
    e = c.read(5, 38)  # EF05 (card.py keeps only parts of it)
    b = W._B
    b[2:40] = e
    b[40] = 0xFF if tries is None else tries
    b[41] = 1 if auth else 0
    b[42:58] = rand(_N)
    t = time.ticks_ms()
    # CARD; U: op pad card nonce holder_hash ref MAC
    p = W._ask(pad, 2, 58, 0x55, _KU)
    if p is None:
        return pad.show(W._lost())
    why = _verdict(pad, c, p, t)
    for i in range(16):  # one-time: no authorisation is taken for this nonce again
        _N[i] = 0
    ref = bytes(p[58:64])  # (as the host sent it, also when refused)
    if why:
        return W._refuse(pad, cid, ref, why)
    return ref, (tries or 0) | (16 if auth else 0)


def _verdict(pad, c, p, t):
    """Why U is refused (0: it is not). Its own function: authorise's bytecode in two
    smaller pieces, which a window boot's fragmented heap places more easily (a 435-byte
    piece of it once found no room at 64k, the pad restarted: test_window_powercut)."""
    return (_A_MAC if not p[0]
            else _A_STALE if not ct_eq(p[26:42], _N)
            else _A_EXPIRED if time.ticks_diff(time.ticks_ms(), t) >
            pad.cfg.get("window_auth_s", 300) * 1000
            else _A_PAD if p[2:10] != pad.pad_id
            else _A_CARD if p[10:26] != c.card_id
            else _A_OP if p[1] != W._S[0]
            else _A_HOLDER if not ct_eq(W.mac(pad, _KH, _N, c.holder), p[42:58])
            else 0)
