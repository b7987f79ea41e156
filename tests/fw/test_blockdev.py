# boards/unix_sim/blockdev.py and flash.py: the file-backed NOR flash and its partitions.
import os
import sys

import mptest
from mptest import eq, true, raises
import jfix
from blockdev import Counters, FileBlockDev
import flash

FF = b"\xff"
LFS_BLOCKS, JOURNAL_START, JOURNAL_BLOCKS = 128, 128, 168  # the layout, boards/unix_sim/README.md


def test_geometry_and_ioctl():
    d = jfix.dev(jfix.image(6), start=2, blocks=3)
    eq((d.ioctl(4, 0), d.ioctl(5, 0)), (3, 4096))
    eq([d.ioctl(op, 0) for op in (1, 2, 3)], [0, 0, 0])
    eq(FileBlockDev(jfix.image(5)).nblocks, 5)  # to the end of the file by default
    d = FileBlockDev(jfix.image(2), 4096, 2)  # nothing left after block 2
    eq(d.ioctl(4, 0), 0)
    raises(ValueError, d.readblocks, 0, bytearray(1))


def test_writes_go_through_to_the_file():
    p = jfix.image(4)
    d = jfix.dev(p, start=1, blocks=2)
    d.writeblocks(1, b"journal!", 100)
    eq(jfix.peek(p, (1 + 1) * 4096 + 100, 8), b"journal!")  # no cache: on file at once
    buf = bytearray(8)
    jfix.dev(p, start=1, blocks=2).readblocks(1, buf, 100)  # another opener sees it
    eq(bytes(buf), b"journal!")
    eq(jfix.peek(p, 4096 + 100, 8), FF * 8)  # the partition's offset is respected


def test_nor_program_only_clears_bits():
    p = jfix.image(2)
    d = jfix.dev(p)
    d.writeblocks(0, b"\x0f\xf0", 0)
    eq(d.counters.overprograms, 0)
    d.writeblocks(0, b"\xf0\xff", 0)  # would set bits: NOR keeps old & new
    eq(jfix.peek(p, 0, 2), b"\x00\xf0")
    eq(d.counters.overprograms, 1)  # counted once per program, however many bits
    d.writeblocks(0, b"\x00" * 300, 4000 - 300)  # more than one chunk: every byte ANDed
    d.writeblocks(0, b"\xaa" * 300, 4000 - 300)
    eq((jfix.peek(p, 3700, 300), d.counters.overprograms), (b"\x00" * 300, 2))
    d.ioctl(6, 0)
    true(jfix.blank(p, 0, 4096))


def test_counts_for_the_whole_flash():
    p = jfix.image(4)
    c = Counters()
    a = FileBlockDev(p, 4096, 0, 2, c)
    b = FileBlockDev(p, 4096, 2, 2, c)
    a.writeblocks(0, b"x" * 64, 0)
    a.ioctl(6, 1)
    b.writeblocks(1, b"y" * 100, 10)
    b.ioctl(6, 1)
    b.writeblocks(1, None)  # an erase, as ioctl 6 does it
    eq((c.totals, c.ops), ([2, 3, 164], 5))  # programs, erases, bytes; operations


def test_access_outside_the_partition_is_refused():
    p = jfix.image(4)
    d = jfix.dev(p, start=1, blocks=2)
    raises(ValueError, d.writeblocks, 2, b"x", 0)
    raises(ValueError, d.writeblocks, 1, b"x" * 65, 4032)
    raises(ValueError, d.readblocks, -1, bytearray(4))
    raises(ValueError, d.ioctl, 6, 2)
    eq((d.counters.ops, jfix.blank(p, 0, 16384)), (0, True))


def test_reads_past_the_end_of_the_file_are_erased():
    p = jfix.image(1)
    d = FileBlockDev(p, 4096, 0, 3)
    buf = bytearray(b"\x00" * 16)
    d.readblocks(2, buf, 8)
    eq(bytes(buf), FF * 16)


def test_tear_a_program_and_an_erase():
    p = jfix.image(2)
    d = jfix.dev(p)
    d.writeblocks(1, bytes(4096), 0)
    d = jfix.dev(p, tear_at=2, keep=10)
    d.writeblocks(0, b"A" * 64, 0)
    raises(jfix.PowerCut, d.writeblocks, 0, b"B" * 64, 64)  # the 2nd operation: torn
    eq(jfix.peek(p, 0, 192), b"A" * 64 + b"B" * 10 + FF * 118)
    d = jfix.dev(p, tear_at=1, keep=100)
    raises(jfix.PowerCut, d.ioctl, 6, 1)
    true(jfix.blank(p, 4096, 100) and jfix.blank(p, 4196, 3996, 0), "erase: the start only")
    d = jfix.dev(p, tear_at=1)  # default: half
    raises(jfix.PowerCut, d.writeblocks, 0, b"C" * 64, 192)
    eq(jfix.peek(p, 192, 64), b"C" * 32 + FF * 32)
    d.writeblocks(0, b"D", 300)  # a cut that returns: the operations go on, untorn
    eq(jfix.peek(p, 300, 1), b"D")


