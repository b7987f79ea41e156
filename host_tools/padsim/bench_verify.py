"""Per PIN verification (padsim.bench runs it; `make bench`): one insertion, one VERIFY,
the average of N runs after a warm-up run that also activates the PSAM, for a suite.

- APDUs (commands the card or PSAM processed; a command re-issued after 6Cxx counts
  twice) and TPDUs (5-byte headers on the wire, GET RESPONSE included) and the bytes
  each way, from the slots' counters and transcripts;
- the wire time those bytes take at the ISO 7816 default rate (372 clocks per ETU at
  3.57 MHz, about 9600 bit/s; 12 ETU per character): bytes * 12 / 9600 s;
- the firmware's CPU time (utime + stime of the micropython process, /proc/<pid>/stat),
  and the wall time from the card's activation to the last answer of card or PSAM (the
  PIN typed the moment it is asked for) as a ratio to the wire time: the simulated wire
  is loopback TCP, with no baud rate, so this is the pad's own share; the time to the
  result screen is given too;
- flash programs and erases per attempt (PAD_FLASH_STATS before and after).
"""
import time
from dataclasses import dataclass
from pathlib import Path

from .bench_common import (RIGHT, TICK, BenchError, Counted, Progress, cpu_ticks, flash_totals,
                           mean, start_pad, wire_seconds)
from .sim import Sim
from .vcard import VirtualCard


def count_tpdus(transcript):
    """Command headers in a slot's transcript [("tx"|"rx", bytes)]: every "rx" piece
    except the data of an incoming command, which comes right after a one-byte procedure
    byte (ACK = INS, or ~INS) the card sent for the header before it."""
    n, ins, prev = 0, None, None
    for d, b in transcript:
        if d == "rx":
            body = (ins is not None and prev is not None and prev[0] == "tx"
                    and len(prev[1]) == 1 and prev[1][0] in (ins, ins ^ 0xFF))
            if not body:
                n += 1
                ins = b[1] if len(b) > 1 else None
        prev = (d, b)
    return n

# --- per PIN verification -----------------------------------------------------------------

@dataclass
class Wire:
    apdus: float = 0     # commands the processor handled
    tpdus: float = 0     # headers on the wire (GET RESPONSE, re-issues included)
    to_card: float = 0   # bytes pad -> card (the slot's rx)
    from_card: float = 0  # bytes card -> pad (ATR included)

    @property
    def bytes(self):
        return self.to_card + self.from_card

    @property
    def seconds(self):
        return wire_seconds(self.bytes)


@dataclass
class PinRun:
    card: Wire
    psam: Wire
    cpu_s: float
    wall_s: float          # card activation -> the last answer of card or PSAM
    wall_pin_s: float      # keys sent -> the last answer (PIN block, VERIFY)
    screen_s: float        # card activation -> the result screen seen here
    programs: int
    erases: int
    flash_bytes: int
    crit_s: float = 0.0        # wire time on the critical path, insertion to the result
    crit_after_s: float = 0.0  # the same, after Enter
    serial_s: float = 0.0      # both wires' time summed (one wire at a time would take it)


class _SlotMark:
    """A slot's counters at one moment (they restart at each activation)."""

    def __init__(self, slot, proc):
        self.slot, self.proc = slot, proc
        self.act = slot.activations
        self.n = len(slot.transcript)
        self.tx, self.rx = slot.tx, slot.rx
        self.cmds = proc.commands

    def since(self):
        s = self.slot
        fresh = s.activations != self.act
        n, tx, rx = (0, 0, 0) if fresh else (self.n, self.tx, self.rx)
        return Wire(self.proc.commands - self.cmds, count_tpdus(s.transcript[n:]),
                    s.rx - rx, s.tx - tx)


def _settle(slot, quiet=0.02, limit=1.0):
    """Wait until a slot's byte counters stop moving (its thread finished a piece)."""
    end = time.monotonic() + limit
    last = (slot.tx, slot.rx, len(slot.transcript))
    while time.monotonic() < end:
        time.sleep(quiet)
        now = (slot.tx, slot.rx, len(slot.transcript))
        if now == last:
            return
        last = now


