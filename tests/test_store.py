"""The host's event store: records made by the firmware (LinkServer under micropython)
are verified before they are stored; tampering is named by pad and sequence number;
one pull is one transaction; events() and cards() answer from what is stored; the
events / cards / sync commands. TEST MATERIAL: keys are generated at run time."""
import argparse
import json
import os
import sqlite3
import struct
import zlib

import pytest

import test_link as tl
from padctl import sync as S
from padctl.store import Store, StoreError, default_path, verify_records

T0 = 1_700_000_000  # the pad's RTC at seq 0 (LINK_RTC)
CARD_A = "110105d15600000500000000000000aa"
CARD_B = "110105d15600000500000000000000bb"
# kind card data: card A fails twice then locks, is unlocked; card B ok, then reset
SPEC = """1 - -
6 %(a)s 03
7 %(a)s 02
7 %(a)s 01
8 %(a)s 00
7 %(b)s 02
6 %(b)s 03
12 %(a)s -
13 %(b)s -
15 - 4c4106
""" % {"a": CARD_A, "b": CARD_B}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Genuine records of one pad (pulled over the link, not acknowledged) and its keys."""
    tmp = tmp_path_factory.mktemp("store")
    spec = tmp / "spec.txt"
    spec.write_text(SPEC)
    pad = tl.Pad(tmp, str(spec), env={"LINK_RTC": T0})
    try:
        link = pad.link()
        link.hello()
        raws = link.pull(1, 8).records + link.pull(9, 8).records
    finally:
        pad.stop()
    assert len(raws) == 10
    return pad.pad_id.hex(), link.keys.journal_mac, [bytes(r) for r in raws]


def reseal(raw, offset, value):
    """raw with one byte changed and a valid CRC again (only the MAC can tell)."""
    b = bytearray(raw)
    b[offset] = value
    struct.pack_into(">I", b, 60, zlib.crc32(bytes(b[:60])))
    return bytes(b)


def seqs(store, pad):
    return [r[0] for r in store.db.execute("SELECT seq FROM records WHERE pad_id=? ORDER BY seq",
                                           (pad,))]


def test_genuine_records_are_stored_once(made, tmp_path):
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        good, err, nxt = s.ingest(pad, 1, raws[:4], jmac)
        assert err == [] and [r.seq for r in good] == [1, 2, 3, 4] and nxt == 5
        good, err, nxt = s.ingest(pad, 1, raws[4:], jmac, first=5)
        assert err == [] and len(good) == 6 and nxt == 11
        c = s.chain(pad, 1)
        assert (c.head_seq, c.head_mac) == (10, raws[9][44:60])
        good, err, nxt = s.ingest(pad, 1, raws[8:], jmac)  # the same records again
        assert good == [] and "replayed or reordered: seq 9 where 11 was due" in str(err[0])
        assert seqs(s, pad) == list(range(1, 11)) and nxt == 11


@pytest.mark.parametrize("name,edit,seq,stored,reason", [
    ("forged", lambda r: r[:5] + [reseal(r[5], 38, 0x7F)] + r[6:], 6, 5, "MAC does not chain"),
    ("forged card", lambda r: r[:3] + [reseal(r[3], 35, 0xAB)] + r[4:], 4, 3,
     "MAC does not chain"),
    ("corrupted", lambda r: r[:7] + [r[7][:50] + bytes((r[7][50] ^ 0xFF,)) + r[7][51:]] + r[8:],
     8, 7, "CRC wrong"),  # (a byte flipped: set to 0 it was no change 1 time in 256)
    ("replayed", lambda r: r[:6] + [r[2]] + r[6:], 3, 6,
     "replayed or reordered: seq 3 where 7 was due"),
    ("reordered", lambda r: r[:4] + [r[5], r[4]] + r[6:], 5, 4, "dropped: seq 6 where 5"),
    ("dropped", lambda r: r[:6] + r[7:], 7, 6, "dropped: seq 8 where 7 was due"),
    ("truncated", lambda r: r[:2] + [r[2][:63]], 3, 2, "truncated record"),
    ("other epoch", lambda r: r[:1] + [reseal(r[1], 7, 2)] + r[2:], 2, 1, "epoch 2 in epoch 1"),
    ("spliced", lambda r: r[:4] + [r[5]], 5, 4, "dropped: seq 6 where 5 was due"),
])
def test_tampering_is_reported_then_passed(made, tmp_path, name, edit, seq, stored,
                                           reason):
    """DESIGN 6: the bad record is kept raw with a TAMPERING alert naming pad, epoch, seq
    and reason; the chain is re-anchored after it (an alert too) and every genuine record
    after it is stored: nothing after a bad record is lost."""
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        tampered = edit(list(raws))
        good, err, nxt = s.ingest(pad, 1, tampered, jmac)
        assert err, name
        assert (err[0].pad_id, err[0].seq) == (pad, seq)
        assert reason in err[0].reason
        assert str(err[0]).startswith("pad %s: record %d: " % (pad, seq))
        # every genuine record is stored (the dropped one is not there to store)
        missing = {"dropped": {7}, "spliced": {5}, "reordered": {5}}.get(name, set())
        bad_seq = {"forged": 6, "forged card": 4, "corrupted": 8, "other epoch": 2}.get(name)
        want = [q for q in range(1, 11) if q not in missing and q != bad_seq]
        if name == "truncated":
            want = [1, 2]
        if name == "spliced":
            want = [1, 2, 3, 4, 6]
        got = seqs(s, pad)
        assert got == want, (name, got)
        assert [r.seq for r in good] == want
        alerts = s.alerts(pad)
        assert alerts[0]["kind"] == "tampering" and alerts[0]["seq"] == seq
        assert alerts[0]["reason"].startswith("TAMPERING: pad %s: record %d" % (pad, seq))
        if bad_seq is not None:  # the bad record itself: kept raw, then a re-anchor alert
            q = s.quarantined(pad)
            assert [x["seq"] for x in q] == [bad_seq] and len(q[0]["raw"]) == 128
            assert any(a["kind"] == "re-anchor" and a["seq"] == bad_seq + 1 for a in alerts)
    if bad_seq is not None:  # a pull that ends on the bad record, and the next one that
        with Store(tmp_path / "ev2.db") as s:  # starts with it again (the pad starts
            s.ingest(pad, 1, tampered[:bad_seq], jmac)  # after the last good record)
            good, err, nxt = s.ingest(pad, 1, tampered[bad_seq - 1:], jmac)
            assert seqs(s, pad) == want and nxt == 11
            assert len([a for a in s.alerts(pad) if a["kind"] == "tampering"]) == 1
            assert len(s.quarantined(pad)) == 1


def test_a_replayed_copy_does_not_break_the_chain(made, tmp_path):
    """A replayed record is kept raw and skipped; the record after it must still chain
    from the last good one (a forged one there is caught, not taken as an anchor)."""
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        tampered = raws[:6] + [raws[2], reseal(raws[6], 38, 0x7F)] + raws[7:]
        good, err, nxt = s.ingest(pad, 1, tampered, jmac)
        assert [(e.seq, e.code) for e in err][:2] == [(3, "replay"), (7, "mac")], err
        assert 7 not in seqs(s, pad)


def test_a_pull_is_one_transaction(made, tmp_path):
    pad, jmac, raws = made
    calls = []

    def dying_mac(prev, body):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the host dies in the middle of storing a pull
        return jmac(prev, body)
    with Store(tmp_path / "ev.db") as s:
        with pytest.raises(KeyboardInterrupt):
            s.ingest(pad, 1, raws[:6], dying_mac)
        assert seqs(s, pad) == [] and s.chain(pad, 1) is None
        s.ingest(pad, 1, raws[:6], jmac)
    with Store(tmp_path / "ev.db") as s:  # and it is durable
        assert seqs(s, pad) == [1, 2, 3, 4, 5, 6]


def test_a_batch_its_chain_head_and_the_acked_mark_are_one_durable_transaction(made, tmp_path):
    # issue 10 item 6: WAL synced at every commit, one COMMIT a batch (records, chain
    # head and the pad's acknowledged mark together), nothing of a failed batch stored
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        sql = []
        s.db.set_trace_callback(sql.append)
        s.ingest(pad, 1, raws[:4], jmac)
        s.ingest(pad, 1, raws[4:8], jmac, acked=4)
        assert sum(q.strip().upper().startswith("COMMIT") for q in sql) == 2
        c = s.chain(pad, 1)
        assert (c.head_seq, c.acked) == (8, 4)

        def dying_mac(prev, body):
            raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            s.ingest(pad, 1, raws[8:], dying_mac, acked=8)
        c = s.chain(pad, 1)
        assert (c.head_seq, c.acked) == (8, 4)  # the mark went back with the records


def test_a_sync_commits_once_a_batch(tmp_path, monkeypatch):
    # the acknowledged mark of each ACK answer rides in the next batch's transaction (the
    # last one is written once at the end, as HELLO's note is: single statements)
    spec = tmp_path / "spec.txt"
    spec.write_text(SPEC)
    pad = tl.Pad(tmp_path, str(spec), env={"LINK_RTC": T0})
    commits = []
    real_init = Store.__init__

    def traced(self, *a, **kw):
        real_init(self, *a, **kw)
        self.db.set_trace_callback(lambda q: commits.append(q) if q.strip().upper()
                                   .startswith("COMMIT") else None)
    monkeypatch.setattr(Store, "__init__", traced)
    try:
        res = S.sync(pad.stream, tmp_path / "ev.db", pad.key, pad.pad_id, batch=3)
    finally:
        pad.stop()
    assert (res.stored, res.acked) == (10, 10)
    assert len(commits) == 4  # 10 records in batches of 3: one transaction each
    with Store(tmp_path / "ev.db") as s:
        assert s.chain(pad.pad_id.hex(), 1).acked == 10


def test_a_new_chain_starts_at_one_or_is_anchored(made, tmp_path):
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        with pytest.raises(ValueError):
            s.ingest(pad, 1, raws[4:], jmac, first=5)
        good, err, _ = s.ingest(pad, 1, raws[4:], jmac, first=5, anchor=True)
        assert err == [] and good[0].seq == 5 and s.chain(pad, 1).anchor == 5
    good, err = verify_records(raws[4:], pad, 1, 4, None, jmac)
    assert err is None  # the anchor's own MAC is taken, the rest chain from it
    good, err = verify_records([raws[4], reseal(raws[5], 40, 9)], pad, 1, 4, None, jmac)
    assert err.seq == 6


def test_events_and_cards(made, tmp_path):
    pad, jmac, raws = made
    with Store(tmp_path / "ev.db") as s:
        s.ingest(pad, 1, raws, jmac)
        all_ = s.events()
        assert [e["seq"] for e in all_] == list(range(1, 11))
        assert all_[1] == {"pad": pad, "epoch": 1, "seq": 2, "kind": "PIN_OK", "flags": 1,
                           "boot": 2, "time": T0 + 120, "card": CARD_A, "data": "03",
                           "at": T0 + 120, "what": "03"}  # (PIN_OK has no data to say)
        assert [e["seq"] for e in s.events(card=CARD_A)] == [2, 3, 4, 5, 8]
        assert [e["seq"] for e in s.events(card=CARD_B.upper())] == [6, 7, 9]
        assert [e["seq"] for e in s.events(kind="PIN_WRONG")] == [3, 4, 6]
        assert [e["seq"] for e in s.events(kind="lock")] == [5]
        assert [e["seq"] for e in s.events(kind=15)] == [10]
        assert [e["seq"] for e in s.events(since=T0 + 180, until=T0 + 300)] == [3, 4]
        # a page of them newest first, read by SQL (the console's events page)
        rows, total, page = s.events_page({"card": CARD_A}, 1, 3)
        assert ([e["seq"] for e in rows], total, page) == ([8, 5, 4], 5, 1)
        rows, total, page = s.events_page({"card": CARD_A}, 9, 3)  # past the end: the last
        assert ([e["seq"] for e in rows], total, page) == ([3, 2], 5, 2)
        assert s.events_page({}, 1, 4)[0][1] == all_[-2]
        assert s.events(pad="00" * 8) == []
        with pytest.raises(ValueError, match="unknown kind"):
            s.events(kind="NOPE")
        with pytest.raises(ValueError, match="not a time"):
            s.events(since="yesterday")
        cards = {c["card"]: c for c in s.cards()}
        assert cards[CARD_A]["state"] == "unlocked" and cards[CARD_A]["last"] == "UNLOCK"
        assert cards[CARD_B]["state"] == "reset" and cards[CARD_B]["seq"] == 9
        s.ingest(pad, 1, [], jmac)
    with Store(tmp_path / "ev2.db") as s:  # part of the story: card A locked, B ok
        s.ingest(pad, 1, raws[:7], jmac)
        cards = {c["card"]: c for c in s.cards()}
        assert (cards[CARD_A]["state"], cards[CARD_B]["state"]) == ("locked", "ok")
        s.ingest(pad, 1, raws[7:8], jmac)
        assert {c["card"]: c["state"] for c in s.cards()}[CARD_A] == "unlocked"
    with Store(tmp_path / "ev3.db") as s:
        s.ingest(pad, 1, raws[:4], jmac)
        assert s.cards()[0]["wrong"] == 2  # two wrong entries since the last success


def test_bad_database_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the event store"):
        Store(bad)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "padctl" / "events.db"
    with Store() as s:
        assert s.path.exists()
    db = tmp_path / "v.db"
    Store(db).close()
    c = sqlite3.connect(str(db))
    c.execute("UPDATE meta SET value='99' WHERE key='schema'")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="schema 99"):
        Store(db)


# --- the commands ---------------------------------------------------------------------

def parse(*argv):
    p = argparse.ArgumentParser(prog="padctl")
    S.add_arguments(p.add_subparsers(dest="cmd", required=True))
    return p.parse_args(argv)


def run(capsys, *argv):
    args = parse(*argv)
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_commands_sync_events_cards(tmp_path, capsys):
    spec = tmp_path / "spec.txt"
    spec.write_text(SPEC)
    pad = tl.Pad(tmp_path, str(spec), use_pty=True, env={"LINK_RTC": T0})
    db = str(tmp_path / "ev.db")
    try:
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--link-key",
                           pad.key.hex(), "--pad", pad.pad_id.hex(), "--json", "--batch", "3")
        assert rc == 0, err
        res = json.loads(out)
        assert (res["pad"], res["stored"], res["acked"], res["head"]) == (pad.pad_id.hex(), 10, 10, 10)
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--link-key",
                           pad.key.hex())
        assert rc == 0 and "0 record(s) stored" in out
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--link-key",
                           os.urandom(16).hex())
        assert rc == 1 and err.startswith("padctl: ") and "MAC wrong" in err
    finally:
        pad.stop()
    rc, out, err = run(capsys, "events", "--db", db, "--card", CARD_A, "--json")
    assert rc == 0 and [e["kind"] for e in json.loads(out)] == [
        "PIN_OK", "PIN_WRONG", "PIN_WRONG", "LOCK", "UNLOCK"]
    rc, out, err = run(capsys, "events", "--db", db, "--kind", "RESET")
    assert rc == 0 and len(out.splitlines()) == 1 and CARD_B in out
    rc, out, err = run(capsys, "events", "--db", db, "--kind", "BOGUS")
    assert rc == 1 and "unknown kind" in err
    rc, out, err = run(capsys, "cards", "--db", db, "--json")
    assert {c["card"]: c["state"] for c in json.loads(out)} == {CARD_A: "unlocked",
                                                                CARD_B: "reset"}
    rc, out, err = run(capsys, "cards", "--db", db)
    assert rc == 0 and len(out.splitlines()) == 2


def test_sync_command_bad_input(tmp_path, capsys):
    db = str(tmp_path / "ev.db")
    rc, out, err = run(capsys, "sync", "--port", "/nonexistent/tty", "--db", db, "--link-key", "00" * 16)
    assert rc == 1 and "cannot open /nonexistent/tty" in err
    rc, out, err = run(capsys, "sync", "--port", "/dev/null", "--db", db, "--link-key", "zz")
    assert rc == 1 and "--link-key must be 32 hex digits" in err
    rc, out, err = run(capsys, "sync", "--port", "/dev/null", "--db", db)
    assert rc == 1 and "--keystore and --region" in err
    rc, out, err = run(capsys, "sync", "--port", "/dev/null", "--db", db, "--pad", "12")
    assert rc == 1 and "--pad must be 16 hex digits" in err


def test_progress_is_reported(tmp_path):
    pad = tl.Pad(tmp_path, 20)
    seen = []
    try:
        res = S.sync(pad.stream, tmp_path / "ev.db", pad.key, pad.pad_id, batch=4,
                     progress=lambda d, t: seen.append((d, t)), quiet=0.01)
    finally:
        pad.stop()
    assert res.stored == 20
    assert [d for d, _ in seen] == [4, 8, 12, 16, 20] and all(t == 20 for _, t in seen)

    class Tty:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass
    t = Tty()
    from padctl.output import Progress
    clock = iter([100.0, 102.0, 104.0, 104.0])
    bar = Progress("records", t, clock=lambda: next(clock))
    bar(0, 20)
    bar(5, 20)  # 5 in 2 s: 2 a second, 15 left: 6 s
    bar(20, 20)  # done: one final line
    lines = t.text.split("\r\x1b[K")
    assert lines[2] == "5/20 records, 2 a second, 6 s left"
    assert lines[3] == "20/20 records, 5 a second, 4 s\n" and t.text.count("\n") == 1
    bar.end()  # (once only)
    assert t.text.count("\n") == 1


def test_sync_command_with_a_keystore(tmp_path, capsys):
    # the link key from the keystore (city link root dispersed by the pad id); the pad id
    # from the pad's HELLO, proved by its MAC
    from padctl.keys import Keystore
    ks = Keystore.generate(tmp_path / "keystore.json")  # TEST MATERIAL, generated here
    pad_id = os.urandom(8)
    pad = tl.Pad(tmp_path, 4, use_pty=True, key=ks.pad_link_key("110105", pad_id),
                 pad_id=pad_id)
    db = str(tmp_path / "ev.db")
    try:
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--keystore",
                           str(tmp_path / "keystore.json"), "--region", "110105")
        assert rc == 0, err
        assert "pad %s" % pad_id.hex() in out and "4 record(s) stored" in out
        rc, out, err = run(capsys, "sync", "--port", pad.port, "--db", db, "--keystore",
                           str(tmp_path / "keystore.json"), "--region", "110106")
        assert rc == 1 and "MAC wrong" in err  # another city's key
    finally:
        pad.stop()


def test_pin_error_and_card_refused_data_in_words():
    from padctl.store import reason
    # reason 04 (card I/O) and the card fault's code (docs/protocol.md 4a, 6)
    assert reason("PIN_ERROR", bytes.fromhex("0401")) == "card I/O: timeout or wait cap"
    assert reason("PIN_ERROR", bytes.fromhex("0402")) == "card I/O: bad ATR check byte (TCK)"
    assert reason("PIN_ERROR", bytes.fromhex("0403")) == "card I/O: no T=0 (T=1 only)"
    assert reason("PIN_ERROR", bytes.fromhex("0404")) == "card I/O: inverse convention"
    assert reason("PIN_ERROR", bytes.fromhex("04")) == "card I/O"
    assert reason("PIN_ERROR", bytes.fromhex("05")) == "PSAM absent or failing"
    # a status word that settled nothing (retry.py), told apart by SW1 6X / 9X
    assert reason("PIN_ERROR", bytes.fromhex("6a82")) == "card answered SW 6A82"
    assert reason("CARD_REFUSED", bytes.fromhex("02")) == "card of another region or key version"
    assert reason("PIN_OK", b"") is None and reason("PIN_ERROR", b"") is None


def test_a_new_store_is_owner_only(tmp_path, monkeypatch):
    # it holds card ids: the database and its WAL files 0600, a folder it makes 0700,
    # whatever the umask; the data folder by default (platformdirs)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    old = os.umask(0o022)
    try:
        with Store() as st:
            st.db.execute("INSERT INTO meta VALUES ('probe', 'x')")
            files = [p for p in (tmp_path / "xdg" / "padctl").iterdir()]
            assert {p.name for p in files} >= {"events.db", "events.db-wal", "events.db-shm"}
            for p in files:
                assert os.stat(p).st_mode & 0o777 == 0o600, p
        assert os.stat(tmp_path / "xdg" / "padctl").st_mode & 0o777 == 0o700
    finally:
        os.umask(old)


def test_an_existing_store_keeps_its_mode(tmp_path):
    db = tmp_path / "events.db"
    Store(db).close()
    os.chmod(db, 0o640)  # the owner's choice
    Store(db).close()
    assert os.stat(db).st_mode & 0o777 == 0o640
