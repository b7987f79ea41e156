# The one durable, tamper-evident log (DESIGN section 6) on a raw flash partition.
#
# The partition is a ring of erase blocks ("sectors", 4 KB on the pad's SPI NOR) of 64-byte
# slots.  Slot 0 of a sector is its header (epoch, sector seq, first record seq); every other
# slot holds one record, written with one page program: a record costs one program, a sector
# of 63 records one erase (when acknowledged records are reclaimed, at sync time, never in a
# transaction).  A record is durable when append() returns.  Layouts, kinds and recovery:
# docs/protocol.md section 8.  Opening and recovery are in jscan.py, loaded only while a
# journal opens and dropped after it.
#
# Board-independent: bdev is anything with readblocks(n, buf, offset), writeblocks(n, buf,
# offset) and ioctl(op, arg) (boards/unix_sim/blockdev.py; esp32.Partition on the pad).
import binascii
import struct
import sys
import time
from micropython import const

from errors import Error

# Record kinds (protocol.md 8.3): private names (a public name costs RAM in every boot);
# the modules that journal a kind declare it as their own `_J_<NAME> = const(n)`, checked
# by tests/test_names.py against padctl.store.KINDS.
_BOOT = const(1)
_CUT = const(2)
_TAMPER = const(3)
_POWER_RECOVERY = const(4)
_PENDING = const(5)
_PIN_OK = const(6)
_PIN_WRONG = const(7)
_LOCK = const(8)
_NOT_DELIVERED = const(9)
_PIN_ERROR = const(10)
_CARD_REFUSED = const(11)
_UNLOCK = const(12)
_RESET = const(13)
_CHANGE = const(14)
_AUTH_REFUSED = const(15)
_SNAPSHOT = const(16)
_CRASH = const(17)
_FULL = const(18)
_ACK = const(19)
_PROVISION = const(20)  # written only by provisioning (boards/*/provision.py): seq 1
_DEVICE = const(21)  # a device of the board failed (board.faults, journaled by the app)

_SLOT = const(64)
_RMAGIC = const(0x4A)  # 'J'
_SNAP_RESERVE = const(64)  # slots only _SNAPSHOT, _ACK and _CUT may use: a reclaim always runs
_RESERVE = const(96)  # the snapshot reserve + 32 kept back for events (_BOOT, _TAMPER, ...)
_F_OUT = const(1)  # _FULL data byte 0: the event reserve is used up, events are counted
_F_MISSED = const(2)  # _FULL data byte 0: events counted while full (count, boots)
_ERASE = const(6)
_FREE = const(0)  # sector states (Journal._state): erased; in the ring; (jscan.py) kept
_LIVE = const(1)


class JournalFull(Error):
    """No room for the record: the pad needs a sync (the host acknowledges, space returns)."""


class Record:
    """One record slot: .raw (64 bytes); .kind .seq .card_id .data .mac read from it."""

    def __init__(self, raw):
        self.raw = raw

    def __getattr__(self, name):
        r = self.raw
        if name == "kind":
            return r[1]
        if name == "seq":
            return struct.unpack_from(">I", r, 8)[0]
        if name == "card_id":
            return bytes(r[20:36])
        if name == "data":
            return bytes(r[36:36 + min(r[3], 8)])
        if name == "mac":
            return bytes(r[44:60])
        raise AttributeError(name)


def _header(buf, epoch, n, seq, acked=0):
    """Sector header (protocol.md 8.2) into buf[0:64]: magic, version, epoch, sector seq n,
    seq of the first record, the acknowledged mark when the sector opened, zeros, CRC."""
    struct.pack_into(">BBHIIII40s", buf, 0, 0x53, 1, 0, epoch, n, seq, acked, b"")
    struct.pack_into(">I", buf, 60, binascii.crc32(memoryview(buf)[:60]))


