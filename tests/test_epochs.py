"""Journal epochs only grow (DESIGN 6; protocol.md 8.2, 9.5): provisioning gives the pad
the epoch after the one its journal holds, whatever epoch it is asked for, and starts the
new epoch with a PROVISION record naming the epoch before. The host tells a
re-provisioning (a higher epoch that starts with that record: an alert of its own, not
tampering) from a rollback (a lower epoch, or a head below the stored chain: tampering)."""
import shutil

import pytest

from mp import HEAP
from padctl import store, sync
from padsim.sim import Sim


def _sync(sim, db):
    return sync.sync(sim.port, db, bytes.fromhex(sim.config["link_key"]))


def _run(sim):
    sim.start(heap=HEAP, link=True)
    sim.ui.wait_for("insert card", 10)


def test_epochs_grow_and_the_host_tells_reprovisioning_from_rollback(tmp_path):
    db = tmp_path / "host.db"
    with Sim(tmp_path / "pad") as sim:
        assert sim.epoch == 1  # a new image
        _run(sim)
        first = _sync(sim, db)
        assert first.epoch == 1 and first.stored >= 2 and first.alerts == []
        sim.stop()
        old_image = tmp_path / "epoch1.img"
        shutil.copyfile(sim.flash, old_image)

        sim.provision(epoch=1)  # asked for an epoch it has had: it gets the next one
        assert sim.epoch == 2
        _run(sim)
        res = _sync(sim, db)
        assert res.epoch == 2 and res.alerts == [], res
        with store.Store(db) as s:
            recs = s.events(kind="PROVISION")
            assert [(r["epoch"], r["seq"], r["data"]) for r in recs] == [
                (1, 1, "00000000"), (2, 1, "00000001")]  # each epoch opens with one
            kinds = [a["kind"] for a in s.alerts()]
            assert kinds == ["re-provisioning"], s.alerts()
        sim.stop()

        sim.provision(epoch=7)  # a higher epoch asked for is taken
        assert sim.epoch == 7
        sim.provision()
        assert sim.epoch == 8

        shutil.copyfile(old_image, sim.flash)  # an old copy of the flash put back
        _run(sim)
        with pytest.raises(sync.SyncError, match="epoch 1 is older than epoch 2"):
            _sync(sim, db)
        with store.Store(db) as s:
            assert any(a["kind"] == "tampering" and "rolled back" in a["reason"]
                       for a in s.alerts())


def test_a_higher_epoch_without_a_provisioning_record_is_tampering(tmp_path):
    db = tmp_path / "host.db"
    with Sim(tmp_path / "pad") as sim:
        _run(sim)
        _sync(sim, db)
        sim.stop()
        pad_id = sim.pad_id
    # another image of the same pad, made with a higher epoch but no PROVISION record
    # (its journal formatted by hand): the host must not take it for a re-provisioning
    with Sim(tmp_path / "pad", pad_id=pad_id) as sim2:
        from mp import run_code
        code = ("import flash, journal\n"
                "journal.Journal.format(flash.partitions(%r)[1], 5)\n" % str(sim2.flash))
        r = run_code(code, tests=False)
        assert r.returncode == 0, r.stderr
        _run(sim2)
        res = _sync(sim2, db)
        assert res.epoch == 5
        assert any("without a provisioning record" in a for a in res.alerts), res.alerts
