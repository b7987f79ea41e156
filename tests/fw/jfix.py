# Fixtures for the flash, journal and retry tests: scratch images in /tmp, card ids, damage.
# Test material only: every image is made at run time and removed.
import binascii
import os
import struct

from blockdev import Counters, FileBlockDev

made = []


class PowerCut(Exception):
    """The simulated power cut of the in-process tests: their Counters' cut raises it."""


def image(blocks):
    """A new erased image file of `blocks` 4 KB blocks; its path."""
    path = "/tmp/padtest-%s.img" % binascii.hexlify(os.urandom(6)).decode()
    ff = b"\xff" * 512
    with open(path, "wb") as f:
        for _ in range(blocks * 8):
            f.write(ff)
    made.append(path)
    return path


def cut():
    raise PowerCut("cut")


def dev(path, tear_at=0, keep=None, start=0, blocks=None):
    """A block device over the image; tear_at / keep as in Counters, the cut raises PowerCut."""
    return FileBlockDev(path, 4096, start, blocks, Counters(tear_at, keep, cut))


class Traced:
    """A block device that passes each program and erase of the device d under it to note():
    "P block offset length" or "E block", block numbers of the whole image."""

    def __init__(self, d, note):
        self.d, self.note = d, note

    def readblocks(self, n, buf, offset=0):
        self.d.readblocks(n, buf, offset)

    def writeblocks(self, n, buf, offset=0):
        self.note("P %d %d %d" % (self.d.start_block + n, offset, len(buf)))
        self.d.writeblocks(n, buf, offset)

    def ioctl(self, op, arg):
        if op == 6:
            self.note("E %d" % (self.d.start_block + arg))
        return self.d.ioctl(op, arg)


def filled(blocks, n):
    """A new journal of `blocks` sectors holding n PIN_OK records of cards 1..n: (path, it)."""
    import journal as J
    import jnames  # noqa: F401 (the kinds' names)
    p = image(blocks)
    J.Journal.format(dev(p), 1)
    j = J.Journal(dev(p))
    for i in range(n):
        j.append(J.PIN_OK, card(i + 1))
    return p, j


def card(i):
    """A test card id: region 110105, the issuer RID, serial i."""
    return b"\x11\x01\x05\xd1\x56\x00\x00\x05" + struct.pack(">Q", i)


def peek(path, addr, n):
    with open(path, "rb") as f:
        f.seek(addr)
        return f.read(n)


def blank(path, addr, n, value=0xFF):
    """Are the n bytes at addr all `value` (0xFF: erased)?  Read in small pieces."""
    ref = bytes((value,)) * 256
    with open(path, "rb") as f:
        f.seek(addr)
        while n > 0:
            k = min(n, 256)
            if f.read(k) != ref[:k]:
                return False
            n -= k
    return True


def poke(path, addr, data):
    """Writes bytes into the image behind the block device's back (tampering, corruption)."""
    with open(path, "r+b") as f:
        f.seek(addr)
        f.write(data)


def slot(s, n):
    """Byte address of slot n of sector s (journal partition at block 0)."""
    return s * 4096 + n * 64


def rewrite(path, addr, off, data):
    """Changes bytes of the slot at addr and gives it a valid CRC again (a forger's edit)."""
    raw = bytearray(peek(path, addr, 64))
    raw[off:off + len(data)] = data
    struct.pack_into(">I", raw, 60, binascii.crc32(raw[:60]))
    poke(path, addr, raw)


def cleanup():
    for p in made:
        try:
            os.remove(p)
        except OSError:
            pass
    made.clear()
