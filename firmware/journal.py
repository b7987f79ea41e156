# The one durable, tamper-evident log (DESIGN section 6) on a raw flash partition.
#
# The partition is a ring of erase blocks ("sectors", 4 KB on the pad's SPI NOR) of 64-byte
# slots.  Slot 0 of a sector is its header (epoch, sector sequence number, first record
# seq); every other slot holds one record, written with one page program: a record costs one
# program, a sector of 63 records one erase (done when acknowledged records are reclaimed,
# at sync time, not in a transaction).  A record is durable when append() returns.
# Layouts, kinds and recovery: docs/protocol.md section 8; opening and recovery: jscan.py.
#
# Board-independent: bdev is anything with readblocks(n, buf, offset), writeblocks(n, buf,
# offset) and ioctl(op, arg) (boards/unix_sim/blockdev.py; esp32.Partition on the pad).
import binascii
import struct
import time
from array import array
from micropython import const

import jscan
from errors import Error
from jrecord import Record, crc_ok, make_header  # noqa: F401 (Record: public)

# Record kinds (protocol.md 8.3)
BOOT = const(1)
CUT = const(2)
TAMPER = const(3)
POWER_RECOVERY = const(4)
PENDING = const(5)
PIN_OK = const(6)
PIN_WRONG = const(7)
LOCK = const(8)
NOT_DELIVERED = const(9)
PIN_ERROR = const(10)
CARD_REFUSED = const(11)
UNLOCK = const(12)
RESET = const(13)
CHANGE = const(14)
AUTH_REFUSED = const(15)
SNAPSHOT = const(16)
CRASH = const(17)
FULL = const(18)
ACK = const(19)

# TAMPER reasons (data byte 4)
T_CRC = const(1)  # a slot fails its CRC and is not a torn final write
T_SEQ = const(2)  # sequence gap, repeat or reorder
T_EPOCH = const(3)  # a record of another epoch inside the ring
T_HOLE = const(4)  # an erased slot with records after it
T_HEADER = const(5)  # unacknowledged records under a damaged or erased sector header
T_FOREIGN = const(6)  # a sector header or record of another epoch outside the ring
T_MISSING = const(7)  # unacknowledged records gone from the tail of the ring
T_MAC = const(8)  # reserved for the sync issue: MAC chain broken

FLAG_RTC = const(1)  # flags bit 0: time is RTC seconds (else ticks_ms since boot)
SNAP_RESERVE = const(64)  # slots only SNAPSHOT, ACK and CUT may use: reclaim always runs
EVENT_RESERVE = const(32)  # more slots fits() keeps back for BOOT, TAMPER, FULL, CRASH, ...

_SLOT = const(64)
_RMAGIC = const(0x4A)  # 'J'
_ERASE = const(6)
_FREE = const(0)  # sector states, as in jscan.py
_LIVE = const(1)
_DIRTY = const(2)
_ZERO16 = bytes(16)


class JournalFull(Error):
    """No room for the record: the pad needs a sync (the host acknowledges, space returns)."""


