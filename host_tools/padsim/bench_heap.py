"""The smallest `-X heapsize` with which a whole story (boot, right PIN, wrong PIN, a sync
of the journal; then the ring filled, a boot on it, one sync of all of it and a right PIN)
passes, by bisection, and its margin below the 64k budget: `micropython.mem_peak` is not in
this build. padsim.bench runs it first (`make bench`): the other parts run above it.
"""
from pathlib import Path

from .bench_common import RIGHT, WRONG, BenchError, Progress, Story, start_pad
from .bench_sync import fill_journal
from .sim import Sim


def heap_story(sim, heap):
    """The whole flow at one heap size: boot, right PIN, wrong PIN, a sync of the journal;
    then the pad's largest journal: the ring filled (every slot unsynced), a boot on it,
    one sync of all of it, and a right PIN after. Returns None if it passed, else what
    failed."""
    from padctl import sync as S
    sim.provision()       # a fresh journal: every trial does the same work
    sim.new_card()
    db = sim.dir / ("host-%s.db" % heap)
    st = Story(sim)
    key = bytes.fromhex(sim.config["link_key"])
    try:
        st = start_pad(sim, heap, link=True)
        st.verify(RIGHT, "PIN OK")
        st.verify(WRONG, "Tries left")
        try:
            res = S.sync(sim.port, db, key, timeout=5.0)
        except S.SyncError as e:
            raise BenchError("sync: %s" % e)
        if res.stored < 5:  # BOOT, PENDING, PIN_OK, PENDING, PIN_WRONG
            raise BenchError("sync stored %d records" % res.stored)
        why = st.crashed()
        if why:
            raise BenchError("after the sync: " + why)
        sim.stop()
        head = fill_journal(sim, "full")
        st = start_pad(sim, heap, link=True)
        try:
            res = S.sync(sim.port, db, key, timeout=5.0)
        except S.SyncError as e:
            raise BenchError("full-ring sync: %s" % e)
        if res.head < head or res.acked != res.head:
            raise BenchError("full-ring sync: acknowledged %d of head %d" % (res.acked, head))
        st.verify(RIGHT, "PIN OK")
        why = st.crashed()
        if why:
            raise BenchError("after the full-ring sync: " + why)
        return None
    except (BenchError, OSError) as e:  # OSError: the pad's UI connection broke
        why = st.crashed()
        return str(e) if not why or why in str(e) else "%s; %s" % (e, why)
    finally:
        sim.stop()
        log = sim.dir / "pad.log"
        if log.exists():
            log.unlink()
        if db.exists():
            db.unlink()


def min_heap(workdir, lo=32, hi=256, step=2, suite="SM4", confirm=2, also=(64,),
             progress=None):
    """Bisects the smallest heap (KB, on the step grid from lo to hi) with which
    heap_story passes, assuming more heap never hurts; then tries the `confirm` grid
    points above it, which that assumption says pass. Returns a dict: min_kb (None if
    it fails even at hi), the failure seen just below it, the heaps above it that failed
    all the same (`holes`), and every trial's outcome (None: passed), the heaps in
    `also` (the 64k budget) tried whatever the bisection did."""
    progress = progress or Progress(quiet=True)
    trials = {}
    with Sim(Path(workdir) / "heap", suite=suite) as sim:
        def passes(kb):
            k = str(kb)  # as in JSON
            if k not in trials:
                progress.step("heap %dk ..." % kb)
                trials[k] = heap_story(sim, "%dk" % kb)
            return trials[k] is None

        grid = list(range(lo, hi + 1, step))
        if grid[-1] != hi:
            grid.append(hi)
        for kb in also:
            passes(kb)
        if not passes(grid[-1]):
            return {"min_kb": None, "lo": lo, "hi": hi, "step": step, "suite": suite,
                    "failure_below": trials[str(grid[-1])], "holes": [], "trials": trials}
        if passes(grid[0]):
            a = b = 0
        else:
            a, b = 0, len(grid) - 1  # grid[a] fails, grid[b] passes
            while b - a > 1:
                m = (a + b) // 2
                if passes(grid[m]):
                    b = m
                else:
                    a = m
        below = trials.get(str(grid[a])) if b else None
        holes = [kb for kb in grid[b + 1:b + 1 + confirm] if not passes(kb)]
        return {"min_kb": grid[b], "lo": lo, "hi": hi, "step": step, "suite": suite,
                "failure_below": below, "holes": holes, "trials": trials}


def report(r, say=print):
    """The smallest heap, from a whole bench run's dict."""
    h = r["heap"]
    say("")
    if h["min_kb"] is None:
        say("smallest heap: the whole story fails even at %dk: %s" % (h["hi"], h["failure_below"]))
    else:
        say("smallest heap for the whole story (boot, right PIN, wrong PIN, sync; then a full "
            "ring: boot, one sync of all of it, right PIN; %s): %dk, %dk below the 64k budget "
            "(bisected %dk..%dk in %dk steps: micropython.mem_peak is not in this build)"
            % (h["suite"], h["min_kb"], 64 - h["min_kb"], h["lo"], h["hi"], h["step"]))
        if h["failure_below"]:
            say("  at %dk: %s" % (h["min_kb"] - h["step"], h["failure_below"]))
        for kb in h["holes"]:
            say("  but at %dk, above it: %s" % (kb, h["trials"][str(kb)]))
    if "64" in h["trials"]:
        fits = h["trials"]["64"]
        say("  at 64k: %s" % ("passes" if fits is None else fits))
