# firmware/link.py under micropython: LinkServer's HELLO, PULL and ACK on a FakeJournal.
# TEST MATERIAL: keys are generated at run time (os.urandom).
import gc
import os
import struct

import drive_link as P
from drive_link import PAD, error_code, make, one
import journal
import jnames  # noqa: F401 (the kinds' and messages' names)
import mptest as t
from packed import unpack


class Host:
    # The host's half, written with the firmware's own keys and codec (the CPython host
    # is tested against the running firmware in tests/test_link.py).

    def __init__(self, keys, server):
        self.s = server
        self.k_hello = P.message_key(keys, P.TO_HOST, P.HELLO_ANS)
        self.k_pull = P.message_key(keys, P.TO_PAD, P.PULL)
        self.k_recs = P.message_key(keys, P.TO_HOST, P.RECORDS)
        self.k_ack = P.message_key(keys, P.TO_PAD, P.ACK)
        self.k_ack_ok = P.message_key(keys, P.TO_HOST, P.ACK_OK)
        self.nonce = None

    def hello(self):
        hn = os.urandom(16)
        p = one(self.s.feed(P.frame(bytes((P.HELLO,)) + hn)), P.HELLO_ANS)
        t.eq(len(p), 1 + 1 + 8 + 16 + 16 + 16 + 16)
        t.true(P.verify(self.k_hello, p[-16:], p[:-16], hn), "HELLO answer MAC")
        t.true(not P.verify(self.k_hello, p[-16:], p[:-16], os.urandom(16)), "bound to host nonce")
        proto, pad, ver, epoch, head, acked, free = struct.unpack_from(">B8s16sIIII", p, 1)
        self.nonce = p[-32:-16]
        return dict(proto=proto, pad=pad, ver=ver, epoch=epoch, head=head, acked=acked,
                    free=free, nonce=self.nonce)

    def pull_req(self, epoch, first, count, nonce=None):
        body = struct.pack(">BIIH", P.PULL, epoch, first, count) + (nonce or self.nonce)
        return body + self.k_pull.mac(body)

    def ack_req(self, epoch, seq, rmac, nonce=None):
        body = struct.pack(">BII", P.ACK, epoch, seq) + bytes(rmac) + (nonce or self.nonce)
        return body + self.k_ack.mac(body)

    def pull(self, epoch, first, count):
        req = self.pull_req(epoch, first, count)
        p = one(self.s.feed(P.frame(req)), P.RECORDS)
        t.true(P.verify(self.k_recs, p[-16:], p[:-16], req[-16:]), "records MAC")
        e, f, n, head, raw = struct.unpack_from(">IIBII", p, 1)
        t.eq((e, f), (epoch, first))
        return unpack(p[18:-16], n, raw, e, f), head


def test_hello_fields_and_fresh_nonces():
    keys, j, s = make(n=5)
    j.ack(2)
    h = Host(keys, s)
    a = h.hello()
    t.eq(a["proto"], P.PROTO)
    t.eq(a["pad"], PAD)
    t.eq(a["ver"].rstrip(b"\x00"), b"v1.2")
    t.eq((a["epoch"], a["head"], a["acked"], a["free"]), (7, 5, 2, j.free()))
    b = h.hello()
    t.true(a["nonce"] != b["nonce"], "nonce reused")
    c1 = struct.unpack_from(">II", a["nonce"])
    c2 = struct.unpack_from(">II", b["nonce"])
    t.eq(c1[0], j.boot_count)
    t.eq(c2[1], c1[1] + 1, "nonce counter")


def test_pull_returns_raw_records_bound_to_the_request():
    keys, j, s = make(n=11, batch=4)
    h = Host(keys, s)
    h.hello()
    recs, head = h.pull(7, 1, 100)
    t.eq(head, 11)
    t.eq([bytes(r) for r in recs], [j.read(i).raw for i in (1, 2, 3, 4)])
    recs, head = h.pull(7, 10, 5)
    t.eq(len(recs), 2)
    recs, head = h.pull(7, 12, 5)  # nothing newer: an empty answer
    t.eq(len(recs), 0)
    # the answer's MAC covers the request: another request's MAC does not verify it
    req = h.pull_req(7, 1, 1)
    p = one(s.feed(P.frame(req)), P.RECORDS)
    t.true(not P.verify(h.k_recs, p[-16:], p[:-16], h.pull_req(7, 1, 2)[-16:]))


