# The pad's side of the host link (DESIGN section 6, docs/protocol.md section 9):
# LinkServer answers HELLO, PULL and ACK from the journal. Non-blocking: the app's poll
# loop hands it whatever bytes arrived; feed() returns the bytes to write back.
# The wire format and the keys are in linkproto.py (re-exported here).
import os
import struct

from micropython import const

from cmac import ct_eq
from linkproto import *  # noqa: F401,F403 (Keys, frame, unframe, types, error codes)
from linkproto import _No

_MAX_NOTES = const(8)   # link events journaled per boot: a flood cannot fill the journal
_LINK = const(0x4C)     # 'L', data byte 0 of the records the link journals

# Journal record kinds the link writes: the values of journal.TAMPER and
# journal.AUTH_REFUSED (protocol.md 8.3; tests/test_link.py checks they agree).
TAMPER = const(3)
AUTH_REFUSED = const(15)


# Answers the host from the journal. info: {"version": str}.
class LinkServer(Framer):
    def __init__(self, journal, keys, info=None, max_batch=MAX_BATCH, rand=os.urandom):
        Framer.__init__(self)
        v = (info or {}).get("version", "")
        self.j = journal
        self.pad_id = keys.pad_id
        self.version = (v.encode() if isinstance(v, str) else bytes(v))[:16]
        self.max_batch = max(1, min(max_batch, MAX_BATCH))
        self._rand = rand
        self._k_hello = keys.message(TO_HOST, HELLO_ANS)
        self._k_pull = keys.message(TO_PAD, PULL)
        self._k_recs = keys.message(TO_HOST, RECORDS)
        self._k_ack = keys.message(TO_PAD, ACK)
        self._k_ack_ok = keys.message(TO_HOST, ACK_OK)
        self._nonce = None
        self._sessions = 0
        self._notes = 0

    def _handle(self, p):
        t = p[0]
        if t == HELLO:
            self._hello(p)
        elif t == PULL:
            self._pull(p)
        elif t == ACK:
            self._ack(p)
        else:
            raise _No(E_TYPE, "unknown type %02x" % t)

    # Journal a link event: at most _MAX_NOTES per boot, never into the reserve.
    def _note(self, kind, mtype, code):
        if self._notes < _MAX_NOTES:
            self._notes += 1
            try:
                if self.j.fits(1):
                    self.j.append(kind, None, bytes((_LINK, mtype, code)))
            except Exception:
                pass

    # Length, then the MAC over p[:n] (its last 16 bytes the pad nonce), then the nonce
    # and the epoch; returns the sequence number field.
    def _check(self, p, n, key):
        if len(p) != n + 16:
            raise _No(E_LENGTH, "length %d" % len(p))
        if not key.verify(p[n:], p[:n]):
            self._note(TAMPER, p[0], E_MAC)
            raise _No(E_MAC, "MAC wrong")
        if self._nonce is None or not ct_eq(p[n - 16:n], self._nonce):
            self._note(AUTH_REFUSED, p[0], E_REPLAY)
            raise _No(E_REPLAY, "old session: HELLO first")
        epoch, seq = struct.unpack_from(">II", p, 1)
        if epoch != self.j.epoch:
            raise _No(E_EPOCH, "epoch is %d" % self.j.epoch)
        return seq

    # H host_nonce -> h proto pad_id version epoch head acked free pad_nonce MAC
    def _hello(self, p):
        if len(p) != 17:
            raise _No(E_LENGTH, "length %d" % len(p))
        j = self.j
        self._sessions += 1
        nonce = bytearray(16)  # boot count, session count, random
        struct.pack_into(">II", nonce, 0, j.boot_count & 0xFFFFFFFF, self._sessions)
        nonce[8:] = self._rand(8)
        self._nonce = nonce
        struct.pack_into(">BB8s16sIIII16s", self._buf, 0, HELLO_ANS, PROTO, self.pad_id,
                         self.version, j.epoch, j.head, j.acked, j.free(), nonce)
        self._emit_mac(self._k_hello, 58, p[1:])

    # P epoch from count(2) nonce MAC -> p epoch from n(1) head n*64 MAC(.. || P's MAC)
    def _pull(self, p):
        first = self._check(p, 27, self._k_pull)
        count = struct.unpack_from(">H", p, 9)[0]
        if first < 1 or count < 1:
            raise _No(E_RANGE, "from %d count %d" % (first, count))
        j = self.j
        head = j.head
        buf = self._buf
        o = 14
        for seq in range(first, min(first + min(count, self.max_batch), head + 1)):
            r = j.read(seq)
            if r is None:
                break
            buf[o:o + 64] = r.raw
            o += 64
        if first <= head and o == 14:
            raise _No(E_GONE, "%d reclaimed" % first)
        struct.pack_into(">BIIBI", buf, 0, RECORDS, j.epoch, first, (o - 14) // 64, head)
        self._emit_mac(self._k_recs, o, p[27:])

    # A epoch seq record_mac nonce MAC -> a epoch seq acked free MAC(.. || A's MAC)
    def _ack(self, p):
        seq = self._check(p, 41, self._k_ack)
        j = self.j
        if seq <= j.acked:
            raise _No(E_STALE, "%d already acknowledged" % seq)
        r = j.read(seq) if seq <= j.head else None
        if r is None:
            raise _No(E_RANGE if seq > j.head else E_GONE, "no record %d" % seq)
        if not ct_eq(r.mac, p[9:25]):
            self._note(TAMPER, ACK, E_MISMATCH)
            raise _No(E_MISMATCH, "record %d MAC differs" % seq)
        j.ack(seq)
        struct.pack_into(">BIIII", self._buf, 0, ACK_OK, j.epoch, seq, j.acked, j.free())
        self._emit_mac(self._k_ack_ok, 17, p[41:])


# Serve the link on stdin / stdout until EOF (or idle_ms without a byte), Ctrl-C a
# plain byte meanwhile. Reads one byte at a time while poll says more are there.
def run_stdio(server, idle_ms=-1):
    import select
    import sys

    import micropython

    inp = sys.stdin.buffer
    poll = select.poll()
    poll.register(inp, select.POLLIN)
    buf = bytearray(64)
    one = bytearray(1)
    micropython.kbd_intr(-1)
    try:
        while poll.poll(idle_ms):
            n = 0
            while n < 64:
                ev = poll.poll(0)
                if not ev or not ev[0][1] & select.POLLIN:
                    break
                try:
                    got = inp.readinto(one)
                except OSError:  # a pty whose other side went away
                    got = 0
                if got != 1:
                    break
                buf[n] = one[0]
                n += 1
            if n == 0:
                return  # hung up: EOF
            out = server.feed(memoryview(buf)[:n])
            if out:
                sys.stdout.buffer.write(out)
    finally:
        micropython.kbd_intr(3)
