# Unlock and reset at the window (DESIGN section 7, docs/protocol.md 9.7): the window's
# frames, their MACs and the screens, for the whole operation (the authorisation is
# winauth.py's, the card command winrelay.py's: each loaded for its phase only). Loaded by
# the window boot (padinit.py keeps the host's W request; winboot.py loads it, then
# winstart.py, which drops itself; hook(); the authorisation's code and the flow's come
# with the card: app.Pad.session); the link's code (link.py)
# is not loaded: the window's frames are read and written here (hex both ways, CRC-32,
# each message MACed under K(d, its type) over its bytes and the MAC of the message
# before it). Small on purpose: it shares the heap with a card session (protocol.md 9.7's
# Memory; tests/test_window.py WINDOW_HEAP).
import gc
import select
import time
from binascii import crc32, hexlify, unhexlify

from micropython import const

from cmac import ct_eq, mac as _mac
from cryptolib import aes

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
# why the pad refused an authorisation (AUTH_REFUSED data byte 6, the END's reason): the
# reasons are winauth.py's (1-7) and winrelay.py's (8); _refuse tells this one apart
_A_HOLDER = const(7)  # the card's holder ID does not hash to the authorisation's
_ABORT = const(16)  # the host ended the operation (its ERROR frame)

_AES = const(320)  # a cryptolib.aes object (unix port, 64-bit)
_R = [bytearray(_AES)]  # its room, kept while no MAC is computed (mac)
_B = bytearray(100)  # a frame's payload: the pad's built here
_M = bytearray(16)  # the MAC of the operation's last message: the next one chains to it
_L = bytearray(176)  # a host frame's hex digits as they come (the longest, U's: 168)
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
    w = pad.board.host.write  # (in pieces: no piece of the heap larger than 64 bytes)
    w(b"#")
    for i in range(0, n + 4, 32):
        w(hexlify(b[i:min(i + 32, n + 4)]))
    w(b"\n")


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
    i = -1  # the hex digits of the frame in _L so far (-1: none begun)
    while True:
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0 or not p.poll(left):
            return None
        c = h.read(1)
        if not c:
            return None
        c = c[0]
        if c == 0x23:  # "#"
            i = 0
        elif i < 0:
            pass
        elif c == 0x0A or c == 0x0D:
            try:
                f = unhexlify(memoryview(_L)[:i])
            except ValueError:
                f = b""
            i = -1
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
        elif i < len(_L):
            _L[i] = c
            i += 1
        else:  # longer than any frame the pad takes: not one
            i = -1


def hook(pad, flow, ms):
    """The window boot runs in the app's own loop (app.Pad.run), with these in the pad:
    show (the prompt where the idle screen was, the screen remembered: END names it) and
    the session's flow (app.Pad.session, window: winauth.authorise, then flow's
    run(pad, card, sam, auth), unlock.py or reset.py; END to the host once it is over); ms: the holder's time for the card (the host's wait). Back at the idle
    screen after a card, or past that time, the pad restarts into its normal boot."""
    _S[6] = time.ticks_add(time.ticks_ms(), ms)
    pad.show = lambda msg, arg="": _show(pad, msg, arg)
    pad.session = lambda name: type(pad).session(pad, flow, True)  # (app.Pad.run
    # calls it: the authorisation, then the flow)
    pad.cbuf = 64  # the card's longest answer here: EF05's 38 bytes (t0.py's buffer)


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


def _refuse(pad, cid, ref, why):
    _S[2] = why
    pad.journal.event(_J_AUTH_REFUSED, cid, ref + bytes((why,)))
    pad.show(_ID_MISMATCH if why == _A_HOLDER else _NOT_AUTHORISED)


def _lost():
    # the screen when no host message came: the host ended it, or the link is lost
    return _NOT_AUTHORISED if _S[2] == _ABORT else _LINK_LOST