def test_pull_answer_packs_what_the_host_rebuilds_and_sends_damage_raw():
    # protocol.md 9.3: packed records rebuilt byte for byte; a damaged slot (CRC wrong)
    # goes raw, with its bit in the mask, and the record after it carries its seq
    keys, j, s = make(n=10)
    bad = bytearray(j._slots[3])
    bad[40] ^= 1  # record 4's body altered: its CRC fails
    j._slots[3] = bytes(bad)
    odd = bytearray(j._slots[6])
    odd[2] = 4  # record 7's flags byte is not 0 or 1 (CRC made right): sent raw too
    struct.pack_into(">I", odd, 60, P.crc32(odd[:60]))
    j._slots[6] = bytes(odd)
    h = Host(keys, s)
    h.hello()
    req = h.pull_req(7, 1, 10)
    p = one(s.feed(P.frame(req)), P.RECORDS)
    n, raw = p[9], struct.unpack_from(">I", p, 14)[0]
    t.eq((n, raw), (10, 1 << 3 | 1 << 6))
    recs = unpack(p[18:-16], n, raw, 7, 1)
    t.eq([bytes(r) for r in recs], [bytes(x) for x in j._slots[:10]])
    t.true(len(p) < 34 + 64 * 10 - 200, "packed: %d bytes for 10 records" % len(p))
    print("a PULL answer of 10 records (one raw): %d bytes, %d as base64" %
          (len(p) + 4, len(P.frame64(p))))


def test_pull_refused_without_a_valid_mac_or_session():
    keys, j, s = make(n=3)
    h = Host(keys, s)
    h.nonce = os.urandom(16)
    t.eq(error_code(s.feed(P.frame(h.pull_req(7, 1, 3)))), P.E_REPLAY)  # no HELLO yet
    h.hello()
    req = bytearray(h.pull_req(7, 1, 3))
    req[-1] ^= 1
    t.eq(error_code(s.feed(P.frame(req))), P.E_MAC)
    req = bytearray(h.pull_req(7, 1, 3))
    req[6] ^= 1  # the from field changed after MACing
    t.eq(error_code(s.feed(P.frame(req))), P.E_MAC)
    # a request MACed with another message type's key (an ACK key) is refused
    body = req[:27]
    body[0] = P.PULL
    t.eq(error_code(s.feed(P.frame(bytes(body) + h.k_ack.mac(body)))), P.E_MAC)
    kinds = [j.read(i).kind for i in range(4, j.head + 1)]
    # the journal's own kinds (link.py names them by value: they must stay the journal's)
    t.eq(kinds[0], journal.AUTH_REFUSED)  # the no-session pull: a valid MAC, an old nonce
    t.eq(kinds[1:], [journal.TAMPER] * 3)
    t.eq(j.read(5).data, bytes((0x4C, P.PULL, P.E_MAC)))


def test_pull_replayed_from_an_old_session_refused():
    keys, j, s = make(n=3)
    h = Host(keys, s)
    h.hello()
    old = h.pull_req(7, 1, 3)
    one(s.feed(P.frame(old)), P.RECORDS)
    h.hello()
    t.eq(error_code(s.feed(P.frame(old))), P.E_REPLAY)
    t.eq(j.read(j.head).kind, journal.AUTH_REFUSED)


def test_pull_epoch_range_gone():
    keys, j, s = make(n=6)
    h = Host(keys, s)
    h.hello()
    t.eq(error_code(s.feed(P.frame(h.pull_req(8, 1, 3)))), P.E_EPOCH)
    t.eq(error_code(s.feed(P.frame(h.pull_req(7, 0, 3)))), P.E_RANGE)
    t.eq(error_code(s.feed(P.frame(h.pull_req(7, 1, 0)))), P.E_RANGE)
    j.ack(4)
    t.eq(error_code(s.feed(P.frame(h.pull_req(7, 4, 3)))), P.E_GONE)
    recs, head = h.pull(7, 5, 3)
    t.eq(len(recs), 2)


