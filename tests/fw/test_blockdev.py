# boards/unix_sim/blockdev.py and flash.py: the file-backed NOR flash and its partitions.
import os

import mptest
from mptest import eq, true, raises
import jfix
from blockdev import Counters, FileBlockDev, PowerCut
import flash

FF = b"\xff"


def test_geometry_and_ioctl():
    d = jfix.dev(jfix.image(6), start=2, blocks=3)
    eq((d.ioctl(4, 0), d.ioctl(5, 0)), (3, 4096))
    eq([d.ioctl(op, 0) for op in (1, 2, 3)], [0, 0, 0])
    eq(FileBlockDev(jfix.image(5)).nblocks, 5)  # to the end of the file by default


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
    eq(d.overprograms, 0)
    d.writeblocks(0, b"\xf0\xff", 0)  # would set bits: NOR keeps old & new
    eq(jfix.peek(p, 0, 2), b"\x00\xf0")
    eq(d.overprograms, 1)
    d.ioctl(6, 0)
    true(jfix.blank(p, 0, 4096))
    d = FileBlockDev(p, nor=False)  # plain overwrite, for comparison; still counted
    d.writeblocks(0, b"\x00", 0)
    d.writeblocks(0, b"\x5a", 0)
    eq((jfix.peek(p, 0, 1), d.overprograms), (b"\x5a", 1))


def test_counts_per_partition_and_for_the_whole_flash():
    p = jfix.image(4)
    c = Counters()
    a = FileBlockDev(p, 4096, 0, 2, c)
    b = FileBlockDev(p, 4096, 2, 2, c)
    a.writeblocks(0, b"x" * 64, 0)
    a.ioctl(6, 1)
    b.writeblocks(1, bytes(4096 * 1))  # classic protocol: erase then program
    b.ioctl(6, 1)
    eq((a.programs, a.erases, b.programs, b.erases), (1, 1, 1, 2))
    eq((c.programs, c.erases, c.bytes, c.ops), (2, 3, 64 + 4096, 5))
    eq((list(a.erase_counts), list(b.erase_counts)), ([0, 1], [0, 2]))


def test_access_outside_the_partition_is_refused():
    p = jfix.image(4)
    d = jfix.dev(p, start=1, blocks=2)
    raises(ValueError, d.writeblocks, 2, b"x", 0)
    raises(ValueError, d.writeblocks, 1, b"x" * 65, 4032)
    raises(ValueError, d.readblocks, -1, bytearray(4))
    raises(ValueError, d.ioctl, 6, 2)
    eq((d.programs, d.erases, jfix.blank(p, 0, 16384)), (0, 0, True))


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
    raises(PowerCut, d.writeblocks, 0, b"B" * 64, 64)  # the 2nd operation: torn
    eq(jfix.peek(p, 0, 192), b"A" * 64 + b"B" * 10 + FF * 118)
    d = jfix.dev(p, tear_at=1, keep=100)
    raises(PowerCut, d.ioctl, 6, 1)
    true(jfix.blank(p, 4096, 100) and jfix.blank(p, 4196, 3996, 0), "erase: the start only")
    d = jfix.dev(p, tear_at=1)  # default: half
    raises(PowerCut, d.writeblocks, 0, b"C" * 64, 192)
    eq(jfix.peek(p, 192, 64), b"C" * 32 + FF * 32)


def test_cut_just_before_and_just_after():
    p = jfix.image(1)
    raises(PowerCut, jfix.dev(p, tear_at=1, keep=0).writeblocks, 0, b"X" * 64, 0)
    eq(jfix.peek(p, 0, 64), FF * 64)
    raises(PowerCut, jfix.dev(p, tear_at=1, keep=4096).writeblocks, 0, b"Y" * 64, 64)
    eq(jfix.peek(p, 64, 64), b"Y" * 64)


def test_stats_side_file_and_trace_accumulate_across_runs():
    p = jfix.image(2)
    stats = p + ".stats"
    trace = p + ".trace"
    jfix.made.extend((stats, trace))
    for run in range(2):
        d = FileBlockDev(p, 4096, 0, 2, Counters(stats=stats, trace=trace))
        d.writeblocks(0, b"z" * 32, run * 32)
        d.ioctl(6, 1)
    eq(open(stats).read().split(), ["2", "2", "64"])
    eq(open(trace).read(), "P 0 0 32\nE 1\nP 0 32 32\nE 1\n")


def test_env_switches():
    os.putenv("PAD_TEAR_AT", "7")
    os.putenv("PAD_TEAR_KEEP", "3")
    c = flash.counters_from_env()
    os.unsetenv("PAD_TEAR_AT")
    os.unsetenv("PAD_TEAR_KEEP")
    eq((c.tear_at, c.keep), (7, 3))
    eq(flash.counters_from_env().tear_at, 0)


def test_image_layout_and_mount():
    p = jfix.image(1)  # a name to use; create_image makes the real one
    flash.create_image(p)
    eq(os.stat(p)[6], flash.IMAGE_BLOCKS * 4096)
    true(jfix.blank(p, flash.JOURNAL_START * 4096, flash.JOURNAL_BLOCKS * 4096), "journal erased")
    eq(flash.LFS_BLOCKS + flash.JOURNAL_BLOCKS, flash.IMAGE_BLOCKS)
    true(flash.JOURNAL_BLOCKS * 63 >= 10000 + 96 + 63, "room for 10,000 records")
    jd = flash.mount(p)
    eq((flash.mount_error, jd.nblocks, jd.start_block), (None, flash.JOURNAL_BLOCKS, flash.JOURNAL_START))
    with open("/flash/config.json", "w") as f:
        f.write("{}")
    os.umount("/flash")
    flash.mount(p)
    eq(os.listdir("/flash"), ["config.json"])
    true(flash.counters.ops == 0, "mounting writes nothing")
    os.umount("/flash")


def test_mount_never_formats():
    p = jfix.image(1)
    flash.create_image(p)
    d = FileBlockDev(p, 4096, 0, 2)
    d.ioctl(6, 0)  # the littlefs superblocks gone
    d.ioctl(6, 1)
    jd = flash.mount(p)
    true(flash.mount_error and "did not mount" in flash.mount_error, flash.mount_error)
    eq((flash.counters.programs, flash.counters.erases), (0, 0))  # nothing formatted
    true(jfix.blank(p, 0, 8192))
    jd.writeblocks(0, b"still here", 0)  # the journal partition works on
    eq(jfix.peek(p, flash.JOURNAL_START * 4096, 10), b"still here")
    raises(ValueError, flash.mount, "/tmp/no-such-pad-image.img")


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
