# Journal record and sector header layouts (docs/protocol.md section 8): the Record view
# and the CRC helpers shared by journal.py and jscan.py.
import binascii
import struct
from micropython import const

_SLOT = const(64)
_HMAGIC = const(0x53)  # 'S'
_VERSION = const(1)


def crc_ok(buf, off=0):
    """Does the 64-byte slot at buf[off:] carry the right CRC-32?"""
    return binascii.crc32(memoryview(buf)[off:off + 60]) == struct.unpack_from(">I", buf, off + 60)[0]


def seal(buf):
    struct.pack_into(">I", buf, 60, binascii.crc32(memoryview(buf)[:60]))


def make_header(buf, epoch, sseq, first):
    """Sector header: magic, version, 0, epoch, sector seq, first record seq, zeros, CRC."""
    for i in range(60):
        buf[i] = 0
    buf[0] = _HMAGIC
    buf[1] = _VERSION
    struct.pack_into(">III", buf, 4, epoch, sseq, first)
    seal(buf)


def _field(fmt, off):
    return property(lambda self: struct.unpack_from(fmt, self.raw, off)[0])


def _bytes(a, b):
    return property(lambda self: bytes(self.raw[a:b if b else a + min(self.raw[3], 8)]))


class Record:
    """One record; .raw is its 64 bytes.  iter_from() reuses one Record: copy() to keep it."""

    def __init__(self, raw=None):
        self.raw = bytearray(_SLOT) if raw is None else raw

    def copy(self):
        return Record(bytearray(self.raw))

    kind = _field("B", 1)
    flags = _field("B", 2)
    epoch = _field(">I", 4)
    seq = _field(">I", 8)
    boot = _field(">H", 12)
    time = _field(">I", 16)
    card_id = _bytes(20, 36)
    data = _bytes(36, 0)
    mac = _bytes(44, 60)

    def __repr__(self):
        return "Record(seq=%d kind=%d card=%s data=%s)" % (
            self.seq, self.kind, binascii.hexlify(self.card_id), binascii.hexlify(self.data))
