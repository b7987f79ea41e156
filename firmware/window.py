# Unlock and reset at the window (DESIGN section 7, docs/protocol.md 9.7): what the two
# window flows share. Loaded by the window boot (app.py keeps the host's W request; pwrup.py
# runs it), with the card session's code and the flow (unlock.py, reset.py); the link's
# code (link.py) is not loaded: the window's frames are read and written here (hex both
# ways, CRC-32, each message MACed under K(d, its type) over its bytes and the MAC of the
# message before it). Small on purpose: it shares the 64 KB heap with a card session.
import gc
import select
import time
from binascii import crc32, hexlify, unhexlify

from micropython import const

import journal as J
import messages as M
from cmac import ct_eq, mac as _mac, rand
from cryptolib import aes
from errors import CardRemoved, NoCard, ProtocolError, SecurityError

# the window's screens (lang_*.txt lines 18-24; 25-32 are reset.py's): by number here, a
# name in messages.py would cost the normal boot's RAM (tests/fw/test_messages.py checks
# that both languages have every line)
_WIN_UNLOCK = const(17)
_WIN_RESET = const(18)
_NOT_AUTHORISED = const(19)
_ID_MISMATCH = const(20)
_UNLOCKED = const(21)
_PIN_RESET = const(22)
_LINK_LOST = const(23)
_WINDOW = const(22)  # journal kind WINDOW (protocol.md 8.3)
# the keys (kdf: app.py keeps them in pad.sched): W, U, C, V, w, the holder-ID hash's
_KW = const(0)
_KU = const(1)
_KC = const(2)
_KV = const(3)
_KA = const(4)
_KH = const(5)
# why the pad refused an authorisation (AUTH_REFUSED data byte 6, the END's reason)
_A_MAC = const(1)  # U's MAC wrong: forged, or another pad's key
_A_STALE = const(2)  # not this operation's nonce: replayed
_A_EXPIRED = const(3)  # later than window_auth_s after the nonce
_A_PAD = const(4)
_A_CARD = const(5)
_A_OP = const(6)
_A_HOLDER = const(7)  # the card's holder ID does not hash to the authorisation's
_A_CMD = const(8)  # the C message's MAC wrong
_ABORT = const(16)  # the host ended the operation (its ERROR frame)

_B = bytearray(100)  # a frame's payload: the pad's built here
_M = bytearray(16)  # the MAC of the operation's last message: the next one chains to it
_N = bytearray(16)  # the pad's nonce for the authorisation (wiped once one came)
# op, the nonce's time (ticks_ms | 1; 0: none), the END's reason, the card's SW (the
# host's verdict), the screen shown last, the prompt for M.ENTER_PIN (reset.py)
_S = [0, 0, 0, 0, 0, 0]


def mac(pad, k, data, more=b"", out=None):
    # CMAC under the window's key k (its schedule made now, dropped after)
    return _mac(aes(pad.sched[k], 1), data, more, out)


def _send(pad, n, k=True):
    # The pad's message _B[0:n] (w: MACed under K(02,77) || the chain; else ERROR) as a
    # hex frame; the MAC is the chain's new link.
    b = memoryview(_B)
    if k:
        mac(pad, _KA, b[:n], _M, _M)
        b[n:n + 16] = _M
        n += 16
    b[n:n + 4] = crc32(b[:n]).to_bytes(4, "big")
    pad.board.host.write(b"#" + hexlify(b[:n + 4]) + b"\n")


def _step(pad, step, n=3, k=True):
    # w step: _B[2:n] filled by the caller
    _B[0] = 0x77 if k else 0x65
    _B[1] = step
    _send(pad, n, k)


def _recv(pad, t, size):
    # The payload of the host's next frame of type t and size bytes, within window_link_s;
    # None when none came (the link lost), or the host's ERROR frame ended the operation.
    # Other frames and bytes are ignored (9.7).
    h = pad.board.host
    p = select.poll()
    p.register(h.pollable, select.POLLIN)
    end = time.ticks_add(time.ticks_ms(), pad.cfg.get("window_link_s", 20) * 1000)
    line = None
    while True:
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0 or not p.poll(left):
            return None
        c = h.read(1)
        if not c:
            return None
        if c == b"#":
            line = bytearray()
        elif line is None:
            pass
        elif c == b"\n" or c == b"\r":
            try:
                f = unhexlify(line)
            except ValueError:
                f = b""
            line = None
            if len(f) < 5 or crc32(f[:-4]) != int.from_bytes(f[-4:], "big"):
                continue
            if f[0] == 0x65:
                _S[2] = _ABORT
                return None
            if f[0] == t and len(f) == size + 4:
                return f[:-4]
        elif len(line) < 200:
            line += c