def test_cut_just_before_and_just_after():
    p = jfix.image(1)
    raises(jfix.PowerCut, jfix.dev(p, tear_at=1, keep=0).writeblocks, 0, b"X" * 64, 0)
    eq(jfix.peek(p, 0, 64), FF * 64)
    raises(jfix.PowerCut, jfix.dev(p, tear_at=1, keep=4096).writeblocks, 0, b"Y" * 64, 64)
    eq(jfix.peek(p, 64, 64), b"Y" * 64)


def test_the_default_cut_kills_the_process():
    # PAD_TEAR_AT without a cut of the caller's: SIGKILL mid-write (what powercut.py uses)
    p = jfix.image(1)
    out = p + ".out"
    jfix.made.append(out)
    code = ("import blockdev; c = blockdev.Counters(2, 3); "
            "d = blockdev.FileBlockDev(\"%s\", 4096, 0, 1, c); d.writeblocks(0, b\"AAAA\", 0); "
            "print(\"one\"); d.writeblocks(0, b\"BBBB\", 64); print(\"two\")" % p)
    rc = os.system("%s -c '%s' >%s 2>&1" % (sys.executable, code, out))
    text = open(out).read()
    true(rc & 127 == 9 or rc >> 8 == 128 + 9, "killed by SIGKILL: status %d, %s" % (rc, text))
    true(text.startswith("one\n") and "two" not in text, text)  # (the shell may say "Killed")
    eq(jfix.peek(p, 0, 4) + jfix.peek(p, 64, 4), b"AAAABBB" + FF)


def test_env_switches_and_stats_across_runs():
    p = jfix.image(1)  # a name to use; create_image makes the real one
    flash.create_image(p)
    stats = p + ".stats"
    jfix.made.append(stats)
    os.putenv("PAD_FLASH_STATS", stats)
    try:
        for run in range(2):
            d = flash.mount(p)
            os.umount(flash.MOUNT_POINT)
            d.writeblocks(0, b"z" * 32, run * 32)
            d.ioctl(6, 1)
            eq(open(stats).read().split(), [str(run + 1), str(run + 1), str(32 * run + 32)])
    finally:
        os.unsetenv("PAD_FLASH_STATS")
    os.putenv("PAD_TEAR_AT", "7")
    os.putenv("PAD_TEAR_KEEP", "3")
    try:
        c = flash.mount(p).counters
        os.umount(flash.MOUNT_POINT)
    finally:
        os.unsetenv("PAD_TEAR_AT")
        os.unsetenv("PAD_TEAR_KEEP")
    eq((c.tear_at, c.keep, c.cut, c.stats), (7, 3, None, None))
    c = flash.mount(p).counters
    os.umount(flash.MOUNT_POINT)
    eq((c.tear_at, c.keep, c.totals), (0, None, [0, 0, 0]))


def test_image_layout_and_mount():
    p = jfix.image(1)
    flash.create_image(p)
    eq(os.stat(p)[6], (LFS_BLOCKS + JOURNAL_BLOCKS) * 4096)
    true(jfix.blank(p, JOURNAL_START * 4096, JOURNAL_BLOCKS * 4096), "journal erased")
    true(JOURNAL_BLOCKS * 63 >= 10000 + 96 + 63, "room for 10,000 records")
    lfs, jd = flash.partitions(p)
    eq((lfs.start_block, lfs.nblocks, jd.start_block, jd.nblocks),
       (0, LFS_BLOCKS, JOURNAL_START, JOURNAL_BLOCKS))
    true(lfs.counters is jd.counters, "one flash, one set of counters")
    jd = flash.mount(p)
    eq((jd.mount_error, jd.nblocks, jd.start_block), (None, JOURNAL_BLOCKS, JOURNAL_START))
    with open("/flash/config.json", "w") as f:
        f.write("{}")
    os.umount("/flash")
    jd = flash.mount(p)
    eq(os.listdir("/flash"), ["config.json"])
    eq(jd.counters.ops, 0, "mounting writes nothing")
    os.umount("/flash")


def test_mount_never_formats():
    p = jfix.image(1)
    flash.create_image(p)
    d = FileBlockDev(p, 4096, 0, 2)
    d.ioctl(6, 0)  # the littlefs superblocks gone
    d.ioctl(6, 1)
    jd = flash.mount(p)
    true(isinstance(jd.mount_error, OSError), jd.mount_error)
    eq(jd.counters.totals, [0, 0, 0])  # nothing formatted
    true(jfix.blank(p, 0, 8192))
    jd.writeblocks(0, b"still here", 0)  # the journal partition works on
    eq(jfix.peek(p, JOURNAL_START * 4096, 10), b"still here")
    e = raises(ValueError, flash.mount, "/tmp/no-such-pad-image.img")
    true("no-such-pad-image" in str(e), str(e))


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
