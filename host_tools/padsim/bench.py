"""`make bench`: measured figures per PIN verification and for a 10,000-event sync.

Everything runs the real firmware on the unix-port simulator (padsim.sim); the figures
are measured and printed, never asserted. `python -m padsim.bench [--runs N] [--quick]
[--json] [--heap H]`.

Per PIN verification (one insertion, one VERIFY, for each algorithm suite): APDUs and
TPDUs, wire bytes and wire time, the firmware's CPU time, flash programs and erases, as
bench_verify's docstring details.

The smallest `-X heapsize` with which a whole story (boot, right PIN, wrong PIN, a sync
of the journal; then the ring filled, a boot on it, one sync of all of it and a right PIN)
passes, by bisection, and its margin below the 64k budget: `micropython.mem_peak` is not in
this build.

The sync: N events appended to the flash image with the real journal before the pad
starts (tests/fw/bench_fill.py), then `padctl.sync.sync` over the pad's pty, its bytes
counted on the host's side of the line: events per second, bytes per event against the
ceiling of a 115200-baud line (11,520 bytes/s), and the host's verify-and-store rate
(Store.ingest, one transaction per PULL answer, WAL synced at every commit) against a
plain SQLite insert of the same rows in the same number of transactions, with the same
durability (its ratio: the store's speed as a share of the plain insert's).

One module a measure: bench_verify (per PIN verification), bench_heap (the smallest
heap), bench_sync (the sync on the line), bench_store (the host's store); bench_common
holds what they share, and this module runs them in turn (the heap first: the others
run above it) and prints the report.
"""
import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass

from . import bench_heap, bench_sync, bench_verify
from .bench_common import (CARD_BAUD, ETU_PER_CHAR, LINK_BAUD, LINK_BYTES_PER_S, SUITES, TICK,
                           BenchError, Progress, heap_kb)


# --- the report -------------------------------------------------------------------------------

@dataclass
class Options:
    runs: int = 20
    events: int = 10000
    heap: str = None       # the pad's heap for the PIN and sync figures (None: from bisection)
    heap_lo: int = 32
    heap_hi: int = 256
    heap_step: int = 2
    heap_confirm: int = 2  # grid points above the minimum tried as well
    suites: tuple = SUITES
    ta1s: tuple = (0x13, 0x18)  # SM4 again with card and PSAM offering these TA1s (PPS)


# --quick: the heap bisection's two trials, 64k and 48k
QUICK = dict(runs=1, events=200, heap_lo=48, heap_hi=64, heap_step=16, heap_confirm=0)


def run(opts, workdir, progress=None):
    """All the figures, as one dict; a part that could not run holds {"error": why}."""
    progress = progress or Progress(quiet=True)
    out = {"card_baud": CARD_BAUD, "etu_per_char": ETU_PER_CHAR, "link_baud": LINK_BAUD,
           "link_bytes_per_s": LINK_BYTES_PER_S, "clock_tick_s": TICK}
    t0 = time.monotonic()
    progress.step("smallest heap: bisecting %dk..%dk in %dk steps, one whole story each"
                  % (opts.heap_lo, opts.heap_hi, opts.heap_step))
    out["heap"] = bench_heap.min_heap(workdir, opts.heap_lo, opts.heap_hi, opts.heap_step,
                           confirm=opts.heap_confirm, progress=progress)
    heap = opts.heap
    if heap is None:
        found = out["heap"]["min_kb"]
        heap = "%dk" % max(64, (found or opts.heap_hi) + 16)  # a margin above the edge
    out["run_heap"] = heap
    out["pin"] = {}
    for suite, ta1 in [(s, None) for s in opts.suites] + [("SM4", t) for t in opts.ta1s]:
        key = suite if ta1 is None else "%s, TA1 %02X" % (suite, ta1)
        progress.step("%s: %d PIN verifications (one warm-up) at heap %s"
                      % (key, opts.runs + 1, heap))
        out["pin"][key] = _guard(bench_verify.bench_pin, suite, opts.runs, heap, workdir,
                                 progress, ta1)
    progress.step("sync: %d events through the pad's serial link at heap %s"
                  % (opts.events, heap))
    out["sync"] = _guard(bench_sync.bench_sync, opts.events, heap, workdir, progress)
    out["bench_s"] = time.monotonic() - t0
    return out


def _guard(fn, *args):
    try:
        return fn(*args)
    except BenchError as e:
        return {"error": str(e)}


def report(r, say=print):
    bench_verify.report(r, say)
    bench_heap.report(r, say)
    bench_sync.report(r, say)
    say("")
    say("bench: %.0f s" % r["bench_s"])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m padsim.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="verifications averaged per suite "
                    "(default 20, --quick 1)")
    ap.add_argument("--events", type=int, default=None, help="events synced (default 10000)")
    ap.add_argument("--heap", help="the pad's heap for the PIN and sync figures (default: "
                    "the bisected minimum + 16k, at least 64k)")
    ap.add_argument("--quick", action="store_true", help="small sizes (the smoke test)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--workdir", help="keep the simulator's files here")
    args = ap.parse_args(argv)
    opts = Options(**QUICK) if args.quick else Options()
    if args.runs is not None:
        opts.runs = args.runs
    if args.events is not None:
        opts.events = args.events
    if args.heap:
        try:
            heap_kb(args.heap)
        except ValueError as e:
            ap.error(str(e))
        opts.heap = args.heap
    if opts.runs < 1 or opts.events < 1:
        ap.error("--runs and --events must be at least 1")
    progress = Progress()
    try:
        if args.workdir:
            r = run(opts, args.workdir, progress)
        else:
            with tempfile.TemporaryDirectory(prefix="padctl-bench-") as tmp:
                r = run(opts, tmp, progress)
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
    else:
        report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