def run(pad):
    """The window boot's one operation (pwrup.py): the W request checked (its MAC under
    K(01,57), the pad nonce of the session that sent it), READY, the prompt, the card and
    its flow (app.Pad.session calls pad.verify: the flow's run), END to the host; back to
    the normal boot once the card is out (the caller restarts)."""
    w = pad.linkbuf
    op = w[1]
    ev = pad.events
    if ev.host is not None:  # the host's frames are read here (events.py would answer them)
        ev._poll.unregister(ev.host.pollable)
        ev.host = None
    flow = __import__("unlock" if op == 1 else "reset")
    gc.collect()
    if pad.trace:
        pad.trace("mem window %d %d" % (gc.mem_alloc(), gc.mem_free()))
    pad.show = lambda msg, arg="": _show(pad, msg, arg)
    pad.verify = lambda c, sam: flow.run(pad, c, sam)
    if not ct_eq(mac(pad, _KW, w[:20]), w[20:36]):
        pad.journal.event(J.TAMPER, None, b"\x4c\x57\x05")  # as the link's (9.4)
        return _step(pad, 5, 2, False)  # ERROR 05: MAC wrong
    if not ct_eq(w[4:20], w[36:52]) or op - 1 & ~1:  # not the session's nonce: replayed
        pad.journal.event(J.AUTH_REFUSED, None, b"\x4c\x57\x06")
        return _step(pad, 6, 2, False)  # ERROR 06: stale
    _S[0] = op
    _M[:] = w[20:36]
    _B[2] = op
    _step(pad, 1)  # READY
    pad.show(_WIN_UNLOCK if op == 1 else _WIN_RESET)
    card = pad.board.card
    end = time.ticks_add(time.ticks_ms(), (w[2] << 8 | w[3]) * 1000)
    while True:  # the holder's card, within the wait the host gave
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0 or ev.wait_key(min(left, 300)) == "X":
            pad.show(M.TIMED_OUT if left <= 0 else M.CANCELLED)
            return _end(pad)
        try:
            if not getattr(card, "inserted", True):
                raise NoCard
            card.activate()
            break
        except NoCard:
            pass
    pad.in_session = True
    try:
        pad.session()
    except CardRemoved:
        pad.show(M.CARD_PULLED)
    _end(pad)
    while card.present():  # the result stays until the card is taken
        ev.wait_key(300)
    card.deactivate()


def _show(pad, msg, arg):
    # pad.show in a window boot: the screen remembered (END names it), and where pin_entry
    # asks for a PIN, reset.py's prompt
    if msg == M.ENTER_PIN and _S[5]:
        msg = _S[5]
    _S[4] = msg
    type(pad).show(pad, msg, arg)


def _end(pad):
    # END: the screen shown (its message number), why an authorisation was refused, the
    # card's SW (the host's verdict)
    _B[2] = _S[4]
    _B[3] = _S[2]
    _B[4:6] = _S[3].to_bytes(2, "big")
    _step(pad, 5, 6)


