"""The sync (padsim.bench runs it; `make bench`): N events appended to the flash image
with the real journal before the pad starts (tests/fw/bench_fill.py), then
`padctl.sync.sync` over the pad's pty, its bytes counted on the host's side of the line:
events per second, and bytes per event against the ceiling of a 115200-baud line
(11,520 bytes/s); then the host's store of the same records (padsim.bench_store).
"""
import subprocess
import time
from pathlib import Path

from padctl.mpy import FWTESTS, ROOT, mp_cmd, mp_env

from .bench_common import (LINK_BYTES_PER_S, TICK, BenchError, Progress, cpu_ticks,
                           link_seconds, start_pad)
from . import bench_store
from .bench_store import host_store_rates
from .sim import Sim


class CountingStream:
    """A pyserial port that counts the bytes through it each way."""

    def __init__(self, port):
        self.port = port
        self.sent = 0      # host -> pad
        self.received = 0  # pad -> host

    def read(self, n=1):
        data = self.port.read(n)
        self.received += len(data)
        return data

    def write(self, data):
        self.sent += len(data)
        return self.port.write(data)

    def flush(self):
        self.port.flush()

    @property
    def in_waiting(self):
        return self.port.in_waiting

    def close(self):
        self.port.close()


def fill_journal(sim, events, heap="256k", progress=None):
    """Appends `events` records to the pad's flash image (tests/fw/bench_fill.py);
    events "full": fills the ring as a pad that is never synced does. Returns the head."""
    progress = progress or Progress(quiet=True)
    cmd = mp_cmd(FWTESTS / "bench_fill.py", heap, (sim.flash, events))
    p = subprocess.Popen(cmd, env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=str(ROOT))
    out = []
    for line in p.stdout:
        out.append(line)
        if line.startswith("progress "):
            progress("journal records", int(line.split()[1]),
                     10500 if events == "full" else events)
    if p.wait() != 0 or not out or not out[-1].startswith(
            "filled " if events == "full" else "filled %d " % events):
        raise BenchError("filling the journal failed: " + "".join(out[-6:]))
    return int(out[-1].split()[1])


def bench_sync(events, heap, workdir, progress=None):
    """The sync figures: a dict (see report())."""
    from padctl import link as L
    from padctl import sync as S
    from padctl.store import Store
    progress = progress or Progress(quiet=True)
    db = Path(workdir) / "sync-host.db"
    with Sim(Path(workdir) / "sync") as sim:
        t = time.monotonic()
        fill_journal(sim, events, progress=progress)
        fill_s = time.monotonic() - t
        t = time.monotonic()
        start_pad(sim, heap, link=True)
        boot_s = time.monotonic() - t
        key = bytes.fromhex(sim.config["link_key"])
        stream = CountingStream(L.open_port(sim.port))
        try:
            cpu0 = cpu_ticks(sim.proc.pid)
            t = time.monotonic()
            pulls = []  # records stored after each PULL answer (one transaction each)

            def each(d, n):
                pulls.append(d)
                progress("records synced", d, n)
            res = S.sync(stream, db, key, progress=each)
            sync_s = time.monotonic() - t
            cpu1 = cpu_ticks(sim.proc.pid)
        except S.SyncError as e:
            raise BenchError("sync: %s" % e)
        finally:
            stream.close()
            sim.stop()
        pad_id = bytes.fromhex(res.pad)
    keys = L.Keys(key, pad_id)
    with Store(db) as st:
        raws = [bytes(r[0]) for r in st.db.execute(
            "SELECT raw FROM records WHERE pad_id=? AND epoch=? ORDER BY seq",
            (res.pad, res.epoch))]
        rows = st.db.execute("SELECT * FROM records ORDER BY seq").fetchall()
    if len(raws) != res.stored or res.stored < events:
        raise BenchError("sync stored %d records, %d were generated" % (res.stored, events))
    sizes = [b - a for a, b in zip([0] + pulls, pulls) if b > a]  # records a transaction
    if sum(sizes) != len(raws):  # a re-run (the pad was busy): its counts start again
        sizes = None
    host = host_store_rates(raws, rows, res.pad, res.epoch, keys.journal_mac, workdir,
                            sizes=sizes)
    total = stream.sent + stream.received
    per_record = total / res.stored
    return {
        "events": events, "stored": res.stored, "heap": heap,
        "fill_s": fill_s, "boot_s": boot_s, "sync_s": sync_s,
        "records_per_s": res.stored / sync_s, "events_per_s": events / sync_s,
        "pad_cpu_s": (cpu1 - cpu0) * TICK,
        "bytes_to_pad": stream.sent, "bytes_from_pad": stream.received,
        "bytes_per_record": per_record, "bytes_per_event": total / events,
        "from_pad_per_record": stream.received / res.stored,
        "line_ceiling_records_per_s": LINK_BYTES_PER_S / per_record,
        "line_ceiling_events_per_s": LINK_BYTES_PER_S * events / total,
        "line_s": link_seconds(total),
        **host,
    }


def report(r, say=print):
    """The sync figures (and the store's, padsim.bench_store), from a whole bench run's
    dict."""
    s = r["sync"]
    say("")
    if "error" in s:
        say("sync: not measured: %s" % s["error"])
    else:
        say("sync of %d events (generated with the real journal in %.1f s; the pad booted on "
            "them in %.2f s)" % (s["events"], s["fill_s"], s["boot_s"]))
        say("  %d records pulled (the events, BOOT, and the pad's own ACK records) in %.2f s: "
            "%.0f records/s, %.0f events/s" % (s["stored"], s["sync_s"], s["records_per_s"],
                                               s["events_per_s"]))
        say("  pad CPU during the sync: %.2f s, %.0f us a record"
            % (s["pad_cpu_s"], s["pad_cpu_s"] / s["stored"] * 1e6))
        say("  on the line (counted at the host's port): %d bytes to the pad, %d from it; "
            "%.1f bytes a record (%.1f from the pad), %.1f bytes an event"
            % (s["bytes_to_pad"], s["bytes_from_pad"], s["bytes_per_record"],
               s["from_pad_per_record"], s["bytes_per_event"]))
        say("  at %d baud (%d bytes/s) the line alone allows %.0f records/s, %.0f events/s: "
            "this sync takes %.0f s on a real line; the simulator ran at %.1f x that ceiling"
            % (r["link_baud"], r["link_bytes_per_s"], s["line_ceiling_records_per_s"],
               s["line_ceiling_events_per_s"], s["line_s"],
               s["records_per_s"] / s["line_ceiling_records_per_s"]))
        bench_store.report(s, say)
