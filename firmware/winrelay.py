# The window's command (DESIGN section 7, docs/protocol.md 9.7): the card's challenge to
# the host, the host's command MAC, the intent journaled, the command, the card's answer to
# the host and its verdict. Loaded once the card is authorised (unlock.py, reset.py), into
# the room the authorisation's code (winauth.py) leaves.
from micropython import const

import window as W

# journal kinds (journal.py; private here: a name costs RAM)
_J_PENDING = const(5)
_J_UNLOCK = const(12)
_J_RESET = const(13)
_J_WINDOW = const(22)
# messages (messages.py: lines of lang_*.txt; the window's from line 29, window.py)
_M_CARD_ERROR = const(8)
_UNLOCKED = const(32)
_PIN_RESET = const(33)
_KC = const(2)  # window.py's keys: C, V
_KV = const(3)
_A_CMD = const(8)  # why refused (window.py): the C message's MAC wrong


def relay(pad, c, sam, ref, flag, head, block=None):
    """The card's challenge to the host (with, for RELOAD, the new PIN block `block`
    enciphered by the PSAM under SK_pin of that challenge); the host's command MAC (C);
    the WINDOW intent, durable; the command to the card; its answer to the host; the
    host's authenticated verdict (V): UNLOCK / RESET journaled (ref, 01), or WINDOW FE
    (not done). Without a verdict the card is asked at once (its tries, authenticated:
    retry.resolve settles the intent)."""
    j, cid = pad.journal, c.card_id
    kind = _J_UNLOCK if head[1] == 0x24 else _J_RESET
    r = c.challenge()
    e = b""
    if block is not None:  # E_new (protocol.md 4): the PIN block under D(Kc_pin, R)
        sam.init(1, c.kv[0], sam.factors(c, r))  # (psam.T_PIN)
        e = sam.cipher(0, block, len(block))
    W._B[2:10] = r
    W._B[10:10 + len(e)] = e
    p = W._ask(pad, 3, 10 + len(e), 0x43, _KC)  # CHALLENGE; C: M(4) MAC
    if not p or not p[0]:
        return pad.show(W._lost()) if p is None else W._refuse(pad, cid, ref, _A_CMD)
    # the intent, durable before the command: WINDOW for the record (ref, op, the tries
    # before), then PENDING for the counter (retry.py: the card's next insertion settles it
    # with its tries, as an attempt a cut left open: POWER_RECOVERY says which)
    j.append(_J_WINDOW, cid, ref + bytes((kind, flag)))
    j.append(_J_PENDING, cid, bytes((flag & 15, pad.cfg["pad_limit"], flag >> 4)))
    _answer(pad, c, sam, ref, kind, c.command(head, e + p[1:5]))


def _answer(pad, c, sam, ref, kind, got):
    """The card's answer to the host and its verdict, or the card's own tries (relay's
    second half: its bytecode in two pieces, which a window boot's fragmented heap places
    more easily: its 423 bytes in one once found no room at 64k, test_window_powercut)."""
    j, cid = pad.journal, c.card_id
    data, sw = got
    W._B[2:4] = sw.to_bytes(2, "big")
    n = min(len(data), 10)
    W._B[4:4 + n] = data[:n]
    p = W._ask(pad, 4, 4 + n, 0x56, _KV)  # ANSWER; V: done(1) SW(2) MAC
    if p and p[0]:
        W._S[3] = p[2] << 8 | p[3]
        if p[1] == 1 and W._S[3] == 0x9000:
            j.append(kind, cid, ref + b"\x01")  # the card did it: the run ends here
            return pad.show(_UNLOCKED if kind == _J_UNLOCK else _PIN_RESET)
        j.append(_J_WINDOW, cid, ref + bytes((kind, 0xFE)))  # the card did not
    try:  # the card's own tries settle the intent now (app.Pad._resolve, retry.resolve)
        pad._resolve(c, sam)
    except Exception:
        pass  # (left open: settled at its next insertion)
    pad.show(_M_CARD_ERROR if p and p[0] else W._lost())
