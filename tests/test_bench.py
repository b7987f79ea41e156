"""Smoke test of `make bench` (padsim.bench and its parts bench_common, bench_verify,
bench_heap, bench_sync, bench_store): every figure is produced and sane at tiny
sizes. Timings are never asserted: only that they were measured."""
import contextlib
import io
import json
import socket
import time

import pytest

from padsim import bench as B
from padsim import bench_common as BC
from padsim import bench_verify as BV
from padsim.slot import CARD_ATR, SlotServer


def test_wire_seconds_is_iso7816_default_rate():
    # 9600 ETU/s, 12 ETU a character: 800 characters take one second
    assert BC.wire_seconds(800) == pytest.approx(1.0)
    assert BC.wire_seconds(0) == 0
    # 115200 baud 8N1: 11,520 bytes a second
    assert BC.link_seconds(11520) == pytest.approx(1.0)


class _Proc:
    """Answers 16 bytes to INS 88 (case 4), Le bytes to outgoing INS B0, 9000 else."""

    def reset(self):
        pass

    def process(self, apdu):
        if apdu[1] == 0x88:
            return bytes(range(16)) + b"\x90\x00"
        if apdu[1] == 0xB0:
            return bytes(apdu[4]) + b"\x90\x00"
        return b"\x90\x00"


def _read(s, n):
    buf = b""
    while len(buf) < n:
        got = s.recv(n - len(buf))
        assert got, "slot closed"
        buf += got
    return buf


def _tpdu(s, hdr, body=b""):
    """The reader's side of one T=0 exchange (body: incoming data); returns the SW."""
    s.sendall(hdr)
    ins, moved = hdr[1], 0
    while True:
        b = _read(s, 1)[0]
        if b == 0x60:  # NULL: wait
            continue
        if b in (ins, ins ^ 0xFF):
            k = hdr[4] - moved if b == ins else 1  # ACK: all the rest, ~INS: one byte
            if body:
                s.sendall(body[moved:moved + k])
            else:
                _read(s, k)
            moved += k
        else:
            return (b << 8) | _read(s, 1)[0]


@pytest.mark.parametrize("byte_by_byte", [0.0, 1.0])
def test_count_tpdus_counts_the_headers_of_a_real_slot_transcript(byte_by_byte):
    with SlotServer(_Proc(), byte_by_byte=byte_by_byte) as slot:
        with socket.create_connection((slot.host, slot.port)) as s:
            _read(s, len(CARD_ATR))
            # an incoming body of exactly 5 bytes must not pass for a header
            assert _tpdu(s, bytes.fromhex("00a4040005"), b"\xa0\x00\x00\x00\x03") == 0x9000
            assert _tpdu(s, bytes.fromhex("00b0000008")) == 0x9000  # case 2
            assert _tpdu(s, bytes.fromhex("0088000008"), bytes(8)) == 0x6110  # case 4
            assert _tpdu(s, bytes.fromhex("00c0000010")) == 0x9000  # its GET RESPONSE
            assert _tpdu(s, bytes.fromhex("0020000000")) == 0x9000  # case 1
            s.shutdown(socket.SHUT_WR)
            while s.recv(64):
                pass
        assert BV.count_tpdus(slot.transcript) == 5


def test_critical_path_counts_both_wires_at_once_once():
    # (start, direction, seconds): the card busy 0-3, the PSAM 2-5 and 7-8; a gap 5-7
    card = [(0.0, "rx", 1.0), (1.0, "tx", 1.0), (2.0, "tx", 1.0)]
    psam = [(2.0, "rx", 2.0), (4.0, "tx", 1.0), (7.0, "rx", 1.0)]
    assert BV.critical_path(card, psam) == pytest.approx(6.0)  # 0-5 and 7-8
    assert BV.serial_time(card, psam) == pytest.approx(7.0)
    assert BV.critical_path(card, psam, since=2.0) == pytest.approx(4.0)  # 2-5, 7-8
    assert BV.critical_path([], []) == 0


def test_a_paced_echoing_slot_holds_the_wire_to_its_rate():
    with SlotServer(_Proc(), paced=True, echo=True) as slot:
        with socket.create_connection((slot.host, slot.port)) as s:
            _read(s, len(CARD_ATR))
            t0 = time.monotonic()
            s.sendall(bytes.fromhex("0020000000"))
            assert _read(s, 5) == bytes.fromhex("0020000000")  # the echo, then the SW
            assert _read(s, 2) == b"\x90\x00"
            took = time.monotonic() - t0
        tl = slot.timeline
        # each character starts when the one before it ended, on this wire
        assert all(b[0] == pytest.approx(a[0] + a[2]) for a, b in zip(tl, tl[1:]))
        # after the ATR a turnaround and 4 characters, a turnaround and 1: (16 + 12 * 4) +
        # (16 + 12) ETU at 9600 baud, and that long in real time at least
        etu = 372 / 3571200
        assert sum(x[2] for x in tl[-7:]) == pytest.approx(92 * etu)
        assert took >= 92 * etu * 0.9


