# The unix board's flash chip: one image file behind MicroPython's extended block protocol.
#
# FileBlockDev is one partition (start_block, nblocks) of the image.  Writes go straight to
# the file (seek, write: one write(2) each, no RAM cache), so a killed process loses nothing
# it wrote: killing it is a power cut.  It behaves like SPI NOR: a program only clears bits
# (new = old & data), an erase sets the block to 0xFF.  A Counters object, shared by the
# partitions of one flash, counts their programs and erases and can tear or cut the Nth
# operation (boards/unix_sim/README.md).
import os
from micropython import const

_CHUNK = const(256)


class Counters:
    """The operations of one whole flash, and the tear / cut trigger.

    tear_at: the Nth operation (program or erase, counted from 1 over the whole flash in this
    process, or with stats since the stats file began: across the resets of one power
    session; 0: never) is done only in part, then cut() is called (None: the process kills
    itself with SIGKILL, a power cut).  keep: the bytes of it that happen (a program's first
    bytes; an erase sets its first bytes to 0xFF); None: half, 0: a cut just before the
    operation, >= its length: just after.  stats: None, or a file opened "r+b" that gets
    "programs erases bytes" (the totals) rewritten at every operation.  Counts: ops (as
    tear_at counts them), totals [programs, erases, bytes] (from `totals`: those of earlier
    processes), overprograms (programs that tried to set a bit: a caller's bug).
    """

    def __init__(self, tear_at=0, keep=None, cut=None, stats=None, totals=None):
        self.tear_at = tear_at
        self.keep = keep
        self.cut = cut
        self.stats = stats
        self.totals = totals or [0, 0, 0]
        self.ops = self.totals[0] + self.totals[1] if stats else 0
        self.overprograms = 0


class FileBlockDev:
    """One partition of a flash image file: readblocks / writeblocks / ioctl (extended
    protocol; writeblocks(n, None) is the erase ioctl 6 does).  nblocks None: to the end of
    the file."""

    def __init__(self, path, block_size=4096, start_block=0, nblocks=None, counters=None):
        self._f = open(path, "r+b")  # closed when the device is collected
        if nblocks is None:
            nblocks = self._f.seek(0, 2) // block_size - start_block
        self.block_size = block_size
        self.start_block = start_block
        self.nblocks = nblocks
        self.counters = counters or Counters()
        self._old = bytearray(_CHUNK)

    def _addr(self, n, offset, length):
        bs = self.block_size
        if n < 0 or offset < 0 or n * bs + offset + length > self.nblocks * bs:
            raise ValueError("outside the partition: block %d" % n)
        return (self.start_block + n) * bs + offset

    def readblocks(self, n, buf, offset=0):
        self._f.seek(self._addr(n, offset, len(buf)))
        for i in range(self._f.readinto(buf) or 0, len(buf)):  # past the end of the file
            buf[i] = 0xFF

    def writeblocks(self, n, buf, offset=0):
        """Programs buf at (block n, offset), NOR style; buf None: erases block n."""
        size = self.block_size if buf is None else len(buf)
        addr = self._addr(n, offset, size)
        c, f, old = self.counters, self._f, self._old
        t = c.totals
        c.ops += 1
        t[buf is None] += 1
        t[2] += 0 if buf is None else size
        if c.stats:
            c.stats.seek(0)
            c.stats.write(b"%12d %12d %14d\n" % tuple(t))
        if c.ops == c.tear_at:  # torn: only the first `keep` bytes happen
            size = min(max(size // 2 if c.keep is None else c.keep, 0), size)
        over = 0
        for done in range(0, size, _CHUNK):
            mv = memoryview(old)[:min(_CHUNK, size - done)]
            f.seek(addr + done)
            for i in range(0 if buf is None else f.readinto(mv) or 0, len(mv)):
                old[i] = 0xFF  # erased, or past the end of the file
            for i in range(0 if buf is None else len(mv)):
                over |= buf[done + i] & ~old[i]  # a bit NOR cannot set
                old[i] &= buf[done + i]
            f.seek(addr + done)
            f.write(mv)
        if over:
            c.overprograms += 1
        if c.ops == c.tear_at:
            if c.cut is None:  # the power cut: SIGKILL at once (no cleanup, no finally)
                os.system("kill -9 $PPID")  # the shell's parent: this process
                raise OSError("power cut failed")
            c.cut()

    def ioctl(self, op, arg):  # 1 init, 2 deinit, 3 sync (nothing is cached): 0
        if op == 6:  # erase
            self.writeblocks(arg, None)
        return self.nblocks if op == 4 else self.block_size if op == 5 else 0