class Journal:
    """The journal on one partition; opening scans it, finds the head and recovers.

    clock: None, or an object whose now() returns RTC seconds (None while the RTC is not
    set).  mac: None (MAC field all zeros), or mac(prev_mac, body44) -> 16 bytes.
    keeper: None, or the one object told of appends and reclaims (retry.Retry): keeper.
    _seen(raw) after each append; keeper._carry(start, end) before records start..end are
    reclaimed (it appends the _SNAPSHOT records that carry their state forward);
    keeper._reclaimed() after a reclaim.  problems: what opening found (strings).
    """

    def __init__(self, bdev, clock=None, mac=None, defer=False):
        # jscan.start: the fields and the ring's arrays, then the scan, which sets epoch,
        # head, acked, boot_count, the ring and the write position
        import jscan

        try:
            jscan.start(self, bdev, clock, mac)
        finally:
            sys.modules.pop("jscan")  # its code is needed again only at the next opening
            sys.modules.pop("jaudit", None)
        if not defer:
            self.audit()

    def audit(self, n=0):
        """Checks up to n more slots of the ring (0: all that are left) for damage and
        journals what it finds (_TAMPER), then returns whether slots are left to check.
        Opening reads only the sector headers and the head sector (its time grows with the
        sectors, not the records); the rest is checked by this, a slice at a time while the
        pad idles, and in full before a card is served or a sector reclaimed (jaudit.py,
        loaded for each slice)."""
        if self._aud is None:
            return False
        import jaudit
        try:
            more = jaudit.step(self, n)
        except BaseException:
            sys.modules.pop("jaudit")
            raise
        if not more:  # dropped when done (the app may load it at boot: one hole, low)
            sys.modules.pop("jaudit")
        return more

    @staticmethod
    def format(bdev, epoch):
        """Provisioning only: erases the whole partition and starts epoch `epoch`."""
        for s in range(bdev.ioctl(4, 0)):
            bdev.ioctl(_ERASE, s)
        b = bytearray(_SLOT)
        _header(b, epoch, 1, 1)
        bdev.writeblocks(0, b, 0)

    def free(self, keep=_RESERVE):
        """Records a new transaction may still use: the free slots of the head sector and of
        the free sectors, less the reserves (keep)."""
        return max(0, self._spb - self._hslot + (self._spb - 1) * self._nfree - keep)

    def fits(self, n):
        """Room for n more records, the reserves kept back?"""
        return n <= self.free()

    def append(self, kind, card_id=None, data=b""):
        """Appends one record; it is durable when this returns its seq."""
        if not 0 < kind < 256 or len(data) > 8 or card_id is not None and len(card_id) != 16:
            raise ValueError("bad record")
        if not self.free(0 if kind == _SNAPSHOT or kind == _ACK or kind == _CUT else _SNAP_RESERVE):
            raise JournalFull("journal full: sync")
        b, st, o = self._buf, self._state, self._order  # (three at a time: no tuple built)
        m, seq = self._mac, self.head + 1
        prev = m and b[44:60]  # the MAC of the last record
        n, nr = len(st), self._nr
        h = o[(self._o0 + nr - 1) % n] if nr else n - 1  # the head sector
        if self._hslot >= self._spb:  # full: the next free one round the ring (free() says
            s = (h + 1) % n  # there is one) gets its header and becomes the head sector
            while st[s] != _FREE:
                s = (s + 1) % n
            k = 1  # its sector seq: the head sector's + 1
            if nr:
                self.bdev.readblocks(h, b, 0)
                k += struct.unpack_from(">I", b, 8)[0]
            _header(b, self.epoch, k, seq, self.acked)
            self.bdev.writeblocks(s, b, 0)
            st[s] = _LIVE
            self._nfree -= 1
            i = (self._o0 + nr) % n  # the ring arrays are preallocated: nothing allocated
            o[i] = h = s
            self._first[i] = seq & 0xFFFF
            self._ref = seq
            self._nr = nr + 1
            self._hslot = 1
        t = self.clock and self.clock.now()
        struct.pack_into(">BBBBIIHHI16s8s16s", b, 0, _RMAGIC, kind, t is not None, len(data),
                         self.epoch, seq, self.boot_count, 0, time.ticks_ms() if t is None else t,
                         card_id or b"", data, b"")
        if m:
            b[44:60] = m(prev, b[:44])
        struct.pack_into(">I", b, 60, binascii.crc32(self._body))
        self.bdev.writeblocks(h, b, self._hslot * _SLOT)
        self.head = seq
        self._hslot += 1
        if self.keeper:
            self.keeper._seen(b)
        return seq

    def _ok(self, b, body):
        """Is the slot in b (body: a memoryview of its bytes 0..59) a record of this epoch
        with the right CRC?"""
        return (b[0] == _RMAGIC and struct.unpack_from(">I", b, 4)[0] == self.epoch
                and binascii.crc32(body) == struct.unpack_from(">I", b, 60)[0])

    def event(self, kind, card_id=None, data=b""):
        """Journals an event of the pad (_BOOT, _CRASH, _FULL, _TAMPER notes, refusals: what it
        needs in order to keep running) from the event reserve; never raises JournalFull.
        When the reserve has one slot left a _FULL record (data 01) takes it: from then on
        events are counted in RAM (missed), and the first event once a sync has made room
        is preceded by one _FULL record (data 02, count (2), boots (2)).  Returns the seq,
        or None when the event was only counted."""
        self._counted()
        left = self.free(_SNAP_RESERVE)
        if left > 1:
            return self.append(kind, card_id, data)
        if left == 1 and not self.missed:
            self.append(_FULL, None, bytes((_F_OUT,)))
        self.missed += 1
        if kind == _BOOT:
            self.missed_boots += 1
        return None

    def _sector(self, k):
        """The k-th sector of the ring (0: the oldest) and the seq of its first record."""
        i = (self._o0 + k) % len(self._order)
        return self._order[i], self._ref - ((self._ref - self._first[i]) & 0xFFFF)

    def iter_from(self, seq=0):
        """Yields the records with seq >= `seq` in ring order, in one reused Record."""
        rec = Record(bytearray(_SLOT))
        b = rec.raw
        body = memoryview(b)[:60]
        h = self._nr - 1
        k = 0
        while k < h and self._sector(k + 1)[1] <= seq:
            k += 1
        while k <= h:
            s = self._sector(k)[0]
            for slot in range(1, self._hslot if k == h else self._spb):
                self.bdev.readblocks(s, b, slot * _SLOT)
                if self._ok(b, body) and rec.seq >= seq:
                    yield rec
            k += 1

    def copy_from(self, seq, buf, o, end):
        """For the host link: the slots from record `seq` on, as stored, copied into
        buf[o:end]; returns the new o (jcopy.py: loaded with the link, not resident)."""
        from jcopy import copy_from
        return copy_from(self, seq, buf, o, end)

    def read(self, seq):
        """The record `seq` (a copy), or None if it is not (or no longer) in the journal
        (jack.py: loaded with the link, not resident)."""
        from jack import read
        return read(self, seq)

    def ack(self, seq):
        """The host holds every record up to seq: marks it and reclaims the sectors that
        hold only acknowledged records (jack.py: loaded with the link, not resident).
        Returns the sectors reclaimed."""
        from jack import ack
        return ack(self, seq)

    def _counted(self):
        """Room again after events were only counted: one _FULL record with the count."""
        if self.missed and self.free(_SNAP_RESERVE) > 1:
            self.append(_FULL, None, struct.pack(">BHH", _F_MISSED, min(self.missed, 0xFFFF),
                                                min(self.missed_boots, 0xFFFF)))
            self.missed = self.missed_boots = 0
