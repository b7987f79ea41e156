"""Many windows, one region: `padctl forward` into a real PostgreSQL (a throwaway cluster,
padsim.pgtemp, one per test session) and the `padctl region` views.

Window stores are made by the real sync path (the firmware's LinkServer under
micropython, tests/test_link.py's Pad) or through store.py's ingest with genuine MAC
chains made here with the pads' link keys. TEST MATERIAL: every key, pad id, card id
and ID number is generated at run time or is the test cards' default.
"""
import hashlib
import hmac
import json
import os
import pty
import random
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import test_link as tl
from padctl import cli
from padsim.bench_region import raw_record
from padctl.link import Keys
from padctl.store import KIND_CODES, Store
from padctl.sync import sync

psycopg = pytest.importorskip("psycopg")
from padctl import region as R  # noqa: E402
from padsim.pgtemp import ClusterError  # noqa: E402

T0 = 1_700_000_000
ROOT = Path(__file__).resolve().parents[1]
CARD_A = "110105d15600000500000000000000aa"
CARD_B = "110105d15600000500000000000000bb"
DEPT_KEY = os.urandom(32)  # the department's key for ID-number hashes (test material)


class PadChain:
    """A pad's genuine journal, chained with its link key's journal MAC (as a pad does)."""

    def __init__(self, t0=T0, epoch=1):
        self.pad, self.key, self.epoch = os.urandom(8), os.urandom(16), epoch
        self.jmac = Keys(self.key, self.pad).journal_mac
        self.prev, self.seq, self.t = bytes(16), 0, t0
        self.raws = []

    @property
    def id(self):
        return self.pad.hex()

    def add(self, kind, card=None, data=b"", n=1):
        for _ in range(n):
            self.seq += 1
            self.t += 60
            raw = raw_record(KIND_CODES[kind], self.epoch, self.seq, 1, self.t,
                             bytes.fromhex(card) if card else None, data, self.prev, self.jmac)
            self.prev = raw[44:60]
            self.raws.append(raw)
        return self


def ingest(path, chain, raws=None, batch=8):
    """Store raws (default all of chain's) as sync would: verified, 8 a transaction."""
    raws = chain.raws if raws is None else raws
    with Store(path) as s:
        c = s.chain(chain.id, chain.epoch)
        first = c.head_seq + 1 if c else 1
        for i in range(0, len(raws), batch):
            s.ingest(chain.id, chain.epoch, raws[i:i + batch], chain.jmac, first=first + i)
        s.note_pad(chain.id, "test-1.0", chain.epoch, chain.seq, chain.seq, 9000)


def busy_pad(n, cards=(CARD_A, CARD_B), seed=0):
    rnd = random.Random(seed)
    p = PadChain(t0=T0 + seed * 100_000)
    p.add("BOOT")
    for _ in range(n - 1):
        kind = rnd.choice(("PIN_OK", "PIN_OK", "PIN_WRONG", "CARD_REFUSED"))
        p.add(kind, rnd.choice(cards), b"\x02" if kind == "PIN_WRONG" else
              (b"\x01" if kind == "CARD_REFUSED" else b""))
    return p


CHECKS_DDL = ("CREATE TABLE checks (id TEXT PRIMARY KEY, at REAL NOT NULL, clerk TEXT NOT NULL,"
              " operation TEXT NOT NULL, card_id TEXT, pad_id TEXT, epoch INTEGER, seq INTEGER,"
              " ref TEXT, holder_doc_type TEXT, holder_masked TEXT, holder_hash TEXT,"
              " agent_doc_type TEXT, agent_masked TEXT, agent_hash TEXT)")


def masked(number):
    return number[:6] + "*" * 8 + number[-4:]


def keyed(number):
    return hmac.new(DEPT_KEY, number.encode(), hashlib.sha256).hexdigest()


