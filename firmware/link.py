# The pad's side of the host link (DESIGN section 6, docs/protocol.md section 9):
# LinkServer answers HELLO, PULL and ACK from the journal. Non-blocking: the app's poll
# loop hands it whatever bytes arrived, and feed() writes the answers back.
# Lean on purpose (the whole pad runs in a 64 KB heap): names and codes are consts,
# and one buffer holds the frame coming in and the answer going out.
import struct
from binascii import crc32

from micropython import const

from cmac import ct_eq, mac, rand

# The journal's reader (PULL) and its acknowledgement and reclaim (ACK) load with the link,
# into the heap the app has just collected: imported at the first PULL or ACK, they would
# need blocks of code the sync has fragmented away (events.py drops them with the link)
import jack  # noqa: F401
import jcopy  # noqa: F401

# message types (host to pad upper case, pad to host lower case)
_HELLO = const(0x48)  # H
_HELLO_ANS = const(0x68)  # h
_PULL = const(0x50)  # P
_RECORDS = const(0x70)  # p
_ACK = const(0x41)  # A
_ACK_OK = const(0x61)  # a
_ERROR = const(0x65)  # e
_WINDOW = const(0x57)  # W: a window operation, checked by the pad's window boot (9.7)

# error codes of ERROR frames (protocol.md 9.4)
_E_FRAME = const(1)  # bad syntax: character, odd length, too long, cut, too short
_E_CRC = const(2)  # frame CRC wrong (line noise)
_E_TYPE = const(3)  # unknown message type
_E_LENGTH = const(4)  # wrong length for the message type
_E_MAC = const(5)  # MAC wrong: forged, or another key
_E_REPLAY = const(6)  # not this session's nonce: replayed, or no HELLO yet
_E_EPOCH = const(7)  # not the journal's epoch
_E_RANGE = const(8)  # sequence number or count out of range
_E_GONE = const(9)  # record already reclaimed
_E_STALE = const(10)  # already acknowledged
_E_MISMATCH = const(11)  # acknowledged MAC is not the pad's record MAC
_E_INTERNAL = const(12)  # the pad failed answering

# journal record kinds the link writes (journal.TAMPER, journal.AUTH_REFUSED: protocol.md
# 8.3; tests/fw/test_link.py checks the records against the journal's names)
_J_TAMPER = const(3)
_J_AUTH_REFUSED = const(15)
_NOTES = const(8)  # link events journaled per boot: a flood cannot fill the journal

