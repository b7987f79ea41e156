# Opening the journal (DESIGN section 6): scan the ring, find the head, recover.
#
# Torn means only CRC failures after the last good record with nothing but erased slots after
# them: they are skipped and a _CUT record names them (so later scans know they are accounted
# for).  Any other damage is tampering: a _TAMPER record names it (once: a later scan finds
# that record and does not journal it again), it is reported and never cut or erased, and
# the scan goes on after it.  Torn sector headers and torn erases of reclaimed sectors are
# finished (erased).  Never formats, never refuses: at worst the journal goes on after the
# last good record.  Rules in full: docs/protocol.md section 8.5.
import struct
from micropython import const

from jrecord import crc_ok

# the values of journal.py's (private here: no globals)
_CUT = const(2)
_TAMPER = const(3)
_ACK = const(19)
_T_CRC = const(1)
_T_SEQ = const(2)
_T_EPOCH = const(3)
_T_HOLE = const(4)
_T_HEADER = const(5)
_T_FOREIGN = const(6)
_T_MISSING = const(7)
_SLOT = const(64)
_RMAGIC = const(0x4A)
_HMAGIC = const(0x53)
_FF64 = b"\xff" * 64

# sector states (Journal._state)
_FREE = const(0)  # erased, ready for a header
_LIVE = const(1)  # in the ring
_DIRTY = const(2)  # holds nothing to keep but is not erased: erased before reuse
_KEEP = const(3)  # evidence of tampering: never erased, never reused

_ERASE = const(6)
_MAX_FOUND = const(64)  # anomalies remembered while opening
_MAX_TAMPER = const(8)  # TAMPER records per opening (the rest at the next one)


def scan(j, full):
    found = []  # anomalies: (reason, seq where found, sector, slot)
    _headers(j, found)
    bad = _records(j, found)
    _outside(j, found)
    if bad:  # the torn tail: cut it
        at, count = bad
        j.problems.append("torn record cut: seq %d (sector %d slot %d, %d slot(s))"
                          % (j.head + 1, at[0], at[1], count))
        _journal(j, full, _CUT, struct.pack(">IHBB", j.head + 1, at[0], at[1], min(count, 255)))
    n = 0
    for reason, sq, s, slot in found:
        what = "reason %d at seq %d (sector %d slot %d)" % (reason, sq, s, slot)
        if reason != _T_FOREIGN and reason != _T_HEADER and _acked(j, s):
            j.problems.append("damage in acknowledged records (torn erase?): " + what)
        elif (reason, s, slot) in j._seen:
            j.problems.append("tamper, journaled before: " + what)
        elif n < _MAX_TAMPER:
            j.problems.append("tamper: " + what)
            n += 1
            _journal(j, full, _TAMPER, struct.pack(">IBHB", sq, reason, s, slot))
        else:
            j.problems.append("tamper, to journal at the next opening: " + what)
    j._seen = None


def _found(found, reason, seq, sector, slot):
    if len(found) < _MAX_FOUND:
        found.append((reason, seq, sector, slot))


def _journal(j, full, kind, data):
    try:
        j.append(kind, None, data)
    except full:
        j.problems.append("journal full: could not journal kind %d" % kind)


def _headers(j, found):
    """Classifies every sector by its header; the ring is the valid headers of the epoch of
    the newest one, in sector-seq order."""
    st, sseq, first, buf = j._state, j._sseq, j._first, j._rbuf
    top = -1
    for s in range(j.n):
        j.bdev.readblocks(s, buf, 0)
        if buf[0] == _HMAGIC and crc_ok(buf):
            sseq[s], first[s] = struct.unpack_from(">II", buf, 8)
            st[s] = _LIVE
            if top < 0 or sseq[s] > sseq[top]:
                top = s
                j.epoch = struct.unpack_from(">I", buf, 4)[0]
        else:
            st[s] = _FREE if buf == _FF64 else _DIRTY
    if top < 0:
        j.problems.append("journal empty: no sector header (not provisioned?)")
        return
    k = 0
    for s in range(j.n):
        if st[s] == _LIVE:
            j.bdev.readblocks(s, buf, 0)
            if struct.unpack_from(">I", buf, 4)[0] == j.epoch:
                k += 1
            else:
                st[s] = _KEEP
                _found(found, _T_FOREIGN, 0, s, 0)
    order = j._order = [0] * k  # one allocation
    k = 0
    for s in range(j.n):
        if st[s] == _LIVE:
            order[k] = s
            k += 1
    order.sort(key=lambda s: sseq[s])


