# Unlock and reset at the window (DESIGN section 7, docs/protocol.md 9.7): the window's
# frames, the authorisation, the relay of the card command, and unlock itself (reset.py
# adds the new PIN). Loaded by the window boot (padinit.py keeps the host's W request;
# pwrup.py loads it and the flow, then winstart.py, which drops itself; hook()); the link's
# code (link.py) is not loaded: the window's frames are read and written here (hex both
# ways, CRC-32, each message MACed under K(d, its type) over its bytes and the MAC of the
# message before it). Small on purpose: it shares the heap with a card session (it needs
# more than 64 KB yet: tests/test_window.py WINDOW_HEAP, protocol.md 9.7).
import gc
import select
import time
from binascii import crc32, hexlify, unhexlify

from micropython import const

from cmac import ct_eq, mac as _mac, rand
from cryptolib import aes
from errors import SecurityError

# journal kinds (journal.py; private here: a name costs RAM)
_J_PENDING = const(5)
_J_CARD_REFUSED = const(11)
_J_UNLOCK = const(12)
_J_RESET = const(13)
_J_AUTH_REFUSED = const(15)
# messages (messages.py: lines of lang_*.txt)
_M_IDLE = const(0)
_M_READING = const(1)
_M_CARD_ERROR = const(8)
_M_TIMED_OUT = const(11)
_M_PIN_LENGTH = const(13)
_M_NOT_GENUINE = const(14)
_M_CHECKING = const(15)

# the window's screens (lang_*.txt, from line 29): by number here, a
# name in messages.py would cost the normal boot's RAM (tests/fw/test_messages.py checks
# that both languages have every line)
_WIN_UNLOCK = const(28)
_WIN_RESET = const(29)
_NOT_AUTHORISED = const(30)
_ID_MISMATCH = const(31)
_UNLOCKED = const(32)
_PIN_RESET = const(33)
_LINK_LOST = const(34)
_J_WINDOW = const(22)  # journal kind WINDOW (protocol.md 8.3)
# the keys (kdf: padinit.py keeps them in pad.sched): W, U, C, V, w, the holder-ID hash's
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

_AES = const(320)  # a cryptolib.aes object (unix port, 64-bit)
_R = [bytearray(_AES)]  # its room, kept while no MAC is computed (mac)
_B = bytearray(100)  # a frame's payload: the pad's built here
_M = bytearray(16)  # the MAC of the operation's last message: the next one chains to it
_N = bytearray(16)  # the pad's nonce for the authorisation (wiped once one came)
# op, (unused), the END's reason, the card's SW (the host's verdict), the screen shown
# last, (unused), the end of the holder's time for the card, 1 a card came (2 END sent)
_S = [0, 0, 0, 0, 0, 0, 0, 0]


def mac(pad, k, data, more=b"", out=None):
    # CMAC under the window's key k: its AES schedule (320 bytes on the unix port) made
    # now in the room the reserve _R leaves, and the reserve made again once it is gone
    # (a card session breaks the heap into pieces: a schedule made anywhere may not fit)
    _R[0] = None
    gc.collect()
    a = aes(bytes(pad.sched[k * 16:k * 16 + 16]), 1)
    out = _mac(a, data, more, out)
    a = None
    gc.collect()
    try:
        _R[0] = bytearray(_AES)
    except MemoryError:
        pass
    return out


def _send(pad, step, n, k=True):
    # The pad's message _B[2:n] as a hex frame: w step (MACed under K(02,77) over its
    # bytes || the chain: its MAC is the chain's new link), or (k False) ERROR step.
    b = memoryview(_B)
    b[0] = 0x77 if k else 0x65
    b[1] = step
    if k:
        mac(pad, _KA, b[:n], _M, _M)
        b[n:n + 16] = _M
        n += 16
    b[n:n + 4] = crc32(b[:n]).to_bytes(4, "big")
    pad.board.host.write(b"#" + hexlify(b[:n + 4]) + b"\n")


def _ask(pad, step, n, t, k):
    # The pad's w step (_B[2:n]), then the host's answer, a frame of type t and k's size
    # (its MAC under K(01,t) over its bytes || the chain, U's over its bytes: the chain
    # moves on to it): its
    # payload; None when none came within window_link_s (the link lost, or the host's
    # ERROR frame ended the operation: _S[2]); its type byte 0 when its MAC is wrong.
    # Other frames and bytes are ignored.
    _send(pad, step, n)
    h = pad.board.host
    p = select.poll()
    p.register(h.pollable, select.POLLIN)
    end = time.ticks_add(time.ticks_ms(), pad.cfg.get("window_link_s", 20) * 1000)
    size = (0, 80, 21, 20)[k]  # U, C, V
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
                m = f[size - 16:size]
                if not ct_eq(mac(pad, k, f[:size - 16], b"" if k == _KU else _M), m):
                    f = bytearray(f)  # (U is not chained: the pad's nonce is its field)
                    f[0] = 0
                    return f
                _M[:] = m
                return f
        elif len(line) < 200:
            line += c


def hook(pad, flow, ms):
    """The window boot runs in the app's own loop (app.Pad.run), with these in the pad:
    show (the prompt where the idle screen was, the screen remembered: END names it) and
    the session's flow (flow(pad, card, sam): unlock.run, reset.run; END to the host once
    it is over); ms: the holder's time for the card (the host's wait). Back at the idle
    screen after a card, or past that time, the pad restarts into its normal boot."""
    _S[6] = time.ticks_add(time.ticks_ms(), ms)
    pad.show = lambda msg, arg="": _show(pad, msg, arg)
    pad.session = lambda name: type(pad).session(pad, flow)  # (app.Pad.run calls it)


