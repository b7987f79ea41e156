"""A sync while a PIN attempt is in flight (DESIGN 6), at the pad's 64 KB heap. While a card
session holds the pad's RAM the link answers "cannot answer now" (error 12); the host asks
again every second, so a sync started during PIN entry completes once the attempt is done.
Nothing is lost, nothing is stored twice, and the attempt's records are among those synced."""
import threading

from mp import HEAP
from padctl import store, sync
from padsim.sim import Sim


def test_sync_started_during_pin_entry_completes_with_the_attempt(tmp_path):
    with Sim(tmp_path) as sim:
        sim.start(heap=HEAP, link=True)
        sim.ui.wait_for("insert card", 10)
        sim.insert()
        i, _ = sim.ui.wait_for("Enter PIN", 10)
        sim.ui.press("65")  # the cardholder is typing
        key = bytes.fromhex(sim.config["link_key"])
        db = tmp_path / "host.db"
        out, busy = {}, []

        def clerk():
            try:
                out["res"] = sync.sync(sim.port, db, key, patience=30, busy=busy.append)
            except Exception as e:  # reported below
                out["err"] = e

        t = threading.Thread(target=clerk)
        t.start()  # the clerk syncs meanwhile
        sim.ui.press("4321E")
        sim.ui.wait_for("Wrong PIN", 10, after=i + 1)
        sim.pull()
        t.join(40)
        assert not t.is_alive() and "err" not in out, out
        again = sync.sync(sim.port, db, key)  # nothing new but the sync's own ACK record
        log = (sim.dir / "pad.log").read_text(errors="replace")
        assert "Traceback" not in log and sim.resets == 0, log[-2000:]
    events = store.Store(db).events()
    kinds = [e["kind"] for e in events]
    assert kinds.count("PENDING") == 1 and kinds.count("PIN_WRONG") == 1, kinds
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "a record lost, stored twice or out of order"
    assert out["res"].stored + again.stored == len(seqs)
    print("busy answers waited through:", busy)


def test_a_busy_pad_is_asked_again_and_other_refusals_are_not(tmp_path, monkeypatch):
    """The retry itself, deterministic: error 12 twice, then the real run completes; any
    other refusal ends the sync at once; patience bounds the waiting."""
    from padctl import link as L
    with Sim(tmp_path) as sim:
        sim.start(heap=HEAP, link=True)
        sim.ui.wait_for("insert card", 10)
        key = bytes.fromhex(sim.config["link_key"])
        real, calls = sync._sync, []

        def flaky(store_, link, progress, batch, quiet, run):
            calls.append(1)
            if len(calls) <= 2:
                raise L.PadRefused(sync.E_INTERNAL)
            return real(store_, link, progress, batch, quiet, run)

        monkeypatch.setattr(sync.time, "sleep", lambda s: None)
        monkeypatch.setattr(sync, "_sync", flaky)
        busy = []
        res = sync.sync(sim.port, tmp_path / "a.db", key, busy=busy.append)
        assert len(busy) == 2 and len(calls) == 3 and res.stored >= 1

        def refused(*a):
            calls.append(1)
            raise L.PadRefused(5)  # MAC wrong: never retried

        calls.clear()
        monkeypatch.setattr(sync, "_sync", refused)
        try:
            sync.sync(sim.port, tmp_path / "b.db", key)
        except sync.SyncError as e:
            assert "MAC" in str(e) or "refused" in str(e)
        else:
            raise AssertionError("a MAC refusal was retried into success")
        assert len(calls) == 1

        def always_busy(*a):
            raise L.PadRefused(sync.E_INTERNAL)

        monkeypatch.setattr(sync, "_sync", always_busy)
        try:
            sync.sync(sim.port, tmp_path / "c.db", key, patience=0)
        except sync.SyncError as e:
            assert "nothing is lost" in str(e)
        else:
            raise AssertionError("a pad busy forever ended in success")


def test_between_cards_a_64k_pad_restarts_into_its_link_first_boot_and_back(tmp_path):
    """Between cards a 64 KB pad has no room for the link beside the card session's code:
    it answers the host's first frame busy (12) and restarts into its link-first boot,
    which serves the whole sync (the host's HELLO asks again: the sync sees no busy
    answer); a card then makes it restart into the normal boot, which serves the card."""
    with Sim(tmp_path) as sim:
        sim.start(heap=HEAP, link=True)
        sim.ui.wait_for("insert card", 10)
        key = bytes.fromhex(sim.config["link_key"])
        db = tmp_path / "host.db"
        busy = []
        first = sync.sync(sim.port, db, key, busy=busy.append, again=0.2)
        assert (len(busy), sim.switches, sim.resets) == (0, 1, 0), (busy, sim.switches)
        assert first.head == first.acked >= 2  # the boot and the link-first boot
        mark = sim.ui.mark()
        sim.insert()  # back into the normal boot, the card served after it
        sim.ui.wait_for("Enter PIN", 10, after=mark)
        assert (sim.switches, sim.resets) == (1, 1)
        sim.ui.press("999999E")
        sim.ui.wait_for("Wrong PIN", 10, after=mark)
        sim.pull()
        busy.clear()
        second = sync.sync(sim.port, db, key, busy=busy.append, again=0.2)
        assert (len(busy), sim.switches, sim.resets) == (0, 2, 1), (busy, sim.switches)
        log = (sim.dir / "pad.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-2000:]
    kinds = [e["kind"] for e in store.Store(db).events()]
    assert kinds.count("BOOT") == 4 and kinds.count("PIN_WRONG") == 1, kinds
    assert second.head == len(kinds)
