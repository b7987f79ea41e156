# The audit of the journal's ring (docs/protocol.md section 8.5): every record checked for
# damage after opening, a slice at a time (Journal.audit), so that opening's time does not
# grow with the records; the retry index (retry.py) is built from the same reads.  Loaded
# for each slice and dropped after it.
#
# Its state (Journal._aud, made by jscan.scan): [ring index, slot, expected seq,
# allowance, bad run length, its first slot, hole, highest seq, anomalies (TAMPER data,
# 8 bytes each), TAMPER records seen].  Nothing in it grows with the journal.  No
# reclaim runs while it is open (Journal.ack finishes it first), so ring positions hold.
import binascii
import struct
from micropython import const

_SLOT = const(64)
_RMAGIC = const(0x4A)
_J_CUT = const(2)  # record kinds, as in journal.py
_J_TAMPER = const(3)
_T_CRC = const(1)  # TAMPER reasons (protocol.md 8.5)
_T_SEQ = const(2)
_T_EPOCH = const(3)
_T_HOLE = const(4)
_T_HEADER = const(5)
_T_FOREIGN = const(6)


def found(buf, n, seq, s, pos):
    """Notes anomaly n (a TAMPER reason) found at seq in sector s, slot pos: appends the
    TAMPER data naming it (8 bytes) to buf, up to 64 anomalies per opening."""
    if len(buf) < 512:
        buf.extend(struct.pack(">IBHB", seq, n, s, pos))


def step(j, n):
    """Checks up to n slots of the ring from where the audit stands; at the end journals
    what it found.  Returns whether slots are left."""
    a = j._aud
    n = n or 0x7FFFFFFF  # 0: all
    k, slot, expected, allow, bad, at, hole, top, fnd, seen = a
    bd, spb, kp = j.bdev, j._spb, j.keeper
    if not (kp and kp._at):  # the retry index, built from the records as they are read
        kp = None
    b = bytearray(_SLOT)
    body = memoryview(b)[:60]
    ff64 = b"\xff" * _SLOT
    while True:
        if k >= j._nr or k == j._nr - 1 and slot >= j._hslot:
            break
        if slot >= spb:
            k, slot = k + 1, 1
            continue
        if n <= 0:
            a[:8] = k, slot, expected, allow, bad, at, hole, top
            return True
        n -= 1
        s = j._sector(k)[0]
        bd.readblocks(s, b, slot * _SLOT)
        slot += 1
        if b == ff64:
            hole = hole or s * spb + slot - 1
            continue
        if hole:  # an erased slot, then data
            if bad:
                found(fnd, _T_CRC, expected, at // spb, at % spb)
                allow += bad
                bad = 0
            found(fnd, _T_HOLE, expected, hole // spb, hole % spb)
            hole = 0
        if b[0] != _RMAGIC or binascii.crc32(body) != struct.unpack_from(">I", b, 60)[0]:
            if not bad:
                at = s * spb + slot - 1
            bad += 1
            continue
        kind = b[1]
        ep, sq = struct.unpack_from(">II", b, 4)
        if bad:  # bad slots, then a good one: tamper, unless it is the CUT naming them
            if not (kind == _J_CUT and b[3] == 8 and struct.unpack_from(">IHBB", b, 36)[1:]
                    == (at // spb, at % spb, min(bad, 255))):
                found(fnd, _T_CRC, expected, at // spb, at % spb)
                allow += bad
            bad = 0
        if ep != j.epoch:
            found(fnd, _T_EPOCH, expected, s, slot - 1)
            allow += 1
            continue
        if not (expected <= sq <= expected + allow or sq == top + 1):  # after the last
            found(fnd, _T_SEQ, expected, s, slot - 1)  # record, or after the highest seq
        allow = 0
        expected = sq + 1
        top = max(top, sq)
        if kind == _J_TAMPER and b[3] == 8 and len(seen) < 32:  # one of ours
            seen.append(bytes(b[40:44]))
        if kp:
            kp._seen(b, kp._idx)
    j._aud = None
    if kp:
        kp._at = None
    if top > j.head:  # a forged high seq: new records go on after it, never reuse it
        j.head = top
    _report(j, fnd, seen)
    return False


def _report(j, fnd, seen):
    """Journals each new piece of damage (TAMPER, an event), at most 8 per audit."""
    pr, nr, o = j.problems, j._nr, j._order
    n = 0
    for i in range(0, len(fnd), 8):
        e = fnd[i:i + 8]
        sq, reason, s, slot = struct.unpack_from(">IBHB", e)
        what = "reason %d at seq %d (sector %d slot %d)" % (reason, sq, s, slot)
        k = 0  # is s a ring sector, not the head, whose records are all acknowledged?
        while k < nr - 1 and o[(j._o0 + k) % len(o)] != s:
            k += 1
        if reason != _T_FOREIGN and reason != _T_HEADER and k < nr - 1 \
                and j._sector(k + 1)[1] - 1 <= j.acked:
            pr.append("damage in acknowledged records (torn erase?): " + what)
        elif bytes(e[4:]) in seen:
            pr.append("tamper, journaled before: " + what)
        elif n < 8:  # at most 8 TAMPER records per opening, the rest at the next one
            pr.append("tamper found: " + what)
            if j.event(_J_TAMPER, None, e) is None:
                pr.append("journal full: kind %d counted, not journaled" % _J_TAMPER)
            n += 1
        else:
            pr.append("tamper, to journal at the next opening: " + what)