_MAX_LINE = const(256)  # hex digits of one host frame (payload and CRC)
_BATCH = const(32)  # records in one PULL answer, at most (the bits of its raw mask)
# The buffer: a frame coming in is decoded into its start; an answer payload is built at
# _P, then written in place as '$' base64(payload || CRC) LF from the start (protocol.md
# 9.2): base64 group g (payload bytes 3g..3g+2 at _P + 3g) goes to 1 + 4g..4 + 4g, which
# never reaches an unread byte while g < _P - 1, i.e. for payloads below 3 * (_P - 1).
# A PULL answer's slots are copied raw behind its 18-byte head, then packed in place
# (9.3): as many as fit raw with the MAC and CRC, 12 in the 1,094-byte buffer.
_BUF = const(1094)
_P = const(272)
_ROOM = const((_BUF - _P - 38) // 64)
# The key schedules by purpose (kdf.schedules(), indexed by _K_* >> 4), then the server's
# scratch: the session's pad nonce, the firmware version (NUL-padded); then the packer's
# (jcopy.pack): the previous packed record's card id, a slot's CRC'd bytes (60).
_K_HELLO = const(0)
_K_RECS = const(16)
_K_ACK_OK = const(32)
_K_PULL = const(48)
_K_ACK = const(64)
_NONCE = const(0)
_VER = const(16)
_CARD = const(32)  # (jcopy.pack's offsets)
_CRC = const(48)
_B64 = const(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def first(pad):
    # A link-first boot (app.py, which made the key schedules first of all and ran the
    # journal's audit): the server, into a heap nothing has fragmented yet; dropped when
    # the host is quiet, as a link loaded by a frame is (events.py).
    import time
    pad.events.link = server(pad)
    # (the host's first frame may have been lost in the reset: it has 10 s more than the
    # quiet time to come, before the pad goes back to its normal boot)
    pad.events.heard = time.ticks_add(time.ticks_ms(), 10000)


def server(pad):
    # The pad's LinkServer (app.py: a link-first boot), with the key schedules it made.
    from app import VERSION
    s = LinkServer(pad.journal, pad.pad_id, {"version": VERSION}, buf=pad.linkbuf,
                   sched=pad.sched)
    s.win = pad._reset
    return s


class LinkServer:
    # Answers the host from the journal. info: {"version": str}. max_batch: records per
    # PULL answer (at most 8). win: the pad's restart (app.Pad._reset), into its window
    # boot for a W request of 36 bytes (with this session's pad nonce; None: W unknown).
    win = None

    def __init__(self, journal, keys, info=None, max_batch=_BATCH, buf=None, sched=None):
        # keys: the pad's kdf.Keys, or with sched only its pad id (a link-first boot keeps
        # no key derivation code); buf: the frame buffer (BUF bytes), and sched: the key
        # schedules (kdf.schedules()), made by the app first of all, while the heap is whole
        if sched is None:
            from kdf import schedules
            sched = schedules(keys)
        self.j = journal
        self._id = getattr(keys, "pad_id", keys)
        if buf is None or len(buf) < _BUF:
            buf = bytearray(_BUF)
        self._b = memoryview(buf)  # memoryviews: their slices are no copies
        self._s = s = memoryview(bytearray(_CRC + 60))
        self._c = s[_CRC:]  # a slot's CRC'd bytes, for the packer
        self._k = sched
        v = (info or {}).get("version", "")
        v = (v.encode() if isinstance(v, str) else bytes(v))[:16]
        s[_VER:_VER + len(v)] = v
        self._max = max(1, min(max_batch, _BATCH))
        self._n = -1  # hex digits of the frame coming in; -1: outside a frame
        self._ses = 0  # sessions since boot (HELLOs); 0: none yet
        self._notes = 0

    def feed(self, data, write=None):
        # Take the bytes that arrived. write: the pad's writer, called with each answer as
        # soon as it is made (a memoryview of the buffer, valid during the call), and
        # feed() returns b"": nothing is held back, so a burst of many frames in one call
        # needs no more RAM than one frame (each leaves only a few small views, garbage).
        # Without write the answers are returned: b"", a memoryview of the buffer (valid
        # until the next feed()), or for several frames in one call a new bytearray
        # (tests, tools: the pad passes write). Outside a frame every byte but '#' is
        # ignored (noise, Ctrl-C, other control bytes).
        b = self._b
        n = self._n
        o = 0  # the answer's length in b, not yet handed out
        more = None  # without write: earlier answers of this call
        for i in range(len(data)):
            c = data[i]
            if c == 0x23:  # '#'
                if n > 0:
                    o = self._err(_E_FRAME)  # a frame cut
                    if write is not None:
                        write(b[:o])
                        o = 0
                if o:  # kept before the next frame is decoded over it
                    if more is None:
                        more = bytearray(b[:o])
                    else:
                        more += b[:o]
                    o = 0
                n = 0
                continue
            if n < 0:
                continue
            if c == 0x0A or c == 0x0D:
                o = self._frame(n)
                n = -1
            else:
                v = c - 0x30
                if v > 9:  # A-F or a-f, else out of 10..15
                    v = (c | 0x20) - 0x57
                    if v < 10:
                        v = 16
                if 0 <= v < 16 and n < _MAX_LINE:
                    if n & 1:
                        b[n >> 1] |= v
                    else:
                        b[n >> 1] = v << 4
                    n += 1
                    continue
                o = self._err(_E_FRAME)
                n = -1
            if write is not None:
                write(b[:o])
                o = 0
        self._n = n
        if more is not None:
            more += b[:o]
            return more
        return b[:o] if o else b""

    def _frame(self, n):
        # The frame of n hex digits decoded in b: answer it; the answer's length in b.
        b = self._b
        if n & 1 or n < 10:
            return self._err(_E_FRAME)
        n = (n >> 1) - 4
        p = b[:n]
        if crc32(p) != struct.unpack_from(">I", b, n)[0]:
            return self._err(_E_CRC)
        # the verdicts on the frame itself come first, outside the try: they need no AES key
        # schedule, so a malformed frame gets its own code however full the heap (9.4)
        t = b[0]
        if t == _HELLO:  # H host_nonce
            m, k = 1, _K_HELLO
        elif t == _PULL:  # P epoch from count(2) pad_nonce MAC
            m, k = 27, _K_PULL
        elif t == _ACK:  # A epoch seq record_MAC pad_nonce MAC
            m, k = 41, _K_ACK
        elif t == _WINDOW and n == 36 and self.win:  # W op wait(2) pad_nonce MAC: the
            self.win(b"W" + bytes(p) + bytes(self._s[_NONCE:_VER]))  # window boot checks
            # it (MAC, nonce) with its own keys, after this restart (app.Pad._reset)
        else:
            return self._err(_E_TYPE)
        if n != m + 16:
            return self._err(_E_LENGTH)
        try:  # (0C: no RAM for the answer, or a journal that fails)
            return self._answer(t, p, m, k)
        except Exception:  # a bad frame never takes the pad down
            return self._err(_E_INTERNAL)

    def _answer(self, t, p, m, k):
        b = self._b
        j = self.j
        s = self._s
        if t == _HELLO:  # -> h proto pad_id version epoch head acked free pad_nonce
            # MAC(.. || host nonce); a new session: pad nonce boot count, session count,
            # random
            key = self._key(k)
            self._ses += 1
            struct.pack_into(">II", s, _NONCE, j.boot_count & 0xFFFFFFFF, self._ses)
            rand(s[_NONCE + 8:_NONCE + 16])  # s: a memoryview
            struct.pack_into(">BB8s16sIIII16s", b, _P, _HELLO_ANS, 1, self._id, s[_VER:],
                             j.epoch, j.head, j.acked, j.free(), s[_NONCE:_VER])
            return self._out(58, key, p[1:])
        # P, A: the MAC, this session's nonce, the epoch, in this order
        # (the MAC due is written where the answer goes: no tag is allocated)
        if not ct_eq(mac(self._key(k), p[:m], b"", b[_P:_P + 16]), p[m:]):
            return self._err(_E_MAC, _J_TAMPER)
        if not self._ses or not ct_eq(p[m - 16:m], s[_NONCE:_VER]):
            return self._err(_E_REPLAY, _J_AUTH_REFUSED)
        epoch, seq = struct.unpack_from(">II", b, 1)
        if epoch != j.epoch:
            return self._err(_E_EPOCH)
        if t == _PULL:
            return self._pull(p[m:], seq, b[9] << 8 | b[10])
        return self._ack(p, m, seq)

    def _key(self, k):
        # the AES key schedule of the key at k (_K_HELLO ..)
        return self._k[k >> 4]

    # (PULL and ACK answered by methods of their own: smaller blocks of code to find in a
    # fragmented heap when the link is loaded)
    def _pull(self, mac_in, seq, count):
        # -> p epoch from n(1) head raw(4) n packed records MAC(.. || P's MAC)
        b, j = self._b, self.j
        head = j.head
        if seq < 1 or count < 1:
            return self._err(_E_RANGE)
        o = _P + 18  # the slots as stored, damaged ones too (protocol.md 9.3)
        e = o
        if seq <= head:  # read straight into the answer (b is a memoryview)
            e = j.copy_from(seq, b, o, o + 64 * min(count, self._max, _ROOM))
        if seq <= head and e == o:
            return self._err(_E_GONE)
        struct.pack_into(">BIIBII", b, _P, _RECORDS, j.epoch, seq, 0, head, 0)
        return self._out(jcopy.pack(b, self._s, self._c, j.epoch, o, e, seq) - _P,
                         self._key(_K_RECS), mac_in)

    def _ack(self, p, m, seq):
        # -> a epoch seq acked free MAC(.. || A's MAC)
        b, j = self._b, self.j
        if seq <= j.acked:
            return self._err(_E_STALE)
        if seq > j.head:
            return self._err(_E_RANGE)
        r = j.read(seq)
        if r is None:
            return self._err(_E_GONE)
        if not ct_eq(r.mac, p[9:25]):
            return self._err(_E_MISMATCH, _J_TAMPER)
        j.ack(seq)  # (no RAM for its audit: nothing changed, the frame can be answered again)
        struct.pack_into(">BIIII", b, _P, _ACK_OK, j.epoch, seq, j.acked, j.free())
        return self._out(17, self._key(_K_ACK_OK), p[m:])

    def _err(self, code, kind=0):
        # An ERROR frame. kind: also journal the event (the type of the frame in hand, the
        # code), at most _NOTES per boot and only while fits(1): never into the reserve.
        b = self._b
        if kind and self._notes < _NOTES:
            self._notes += 1
            try:
                if self.j.fits(1):
                    self.j.append(kind, None, bytes((0x4C, b[0], code)))  # 'L' type code
            except Exception:
                pass
        b[_P] = _ERROR
        b[_P + 1] = code
        return self._out(2)

    def _out(self, n, key=None, bound=None):
        # Frame the payload b[_P:_P + n] (with key: MACed first, payload || bound, under
        # key, an AES key schedule) into b: '$' base64(payload || CRC-32), unpadded, LF;
        # its length.
        b = self._b
        if key is not None:
            mac(key, b[_P:_P + n], bound, b[_P + n:_P + n + 16])
            n += 16
        struct.pack_into(">I", b, _P + n, crc32(b[_P:_P + n]))
        n += 4
        b[0] = 0x24
        o = 1
        for i in range(_P, _P + n, 3):
            v = b[i] << 16
            if i + 1 < _P + n:
                v |= b[i + 1] << 8
            if i + 2 < _P + n:
                v |= b[i + 2]
            b[o] = _B64[v >> 18]
            b[o + 1] = _B64[v >> 12 & 63]
            b[o + 2] = _B64[v >> 6 & 63]
            b[o + 3] = _B64[v & 63]
            o += 4
        o -= (3 - n % 3) % 3  # unpadded: 2 or 3 characters for a last 1 or 2 bytes
        b[o] = 0x0A
        return o + 1