def authorise(pad, c, sam):
    """The card genuine, its tries left (what a power cut left open settled), its holder ID
    read; CARD to the host with a fresh nonce; the authorisation U checked: (its ref, the
    tries flag for the intent), or None (refused or lost: the screen shown, AUTH_REFUSED
    journaled where the pad refused it)."""
    import secure
    from card import xfer
    j, cid = pad.journal, c.card_id
    pad._state("pre", cid)
    try:
        secure.authenticate(c, sam)
    except SecurityError:
        j.event(J.CARD_REFUSED, cid, b"\x03")  # app.py's reason: not genuine
        return pad.show(M.NOT_GENUINE)
    try:
        tries, auth = pad._resolve(c, sam)
    except SecurityError:
        return pad.show(M.CARD_ERROR)
    pad._state("post", cid)
    c.holder = xfer(c.t0, b"\x00\xb0\x86\x00\x12", "EF06")  # (reset.py: weak PINs)
    e = xfer(c.t0, b"\x00\xb0\x85\x00\x26", "EF05")  # (card.py keeps only parts)
    if len(c.holder) != 18 or len(e) != 38:
        raise ProtocolError("EF05/06")
    b = _B
    b[2:40] = e
    b[40] = 0xFF if tries is None else tries
    b[41] = 1 if auth else 0
    b[42:58] = rand(_N)
    _S[1] = time.ticks_ms() | 1
    _step(pad, 2, 58)  # CARD
    p = _recv(pad, 0x55, 64 + 16)  # U op pad card nonce holder_hash ref MAC
    if p is None:
        _S[1] = 0
        return pad.show(_lost())
    why = 0
    if not ct_eq(mac(pad, _KU, p[:64]), p[64:80]):
        why = _A_MAC
    elif not _S[1] or not ct_eq(p[26:42], _N):
        why = _A_STALE
    elif time.ticks_diff(time.ticks_ms(), _S[1]) > pad.cfg.get("window_auth_s", 300) * 1000:
        why = _A_EXPIRED
    elif p[2:10] != pad.pad_id:
        why = _A_PAD
    elif p[10:26] != cid:
        why = _A_CARD
    elif p[1] != _S[0]:
        why = _A_OP
    elif not ct_eq(mac(pad, _KH, _N, c.holder), p[42:58]):
        why = _A_HOLDER
    _M[:] = p[64:80]
    for i in range(16):  # one-time: no authorisation is taken for this nonce again
        _N[i] = 0
    _S[1] = 0
    if why:
        return _refuse(pad, cid, p[58:64], why)
    return p[58:64], (tries or 0) | (16 if auth else 0)


def _refuse(pad, cid, ref, why):
    _S[2] = why
    pad.journal.event(J.AUTH_REFUSED, cid, ref + bytes((why,)))
    pad.show(_ID_MISMATCH if why == _A_HOLDER else _NOT_AUTHORISED)


def _lost():
    # the screen when no host message came: the host ended it, or the link is lost
    return _NOT_AUTHORISED if _S[2] == _ABORT else _LINK_LOST


def relay(pad, c, sam, ref, flag, head, block=None):
    """The card's challenge to the host (with, for RELOAD, the new PIN block `block`
    enciphered by the PSAM under SK_pin of that challenge); the host's command MAC (C);
    the WINDOW intent, durable; the command to the card; its answer to the host; the
    host's authenticated verdict (V): UNLOCK / RESET journaled (ref, 01), or WINDOW FE
    (not done). Without a verdict the card is asked at once (its tries, authenticated:
    retry.resolve settles the intent)."""
    j, cid = pad.journal, c.card_id
    kind = J.UNLOCK if head[1] == 0x24 else J.RESET
    r = c.challenge()
    e = b""
    if block is not None:  # E_new (protocol.md 4): the PIN block under D(Kc_pin, R)
        sam.init(1, c.kv[0], sam.factors(c, r))  # (psam.T_PIN)
        e = sam.cipher(0, block, len(block))
    _B[2:10] = r
    _B[10:10 + len(e)] = e
    _step(pad, 3, 10 + len(e))  # CHALLENGE
    p = _recv(pad, 0x43, 5 + 16)  # C M(4) MAC
    if p is None:
        return pad.show(_lost())
    if not ct_eq(mac(pad, _KC, p[:5], _M), p[5:21]):
        return _refuse(pad, cid, ref, _A_CMD)
    _M[:] = p[5:21]
    j.append(_WINDOW, cid, ref + bytes((kind, flag)))  # the intent: durable first
    data, sw = c.command(head, e + p[1:5])
    _B[2:4] = sw.to_bytes(2, "big")
    n = min(len(data), 10)
    _B[4:4 + n] = data[:n]
    _step(pad, 4, 4 + n)  # ANSWER
    p = _recv(pad, 0x56, 4 + 16)  # V done(1) SW(2) MAC
    if p is None or not ct_eq(mac(pad, _KV, p[:4], _M), p[4:20]):
        try:  # no verdict: the card's own tries settle the intent (retry.resolve)
            pad._resolve(c, sam)
        except Exception:
            pass  # (left open: settled at its next insertion)
        return pad.show(_lost())
    _M[:] = p[4:20]
    _S[3] = p[2] << 8 | p[3]
    if p[1] == 1 and _S[3] == 0x9000:
        j.append(kind, cid, ref + b"\x01")  # the card did it: the run ends here
        return pad.show(_UNLOCKED if kind == J.UNLOCK else _PIN_RESET)
    j.append(_WINDOW, cid, ref + bytes((kind, 0xFE)))
    pad.show(M.CARD_ERROR)
