# firmware/journal.py at full size: 10,000 records, memory, and the flash cost per record
# against the littlefs alternative (DESIGN 9), counted by the block device.
import gc
import os

import mptest
from mptest import eq, true
import jfix
import journal as J
import flash

A = jfix.card(1)


def test_one_program_per_record_and_the_littlefs_alternative():
    # The choice of DESIGN 9, backed by the block device's counters.
    p = jfix.image(1)
    flash.create_image(p)
    lfs, jd = flash.partitions(p)
    J.Journal.format(jd, 1)
    j = J.Journal(jd)
    c = jd.counters
    p0, e0 = c.programs, c.erases
    n = 630
    for i in range(n):
        j.append(J.PIN_OK, A)
    eq((c.programs - p0, c.erases - e0), (n + 9, 0))  # records + 9 new sector headers
    j.ack(j.head)
    eq(c.erases - e0, 10)  # reclaiming: one erase per 63 records, at sync time
    jp, je = (c.programs - p0) / n, (c.erases - e0) / n
    os.mount(os.VfsLfs2(lfs), "/flash")
    p0, e0 = c.programs, c.erases
    m = 100
    rec = bytes(64)
    for i in range(m):
        with open("/flash/journal.bin", "ab") as f:
            f.write(rec)
    lp, le = (c.programs - p0) / m, (c.erases - e0) / m
    p0, e0 = c.programs, c.erases
    with open("/flash/journal2.bin", "ab") as f:  # one open file, flushed per record
        for i in range(m):
            f.write(rec)
            f.flush()
    os.umount("/flash")
    fp, fe = (c.programs - p0) / m, (c.erases - e0) / m
    print("flash cost per record (programs, erases, ms at 0.7 / 45 ms): journal ring "
          "%.3f %.4f %.1f; littlefs open-append-close %.2f %.2f %.1f; littlefs flush %.2f %.2f %.1f"
          % (jp, je, jp * 0.7 + je * 45, lp, le, lp * 0.7 + le * 45, fp, fe, fp * 0.7 + fe * 45))
    true(jp < 1.02 and je < 0.016, "journal ring")
    true(le > 0.5 and fe > 0.5 and min(le, fe) > 30 * je, "littlefs append erases most times")


def test_10000_records_fit_by_default_and_memory():
    p = jfix.image(1)
    flash.create_image(p)
    jd = flash.partitions(p)[1]
    J.Journal.format(jd, 1)
    j = J.Journal(jd)
    true(j.free() >= 10000 and j.fits(10000), "free %d" % j.free())
    for i in range(10000):
        j.append(J.PIN_WRONG, jfix.card(i % 3000), b"\x02\x01")
    eq(j.head, 10000)
    true(j.free() > 0)
    j = None
    gc.collect()
    a = gc.mem_alloc()
    j = J.Journal(jd)
    gc.collect()
    kept = gc.mem_alloc() - a
    eq((j.head, j.problems, j.read(9999).card_id), (10000, [], jfix.card(9998 % 3000)))
    gc.collect()
    a = gc.mem_alloc()
    j.append(J.BOOT)
    one = gc.mem_alloc() - a
    print("memory: journal of 10,000 records open: %d bytes kept; one append: %d bytes "
          "allocated (the simulated flash's included)" % (kept, one))
    true(kept < 8000 and one < 256, "memory")


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
