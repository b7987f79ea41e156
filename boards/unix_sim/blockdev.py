# The unix board's flash chip: one image file behind MicroPython's extended block protocol.
#
# FileBlockDev is one partition (start_block, nblocks) of the image.  Writes go straight to
# the file (seek, write, flush; no RAM cache), so killing the process is a power cut.  It
# behaves like SPI NOR: a program only clears bits (new = old & data), an erase sets the
# block to 0xFF.  Programs and erases are counted per partition and, for the whole flash,
# in a Counters object the partitions share, which can also tear or cut the Nth operation.
import os
from array import array
from micropython import const

_CHUNK = const(256)
_FF = memoryview(b"\xff" * _CHUNK)


class PowerCut(Exception):
    """The simulated power cut (raised when the cut action returns instead of killing)."""


def kill_self():
    """The power cut: SIGKILL this process at once (no cleanup, no finally)."""
    with open("/proc/self/stat") as f:
        pid = int(f.read().split()[0])
    os.system("kill -9 %d" % pid)
    raise PowerCut("kill -9 %d did not take" % pid)


class Counters:
    """Programs and erases of one whole flash, and the tear / cut trigger.

    tear_at: the Nth operation (program or erase, counted from 1 over the whole flash in this
    process; 0: never) is done only in part and then cut() is called.  keep: the bytes of it
    that happen (a program's first bytes; an erase sets its first bytes to 0xFF); None: half,
    0: a cut just before the operation, >= its length: just after.  stats: a side file of
    "programs erases bytes" totals carried across processes (rewritten at every operation).
    trace: a file that gets a line per operation: "P block offset length" or "E block".
    """

    def __init__(self, tear_at=0, keep=None, cut=kill_self, stats=None, trace=None):
        self.tear_at = tear_at
        self.keep = keep
        self.cut = cut
        self.ops = self.programs = self.erases = self.bytes = 0  # this process
        self.totals = [0, 0, 0]  # programs, erases, bytes: with earlier processes (stats)
        self._stats = self._trace = None
        if stats:
            try:
                with open(stats) as f:
                    self.totals = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                open(stats, "wb").close()
            self._stats = open(stats, "r+b")
        if trace:
            self._trace = open(trace, "ab")

    def count(self, program, block, offset, length):
        """Counts one operation; returns how many of its bytes to do (all unless torn)."""
        self.ops += 1
        t = self.totals
        if program:
            self.programs += 1
            self.bytes += length
            t[0] += 1
            t[2] += length
        else:
            self.erases += 1
            t[1] += 1
        if self._stats:
            self._stats.seek(0)
            self._stats.write(b"%12d %12d %14d\n" % tuple(t))
            self._stats.flush()
        if self._trace:
            self._trace.write(b"P %d %d %d\n" % (block, offset, length) if program
                              else b"E %d\n" % block)
            self._trace.flush()
        if self.ops != self.tear_at:
            return length
        return min(max(length // 2 if self.keep is None else self.keep, 0), length)


class FileBlockDev:
    """One partition of a flash image file: readblocks / writeblocks / ioctl (extended).

    nor=False: a program overwrites (for comparison); overprograms counts the programs that
    tried to set a bit (a caller bug on NOR) either way.
    """

    def __init__(self, path, block_size=4096, start_block=0, nblocks=None, counters=None,
                 nor=True):
        self._f = open(path, "r+b")
        if nblocks is None:
            nblocks = self._f.seek(0, 2) // block_size - start_block
        if block_size % _CHUNK or nblocks <= 0:
            raise ValueError("bad flash geometry")
        self.block_size = block_size
        self.start_block = start_block
        self.nblocks = nblocks
        self.counters = Counters() if counters is None else counters
        self.nor = nor
        self.programs = self.erases = self.overprograms = 0  # this partition
        self.erase_counts = array("I", bytes(4 * nblocks))  # wear per block
        self._old = bytearray(_CHUNK)

    def _addr(self, n, offset, length):
        bs = self.block_size
        if n < 0 or offset < 0 or n * bs + offset + length > self.nblocks * bs:
            raise ValueError("flash access outside the partition: block %d" % n)
        return (self.start_block + n) * bs + offset

    def readblocks(self, n, buf, offset=0):
        self._f.seek(self._addr(n, offset, len(buf)))
        for i in range(self._f.readinto(buf) or 0, len(buf)):  # past the end of the file
            buf[i] = 0xFF

    def writeblocks(self, n, buf, offset=None):
        if offset is not None:  # extended protocol: a program, no erase
            self._write(n, offset, buf)
            return
        bs = self.block_size  # classic protocol: erase, then program, each block
        mv = memoryview(buf)
        for i in range(len(buf) // bs):
            self._write(n + i, 0, None)
            self._write(n + i, 0, mv[i * bs:(i + 1) * bs])

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.nblocks
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            self._write(arg, 0, None)
        return 0  # 1 init, 2 deinit, 3 sync (nothing is cached), 6 erase

    def close(self):
        self._f.close()

    def _write(self, n, offset, data):
        """Programs data at (block n, offset), NOR style; data None: erases block n."""
        length = self.block_size if data is None else len(data)
        addr = self._addr(n, offset, length)
        c = self.counters
        todo = c.count(data is not None, self.start_block + n, offset, length)
        f, old, mv = self._f, self._old, memoryview(self._old)
        over = False
        for done in range(0, todo, _CHUNK):
            k = min(_CHUNK, todo - done)
            if data is None:
                f.seek(addr + done)
                f.write(_FF[:k])
                continue
            f.seek(addr + done)
            got = f.readinto(mv[:k]) or 0
            for i in range(k):
                o = old[i] if i < got else 0xFF
                d = data[done + i]
                if d & ~o & 0xFF:
                    over = True
                    if not self.nor:
                        o = 0xFF
                old[i] = o & d
            f.seek(addr + done)
            f.write(mv[:k])
        f.flush()
        if data is None:
            self.erases += 1
            self.erase_counts[n] += 1
        else:
            self.programs += 1
            self.overprograms += 1 if over else 0
        if c.ops == c.tear_at:
            c.cut()
