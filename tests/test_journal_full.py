"""A full journal never stops the pad, and its size never decides whether it boots
(DESIGN section 6; protocol.md 8.4). At the pad's 64 KB heap: a ring filled as a pad that
is never synced fills it (every slot unsynced, the event reserve used up too) boots, again
and again, refuses PIN attempts with "Log full" without touching the card, answers HELLO,
is drained by one `padctl sync` (every record stored once, the pad's acknowledged mark at
its head, a second sync adds nothing), and then verifies a card."""
import sqlite3
import time

from mp import HEAP
from padctl import store, sync
from padctl.link import PadLink
from padkit import ENTER, PadSim
from padsim.bench_sync import fill_journal

BOOTS = 100
INSERTIONS = 100


def _boot_once(pad, what):
    pad.mark()
    pad.start(env={"PAD_TRACE": "1"}, heap=HEAP)
    pad.expect(pad.idle, timeout=10)
    assert pad.alive() and pad.resets == 0, "%s: the pad reset itself\n%s" % (
        what, pad.log()[-1500:])


def _count(db):
    with sqlite3.connect(str(db)) as c:
        n, lo, hi = c.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM records").fetchone()
        dup = c.execute("SELECT COUNT(*) FROM (SELECT seq FROM records GROUP BY pad_id, epoch, "
                        "seq HAVING COUNT(*) > 1)").fetchone()[0]
    return n, lo, hi, dup


def test_a_full_ring_boots_serves_the_link_and_a_sync_rescues_it(tmp_path):
    pad = PadSim(tmp_path, boot=False)
    try:
        head = fill_journal(pad, "full")
        assert head > 10000, head
        # 100 boots: each one reaches the idle screen (no reset loop, no JournalFull)
        for i in range(BOOTS):
            _boot_once(pad, "boot %d" % (i + 1))
            pad.kill()
        # the pad stays up: 100 insertions are refused, the card is never asked anything
        pad.mark()
        pad.start(env={"PAD_TRACE": "1"}, heap=HEAP, link=True)
        pad.expect(pad.idle, timeout=10)
        tries = pad.card_tries()
        for i in range(INSERTIONS):
            pad.insert()
            assert pad.expect("^Log full$")[1] == "Sync with the host first"
            assert not pad.vcard.log, "a full pad talked to the card: %r" % pad.vcard.log
            pad.pull()
        assert pad.alive() and pad.resets == 0, pad.log()[-1500:]
        assert "Traceback" not in pad.log(), pad.log()[-1500:]
        assert pad.card_tries() == tries
        key = bytes.fromhex(pad.config["link_key"])
        # HELLO answers, and says there is no room for a transaction
        from padctl.link import open_port
        port = open_port(pad.port)
        try:
            h = PadLink(port, key, timeout=5).hello()
        finally:
            port.close()
        assert h.head >= head and h.free == 0 and h.acked == 0, h
        # one sync drains it all
        db = tmp_path / "host.db"
        t = time.monotonic()
        res = sync.sync(pad.port, db, key)
        took = time.monotonic() - t
        n, lo, hi, dup = _count(db)
        assert (n, lo, hi, dup) == (res.stored, 1, res.head, 0), (n, lo, hi, dup, res)
        assert res.acked == res.head and res.head >= head, res
        assert res.free > 10000, res
        again = sync.sync(pad.port, db, key)
        assert again.stored == 0 and again.acked == again.head == res.head, again
        print("full ring: %d records synced in %.1f s at heap %s; %d boots, %d refused "
              "insertions" % (res.stored, took, HEAP, BOOTS, INSERTIONS))
        # the events the pad could only count while full are journaled once room returned
        full = [e["data"] for e in store.Store(db).events(kind="FULL")]
        assert "01" in full, full  # the reserve used up: from here events were counted
        counted = [d for d in full if d.startswith("02")]  # ... and their count: this boot's
        # BOOT and FULLs, and the BOOT of the link-first boot the pad restarted into for the
        # sync (the count kept over that reset in RTC memory); on a slow machine the host
        # may be quiet for 5 s between the HELLO and the sync, and the pad goes back to its
        # normal boot and comes again: each such round trip counts 2 boots more
        s = pad.switches
        assert s >= 1 and counted == ["02%04x%04x" % (INSERTIONS + 2 * s, 2 * s)], (s, full)
        # a card now verifies
        pad.insert()
        pad.expect(ENTER)
        pad.press(pad.pin + "E")
        pad.expect("^PIN OK$")
        pad.pull()
        pad.assert_no_crash()
    finally:
        pad.close()
