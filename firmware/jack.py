# The host's acknowledgement and the reclaim it allows (protocol.md 8.4), and reading one
# record: loaded with the link (through Journal.ack and Journal.read) and dropped with it,
# so it costs no RAM while the host is quiet.
#
# The acknowledged mark is kept in RAM, and durably in the header of each sector opened;
# an ACK record makes it durable only before a reclaim (whose erases it justifies).  So a
# sync costs one record per reclaim, not one per acknowledgement, and a power cut only
# makes the host fetch again records it already holds.
import struct
from micropython import const

from journal import JournalFull, Record

_SLOT = const(64)
_J_ACK = const(19)  # record kind, as in journal.py
_ERASE = const(6)
_FREE = const(0)  # sector state, as in journal.py


def ack(j, seq):
    """The host holds every record up to seq: marks it, then, oldest first, each sector
    (but the head sector) whose records are all acknowledged: its cards' states carried
    forward (SNAPSHOT records, retry.py), then the erase.  Returns the sectors reclaimed."""
    if not 0 <= seq <= j.head:
        raise ValueError("ack %d: head %d" % (seq, j.head))
    a = max(j.acked, seq)
    if not (j._nr > 1 and j._sector(1)[1] - 1 <= a):
        j.acked = a
        return 0  # nothing to reclaim
    j.audit()  # the ring is checked before any of it goes (no RAM for it: nothing changed,
    j.acked = a  # the host's ACK can be answered again)
    kp = j.keeper
    done = 0
    try:  # (the ring arrays move in place: a reclaim allocates nothing)
        j.append(_J_ACK, None, struct.pack(">I", j.acked))  # the mark, durable before the erase
        while j._nr > 1 and j._sector(1)[1] - 1 <= j.acked:
            s, first = j._sector(0)
            if kp:
                kp._carry(first, j._sector(1)[1] - 1)
            j.bdev.ioctl(_ERASE, s)
            j._state[s] = _FREE
            j._nfree += 1
            j._o0 = (j._o0 + 1) % len(j._order)
            j._nr -= 1
            done += 1
    except JournalFull:
        j.problems.append("reclaim stopped: no room for snapshots")
    if done:
        if kp:
            kp._reclaimed()
        j._counted()
    return done


def read(j, seq):
    """The record `seq` (a copy), or None if it is not (or no longer) in the journal."""
    k = j._nr - 1
    while k >= 0 and j._sector(k)[1] > seq:
        k -= 1
    r = Record(bytearray(_SLOT))
    if k >= 0:
        s, first = j._sector(k)
        slot = seq - first + 1
        if 0 < slot < (j._hslot if k == j._nr - 1 else j._spb):
            j.bdev.readblocks(s, r.raw, slot * _SLOT)  # its own slot: right unless a cut
            if j._ok(r.raw, memoryview(r.raw)[:60]) and r.seq == seq:  # or damage came
                return r  # before it in the sector
    for r in j.iter_from(seq):  # else a scan from the sector it should be in
        return r if r.seq == seq else None  # (the generator is dropped: r is ours)
    return None
