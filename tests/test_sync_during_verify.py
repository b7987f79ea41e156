"""A sync while a PIN attempt is in flight (DESIGN 6), at the pad's 64 KB heap: the pad
keeps the attempt going, the sync either completes or is refused cleanly ("re-run: nothing
is lost" when the link cannot get RAM beside the card session), and the next sync stores
every record exactly once."""
import threading

from mp import HEAP
from padctl import store, sync
from padctl.sim import Sim


def test_sync_during_pin_entry_loses_nothing(tmp_path):
    with Sim(tmp_path) as sim:
        sim.start(heap=HEAP, link=True)
        sim.ui.wait_for("insert card", 10)
        sim.insert()
        i, _ = sim.ui.wait_for("Enter PIN", 10)
        sim.ui.press("65")  # the cardholder is typing
        key = bytes.fromhex(sim.config["link_key"])
        db = tmp_path / "host.db"
        try:
            first = sync.sync(sim.port, db, key)  # the clerk syncs meanwhile
        except sync.SyncError as e:
            assert "nothing is lost" in str(e)
            first = None
        sim.ui.press("4321E")
        sim.ui.wait_for("Wrong PIN", 10, after=i + 1)
        second = sync.sync(sim.port, db, key)
        log = (sim.dir / "pad.log").read_text(errors="replace")
        assert "Traceback" not in log and sim.resets == 0, log[-2000:]
    kinds = [e["kind"] for e in store.Store(db).events()]
    assert second.stored >= 2
    assert kinds.count("PENDING") == 1 and kinds.count("PIN_WRONG") == 1, kinds
    seqs = [e["seq"] for e in store.Store(db).events()]
    assert seqs == sorted(set(seqs)), "a record stored twice or out of order"
