# Opening the journal (DESIGN section 6; the rules in full: docs/protocol.md section 8.5).
# Imported by Journal() only while it opens, then dropped from sys.modules: its RAM is freed.
#
# Torn means only CRC failures after the last good record with nothing but erased slots
# after them: they are skipped and a CUT record names them (so later scans know they are
# accounted for).  Any other damage is tampering: a TAMPER record names it (once: a later
# scan finds that record and does not journal it again), it is reported and never cut or
# erased, and the scan goes on after it.  Torn sector headers and torn erases of reclaimed
# sectors are finished (erased).  Never formats, never refuses: at worst the journal goes
# on after the last good record.
import binascii
import struct
from micropython import const

from journal import JournalFull


_SLOT = const(64)
_RMAGIC = const(0x4A)
_CUT = const(2)  # record kinds, as in journal.py
_TAMPER = const(3)
_ACK = const(19)
_FREE = const(0)  # sector states, as in journal.py; after the scan every sector is one of
_LIVE = const(1)  # free, live (in the ring) or kept
_DIRTY = const(2)  # (while scanning) a damaged or erased header over something: looked at
_KEEP = const(3)  # evidence of tampering: never erased, never reused
_T_CRC = const(1)  # TAMPER reasons (protocol.md 8.5)
_T_SEQ = const(2)
_T_EPOCH = const(3)
_T_HOLE = const(4)
_T_HEADER = const(5)
_T_FOREIGN = const(6)
_T_MISSING = const(7)


def _found(buf, n, seq, s, pos):
    """Notes anomaly n (a TAMPER reason) found at seq in sector s, slot pos: appends the
    TAMPER data naming it (8 bytes) to buf, up to 64 anomalies per opening."""
    if len(buf) < 512:
        buf.extend(struct.pack(">IBHB", seq, n, s, pos))


def scan(j):
    """Reads every sector header, then the ring oldest first, then the sectors outside it;
    sets up j (epoch, head, acked, boot_count, sectors, write position, MAC chain) and
    journals what it found.  (Four functions: each one's code is a smaller block to find
    in the heap than one large function's.)"""
    b = bytearray(256)  # 4 slots at a time, or one in b[:64]
    found = bytearray()  # the anomalies, as TAMPER data (8 bytes each)
    _ring(j, b, found)
    bad, at, seen = _records(j, b, found)
    _outside(j, b, found)
    _report(j, found, bad, at, seen)


def _ring(j, b, found):
    """The ring: the valid headers of the newest one's epoch (the highest sector seq)."""
    bd = j.bdev
    n = bd.ioctl(4, 0)
    one = memoryview(b)[:_SLOT]
    body = memoryview(b)[:60]  # what the CRC of the slot in b[:64] covers
    ff64 = b"\xff" * _SLOT
    st, first, o = j._state, j._first, j._order  # made by Journal() before this module
    top = -1
    j.epoch = 0
    for s in range(n):
        bd.readblocks(s, one, 0)
        if b[0] == 0x53 and binascii.crc32(body) == struct.unpack_from(">I", b, 60)[0]:
            q, f = struct.unpack_from(">II", b, 8)
            first[s] = f & 0xFFFF  # (low 16 bits: Journal._sector)
            st[s] = _LIVE
            if top < 0 or q > top:
                top = q
                j.epoch = struct.unpack_from(">I", b, 4)[0]
                j._ref = f  # the newest sector's first seq, in full
        else:
            st[s] = _FREE if one == ff64 else _DIRTY
    if top < 0:
        j.problems.append("journal empty: no sector header (not provisioned?)")
    # the ring sectors and the seq of their first record, compacted to the front of the
    # arrays (o[k], first[k]; k <= s, so nothing unread is overwritten), then in order of
    # first seq (sectors open with seqs that only grow): rotate the oldest to the front (a
    # ring that wrapped round the partition is then in order already), insertion sort.
    # The arrays are as large as the partition and made once: appends and reclaims move
    # in them and never allocate (a heap fragmented by a long run has no large block).
    nr = 0
    for s in range(n):
        if st[s] == _LIVE:
            bd.readblocks(s, one, 0)
            if struct.unpack_from(">I", b, 4)[0] == j.epoch:
                o[nr] = s
                first[nr] = first[s]
                nr += 1
            else:
                st[s] = _KEEP
                _found(found, _T_FOREIGN, 0, s, 0)
    r = j._ref  # how far back from the newest first seq: the order (first seqs only grow)
    if nr:
        m = 0
        for k in range(nr):
            if (r - first[k]) & 0xFFFF > (r - first[m]) & 0xFFFF:
                m = k
        for lo, hi in ((0, m - 1), (m, nr - 1), (0, nr - 1)):
            while lo < hi:
                o[lo], o[hi] = o[hi], o[lo]
                first[lo], first[hi] = first[hi], first[lo]
                lo += 1
                hi -= 1
        for k in range(1, nr):
            s, f = o[k], first[k]
            i = k - 1
            while i >= 0 and (r - first[i]) & 0xFFFF < (r - f) & 0xFFFF:
                o[i + 1], first[i + 1] = o[i], first[i]
                i -= 1
            o[i + 1], first[i + 1] = s, f
    j._o0, j._nr = 0, nr


