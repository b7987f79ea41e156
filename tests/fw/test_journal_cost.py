# firmware/journal.py at full size: 10,000 records, memory, and the flash cost per record
# against the littlefs alternative (DESIGN 9), counted by the block device; and the heap
# that importing the journal, the retry counter and the unix board's flash driver costs,
# held to its budget.
import gc
import os
import sys
from binascii import hexlify

import mptest
from mptest import eq, true
import jfix
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
import flash

A = jfix.card(1)

# Import budgets, bytes of heap, each with everything the module imports (on the unix port
# a module's bytecode, function objects and qstrs live in the GC heap; the pad runs in 64 KB)
JOURNAL_BUDGET = 6550  # journal resident after a Journal opened (jscan, jaudit, jack dropped by then)
JOURNAL_STATE = 1500  # one open Journal, 168 sectors: its ring arrays are made full size at
# opening (appends and reclaims never allocate), so it is the same with 10,000 records.
# (The two together: 8,150 bytes, down from 8,500: the ring keeps 16-bit first seqs, which
# costs the code 80 bytes and saves the state 480.)
RETRY_BUDGET = 3850  # retry, on top of journal
BLOCKDEV_BUDGET = 3000
FLASH_BUDGET = 1500  # flash, on top of blockdev (the board drops it after mount)
QSTR_ENTRY = 11  # a qstr's pool entry on this port: pointer 8, hash 2, length 1
_PRE = "import gc, micropython, os, struct, binascii, errors, sys"
_M = ("def m(t):\n gc.collect()\n print(\"mem\", t, gc.mem_alloc())\n"
      " micropython.qstr_info()\nm(\"base\")\n")


def costs(code):
    """Runs code (after _PRE and m("base")) in a fresh micropython with a 64 KB heap and the
    compiled firmware only; m(tag) marks a point.  Returns {tag: (raw, fair)} from each
    mark to the next: raw, the gc.mem_alloc() difference; fair, the same with each new qstr
    at its own cost (its characters and pool entry) instead of the pool allocated when the
    pools fill (twice the last one, paid by whichever module interns the qstr that does not
    fit: the load order decides, not the module)."""
    build = J.__file__.rsplit("/", 1)[0]
    if not build.startswith("/"):
        build = os.getcwd() + "/" + build
    tag = hexlify(os.urandom(6)).decode()
    path, out = "/tmp/jc" + tag, "/tmp/journal-cost-%s.txt" % tag
    jfix.made.extend((path, out))
    # the firmware through a link of a fixed length: a module's file name is a qstr too,
    # and the figures must not depend on where the checkout is
    rc = os.system("ln -s %s %s && cd /tmp && MICROPYPATH=%s %s -X heapsize=64k -c '%s\n%s%s' "
                   ">%s 2>&1" % (build, path, path, sys.executable, _PRE, _M, code, out))
    text = open(out).read()
    eq(rc, 0, text)
    marks = []
    lines = text.split("\n")
    for i in range(len(lines)):
        if lines[i].startswith("mem "):
            q = {}
            for kv in lines[i + 1].split(": ")[1].split(", "):
                k, v = kv.split("=")
                q[k] = int(v)
            t, n = lines[i][4:].rsplit(" ", 1)
            marks.append((t, int(n), q))
    got = {}
    for k in range(1, len(marks)):
        t, n, q = marks[k]
        _, n0, q0 = marks[k - 1]
        objects = (n - q["n_total_bytes"]) - (n0 - q0["n_total_bytes"])
        got[t] = (n - n0, objects + q["n_str_data_bytes"] - q0["n_str_data_bytes"]
                  + QSTR_ENTRY * (q["n_qstr"] - q0["n_qstr"]))
    return got, text


def test_import_costs_within_budget():
    p = jfix.image(168)  # the default journal partition (boards/unix_sim/flash.py)
    J.Journal.format(jfix.dev(p), 1)
    got, text = costs(
        "from blockdev import FileBlockDev\nd = FileBlockDev(\"%s\")\nm(\"start\")\n"
        "import journal\nm(\"import\")\nj = journal.Journal(d)\nm(\"open\")\nj = None\n"
        "m(\"closed\")\nprint(\"jscan loaded:\", \"jscan\" in sys.modules)\n"
        "j = journal.Journal(d)\nm(\"journal\")\nimport retry\nm(\"retry\")\n"
        "r = retry.Retry(j)\nm(\"retry state\")\n" % p)
    true("jscan loaded: False" in text, "jscan stays loaded after opening")
    res = (got["import"][0] + got["open"][0] + got["closed"][0],
           got["import"][1] + got["open"][1] + got["closed"][1])
    state = -got["closed"][1]
    b, text2 = costs("import blockdev\nm(\"blockdev\")\nimport flash\nm(\"flash\")\n")
    for what, (raw, fair), budget in (
            ("journal, resident after opening", res, JOURNAL_BUDGET),
            ("retry, on top of journal", got["retry"], RETRY_BUDGET),
            ("blockdev", b["blockdev"], BLOCKDEV_BUDGET),
            ("flash, on top of blockdev", b["flash"], FLASH_BUDGET)):
        print("import %s: %d bytes (%d as measured), budget %d" % (what, fair, raw, budget))
        true(0 < fair <= budget, "%s costs %d bytes" % (what, fair))
    print("an open Journal (168 sectors, new): %d bytes; a Retry on it: %d bytes"
          % (state, got["retry state"][1]))
    true(0 < state <= JOURNAL_STATE, "an open journal keeps %d bytes" % state)


def test_one_program_per_record_and_the_littlefs_alternative():
    # The choice of DESIGN 9, backed by the block device's counters.
    p = jfix.image(1)
    flash.create_image(p)
    lfs, jd = flash.partitions(p)
    J.Journal.format(jd, 1)
    j = J.Journal(jd)
    t = jd.counters.totals  # programs, erases, bytes of the whole flash
    p0, e0 = t[0], t[1]
    n = 630
    for i in range(n):
        j.append(J.PIN_OK, A)
    eq((t[0] - p0, t[1] - e0), (n + 9, 0))  # records + 9 new sector headers
    j.ack(j.head)
    eq(t[1] - e0, 10)  # reclaiming: one erase per 63 records, at sync time
    jp, je = (t[0] - p0) / n, (t[1] - e0) / n
    os.mount(os.VfsLfs2(lfs), "/flash")
    p0, e0 = t[0], t[1]
    m = 100
    rec = bytes(64)
    for i in range(m):
        with open("/flash/journal.bin", "ab") as f:
            f.write(rec)
    lp, le = (t[0] - p0) / m, (t[1] - e0) / m
    p0, e0 = t[0], t[1]
    with open("/flash/journal2.bin", "ab") as f:  # one open file, flushed per record
        for i in range(m):
            f.write(rec)
            f.flush()
    os.umount("/flash")
    fp, fe = (t[0] - p0) / m, (t[1] - e0) / m
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
    true(kept < 2500 and one < 256, "memory")


try:
    mptest.main(globals())
finally:
    jfix.cleanup()