def critical_path(card_tl, psam_tl, since=float("-inf")):
    """Wire seconds on the critical path, from the paced slots' per-character timelines
    [(start, "rx"|"tx", seconds)] (padsim.slot, paced: each character at the rate in
    force, 16-ETU turnarounds and TC1 included, started when its wire was free), the
    characters from `since` on: the length of the union of their intervals, so that what
    ran on both wires at once counts once (the card computing its INTERNAL AUTHENTICATE
    answer while the PSAM computes the same, firmware/genuine.py), and the time neither
    wire carried anything (the pad's CPU, the holder typing) not at all."""
    spans = sorted((t, t + s) for t, _, s in list(card_tl) + list(psam_tl) if t >= since)
    total, end = 0.0, float("-inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def serial_time(card_tl, psam_tl, since=float("-inf")):
    """Both wires' character time from `since` on, summed: what a pad that drove one wire
    at a time would spend on them (critical_path's figure without the overlap)."""
    return sum(s for t, _, s in list(card_tl) + list(psam_tl) if t >= since)


def one_verification(sim, story, psam, stats):
    """Measures one insertion + one VERIFY with the right PIN on the running pad."""
    card = Counted(VirtualCard(sim.card_path, ta1=sim.ta1))
    c_mark = _SlotMark(sim.card_slot, card)
    p_mark = _SlotMark(sim.psam_slot, psam)
    f0 = flash_totals(stats)
    cpu0 = cpu_ticks(sim.proc.pid)
    t_in = time.monotonic()
    sim.card_slot.insert(card)
    story.expect("Enter PIN")
    t_keys = time.monotonic()
    sim.ui.press(RIGHT + "E")
    story.expect("PIN OK")
    t_end = time.monotonic()
    cpu1 = cpu_ticks(sim.proc.pid)
    f1 = flash_totals(stats)
    sim.pull()
    story.expect("insert card")
    _settle(sim.card_slot)
    _settle(sim.psam_slot)
    last = max(t for t in (card.answered, psam.answered, card.activated) if t is not None)
    tl = (list(sim.card_slot.timeline), list(sim.psam_slot.timeline))
    return PinRun(c_mark.since(), p_mark.since(), (cpu1 - cpu0) * TICK, last - card.activated,
                  last - t_keys, t_end - card.activated, f1[0] - f0[0], f1[1] - f0[1],
                  f1[2] - f0[2], critical_path(*tl, since=t_in),
                  critical_path(*tl, since=t_keys), serial_time(*tl, since=t_in))


def _mean_wire(ws):
    ws = list(ws)
    return Wire(*(mean(getattr(w, k) for w in ws) for k in ("apdus", "tpdus", "to_card",
                                                              "from_card")))


def bench_pin(suite, runs, heap, workdir, progress=None, ta1=None):
    """The per-verification figures of one suite: a dict (see report()). ta1: the Fi/Di
    the card's and the PSAM's ATRs offer (the pad negotiates it by PPS)."""
    progress = progress or Progress(quiet=True)
    tag = suite + ("" if ta1 is None else "-ta1-%02X" % ta1)
    paced = {"paced": True, "echo": True}  # the wires in real time, the writes echoed
    with Sim(Path(workdir) / ("pin-" + tag), suite=suite, ta1=ta1, card_slot=paced,
             psam_slot=paced) as sim:
        psam = Counted(sim.psam_slot.processor)
        sim.psam_slot.insert(psam)
        stats = sim.dir / "flash.stats"
        story = start_pad(sim, heap, env={"PAD_FLASH_STATS": str(stats), "PAD_WIRE_ECHO": "1"})
        warm = one_verification(sim, story, psam, stats)
        got = []
        for i in range(runs):
            got.append(one_verification(sim, story, psam, stats))
            progress("%s verifications" % suite, i + 1, runs)
        if sim.card_tries() != sim.limit:
            raise BenchError("%s: the card lost tries on right PINs" % suite)
        sim.stop()
    card, psam_w = _mean_wire(r.card for r in got), _mean_wire(r.psam for r in got)
    wire_s = card.seconds + psam_w.seconds
    wall = mean(r.wall_s for r in got)
    return {
        "suite": suite, "runs": runs, "heap": heap, "ta1": ta1,
        "crit_s": mean(r.crit_s for r in got), "crit_after_s": mean(r.crit_after_s for r in got),
        "serial_s": mean(r.serial_s for r in got),
        "card": _wire_dict(card), "psam": _wire_dict(psam_w),
        "wire_s": wire_s,
        "cpu_s": mean(r.cpu_s for r in got),
        "cpu_ticks_total": round(sum(r.cpu_s for r in got) / TICK),
        "wall_s": wall, "wall_pin_s": mean(r.wall_pin_s for r in got),
        "screen_s": mean(r.screen_s for r in got),
        "wall_to_wire": wall / wire_s if wire_s else 0.0,
        "flash_programs": mean(r.programs for r in got),
        "flash_erases": mean(r.erases for r in got),
        "flash_bytes": mean(r.flash_bytes for r in got),
        "psam_activation": _wire_dict(Wire(warm.psam.apdus - psam_w.apdus,
                                           warm.psam.tpdus - psam_w.tpdus,
                                           warm.psam.to_card - psam_w.to_card,
                                           warm.psam.from_card - psam_w.from_card)),
    }


def _wire_dict(w):
    return {"apdus": w.apdus, "tpdus": w.tpdus, "to_card": w.to_card,
            "from_card": w.from_card, "bytes": w.bytes, "wire_s": w.seconds}


def report(r, say=print):
    """The PIN verification figures of a whole bench run (padsim.bench.run's dict)."""
    say("PIN verification: one insertion + one VERIFY, the real firmware on the unix port "
        "(heap %s)" % r["run_heap"])
    say("wire time: bytes * %d ETU / %d baud (ISO 7816 default: 372 clocks an ETU at 3.57 MHz)"
        % (r["etu_per_char"], r["card_baud"]))
    for suite, p in r["pin"].items():
        say("")
        if "error" in p:
            say("%s: not measured: %s" % (suite, p["error"]))
            continue
        say("%s, the average of %d run%s after a warm-up run:"
            % (suite, p["runs"], "" if p["runs"] == 1 else "s"))
        if p.get("ta1") is not None:
            say("  (card and PSAM offer TA1 %02X, negotiated by PPS; the table's wire time "
                "column is still bytes at 9600)" % p["ta1"])
        say("  %-6s %6s %6s %8s %8s %7s %10s" % ("", "APDUs", "TPDUs", "to it", "from it",
                                                "bytes", "wire time"))
        for name, label in (("card", "card"), ("psam", "PSAM")):
            w = p[name]
            say("  %-6s %6.1f %6.1f %8.1f %8.1f %7.1f %7.1f ms" % (
                label, w["apdus"], w["tpdus"], w["to_card"], w["from_card"], w["bytes"],
                w["wire_s"] * 1e3))
        c, m = p["card"], p["psam"]
        say("  %-6s %6.1f %6.1f %8.1f %8.1f %7.1f %7.1f ms" % (
            "total", c["apdus"] + m["apdus"], c["tpdus"] + m["tpdus"],
            c["to_card"] + m["to_card"], c["from_card"] + m["from_card"],
            c["bytes"] + m["bytes"], p["wire_s"] * 1e3))
        say("  wire time on the critical path (each character at the rate in force: 12 ETU, "
            "16 ETU at each turnaround, TC1; what ran on both wires at once counted once): "
            "%.1f ms, %.1f ms of it after Enter (one wire at a time: %.1f ms)"
            % (p["crit_s"] * 1e3, p["crit_after_s"] * 1e3, p.get("serial_s", 0) * 1e3))
        a = p["psam_activation"]
        say("  (once per boot, before the first card: the PSAM's activation, %.0f APDUs, "
            "%.0f TPDUs, %.0f bytes, %.1f ms)" % (a["apdus"], a["tpdus"], a["bytes"],
                                                  a["wire_s"] * 1e3))
        say("  firmware CPU (utime+stime): %.1f ms a transaction (%d ticks of %.0f ms in %d "
            "runs)" % (p["cpu_s"] * 1e3, p["cpu_ticks_total"], r["clock_tick_s"] * 1e3,
                       p["runs"]))
        say("  wall, activation to the last answer: %.1f ms (%.1f ms of it after Enter) = "
            "%.3f x the wire time" % (p["wall_s"] * 1e3, p["wall_pin_s"] * 1e3,
                                      p["wall_to_wire"]))
        say("  wall, activation to the result screen: %.1f ms (the simulated display's socket "
            "included)" % (p["screen_s"] * 1e3))
        say("  flash per attempt: %.2f programs, %.2f erases, %.0f bytes programmed"
            % (p["flash_programs"], p["flash_erases"], p["flash_bytes"]))