def test_ack_reclaims_and_old_acks_are_refused():
    keys, j, s = make(n=6)
    h = Host(keys, s)
    h.hello()
    recs, head = h.pull(7, 1, 6)
    req = h.ack_req(7, 3, recs[2][44:60])
    p = one(s.feed(P.frame(req)), P.ACK_OK)
    t.true(P.verify(h.k_ack_ok, p[-16:], p[:-16], req[-16:]), "ACK-OK MAC")
    t.eq(struct.unpack_from(">IIII", p, 1), (7, 3, 3, j.free()))
    t.eq(j.acked, 3)
    t.eq(error_code(s.feed(P.frame(req))), P.E_STALE)  # the same ACK again
    old = h.ack_req(7, 5, recs[4][44:60])
    h.hello()
    t.eq(error_code(s.feed(P.frame(old))), P.E_REPLAY)  # from an old session
    t.eq(j.acked, 3)
    # a MAC that is not the pad's record MAC is refused and journaled
    t.eq(error_code(s.feed(P.frame(h.ack_req(7, 5, recs[3][44:60])))), P.E_MISMATCH)
    t.eq(j.acked, 3)
    t.eq(j.read(j.head).kind, journal.TAMPER)
    t.eq(error_code(s.feed(P.frame(h.ack_req(7, 99, bytes(16))))), P.E_RANGE)
    t.eq(error_code(s.feed(P.frame(h.ack_req(6, 5, recs[4][44:60])))), P.E_EPOCH)
    bad = bytearray(h.ack_req(7, 5, recs[4][44:60]))
    bad[5] ^= 0x01  # seq 5 -> 4 after MACing
    t.eq(error_code(s.feed(P.frame(bad))), P.E_MAC)
    one(s.feed(P.frame(h.ack_req(7, 5, recs[4][44:60]))), P.ACK_OK)
    t.eq(j.acked, 5)


def _forged(req):
    # the request with its MAC's last byte changed (set to 00 it was the same MAC in 1 run
    # of 256: the PULL was answered)
    return req[:-1] + bytes((req[-1] ^ 1,))


def test_journaled_link_events_are_capped():
    keys, j, s = make(n=1)
    h = Host(keys, s)
    h.hello()
    for _ in range(30):
        t.eq(error_code(s.feed(P.frame(_forged(h.pull_req(7, 1, 1))))), P.E_MAC)
    t.eq(j.head, 1 + 8)


def test_full_journal_gets_no_link_events():
    keys, j, s = make(n=3)
    j.capacity = 3
    h = Host(keys, s)
    h.hello()
    t.eq(error_code(s.feed(P.frame(_forged(h.pull_req(7, 1, 1))))), P.E_MAC)
    t.eq(j.head, 3)


def test_journal_failure_is_an_internal_error_and_the_pad_goes_on():
    keys, j, s = make(n=3)
    h = Host(keys, s)
    h.hello()

    def broken(*args):
        raise OSError(5)
    good, j.copy_from = j.copy_from, broken  # the PULL's read of the journal fails
    t.eq(error_code(s.feed(P.frame(h.pull_req(7, 1, 3)))), P.E_INTERNAL)
    j.copy_from = good
    recs, head = h.pull(7, 1, 3)
    t.eq(len(recs), 3)


def test_pull_answer_is_built_in_preallocated_buffers():
    keys, j, s = make(n=8)
    held = [None] + [j.read(i) for i in range(1, 9)]
    j.read = lambda seq: held[seq] if 0 < seq < len(held) else None  # reads allocate nothing
    h = Host(keys, s)
    h.hello()
    req = P.frame(h.pull_req(7, 1, 8))
    s.feed(req)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    out = s.feed(req)
    used = gc.mem_alloc() - before
    gc.enable()
    print("a PULL answer of 8 records: %d bytes allocated" % used)
    p = one(out, P.RECORDS)
    t.eq(p[9], 8)
    t.eq(bytes(out), P.frame64(p))
    t.true(used < 1200, "a PULL answer of %d bytes allocated %d" % (len(out), used))


def test_no_leak_over_many_frames():
    keys, j, s = make(n=8)
    h = Host(keys, s)
    h.hello()
    req = P.frame(h.pull_req(7, 1, 8))
    for _ in range(5):
        s.feed(req)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        s.feed(req)
    gc.collect()
    t.true(gc.mem_alloc() - before < 512, "grew %d bytes" % (gc.mem_alloc() - before))


t.main(globals())