def _records(j, b, found):
    """The records of the ring, oldest first: head, acked, write position, MAC chain.
    Returns the torn tail (bad slots, first one's position) and the TAMPER records seen."""
    bd, spb, nr, o = j.bdev, j._spb, j._nr, j._order
    one = memoryview(b)[:_SLOT]
    body = memoryview(b)[:60]
    ff64 = b"\xff" * _SLOT
    seen = []  # (reason, sector, slot) named by TAMPER records: journaled before
    oldest = j._sector(0)[1] if nr else 1
    expected = oldest  # the seq the next record should have: the last one's + 1
    top = oldest - 1  # the highest seq seen: the head (a seq is never reused)
    allow = 0  # unexplained slots just before: the next seq may skip that many
    acked = boot = bad = 0  # bad: the length of a run of bad slots
    at = hole = last = 0  # sector * spb + slot of the run's first bad slot, of an erased
    # slot with nothing after it yet; ring index * spb + slot of the last slot used
    for k in range(nr):
        s = o[k]
        for slot in range(1, spb):
            bd.readblocks(s, one, slot * _SLOT)
            if one == ff64:
                hole = hole or s * spb + slot
                continue
            if hole:  # an erased slot, then data
                if bad:
                    _found(found, _T_CRC, expected, at // spb, at % spb)
                    allow += bad
                    bad = 0
                _found(found, _T_HOLE, expected, hole // spb, hole % spb)
                hole = 0
            last = k * spb + slot
            if b[0] != _RMAGIC or binascii.crc32(body) != struct.unpack_from(">I", b, 60)[0]:
                if not bad:
                    at = s * spb + slot
                bad += 1
                continue
            kind = b[1]
            ep, sq, bt = struct.unpack_from(">IIH", b, 4)
            if bad:  # bad slots, then a good one: tamper, unless it is the CUT naming them
                if not (kind == _CUT and b[3] == 8 and struct.unpack_from(">IHBB", b, 36)[1:]
                        == (at // spb, at % spb, min(bad, 255))):
                    _found(found, _T_CRC, expected, at // spb, at % spb)
                    allow += bad
                bad = 0
            if ep != j.epoch:
                _found(found, _T_EPOCH, expected, s, slot)
                allow += 1
                continue
            if not (expected <= sq <= expected + allow or sq == top + 1):  # after the last
                _found(found, _T_SEQ, expected, s, slot)  # record, or after the highest seq
            allow = 0
            expected = sq + 1
            top = max(top, sq)
            if kind == _ACK:
                acked = max(acked, struct.unpack_from(">I", b, 36)[0])
            elif kind == _TAMPER and b[3] == 8 and len(seen) < 32:  # one of ours
                seen.append(bytes(b[40:44]))
            boot = bt
            j._buf[44:60] = b[44:60]  # the MAC chain goes on from here
    j.head = top
    j._hslot = spb if not nr else last % spb + 1 if last // spb == nr - 1 else 1
    if oldest > acked + 1:
        _found(found, _T_MISSING, acked + 1, o[0], 0)
    j.acked = min(acked, top)
    j.boot_count = (boot + 1) & 0xFFFF or 1
    return bad, at, seen


def _outside(j, b, found):
    """Sectors outside the ring: erased ones are free; a torn header or a torn erase (only
    acknowledged records left) is erased; unacknowledged or foreign records are kept."""
    bd, spb, st, pr = j.bdev, j._spb, j._state, j.problems
    n = len(st)
    ff = b"\xff" * 256
    ff64 = ff[:_SLOT]
    j._nfree = 0
    for s in range(n):
        if st[s] == _LIVE or st[s] == _KEEP:
            continue
        newest = -1  # -1: every record slot erased; else the newest seq of our epoch (or 0)
        foreign = False  # a record of another epoch
        for off in range(0, spb * _SLOT, 256):  # 4 slots at a time; slot 0 is the header
            bd.readblocks(s, b, off)
            if b == ff:
                continue
            for i in range(1 if off == 0 else 0, 4):
                r = memoryview(b)[i * _SLOT:i * _SLOT + _SLOT]
                if r == ff64:
                    continue
                newest = max(newest, 0)
                if (r[0] == _RMAGIC
                        and binascii.crc32(r[:60]) == struct.unpack_from(">I", r, 60)[0]):
                    ep, sq = struct.unpack_from(">II", r, 4)
                    if ep != j.epoch:
                        foreign = True
                    else:
                        newest = max(newest, sq)
        if newest < 0 and st[s] == _FREE:
            j._nfree += 1
        elif foreign or newest > j.acked:
            st[s] = _KEEP
            _found(found, _T_FOREIGN if foreign else _T_HEADER, max(newest, 0), s, 0)
            j.head = max(j.head, newest)  # never reuse a seq
        else:
            bd.ioctl(6, s)
            st[s] = _FREE
            j._nfree += 1
            pr.append(("torn sector header (sector %d): erased" if newest < 0 else
                       "torn sector erase (sector %d), acknowledged records only: erased") % s)


def _report(j, found, bad, at, seen):
    """What to journal: the cut of a torn tail, then each new piece of damage."""
    spb, pr, nr, o = j._spb, j.problems, j._nr, j._order
    todo = []
    if bad:
        pr.append("torn record cut: seq %d (sector %d slot %d, %d slot(s))"
                  % (j.head + 1, at // spb, at % spb, bad))
        todo.append((_CUT, struct.pack(">IHBB", j.head + 1, at // spb, at % spb, min(bad, 255))))
    n = 0
    for i in range(0, len(found), 8):
        e = found[i:i + 8]
        sq, reason, s, slot = struct.unpack_from(">IBHB", e)
        what = "reason %d at seq %d (sector %d slot %d)" % (reason, sq, s, slot)
        k = 0  # is s a ring sector, not the head, whose records are all acknowledged?
        while k < nr - 1 and o[k] != s:
            k += 1
        if reason != _T_FOREIGN and reason != _T_HEADER and k < nr - 1 \
                and j._sector(k + 1)[1] - 1 <= j.acked:
            pr.append("damage in acknowledged records (torn erase?): " + what)
        elif bytes(e[4:]) in seen:
            pr.append("tamper, journaled before: " + what)
        elif n < 8:  # at most 8 TAMPER records per opening, the rest at the next one
            pr.append("tamper found: " + what)
            todo.append((_TAMPER, e))
            n += 1
        else:
            pr.append("tamper, to journal at the next opening: " + what)
    for kind, data in todo:  # a CUT may use the snapshot reserve; TAMPER is an event
        if kind == _CUT:
            try:
                j.append(kind, None, data)
            except JournalFull:  # not one slot left: the torn slots stay, reported
                pr.append("journal full: the cut is not journaled")
        elif j.event(kind, None, data) is None:
            pr.append("journal full: kind %d counted, not journaled" % kind)