class Journal:
    """The journal on one partition.  Opening scans the ring, finds the head and recovers.

    clock: None, or an object whose now() returns RTC seconds (None while the RTC is not
    set).  mac: None (MAC field all zeros), or mac(prev_mac, body44) -> 16 bytes.
    """

    def __init__(self, bdev, clock=None, mac=None):
        self.bdev = bdev
        self.clock = clock
        self._macf = mac
        n = self.n = bdev.ioctl(4, 0)
        spb = self._spb = bdev.ioctl(5, 0) // _SLOT
        if n < 2 or spb < 4 or spb % 4:
            raise ValueError("journal partition: %d blocks of %d slots" % (n, spb))
        self.capacity = n * (spb - 1)  # record slots
        self._state = bytearray(n)  # per sector: free, live, dirty or keep (jscan.py)
        self._sseq = array("I", bytes(4 * n))  # sector sequence number (live sectors)
        self._first = array("I", bytes(4 * n))  # seq of its first record (live sectors)
        self._order = []  # live sectors, oldest first
        self._nfree = 0  # sectors FREE or DIRTY
        self._hslot = spb  # next free slot of the head sector (spb: full)
        self._buf = bytearray(_SLOT)  # the record being written
        self._body = memoryview(self._buf)[:60]  # what its CRC covers
        self._rbuf = bytearray(_SLOT)  # scratch
        self._prev = bytearray(16)  # MAC of the last record (the chain)
        self._wrec = Record(self._buf)
        self._watchers = []
        self._last_ack = 0  # seq of the newest ACK record
        self.epoch = 0
        self.head = 0  # seq of the last record
        self.acked = 0  # the host holds every record up to this seq
        self.boot_count = 1
        self.problems = []  # what opening found
        jscan.scan(self, JournalFull)

    @staticmethod
    def format(bdev, epoch):
        """Provisioning only: erases the whole partition and starts epoch `epoch`."""
        for s in range(bdev.ioctl(4, 0)):
            bdev.ioctl(_ERASE, s)
        buf = bytearray(_SLOT)
        make_header(buf, epoch, 1, 1)
        bdev.writeblocks(0, buf, 0)

    # ---- space -----------------------------------------------------------------------------

    def _room(self):
        """Record slots left: in the head sector and in the free sectors."""
        head = self._spb - self._hslot if self._order else 0
        return head + (self._spb - 1) * self._nfree

    def free(self):
        """Records a new transaction may still use (the reserves kept back)."""
        return max(0, self._room() - SNAP_RESERVE - EVENT_RESERVE)

    def fits(self, n):
        """Room for n more records plus the reserve?"""
        return n <= self.free()

    # ---- appending -------------------------------------------------------------------------

    def append(self, kind, card_id=None, data=b""):
        """Appends one record; it is durable when this returns its seq."""
        if not 0 < kind < 256 or len(data) > 8:
            raise ValueError("bad record: kind %d, %d data bytes" % (kind, len(data)))
        if card_id is not None and len(card_id) != 16:
            raise ValueError("card id must be 16 bytes")
        floor = 0 if kind == SNAPSHOT or kind == ACK or kind == CUT else SNAP_RESERVE
        if self._room() <= floor:
            raise JournalFull("journal full: %d records wait for a sync" % (self.head - self.acked))
        if self._hslot >= self._spb:
            self._open_sector()
        seq = self.head + 1
        b = self._buf
        b[0] = _RMAGIC
        b[1] = kind
        b[3] = len(data)
        c = self.clock
        t = None if c is None else c.now()
        b[2] = 0 if t is None else FLAG_RTC
        t = time.ticks_ms() if t is None else t
        struct.pack_into(">IIHHI", b, 4, self.epoch, seq, self.boot_count, 0, t & 0xFFFFFFFF)
        b[20:36] = _ZERO16 if card_id is None else card_id
        for i in range(8):
            b[36 + i] = data[i] if i < len(data) else 0
        if self._macf is None:
            b[44:60] = _ZERO16
        else:
            b[44:60] = self._macf(bytes(self._prev), bytes(b[:44]))
        struct.pack_into(">I", b, 60, binascii.crc32(self._body))
        self.bdev.writeblocks(self._order[-1], b, self._hslot * _SLOT)
        self.head = seq
        self._hslot += 1
        for i in range(16):
            self._prev[i] = b[44 + i]
        if kind == ACK:
            self._last_ack = seq
        for w in self._watchers:
            w._seen(self._wrec)
        return seq

    def _open_sector(self):
        st, n, order = self._state, self.n, self._order
        s = (order[-1] + 1) % n if order else 0
        for _ in range(n):  # the next sector round the ring that holds nothing to keep
            if st[s] == _FREE or st[s] == _DIRTY:
                break
            s = (s + 1) % n
        else:
            raise JournalFull("journal full: no free sector")
        if st[s] == _DIRTY:
            self.bdev.ioctl(_ERASE, s)
        sq = self._sseq[order[-1]] + 1 if order else 1
        make_header(self._rbuf, self.epoch, sq, self.head + 1)
        self.bdev.writeblocks(s, self._rbuf, 0)
        st[s] = _LIVE
        self._nfree -= 1
        self._sseq[s] = sq
        self._first[s] = self.head + 1
        order.append(s)
        self._hslot = 1

    # ---- reading ---------------------------------------------------------------------------

    def iter_from(self, seq=0):
        """Yields the records with seq >= `seq` in ring order, in one reused Record."""
        rec = Record()
        buf = rec.raw
        order, first = self._order, self._first
        k = 0
        while k + 1 < len(order) and first[order[k + 1]] <= seq:
            k += 1
        while k < len(order):
            s = order[k]
            for slot in range(1, self._hslot if k == len(order) - 1 else self._spb):
                self.bdev.readblocks(s, buf, slot * _SLOT)
                if buf[0] == _RMAGIC and crc_ok(buf):
                    ep, sq = struct.unpack_from(">II", buf, 4)
                    if ep == self.epoch and sq >= seq:
                        yield rec
            k += 1

    def read(self, seq):
        """The record `seq` (a copy), or None if it is not (or no longer) in the journal."""
        order, first = self._order, self._first
        for k in range(len(order) - 1, -1, -1):  # first try its slot if nothing was cut
            if first[order[k]] <= seq:
                slot = 1 + seq - first[order[k]]
                if slot < (self._hslot if k == len(order) - 1 else self._spb):
                    r = Record()
                    self.bdev.readblocks(order[k], r.raw, slot * _SLOT)
                    if r.raw[0] == _RMAGIC and crc_ok(r.raw) and r.seq == seq and r.epoch == self.epoch:
                        return r
                break
        for r in self.iter_from(seq):
            return r.copy() if r.seq == seq else None
        return None

    # ---- acknowledgement and reclaim -------------------------------------------------------

    def watch(self, keeper):
        """keeper._seen(record) after every append; keeper._carry(lo, hi) -> [(card_id, data)]
        to SNAPSHOT before records lo..hi are reclaimed; keeper._reclaimed() after."""
        self._watchers.append(keeper)

    def ack(self, seq):
        """The host holds every record up to seq: marks it (an ACK record) and reclaims the
        sectors that hold only acknowledged records.  Returns the sectors reclaimed."""
        if not 0 <= seq <= self.head:
            raise ValueError("ack of seq %d: the head is %d" % (seq, self.head))
        if seq > self.acked:
            # an ack of nothing but the newest ACK record is not itself journaled
            if not (seq == self._last_ack and self.acked == seq - 1):
                self.append(ACK, None, struct.pack(">I", seq))
            self.acked = seq
        order, first = self._order, self._first
        done = 0
        try:
            while len(order) > 1 and first[order[1]] - 1 <= self.acked:
                s = order[0]
                for w in self._watchers:  # carry card states forward, then erase
                    for cid, data in w._carry(first[s], first[order[1]] - 1):
                        self.append(SNAPSHOT, cid, data)
                self.bdev.ioctl(_ERASE, s)
                self._state[s] = _FREE
                self._nfree += 1
                order.pop(0)
                done += 1
        except JournalFull:
            self.problems.append("reclaim stopped: no room for snapshots")
        if done:
            for w in self._watchers:
                w._reclaimed()
        return done