def _records(j, found):
    """Reads the ring oldest first; sets head, acked, the write position, the MAC chain.
    Returns (first bad slot, count) for a torn tail, else None."""
    order, buf, spb = j._order, j._rbuf, j._spb
    j._seen = []  # (reason, sector, slot) named by TAMPER records
    oldest = j._first[order[0]] if order else 1
    expected = oldest  # the seq the next record should have: the last one's + 1
    top = oldest - 1  # the highest seq seen: the head (a seq is never reused)
    allow = 0  # unexplained slots just before: the next seq may skip that many
    acked = boot = bad_n = 0
    bad_at = hole = last = None
    for k in range(len(order)):
        s = order[k]
        for slot in range(1, spb):
            j.bdev.readblocks(s, buf, slot * _SLOT)
            if buf == _FF64:
                hole = hole or (s, slot)
                continue
            if hole:  # an erased slot, then data
                if bad_n:
                    _found(found, _T_CRC, expected, bad_at[0], bad_at[1])
                    allow += bad_n
                    bad_n = 0
                _found(found, _T_HOLE, expected, hole[0], hole[1])
                hole = None
            last = (k, slot)
            if buf[0] != _RMAGIC or not crc_ok(buf):
                if not bad_n:
                    bad_at = (s, slot)
                bad_n += 1
                continue
            kind = buf[1]
            ep, sq = struct.unpack_from(">II", buf, 4)
            if bad_n:
                if not (kind == _CUT and _names(buf, bad_at, bad_n)):
                    _found(found, _T_CRC, expected, bad_at[0], bad_at[1])
                    allow += bad_n
                bad_n = 0
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
                acked = max(acked, struct.unpack_from(">I", buf, 36)[0])
                j._last_ack = sq
            elif kind == _TAMPER and buf[3] == 8 and len(j._seen) < 32:  # one of ours
                j._seen.append((buf[40], struct.unpack_from(">H", buf, 41)[0], buf[43]))
            boot = struct.unpack_from(">H", buf, 12)[0]
            j._prev[:] = memoryview(buf)[44:60]
    j.head = top
    if order:
        j._hslot = last[1] + 1 if last and last[0] == len(order) - 1 else 1
    if oldest > acked + 1:
        _found(found, _T_MISSING, acked + 1, order[0], 0)
    j.acked = min(acked, j.head)
    j.boot_count = (boot + 1) & 0xFFFF or 1
    return (bad_at, bad_n) if bad_n else None


def _names(buf, at, count):
    """Does the CUT record in buf name this run of bad slots?"""
    _, s, slot, c = struct.unpack_from(">IHBB", buf, 36)
    return buf[3] == 8 and s == at[0] and slot == at[1] and c == min(count, 255)


def _acked(j, s):
    """Is s a live sector, not the head, whose records are all acknowledged?"""
    order = j._order
    for k in range(len(order) - 1):
        if order[k] == s:
            return j._first[order[k + 1]] - 1 <= j.acked
    return False


def _outside(j, found):
    """Sectors outside the ring: erased ones are free; a torn header or a torn erase (only
    acknowledged records left) is erased; unacknowledged or foreign records are kept."""
    st = j._state
    ch = bytearray(256)
    for s in range(j.n):
        if st[s] == _LIVE or st[s] == _KEEP:
            continue
        newest, foreign = _body(j, s, ch)
        if newest < 0 and st[s] == _FREE:
            j._nfree += 1
            continue
        if foreign or newest > j.acked:
            st[s] = _KEEP
            _found(found, _T_FOREIGN if foreign else _T_HEADER, max(newest, 0), s, 0)
            j.head = max(j.head, newest)  # never reuse a seq
            continue
        j.bdev.ioctl(_ERASE, s)
        st[s] = _FREE
        j._nfree += 1
        j.problems.append(("torn sector header (sector %d): erased" if newest < 0 else
                           "torn sector erase (sector %d), acknowledged records only: erased") % s)


def _body(j, s, ch):
    """(newest, foreign) for sector s's record slots: newest is -1 if all are erased, else
    the newest seq of our epoch there (0 if none); foreign: a record of another epoch."""
    newest = -1
    foreign = False
    mv = memoryview(ch)
    for off in range(0, j._spb * _SLOT, 256):  # 4 slots at a time; slot 0 is the header
        j.bdev.readblocks(s, ch, off)
        for o in range(0, 256, _SLOT):
            if off + o == 0 or mv[o:o + _SLOT] == _FF64:
                continue
            newest = max(newest, 0)
            if ch[o] == _RMAGIC and crc_ok(ch, o):
                ep, sq = struct.unpack_from(">II", ch, o + 4)
                if ep != j.epoch:
                    foreign = True
                else:
                    newest = max(newest, sq)
    return newest, foreign