def test_cpu_ticks_of_this_process():
    import os
    assert BC.cpu_ticks(os.getpid()) >= 0
    assert BC.TICK > 0


def test_flash_totals_missing_and_malformed(tmp_path):
    assert BC.flash_totals(tmp_path / "none") == (0, 0, 0)
    (tmp_path / "bad").write_text("x y")
    assert BC.flash_totals(tmp_path / "bad") == (0, 0, 0)
    (tmp_path / "ok").write_text("  3   1   4352\n")
    assert BC.flash_totals(tmp_path / "ok") == (3, 1, 4352)


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        B.main(["--runs", "0"])
    with pytest.raises(SystemExit):
        B.main(["--heap", "lots"])
    assert "usage" in capsys.readouterr().err


def _wire_sane(w):
    assert w["apdus"] > 0
    assert w["tpdus"] >= w["apdus"]  # every processed command came with a header
    assert w["to_card"] >= 5 * w["tpdus"]
    assert w["from_card"] >= 2 * w["tpdus"]  # a status word at least
    assert w["bytes"] == w["to_card"] + w["from_card"]
    assert w["wire_s"] == pytest.approx(w["bytes"] * 12 / 9600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """`python -m padsim.bench --quick --json`, run once for the tests below."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = B.main(["--quick", "--json", "--workdir", str(tmp_path_factory.mktemp("bench"))])
    assert rc == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("suite", B.SUITES)
def test_quick_bench_pin_figures(quick, suite):
    p = quick["pin"][suite]
    assert "error" not in p, p
    assert p["runs"] == 1
    _wire_sane(p["card"])
    _wire_sane(p["psam"])
    assert p["wire_s"] == pytest.approx(p["card"]["wire_s"] + p["psam"]["wire_s"])
    # the PSAM's part of INTERNAL AUTHENTICATE ran at the card's pauses (firmware/genuine.py):
    # on the paced wires some of it went on both at once, so the critical path is shorter
    # than the wires' time one after the other (equal for a pad that drives one at a time)
    assert p["crit_s"] < p["serial_s"] - 0.005, (p["crit_s"], p["serial_s"])
    assert p["cpu_s"] >= 0 and p["cpu_ticks_total"] >= 0
    assert 0 < p["wall_pin_s"] < p["wall_s"] <= p["screen_s"]
    assert p["wall_to_wire"] == pytest.approx(p["wall_s"] / p["wire_s"])
    # PENDING durable before the VERIFY, then the outcome: two records at least
    assert p["flash_programs"] >= 2 and p["flash_bytes"] >= 128
    assert p["flash_erases"] >= 0
    assert p["psam_activation"]["bytes"] > 0  # the warm-up activated the PSAM


def test_quick_bench_3des_moves_fewer_bytes_than_sm4(quick):
    # the same exchange with 8-byte blocks instead of 16-byte ones
    assert quick["pin"]["3DES"]["wire_s"] < quick["pin"]["SM4"]["wire_s"]


def test_quick_bench_heap_bisection(quick):
    h = quick["heap"]
    assert h["min_kb"] is None or h["lo"] <= h["min_kb"] <= h["hi"]
    assert "64" in h["trials"]  # the budget is always tried
    if h["min_kb"] is not None:
        assert h["trials"][str(h["min_kb"])] is None  # the minimum passed
        if h["min_kb"] > h["lo"]:
            assert h["failure_below"]  # and the step below it failed, saying why


def test_quick_bench_sync_figures(quick):
    s = quick["sync"]
    assert "error" not in s, s
    assert s["events"] == 200
    assert s["stored"] > s["events"]  # BOOT and ACK records come along
    assert s["records_per_s"] > 0 and s["events_per_s"] > 0 and s["sync_s"] > 0
    # packed records in base64 (protocol.md 9.3): less than a whole slot's 86 characters
    assert 0 < s["from_pad_per_record"] < 86
    assert s["bytes_per_record"] == pytest.approx(
        (s["bytes_to_pad"] + s["bytes_from_pad"]) / s["stored"])
    assert s["line_ceiling_records_per_s"] == pytest.approx(11520 / s["bytes_per_record"])
    assert s["pad_cpu_s"] >= 0
    for k in ("ingest_batched_per_s", "ingest_one_tx_per_s", "plain_insert_per_s",
              "plain_one_tx_per_s", "store_ratio", "plain_to_ingest_batched",
              "plain_to_ingest_one_tx"):
        assert s[k] > 0, k
    # the plain insert is timed with as many transactions as the sync's PULL answers
    assert s["ingest_transactions"] * s["ingest_batch"] == pytest.approx(s["stored"])
    assert s["ingest_batch"] > 8  # more records a PULL than the 8 of before


def test_report_prints_every_section(quick):
    lines = []
    B.report(quick, say=lines.append)
    text = "\n".join(lines)
    for needle in ("SM4, the average of 1 run after", "3DES, the average", "wire time",
                   "firmware CPU", "flash per attempt", "smallest heap", "at 64k:",
                   "sync of 200 events", "115200 baud", "plain SQLite insert",
                   "the store's ratio to the plain insert"):
        assert needle in text, needle