def _show(pad, msg, arg):
    # pad.show in a window boot (hook)
    if msg == _M_IDLE:
        if _S[7] or time.ticks_diff(time.ticks_ms(), _S[6]) > 0:
            if not _S[7]:  # the holder's time is over
                _S[4] = _M_TIMED_OUT
                type(pad).show(pad, _M_TIMED_OUT, "")
            if _S[7] < 2:
                _end(pad)
            pad._reset()
        msg = _WIN_UNLOCK if _S[0] == 1 else _WIN_RESET
    elif msg == _M_READING:
        _S[7] = _S[7] or 1  # a card: the next idle screen ends the operation
    _S[4] = msg
    type(pad).show(pad, msg, arg)
    if _S[7] < 2 and (4 < msg < 17 and msg != _M_PIN_LENGTH and msg != _M_CHECKING
                      or _NOT_AUTHORISED <= msg <= _LINK_LOST):
        _end(pad)  # a final screen: the operation is over


def _end(pad):
    # END (once): the screen shown (its message number), why an authorisation was
    # refused, the card's SW (the host's verdict)
    _S[7] = 2
    _B[2] = _S[4]
    _B[3] = _S[2]
    _B[4:6] = _S[3].to_bytes(2, "big")
    _send(pad, 5, 6)


def authorise(pad, c, sam):
    """The card genuine, its tries left (what a power cut left open settled), its holder ID
    read; CARD to the host with a fresh nonce; the authorisation U checked: (its ref, the
    tries flag for the intent), or None (refused or lost: the screen shown, AUTH_REFUSED
    journaled where the pad refused it)."""
    import secure
    cid = c.card_id
    pad._state("pre", cid)
    try:
        secure.authenticate(c, sam)
    except SecurityError:
        pad.journal.event(_J_CARD_REFUSED, cid, b"\x03")  # app.py's reason: not genuine
        return pad.show(_M_NOT_GENUINE)
    try:
        tries, auth = pad._resolve(c, sam)
    except SecurityError:
        return pad.show(_M_CARD_ERROR)
    pad._state("post", cid)
    c.holder = c.read(6, 18)  # EF06 (reset.py: the weak-PIN rules)
    e = c.read(5, 38)  # EF05 (card.py keeps only parts of it)
    b = _B
    b[2:40] = e
    b[40] = 0xFF if tries is None else tries
    b[41] = 1 if auth else 0
    b[42:58] = rand(_N)
    t = time.ticks_ms()
    # CARD; U: op pad card nonce holder_hash ref MAC
    p = _ask(pad, 2, 58, 0x55, _KU)
    if p is None:
        return pad.show(_lost())
    why = (_A_MAC if not p[0]
           else _A_STALE if not ct_eq(p[26:42], _N)
           else _A_EXPIRED if time.ticks_diff(time.ticks_ms(), t) >
           pad.cfg.get("window_auth_s", 300) * 1000
           else _A_PAD if p[2:10] != pad.pad_id
           else _A_CARD if p[10:26] != cid
           else _A_OP if p[1] != _S[0]
           else _A_HOLDER if not ct_eq(mac(pad, _KH, _N, c.holder), p[42:58])
           else 0)
    for i in range(16):  # one-time: no authorisation is taken for this nonce again
        _N[i] = 0
    ref = bytes(p[58:64])  # (as the host sent it, also when refused)
    if why:
        return _refuse(pad, cid, ref, why)
    return ref, (tries or 0) | (16 if auth else 0)


def _refuse(pad, cid, ref, why):
    _S[2] = why
    pad.journal.event(_J_AUTH_REFUSED, cid, ref + bytes((why,)))
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
    kind = _J_UNLOCK if head[1] == 0x24 else _J_RESET
    r = c.challenge()
    e = b""
    if block is not None:  # E_new (protocol.md 4): the PIN block under D(Kc_pin, R)
        sam.init(1, c.kv[0], sam.factors(c, r))  # (psam.T_PIN)
        e = sam.cipher(0, block, len(block))
    _B[2:10] = r
    _B[10:10 + len(e)] = e
    p = _ask(pad, 3, 10 + len(e), 0x43, _KC)  # CHALLENGE; C: M(4) MAC
    if not p or not p[0]:
        return pad.show(_lost()) if p is None else _refuse(pad, cid, ref, _A_CMD)
    # the intent, durable before the command: WINDOW for the record (ref, op, the tries
    # before), then PENDING for the counter (retry.py: the card's next insertion settles it
    # with its tries, as an attempt a cut left open: POWER_RECOVERY says which)
    j.append(_J_WINDOW, cid, ref + bytes((kind, flag)))
    j.append(_J_PENDING, cid, bytes((flag & 15, pad.cfg["pad_limit"], flag >> 4)))
    data, sw = c.command(head, e + p[1:5])
    _B[2:4] = sw.to_bytes(2, "big")
    n = min(len(data), 10)
    _B[4:4 + n] = data[:n]
    p = _ask(pad, 4, 4 + n, 0x56, _KV)  # ANSWER; V: done(1) SW(2) MAC
    if p and p[0]:
        _S[3] = p[2] << 8 | p[3]
        if p[1] == 1 and _S[3] == 0x9000:
            j.append(kind, cid, ref + b"\x01")  # the card did it: the run ends here
            return pad.show(_UNLOCKED if kind == _J_UNLOCK else _PIN_RESET)
        j.append(_J_WINDOW, cid, ref + bytes((kind, 0xFE)))  # the card did not
    try:  # the card's own tries settle the intent now (app.Pad._resolve, retry.resolve)
        pad._resolve(c, sam)
    except Exception:
        pass  # (left open: settled at its next insertion)
    pad.show(_M_CARD_ERROR if p and p[0] else _lost())
