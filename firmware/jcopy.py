# Reading the journal for the host link's PULL (protocol.md 9.3): loaded with the link
# (link.py, through Journal.copy_from) and dropped with it, so it costs no RAM while the
# host is quiet. pack(): the PULL answer's packed records.
import struct
from binascii import crc32
from micropython import const

_SLOT = const(64)
_CARD = const(32)  # in the link's scratch (link.py)
_J_CUT = const(2)  # record kind, as in journal.py
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
            if run and q >= seq and not (b[1] == _J_CUT and struct.unpack_from(">HB", b, 40)
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


def pack(b, s, cb, ep, r, e, seq):
    """The link's PULL answer (protocol.md 9.3): packs the slots b[r:e], copied from
    record `seq` on, in place. A valid record of epoch `ep` (zeros where zeros are due)
    loses what the host rebuilds: magic, epoch, seq (sent, after a 00, only when it is
    not the previous packed one's + 1), padding, CRC; its time is a delta, its boot
    count and card id come only when they change. Anything else stays raw (64 bytes,
    its bit set in the raw mask). A packed record is at most 54 bytes, written
    ascending from w <= r, each byte read before it is written over (fields are read at
    offsets 20 and up, written at 14 and up less): nothing is allocated.
    s[_CARD:_CARD + 16] holds the previous packed card id, cb (60 bytes) a slot's
    CRC'd bytes. Writes n (b[r - 9]) and the raw mask (b[r - 4:r]) into the answer's
    head; returns the end."""
    r0 = r
    w, i, raw = r, 0, 0
    ps, pt, pb = seq - 1, 0, -1
    for k in range(_CARD, _CARD + 16):
        s[k] = 0
    while r < e:  # (in three functions: smaller blocks of code in a fragmented heap)
        if _valid(b, cb, r, ep):  # (its seq, time and boot read before it is packed)
            q = b[r + 8] << 24 | b[r + 9] << 16 | b[r + 10] << 8 | b[r + 11]
            t = b[r + 16] << 24 | b[r + 17] << 16 | b[r + 18] << 8 | b[r + 19]
            bt = b[r + 12] << 8 | b[r + 13]
            w = _packed(b, s, r, w, ps, pt, pb)
            ps, pt, pb = q, t, bt
        else:
            raw |= 1 << i
            for k in range(64):  # w <= r: ascending, never over an unread byte
                b[w + k] = b[r + k]
            w += 64
        r += 64
        i += 1
    b[r0 - 9] = i
    for k in range(4):
        b[r0 - 1 - k] = raw >> 8 * k & 255
    return w


def _valid(b, cb, r, ep):
    # The slot at r is a record pack() may pack: magic, CRC, epoch, kind, flags, zeros.
    for k in range(60):  # (crc32 of a slice would allocate its view)
        cb[k] = b[r + k]
    dl = b[r + 3]
    if not (b[r] == 0x4A and b[r + 2] < 2 and dl <= 8 and not b[r + 14] and not b[r + 15]
            and b[r + 1] and (b[r + 4] << 24 | b[r + 5] << 16 | b[r + 6] << 8
                              | b[r + 7]) == ep
            and crc32(cb) == (b[r + 60] << 24 | b[r + 61] << 16 | b[r + 62] << 8
                              | b[r + 63])):
        return False
    for k in range(r + 36 + dl, r + 44):
        if b[k]:
            return False
    return True


def _packed(b, s, r, w, ps, pt, pb):
    # Writes the valid record at r packed at w <= r (the fields it needs are read after
    # the previous packed record's ps seq, pt time, pb boot); returns the new w. It reads
    # the slot's fields before (at lower offsets than) the packed bytes written over them.
    dl, fl = b[r + 3], b[r + 2]
    q = b[r + 8] << 24 | b[r + 9] << 16 | b[r + 10] << 8 | b[r + 11]
    bt = b[r + 12] << 8 | b[r + 13]
    t = b[r + 16] << 24 | b[r + 17] << 16 | b[r + 18] << 8 | b[r + 19]
    m = 0  # card id: 0 none (zeros), 1 the previous packed one's, 2 follows
    same = True
    for k in range(16):
        c = b[r + 20 + k]
        if c:
            m = 1
        if c != s[_CARD + k]:
            same = False
    if m and not same:
        m = 2
    if q != ps + 1:  # not the seq due (after damage, a gap): 00, then the seq
        b[w] = 0
        for k in range(4):
            b[w + 1 + k] = b[r + 8 + k]
        w += 5
    b[w] = b[r + 1]
    b[w + 1] = dl | fl << 4 | (32 if bt != pb else 0) | m << 6
    w += 2
    d = (t - pt) & 0xFFFFFFFF
    while d > 127:  # the time's delta, 7 bits a byte, low first
        b[w] = d & 127 | 128
        d >>= 7
        w += 1
    b[w] = d
    w += 1
    if bt != pb:
        b[w] = bt >> 8
        b[w + 1] = bt & 255
        w += 2
    if m == 2:
        for k in range(16):
            c = b[r + 20 + k]
            s[_CARD + k] = c
            b[w + k] = c
        w += 16
    for k in range(r + 36, r + 36 + dl):  # the data, then the MAC
        b[w] = b[k]
        w += 1
    for k in range(r + 44, r + 60):
        b[w] = b[k]
        w += 1
    return w
