"""Power cuts on the unix board's flash: a firmware-side script appends journal records
(and rewrites a littlefs file) under micropython and is killed with SIGKILL at the Nth
flash operation (PAD_TEAR_AT, boards/unix_sim/README.md "Flash"); an uncut run, its flash
operations noted (jfix.Traced, TEAR_TRACE here), says where to cut.  Then the image is
reopened: littlefs mounts, the journal opens, every record reported durable before the
kill is there, a torn record is cut and the cut journaled (once), nothing reads as tamper.
"""
import shutil
import signal

import pytest

from mp import run_code

RECORDS = 150
ACK_AT = 70  # an ack part-way: the reclaim's erase is cut too
JOURNAL_START = 128  # boards/unix_sim/flash.py

PROVISION = """
import flash, journal
flash.create_image(%r)
jd = flash.mount(%r)
with open("/flash/state.txt", "w") as f:
    f.write("start")
journal.Journal.format(jd, 5)
"""

WRITER = """
import os, flash, journal as J
jd = flash.mount(os.getenv("PAD_FLASH"))
if os.getenv("TEAR_TRACE"):  # the uncut run: every flash operation noted, littlefs's too
    import jfix
    trace = open(os.getenv("TEAR_TRACE"), "w")
    note = lambda line: trace.write(line + "\\n")
    lfs = flash.partitions(os.getenv("PAD_FLASH"), jd.counters)[0]
    os.umount("/flash")
    os.mount(os.VfsLfs2(jfix.Traced(lfs, note)), "/flash")
    jd = jfix.Traced(jd, note)
j = J.Journal(jd)
for i in range(%d):
    if i %% 25 == 0:
        with open("/flash/state.txt", "w") as f:
            f.write("state %%d" %% i)
        print("state", i)
    seq = j.append(6, b"\\x11\\x01\\x05\\xd1\\x56\\x00\\x00\\x05" + bytes(7) + bytes((i,)))
    print("durable", seq, i)
    if i == %d:
        j.ack(j.head)
        print("acked", j.acked)
print("done")
""" % (RECORDS, ACK_AT)

CHECK = """
import os, binascii, flash, journal as J
for n in (1, 2):
    jd = flash.mount(os.getenv("PAD_FLASH"))
    print("mount", jd.mount_error)
    print("state", open("/flash/state.txt").read())
    j = J.Journal(jd)
    print("open", j.head, j.acked, len(j.problems))
    for p in j.problems:
        print("problem", p)
    for r in j.iter_from(0):
        print("record", r.seq, r.kind, r.card_id[15], binascii.hexlify(r.data).decode())
    os.umount("/flash")
"""


def mp(code, env=None):
    return run_code(code, env=env, timeout=30, tests=True)  # tests/fw: jfix


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A provisioned image and the trace of every flash operation of an uncut run."""
    d = tmp_path_factory.mktemp("tear")
    img = d / "base.img"
    r = mp(PROVISION % (str(img), str(img)))
    assert r.returncode == 0, r.stderr
    run = d / "run.img"
    shutil.copy(img, run)
    r = mp(WRITER, {"PAD_FLASH": run, "TEAR_TRACE": d / "trace"})
    assert r.returncode == 0 and "done" in r.stdout, r.stderr
    ops = (d / "trace").read_text().split("\n")[:-1]
    return img, ops, d


def parse(out):
    lines = [ln.split(" ", 1) for ln in out.splitlines()]
    return [(k, v) for k, v in lines]


def choose(ops):
    """Cut points: every erase, every sector header, the records around them, littlefs
    programs, and a spread of ordinary record programs; (op number, keep) pairs."""
    picks = set()
    for n, op in enumerate(ops, 1):
        f = op.split()
        journal = int(f[1]) >= JOURNAL_START
        if f[0] == "E" or (journal and f[2] == "0"):
            picks.update((n - 1, n, n + 1))
    picks.update(n for n, op in enumerate(ops, 1) if int(op.split()[1]) < JOURNAL_START)
    picks.update(range(1, len(ops) + 1, 7))
    picks = sorted(p for p in picks if 1 <= p <= len(ops))
    keeps = (None, 0, 4096, 10, 63)  # half, just before, just after, a little, all but one
    return [(n, keeps[i % len(keeps)]) for i, n in enumerate(picks)]


def test_trace_covers_the_run(base):
    img, ops, d = base
    erases = [o for o in ops if o.startswith("E")]
    records = [o for o in ops if o.startswith("P") and int(o.split()[1]) >= JOURNAL_START]
    assert len(records) == RECORDS + 1 + 2  # + the ACK record + two sector headers
    assert [o for o in erases if int(o.split()[1]) >= JOURNAL_START] == ["E %d" % JOURNAL_START]
    assert len(choose(ops)) >= 30


def test_every_cut_keeps_what_was_durable(base):
    img, ops, d = base
    cuts = choose(ops)
    for n, keep in cuts:
        run = d / ("cut%d.img" % n)
        shutil.copy(img, run)
        env = {"PAD_FLASH": run, "PAD_TEAR_AT": n}
        if keep is not None:
            env["PAD_TEAR_KEEP"] = keep
        w = mp(WRITER, env)
        assert w.returncode == -signal.SIGKILL, (n, w.returncode, w.stderr)
        wrote = parse(w.stdout)
        durable = {int(v.split()[0]): int(v.split()[1]) for k, v in wrote if k == "durable"}
        states = ["start"] + ["state %s" % v for k, v in wrote if k == "state"]
        states.append("state %d" % (25 * (len(states) - 1)))  # the one being written
        c = mp(CHECK, {"PAD_FLASH": run})
        assert c.returncode == 0, (n, c.stderr)
        out = parse(c.stdout)
        half = [i for i, (k, v) in enumerate(out) if k == "mount"][1]
        first, again = out[:half], out[half:]
        assert ("mount", "None") in first, (n, first)
        assert [v for k, v in first if k == "state"][0] in states, (n, first)
        head, acked, nprob = map(int, [v for k, v in first if k == "open"][0].split())
        records = {}
        for k, v in first:
            if k == "record":
                seq, kind, serial, data = v.split(" ") + [""] * (4 - len(v.split(" ")))
                records[int(seq)] = (int(kind), int(serial), data)
        for seq, i in durable.items():
            if seq > acked:
                assert records.get(seq) == (6, i, ""), (n, keep, seq, records.get(seq))
        problems = [v for k, v in first if k == "problem"]
        assert not [p for p in problems if "tamper" in p], (n, keep, problems)
        f = ops[n - 1].split()
        torn_record = (f[0] == "P" and int(f[1]) >= JOURNAL_START and f[2] != "0"
                       and 0 < (32 if keep is None else keep) < 64)
        if torn_record:
            assert problems and problems[0].startswith("torn record cut"), (n, keep, problems)
            cut = records[head]
            assert cut[0] == 2, (n, keep, cut)  # a CUT record, naming the torn slot
            assert cut[2][8:14] == "%04x%02x" % (int(f[1]) - JOURNAL_START, int(f[2]) // 64)
        else:
            assert not [p for p in problems if p.startswith("torn record")], (n, keep, problems)
        # opening again: nothing new to cut or journal
        assert [v for k, v in again if k == "open"][0] == "%d %d 0" % (head, acked), (n, again)
        run.unlink()
