# Opening the journal (DESIGN section 6; the rules in full: docs/protocol.md section 8.5).
# Imported by Journal() only while it opens, then dropped from sys.modules: its RAM is freed.
#
# Opening reads the sector headers, the head sector's records and the sectors outside the
# ring: its time grows with the sectors, not with the records.  Every other record is
# checked afterwards by the audit (jaudit.py), a slice at a time.
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
from array import array
from micropython import const

from jaudit import found as found_
from journal import JournalFull


_SLOT = const(64)
_RMAGIC = const(0x4A)
_J_CUT = const(2)  # record kinds, as in journal.py
_J_ACK = const(19)
_FREE = const(0)  # sector states, as in journal.py; after the scan every sector is one of
_LIVE = const(1)  # free, live (in the ring) or kept
_DIRTY = const(2)  # (while scanning) a damaged or erased header over something: looked at
_KEEP = const(3)  # evidence of tampering: never erased, never reused
_T_HEADER = const(5)  # TAMPER reasons (protocol.md 8.5)
_T_FOREIGN = const(6)
_T_MISSING = const(7)


def start(j, bdev, clock, mac):
    """Journal() (journal.py): the journal's fields and the ring's arrays, then the scan."""
    n = bdev.ioctl(4, 0)
    spb = bdev.ioctl(5, 0) // _SLOT
    if n < 2 or spb < 4 or spb % 4 or n * spb >= 0x10000:
        raise ValueError("journal partition: %d blocks of %d slots" % (n, spb))
    j.bdev = bdev
    j.clock = clock
    j._mac = mac
    j.keeper = None
    j._spb = spb
    j._buf = b = bytearray(_SLOT)  # the record being written; 44..59: the MAC chain
    j._body = memoryview(b)[:60]  # what its CRC covers
    j.problems = []  # what opening found
    j.missed = 0  # events not journaled (event reserve used up) since this boot
    j.missed_boots = 0  # of them, BOOT records
    # the ring's arrays, as large as the partition, made once while the heap is whole:
    # sector states, the ring's sectors oldest first, the seq of each one's first record
    # (from a range: made at its size, no copy; the first seqs' low 16 bits: a ring
    # spans fewer than 65,536 records, _sector() rebuilds them from _ref)
    j._state = bytearray(n)
    j._order = array("B" if n < 256 else "H", range(n))
    j._first = array("H", range(n))
    j._ref = 0  # the first seq of the newest ring sector, in full
    j._aud = None  # the audit's state while it has records left to check (jaudit.py)
    scan(j)


def scan(j):
    """Reads every sector header, then the head sector, then the sectors outside the ring;
    sets up j (epoch, head, acked, boot_count, sectors, write position, MAC chain), cuts a
    torn tail and leaves the audit of the ring's records to jaudit (j._aud)."""
    b = bytearray(256)  # 4 slots at a time, or one in b[:64]
    found = bytearray()  # the anomalies, as TAMPER data (8 bytes each: jaudit.found)
    _ring(j, b, found)
    bad, at = _head(j, b)
    _outside(j, b, found)
    oldest = j._sector(0)[1] if j._nr else 1
    if oldest > j.acked + 1:
        found_(found, _T_MISSING, j.acked + 1, j._order[0], 0)
    # the audit: ring position (index, slot), expected seq, allowance, bad run (length,
    # where), hole, highest seq; the anomalies; the TAMPER records it has seen
    j._aud = [0, 1, oldest, 0, 0, 0, 0, oldest - 1, found, []]
    if bad:
        spb = j._spb
        j.problems.append("torn record cut: seq %d (sector %d slot %d, %d slot(s))"
                          % (j.head + 1, at // spb, at % spb, bad))
        try:  # a CUT may use the snapshot reserve
            j.append(_J_CUT, None, struct.pack(">IHBB", j.head + 1, at // spb, at % spb,
                                             min(bad, 255)))
        except JournalFull:  # not one slot left: the torn slots stay, reported
            j.problems.append("journal full: the cut is not journaled")


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
    nr = acked = 0  # acked: the highest mark in the ring's headers
    for s in range(n):
        if st[s] == _LIVE:
            bd.readblocks(s, one, 0)
            if struct.unpack_from(">I", b, 4)[0] == j.epoch:
                o[nr] = s
                first[nr] = first[s]
                nr += 1
                acked = max(acked, struct.unpack_from(">I", b, 16)[0])
            else:
                st[s] = _KEEP
                found_(found, _T_FOREIGN, 0, s, 0)
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
    j.acked = acked


def _head(j, b):
    """The head sector's records: head, acked (its ACK records), write position, boot
    count, MAC chain (from the last good record: in an older sector if the head sector has
    none).  Returns the torn tail: bad slots after the last good record (count, where)."""
    nr = j._nr
    j.head = j._sector(nr - 1)[1] - 1 if nr else 0  # raised by the records read
    j._hslot = j._spb
    boot = -1
    tail = 0, 0
    k = nr - 1
    while k >= 0 and boot < 0:  # an older sector only while no good record is found
        bad, at, last, boot = _sector(j, b, k)
        if k == nr - 1:
            tail = bad, at
            j._hslot = last + 1
        k -= 1
    j.acked = min(j.acked, j.head)
    j.boot_count = (max(boot, 0) + 1) & 0xFFFF or 1
    return tail


def _sector(j, b, k):
    """Reads ring sector k: raises j.head and j.acked, moves the MAC chain to its last good
    record.  Returns the bad run after the last good record (count, where), the last slot
    used and the boot count of the last good record (-1: none)."""
    bd, spb = j.bdev, j._spb
    s = j._sector(k)[0]
    one = memoryview(b)[:_SLOT]
    body = memoryview(b)[:60]
    ff64 = b"\xff" * _SLOT
    bad = at = hole = last = 0
    boot = -1
    for slot in range(1, spb):
        bd.readblocks(s, one, slot * _SLOT)
        if one == ff64:
            hole = 1
            continue
        if hole:  # an erased slot, then data: not a torn tail (the audit reports it)
            bad = hole = 0
        last = slot
        if b[0] != _RMAGIC or binascii.crc32(body) != struct.unpack_from(">I", b, 60)[0]:
            if not bad:
                at = s * spb + slot
            bad += 1
            continue
        bad = 0
        ep, sq, bt = struct.unpack_from(">IIH", b, 4)
        if ep != j.epoch:
            continue
        j.head = max(j.head, sq)
        if b[1] == _J_ACK:
            j.acked = max(j.acked, struct.unpack_from(">I", b, 36)[0])
        boot = bt
        j._buf[44:60] = b[44:60]  # the MAC chain goes on from the last good record
    return bad, at, last, boot


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
            found_(found, _T_FOREIGN if foreign else _T_HEADER, max(newest, 0), s, 0)
            j.head = max(j.head, newest)  # never reuse a seq
        else:
            bd.ioctl(6, s)
            st[s] = _FREE
            j._nfree += 1
            pr.append(("torn sector header (sector %d): erased" if newest < 0 else
                       "torn sector erase (sector %d), acknowledged records only: erased") % s)