def add_check(path, check_id, clerk, operation, card, at, holder="110105199001011232",
              agent=None, pad=None, epoch=None, seq=None, ref=None):
    """A clerk's ID check as the window keeps it (issue 9: masked number + keyed hash)."""
    db = sqlite3.connect(str(path))
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='checks'").fetchone():
        db.execute(CHECKS_DDL)
    db.execute("INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (check_id, at, clerk, operation, card, pad, epoch, seq, ref,
                "resident", masked(holder), keyed(holder), agent and "resident",
                agent and masked(agent), agent and keyed(agent)))
    db.commit()
    db.close()


def padctl(*args):
    return subprocess.run([sys.executable, "-m", "padctl.cli"] + [str(a) for a in args],
                          capture_output=True, text=True, cwd=ROOT)


def run_cli(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def region_rows(url, sql, args=()):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchall()


def window_view(path):
    with Store(path) as s:
        return (s.events(), s.cards(), s.alerts(), s.quarantined(),
                s.db.execute("SELECT pad_id, epoch, seq, raw FROM records").fetchall())


def same_records(url, paths):
    """The region's records are exactly the union of the windows' (each once)."""
    want = set()
    for p in paths:
        want |= {(a, b, c, bytes(d)) for a, b, c, d in window_view(p)[4]}
    got = region_rows(url, "SELECT pad_id, epoch, seq, raw FROM records")
    assert len(got) == len(want)
    assert {(a, b, c, bytes(d)) for a, b, c, d in got} == want
    return len(got)


# --- forward: one window ----------------------------------------------------------------

def test_forward_brings_everything_once_and_the_views_agree(region, tmp_path, capsys):
    store = tmp_path / "w1.db"
    p1, p2 = busy_pad(40, seed=1), busy_pad(30, seed=2)
    p2.add("PIN_WRONG", CARD_A, b"\x02", n=3).add("LOCK", CARD_A, b"\x00")
    bad = bytearray(p1.raws[10])  # a record altered on the wire: quarantined, re-anchored
    bad[40] ^= 1
    import struct
    import zlib
    struct.pack_into(">I", bad, 60, zlib.crc32(bytes(bad[:60])))
    ingest(store, p1, p1.raws[:10] + [bytes(bad)] + p1.raws[11:])
    ingest(store, p2)
    add_check(store, "w1-1", "clerk-7", "unlock", CARD_B, T0 + 50)
    res = R.forward(store, region, window="w1", batch=16)
    assert res["records"] == {"sent": 73, "new": 73, "mark": 73}
    assert res["alerts"]["sent"] == 2 and res["quarantine"]["sent"] == 1
    assert res["checks"]["sent"] == 1 and res["chains"] == 2 and res["pads"] == 2
    events, cards, alerts, quarantined, _ = window_view(store)
    with R.connect(region, read_only=True) as c:
        got = R.events(c)
        assert [{k: v for k, v in e.items() if k != "window"} for e in got] == events
        assert {e["window"] for e in got} == {"w1"}
        # (the window's cards also carry the tries left last reported; the region's view
        # does not yet: every other field agrees)
        assert [{k: v for k, v in x.items() if k not in ("window", "epoch")}
                for x in R.cards(c)] == [{k: v for k, v in x.items() if k != "tries"}
                                         for x in cards]
        assert [{k: v for k, v in a.items() if k != "window"} for a in R.alerts(c)] == alerts
        assert R.events(c, card=CARD_A.upper(), kind="lock")[0]["pad"] == p2.id
        heads = {(r[0], r[1]): r[2] for r in c.execute(
            "SELECT pad_id, epoch, head_seq FROM chains")}
        assert heads == {(p1.id, 1): 40, (p2.id, 1): 34}
    assert region_rows(region, "SELECT count(*) FROM quarantine")[0][0] == len(quarantined)
    # again: nothing new, nothing doubled
    res = R.forward(store, region, batch=16)
    assert all(res[s]["new"] == 0 for s in R.SOURCES) and res["window"] == "w1"
    same_records(region, [store])
    assert region_rows(region, "SELECT count(*) FROM alerts")[0][0] == 2
    # more records synced later: only they go
    p2.add("UNLOCK", CARD_A, b"\x01\x02")
    ingest(store, p2, p2.raws[-1:])
    rc, out, err = run_cli(capsys, "forward", "--db", store, "--to", region, "--json")
    assert rc == 0, err
    assert json.loads(out)["records"] == {"sent": 1, "new": 1, "mark": 74}
    same_records(region, [store])


def test_migrations_apply_once_in_one_transaction(region):
    with R.connect(region) as c:
        assert R.migrate(c) == [v for v, _, _ in R.migrations()]
        assert R.migrate(c) == []
        rows = c.execute("SELECT version, name FROM schema_version").fetchall()
        assert rows == [(v, n) for v, n, _ in R.migrations()]
        c.execute("INSERT INTO schema_version VALUES (9999, 'from the future')")
        with pytest.raises(R.RegionError, match="has schema 9999; this padctl knows up to"):
            R.migrate(c)


def test_a_failing_migration_leaves_nothing(cluster, region, tmp_path, monkeypatch):
    broken = R.migrations() + [(2, "broken", "CREATE TABLE half (x int); SELECT nonsense;")]
    monkeypatch.setattr(R, "migrations", lambda: broken)
    with R.connect(region) as c:
        with pytest.raises(psycopg.Error):
            R.migrate(c)
        assert c.execute("SELECT to_regclass('schema_version'), to_regclass('records'),"
                         " to_regclass('half')").fetchone() == (None, None, None)


# --- many windows -------------------------------------------------------------------------

def test_three_windows_forwarding_at_once(region, tmp_path):
    """Three `padctl forward` processes on a region without a schema yet (they migrate
    it once between them), small batches; one pad was synced at two of the windows."""
    stores = [tmp_path / ("w%d.db" % i) for i in range(3)]
    shared = busy_pad(300, seed=9)
    for i, s in enumerate(stores):
        for k in range(2):
            ingest(s, busy_pad(400, seed=10 * i + k))
        add_check(s, "c%d" % i, "clerk-%d" % i, "unlock", CARD_A, T0 + i)
    ingest(stores[1], shared)
    ingest(stores[2], shared, shared.raws[:200])
    procs = [subprocess.Popen([sys.executable, "-m", "padctl.cli", "forward", "--db", str(s),
                               "--to", region, "--window", "w%d" % i, "--batch", "37", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for i, s in enumerate(stores)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    res = [json.loads(o[0]) for o in outs]
    assert [r["records"]["sent"] for r in res] == [800, 1100, 1000]
    assert sum(r["records"]["new"] for r in res) == 2700  # the shared pad's 200 once
    assert same_records(region, stores) == 2700
    assert region_rows(region, "SELECT count(*) FROM schema_version")[0][0] == len(R.migrations())
    assert region_rows(region, "SELECT window_id, records_mark FROM windows ORDER BY 1") == [
        ("w0", 800), ("w1", 1100), ("w2", 1000)]
    assert region_rows(region, "SELECT count(*) FROM alerts WHERE kind='conflict'")[0][0] == 0
    assert region_rows(region, "SELECT window_id, check_id, clerk FROM checks ORDER BY 1") == [
        ("w0", "c0", "clerk-0"), ("w1", "c1", "clerk-1"), ("w2", "c2", "clerk-2")]
    assert len(region_rows(region, "SELECT * FROM pads")) == 8  # the shared pad at 2 windows


def test_one_window_forwarded_twice_at_once(region, tmp_path):
    """Two forwards of the same store at the same moment (a clerk's and a scheduled
    one): the window's row lock makes them take turns; nothing is doubled."""
    store = tmp_path / "w.db"
    for k in range(2):
        ingest(store, busy_pad(600, seed=60 + k))
    with Store(store) as s:
        for i in range(50):
            s.alert("00" * 8, 1, i, "test alert %d" % i)
    procs = [subprocess.Popen([sys.executable, "-m", "padctl.cli", "forward", "--db", str(store),
                               "--to", region, "--window", "w", "--batch", "25", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    res = [json.loads(o[0]) for o in outs]
    assert sum(r["records"]["new"] for r in res) == 1200
    assert sum(r["alerts"]["new"] for r in res) == 50
    assert same_records(region, [store]) == 1200
    assert region_rows(region, "SELECT count(*) FROM alerts")[0][0] == 50


def test_two_windows_holding_different_records_for_one_place(region, tmp_path):
    """A record (pad, epoch, seq) is kept once; a window that holds other bytes for the
    same place raises a TAMPERING 'conflict' alert naming both windows."""
    a = busy_pad(20, seed=3)
    b = PadChain()  # the same pad id and key, another chain (forged by a key holder)
    b.pad, b.key, b.jmac = a.pad, a.key, a.jmac
    b.add("PIN_OK", CARD_B, n=20)
    ingest(tmp_path / "a.db", a)
    ingest(tmp_path / "b.db", b)
    R.forward(tmp_path / "a.db", region, window="wa")
    res = R.forward(tmp_path / "b.db", region, window="wb")
    assert res["records"] == {"sent": 20, "new": 0, "mark": 20}
    rows = region_rows(region, "SELECT window_id, reason FROM alerts WHERE kind='conflict'")
    assert len(rows) == 20 and all(w == "wb" for w, _ in rows)
    assert "TAMPERING: window wb holds another record %s epoch 1 seq 1 than window wa" % a.id \
        in sorted(r for _, r in rows)[0]
    assert {bytes(r[0]) for r in region_rows(region, "SELECT raw FROM records")} == set(a.raws)


# --- cuts ---------------------------------------------------------------------------------

def test_forward_killed_at_random_points_then_rerun(region, tmp_path):
    """SIGKILL the forwarding process at random moments, re-run it each time: in the end
    the region holds every record, alert, quarantined record and check exactly once."""
    store = tmp_path / "w.db"
    for k in range(4):
        ingest(store, busy_pad(1000, seed=40 + k))
    for i in range(300):
        add_check(store, "k%d" % i, "clerk", "reset", CARD_B, T0 + i)
    with Store(store) as s:
        for i in range(200):
            s.alert("00" * 8, 1, i, "test alert %d" % i)
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    marks, kills = [], 0

    cmd = [sys.executable, "-m", "padctl.cli", "forward", "--db", str(store), "--to", region,
           "--window", "wk", "--batch", "10"]
    total = 4000 + 200 + 300

    def mark():
        try:
            return region_rows(region, "SELECT records_mark + alerts_mark + checks_mark"
                               " FROM windows")[0][0]
        except (IndexError, psycopg.Error):
            return 0  # before the window (or the schema) was in

    def run(target=None, wait=None):
        """Run the forward with its stderr on a terminal (a pty), so that it draws its
        progress after each committed batch; SIGKILL it once the progress reaches target,
        or after wait seconds (or at its first progress line, whichever comes first)."""
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT)
        os.close(slave)
        seen, tail, t_end = -1, b"", None if wait is None else time.monotonic() + wait
        try:
            while True:
                left = None if t_end is None else t_end - time.monotonic()
                if left is not None and left <= 0:
                    break
                if not select.select([master], [], [], 0.5 if left is None else min(left, 0.5))[0]:
                    if p.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the forward closed its terminal (it ended)
                    break
                if not chunk:
                    break
                tail = (tail + chunk)[-200:]
                got = re.findall(rb"(\d+)/\d+ records", tail)
                seen = int(got[-1]) if got else seen
                if (target is not None and seen >= target) or (wait is not None and seen >= 0):
                    break
            killed = p.poll() is None and (target is not None or wait is not None)
            if killed:
                os.kill(p.pid, signal.SIGKILL)
            else:  # to the end: keep reading its terminal so that it never blocks on it
                while True:
                    try:
                        if not os.read(master, 4096):
                            break
                    except OSError:
                        break
            out, err = p.communicate()
        finally:
            os.close(master)
        return p.returncode, killed, seen

    for i in range(60):
        if kills >= 8:  # then: to the end
            rc, killed, _ = run()
        elif i < 2:  # at a random moment of the start (imports, migration), before any batch
            rc, killed, _ = run(wait=rnd.uniform(0.02, 0.25))
        else:  # once the progress passes a random point: mid-forward
            # (the progress counts this run's rows: those past the region's marks)
            rc, killed, _ = run(target=rnd.randrange(max(1, total - (marks[-1] if marks else 0))))
        kills += killed
        if rc == 0:
            break
        assert rc == -signal.SIGKILL, rc
        marks.append(mark())
    else:
        pytest.fail("60 runs, none completed (seed %d)" % seed)
    assert kills >= 3, "too few kills landed (%d, seed %d, marks %s)" % (kills, seed, marks)
    assert any(0 < m < 4500 for m in marks), (marks, seed)  # kills landed mid-forward
    assert marks == sorted(marks)  # the marks only move forward
    assert same_records(region, [store]) == 4000
    assert region_rows(region, "SELECT count(*), count(DISTINCT src_id) FROM alerts")[0] == (200, 200)
    assert region_rows(region, "SELECT count(*) FROM checks")[0][0] == 300
    res = R.forward(store, region)  # and a run after the end brings nothing
    assert all(res[s]["new"] == 0 for s in R.SOURCES)


def test_connection_cut_mid_forward_then_rerun(region, tmp_path):
    """The server side cut: the forward's backend terminated in the middle of a batch
    transaction: a clear error, the batch rolled back, the re-run completes."""
    store = tmp_path / "w.db"
    ingest(store, busy_pad(500, seed=7))
    cut = []

    def progress(done, total):
        if done >= 100 and not cut:
            with psycopg.connect(region, autocommit=True) as c:
                cut.append(c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                     " WHERE datname = current_database() AND pid <>"
                                     " pg_backend_pid()").fetchall())
    with pytest.raises(R.RegionError, match="re-run the forward: nothing is lost or doubled"):
        R.forward(store, region, window="wc", batch=50, progress=progress)
    assert region_rows(region, "SELECT records_mark FROM windows")[0][0] == 100
    assert region_rows(region, "SELECT count(*) FROM records")[0][0] == 100
    res = R.forward(store, region, batch=50)
    assert res["records"]["new"] == 400
    assert same_records(region, [store]) == 500


# --- the region's answer --------------------------------------------------------------------

def spec_pad(tmp_path, name, lines, rtc):
    spec = tmp_path / ("%s.txt" % name)
    spec.write_text("\n".join(lines) + "\n")
    return tl.Pad(tmp_path, str(spec), env={"LINK_RTC": rtc})


def test_where_was_this_card_locked_and_who_unlocked_it(region, tmp_path, capsys):
    """Card A: locked at window 1 (three wrong PINs), unlocked at window 2 by the holder
    (the check found by the authorisation's reference in the UNLOCK record), locked again
    at window 2, reset at window 3 by an agent (the window linked the check to the
    record). The pads' journals are made by the firmware and synced for real."""
    ref = os.urandom(6)  # the authorisation's reference; the UNLOCK's data: ref, outcome 01
    a = CARD_A
    pads = [spec_pad(tmp_path, "p1", ["1 - -", "7 %s 02" % a, "7 %s 01" % a, "8 %s 00" % a,
                                      "6 %s 03" % CARD_B], T0),
            spec_pad(tmp_path, "p2", ["12 %s %s01" % (a, ref.hex()), "6 %s 03" % a,
                                      "7 %s 02" % a, "7 %s 01" % a, "8 %s 00" % a], T0 + 10_000),
            spec_pad(tmp_path, "p3", ["13 %s 0102" % a, "6 %s 03" % a], T0 + 20_000)]
    stores = [tmp_path / ("w%d.db" % i) for i in (1, 2, 3)]
    try:
        for pad, store in zip(pads, stores):
            res = sync(pad.stream, store, pad.key, pad.pad_id, quiet=0.01)
            assert res.stored == res.head and not res.alerts
    finally:
        for pad in pads:
            pad.stop()
    p2, p3 = pads[1].pad_id.hex(), pads[2].pad_id.hex()
    agent = "110105198506070019"
    add_check(stores[1], "w2-17", "clerk-2001", "unlock", a, T0 + 9_990, ref=ref.hex(),
              pad=p2)
    add_check(stores[1], "w2-18", "clerk-2002", "unlock", CARD_B, T0 + 9_995)
    add_check(stores[2], "w3-5", "clerk-3001", "reset", a, T0 + 19_990, agent=agent,
              pad=p3, epoch=1, seq=1)
    for i, store in enumerate(stores):
        rc, out, err = run_cli(capsys, "forward", "--db", store, "--to", region,
                               "--window", "window-%d" % (i + 1))
        assert rc == 0, err
        n = (5, 5, 2)[i]
        assert "window window-%d: records %d new of %d sent" % (i + 1, n, n) in out
    rc, out, err = run_cli(capsys, "region", "card", a.upper(), "--db", region, "--json")
    assert rc == 0, err
    story = json.loads(out)
    assert [(x["window"], x["pad"], x["seq"]) for x in story["locked"]] == [
        ("window-1", pads[0].pad_id.hex(), 4), ("window-2", p2, 5)]
    u = story["unlocked"]
    assert [(x["kind"], x["window"], x["pad"], x["seq"]) for x in u] == [
        ("UNLOCK", "window-2", p2, 1), ("RESET", "window-3", p3, 1)]
    assert u[0]["check"]["clerk"] == "clerk-2001" and u[0]["check"]["linked"] == "ref"
    assert u[0]["check"]["holder_masked"] == "110105********1232"
    assert u[1]["check"]["clerk"] == "clerk-3001" and u[1]["check"]["linked"] == "record"
    assert u[1]["check"]["agent_masked"] == "110105********0019"
    assert [e["kind"] for e in story["history"]] == [
        "PIN_WRONG", "PIN_WRONG", "LOCK", "UNLOCK", "PIN_OK", "PIN_WRONG", "PIN_WRONG", "LOCK",
        "RESET", "PIN_OK"]
    rc, out, err = run_cli(capsys, "region", "card", a, "--db", region)
    assert rc == 0 and "locked" in out
    assert "unlock" in out and "clerk clerk-2001" in out and "clerk clerk-3001" in out
    assert "agent resident 110105********0019" in out
    # no ID number in clear anywhere in the region
    dump = "\n".join(str(r) for t in ("checks", "records", "alerts")
                     for r in region_rows(region, "SELECT * FROM %s" % t))
    assert "110105199001011232" not in dump and agent not in dump
    # the views across the three windows
    rc, out, err = run_cli(capsys, "region", "cards", "--db", region, "--json")
    cards = {c["card"]: c for c in json.loads(out)}
    assert cards[a]["state"] == "ok" and cards[a]["window"] == "window-3"
    assert cards[CARD_B]["state"] == "ok"
    rc, out, err = run_cli(capsys, "region", "events", "--db", region, "--kind", "LOCK", "--json")
    assert [(e["window"], e["card"]) for e in json.loads(out)] == [("window-1", a), ("window-2", a)]
    rc, out, err = run_cli(capsys, "region", "pads", "--db", region, "--json")
    assert sorted(p["window"] for p in json.loads(out)) == ["window-1", "window-2", "window-3"]
    rc, out, err = run_cli(capsys, "region", "pads", "--db", region, "--stale-days", "7")
    assert rc == 0 and out == ""  # all synced just now
    with R.connect(region) as c:
        c.execute("UPDATE pads SET last_seen = last_seen - 8 * 86400 WHERE window_id='window-2'")
    rc, out, err = run_cli(capsys, "region", "pads", "--db", region, "--stale-days", "7")
    assert out.count("\n") == 1 and "window window-2 pad %s" % p2 in out
    rc, out, err = run_cli(capsys, "region", "checks", "--db", region, "--card", a, "--json")
    assert [k["check"] for k in json.loads(out)] == ["w2-17", "w3-5"]
    rc, out, err = run_cli(capsys, "region", "alerts", "--db", region, "--json")
    assert rc == 0 and json.loads(out) == []


# --- bad input: a clear one-line error, nothing lost --------------------------------------

def test_bad_input_gets_a_clear_error(region, cluster, tmp_path):
    store = tmp_path / "w.db"
    ingest(store, busy_pad(20, seed=5))
    for args, msg in [
        (["forward", "--db", store, "--to", "mysql://u@h/db"], "must be a postgresql:// URL"),
        (["forward", "--db", store, "--to", "postgresql://u@/x?host=%s" % tmp_path],
         "cannot reach the regional database"),
        (["forward", "--db", tmp_path / "none.db", "--to", region], "no event store at"),
        (["forward", "--db", store, "--to", region, "--batch", "0"], "--batch must be"),
        (["region", "cards", "--db", region], "has no padctl schema"),
        (["region", "events", "--db", region, "--kind", "NOPE"], "no padctl schema"),
    ]:
        p = padctl(*args)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.startswith("padctl: ") and msg in p.stderr and "Traceback" not in p.stderr
        assert p.stderr.count("\n") == 1, p.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).execute("CREATE TABLE x (y)").connection.close()
    p = padctl("forward", "--db", other, "--to", region)
    assert p.returncode == 1 and "is not a padctl event store" in p.stderr
    R.forward(store, region, window="one")
    p = padctl("forward", "--db", store, "--to", region, "--window", "two")
    assert p.returncode == 1 and "is the store of window 'one', not 'two'" in p.stderr
    p = padctl("region", "events", "--db", region, "--kind", "NOPE")
    assert p.returncode == 1 and "unknown kind 'NOPE'" in p.stderr
    p = padctl("region", "events", "--db", region, "--since", "yesterday")
    assert p.returncode == 1 and "not a time" in p.stderr
    with R.connect(region, read_only=True) as c:  # the views cannot write
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("DELETE FROM records")


def test_an_altered_store_record_is_refused_and_nothing_of_its_batch_goes(region, tmp_path):
    store = tmp_path / "w.db"
    p = busy_pad(30, seed=6)
    ingest(store, p)
    db = sqlite3.connect(str(store))
    db.execute("UPDATE records SET kind=12 WHERE pad_id=? AND seq=25", (p.id,))
    db.commit()
    db.close()
    with pytest.raises(R.RegionError, match="pad %s epoch 1 record 25: its raw bytes do not "
                       "match the stored record" % p.id):
        R.forward(store, region, window="w", batch=10)
    assert region_rows(region, "SELECT records_mark FROM windows")[0][0] == 20
    assert region_rows(region, "SELECT max(seq), count(*) FROM records")[0] == (20, 20)


def test_a_store_behind_the_region_is_refused(region, tmp_path):
    """A window store restored from an older copy: the records synced into it from now
    on would sit below the region's mark and never be read; refused, nothing forwarded."""
    store = tmp_path / "w.db"
    p = busy_pad(30, seed=11)
    ingest(store, p, p.raws[:10])
    R.forward(store, region, window="w")
    (tmp_path / "old.db").write_bytes(store.read_bytes())  # a backup
    ingest(store, p, p.raws[10:])
    R.forward(store, region)
    store.write_bytes((tmp_path / "old.db").read_bytes())  # the backup comes back
    with pytest.raises(R.RegionError, match="already holds more records of window w than"):
        R.forward(store, region)
    assert region_rows(region, "SELECT count(*), max(seq) FROM records")[0] == (30, 30)


# padctl.window's own table of checks (issue 9's library, on its branch today): ref is the
# check's id and the authorisation's reference that the UNLOCK / RESET record carries
WINDOW_CHECKS_DDL = (
    "CREATE TABLE window_checks (ref TEXT PRIMARY KEY, at REAL NOT NULL, clerk TEXT NOT NULL,"
    " op TEXT NOT NULL, region TEXT NOT NULL, holder_type TEXT NOT NULL,"
    " holder_masked TEXT NOT NULL, holder_hash TEXT NOT NULL, agent_type TEXT,"
    " agent_masked TEXT, agent_hash TEXT, pad_id TEXT, card_id TEXT,"
    " result TEXT NOT NULL DEFAULT 'checked')")


def test_the_window_librarys_checks_are_forwarded_and_linked_by_ref(region, tmp_path):
    """A store whose checks are padctl.window's (table window_checks): forwarded masked
    and hashed, the ref as the check's id, and the UNLOCK record linked to its check by
    the reference it carries."""
    ref = os.urandom(6)
    p = PadChain().add("BOOT").add("PIN_WRONG", CARD_A, b"\x00").add("LOCK", CARD_A, b"\x00\x03")
    p.add("UNLOCK", CARD_A, ref)
    store = tmp_path / "w.db"
    ingest(store, p)
    holder, agent = "110105199001011232", "110105198506070019"
    db = sqlite3.connect(str(store))
    db.execute(WINDOW_CHECKS_DDL)
    db.execute("INSERT INTO window_checks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (ref.hex(), T0 + 100, "clerk-9", "unlock", "110105", "ID", masked(holder),
                keyed(holder), None, None, None, p.id, CARD_A, "done"))
    db.execute("INSERT INTO window_checks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (os.urandom(6).hex(), T0 + 200, "clerk-9", "reset", "110105", "ID",
                masked(holder), keyed(holder), "ID", masked(agent), keyed(agent), p.id,
                CARD_B, "refused"))
    db.commit()
    db.close()
    res = R.forward(store, region, window="w9")
    assert res["checks"] == {"sent": 2, "new": 2, "mark": 2}
    rows = region_rows(region, "SELECT check_id, operation, holder_doc_type, holder_masked,"
                       " agent_masked, detail->>'result' FROM checks ORDER BY at")
    assert rows[0] == (ref.hex(), "unlock", "ID", "110105********1232", None, "done")
    assert rows[1][1:] == ("reset", "ID", "110105********1232", "110105********0019",
                           "refused")
    u = R.card_story(R.connect(region, read_only=True), CARD_A)["unlocked"]
    assert [(x["kind"], x["check"]["check_id"], x["check"]["linked"]) for x in u] == [
        ("UNLOCK", ref.hex(), "ref")]
    dump = "\n".join(str(r) for r in region_rows(region, "SELECT * FROM checks"))
    assert holder not in dump and agent not in dump


def test_an_id_number_in_clear_is_never_forwarded(region, tmp_path):
    store = tmp_path / "w.db"
    ingest(store, busy_pad(5, seed=8))
    add_check(store, "ok-1", "clerk-1", "unlock", CARD_A, T0)
    db = sqlite3.connect(str(store))  # a check whose "masked" number is the number itself
    db.execute("INSERT INTO checks (id, at, clerk, operation, card_id, holder_masked)"
               " VALUES ('bad-1', ?, 'clerk-1', 'unlock', ?, '110105199001011232')", (T0, CARD_A))
    db.commit()
    db.close()
    with pytest.raises(R.RegionError, match="check bad-1: column holder_masked holds an ID "
                       "number in clear"):
        R.forward(store, region, window="w", batch=10)
    assert region_rows(region, "SELECT count(*) FROM checks")[0][0] == 0
    assert region_rows(region, "SELECT count(*) FROM records")[0][0] == 5  # records went
    db = sqlite3.connect(str(store))  # a column named for the number, in clear
    db.execute("DELETE FROM checks WHERE id='bad-1'")
    db.execute("ALTER TABLE checks ADD COLUMN holder_number TEXT")
    db.execute("UPDATE checks SET holder_number='E12345678'")
    db.commit()
    db.close()
    with pytest.raises(R.RegionError, match="column holder_number holds an ID number in clear"):
        R.forward(store, region)


def test_bench_region_figures_at_a_tiny_size(tmp_path):
    """`make bench`'s regional part runs end to end (figures, not timed asserts)."""
    from padsim import bench_region as B
    try:
        res = B.run(rows=3000, cards=300, pads=5, batch=500, fsync=False, workdir=tmp_path,
                    out=open(os.devnull, "w"))
    except ClusterError as e:
        pytest.skip(str(e))
    assert res["region_records"] == 3000
    assert res["plain_copy"]["rows_per_s"] > 0 and res["forward"]["rows_per_s"] > 0
    assert res["forward_vs_copy"] > 0 and res["card_history"]["median_ms"] > 0
    assert any("records_card" in line for line in res["card_history"]["explain"])
    assert "padctl forward from the window store" in B.report(res)
