# A fake `esp32` for the ESP32 board's drivers under the unix port: Partition over a flash
# image file, with esp32.Partition's block protocol (readblocks / writeblocks with an
# offset, no erase; without one, erase then write; ioctl 4 count, 5 size, 6 erase) and
# NOR behaviour (a program only clears bits). TEST MATERIAL.
#
# Partition.table: label -> (path, first block, blocks); by default the journal is blocks
# 128-295 of $PAD_FLASH, where boards/unix_sim/flash.py puts it, so that an image the
# simulator's provisioning made is the same journal here.
import os

_BS = 4096


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1
    table = None

    def __init__(self, label):
        path, start, n = Partition._table()[label]
        self.label = label
        self._f = open(path, "r+b")
        self._start = start
        self._n = n
        self._tmp = bytearray(256)
        self.writes = self.erases = 0

    @staticmethod
    def _table():
        if Partition.table is None:
            Partition.table = {"journal": (os.getenv("PAD_FLASH") or "pad-flash.img", 128, 168)}
        return Partition.table

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=4096):
        if type != Partition.TYPE_DATA or label not in Partition._table():
            return []
        return [Partition(label)]

    def info(self):
        return (1, 0x99, self._start * _BS, self._n * _BS, self.label, False)

    def _at(self, n, offset, ln):
        if n < 0 or offset < 0 or n * _BS + offset + ln > self._n * _BS:
            raise OSError(22)  # EINVAL, as the IDF's esp_partition_* outside it
        return (self._start + n) * _BS + offset

    def readblocks(self, n, buf, offset=0):
        self._f.seek(self._at(n, offset, len(buf)))
        got = self._f.readinto(buf) or 0
        for i in range(got, len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, n, buf, offset=None):
        if offset is None:  # whole blocks: erased first
            for i in range(len(buf) // _BS):
                self.ioctl(6, n + i)
            offset = 0
        a = self._at(n, offset, len(buf))
        t = self._tmp
        self.writes += 1
        for d in range(0, len(buf), 256):
            m = min(256, len(buf) - d)
            mv = memoryview(t)[:m]
            self._f.seek(a + d)
            got = self._f.readinto(mv) or 0
            for i in range(got, m):
                t[i] = 0xFF
            for i in range(m):
                t[i] &= buf[d + i]  # NOR: a program only clears bits
            self._f.seek(a + d)
            self._f.write(mv)
        self._f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self._n
        if op == 5:
            return _BS
        if op == 6:
            self._f.seek(self._at(arg, 0, _BS))
            for _ in range(_BS // 256):
                self._f.write(b"\xff" * 256)
            self._f.flush()
            self.erases += 1
        return 0
