# Reading the journal for the host link's PULL (protocol.md 9.3): loaded with the link
# (link.py, through Journal.copy_from) and dropped with it, so it costs no RAM while the
# host is quiet.
import struct
from micropython import const

_SLOT = const(64)
_CUT = const(2)  # record kind, as in journal.py
_ERASED = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"  # an erased slot


def copy_from(j, seq, buf, o, end):
    """For the host link: copies the slots from record `seq` on into buf[o:end], in
    ring order, as stored: valid records, and damaged slots raw (tampering: the host
    keeps them as evidence and goes on after them). Starts after the last valid record
    below `seq`; skips erased slots and the torn slots a CUT right after them accounts
    for. Copies nothing when `seq` is below the oldest record held (reclaimed).
    Allocates no buffer: slots are read straight into buf. Returns the new o."""
    if not j._nr or seq < j._sector(0)[1]:
        return o
    spb, k, rd = j._spb, 0, j.bdev.readblocks
    while k < j._nr - 1 and j._sector(k + 1)[1] <= seq:
        k += 1
    run = rk = rslot = 0  # bad slots since the last valid record, the first one's place
    while k < j._nr and o < end:
        s = j._sector(k)[0]
        for slot in range(1, j._hslot if k == j._nr - 1 else spb):
            b = buf[o:o + _SLOT]
            rd(s, b, slot * _SLOT)
            if b == _ERASED:
                continue
            if not j._ok(b, b[:60]):
                if not run:
                    rk, rslot = k, slot
                run += 1
                continue
            q = struct.unpack_from(">I", b, 8)[0]
            if run and q >= seq and not (b[1] == _CUT and struct.unpack_from(">HB", b, 40)
                                         == (j._sector(rk)[0], rslot)):
                for i in range(run):  # the damaged slots, then this record again
                    x = rslot - 1 + i
                    rd(j._sector(rk + x // (spb - 1))[0], buf[o:o + _SLOT],
                       (x % (spb - 1) + 1) * _SLOT)
                    o += _SLOT
                    if o >= end:
                        return o
                rd(s, buf[o:o + _SLOT], slot * _SLOT)
            run = 0
            if q >= seq:
                o += _SLOT
                if o >= end:
                    return o
        k += 1
    return o
