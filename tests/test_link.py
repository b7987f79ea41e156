"""The pad link end to end: the host's PadLink and sync against the firmware's LinkServer
running under micropython (tests/fw/drive_link.py) on pipes or a pty, with a journal
on a flash file. TEST MATERIAL: link keys and pad ids are generated at run time."""
import os
import pty
import random
import signal
import struct
import subprocess
import sys
import time
import tty

import pytest

from mp import FWTESTS, ROOT, popen_mp, run_code
from padctl import link as L
from padctl.store import Store, verify_records
from padctl.sync import SyncError, sync


def _harness():
    """MICROPYPATH for `-m drive_link` compiled with mpy-cross, as the firmware is: run from
    source, micropython compiles the harness on the 64 KB heap it shares with the link, a
    peak the pad never has (it failed to start by the length of a temporary path)."""
    from padctl.mpy import BUILD, build, mpy_cross
    src, out = FWTESTS / "drive_link.py", BUILD / "fwtests"
    dst = out / "drive_link.mpy"
    if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ("drive_link.%d.tmp" % os.getpid())
        subprocess.run([mpy_cross(), "-s", "drive_link", "-o", str(tmp), str(src)], check=True)
        os.replace(tmp, dst)
    return ":".join(str(p) for p in (out, FWTESTS, build()))


class Pad:
    """drive_link (compiled) under micropython: the firmware link on a flash file."""

    made = 0

    def __init__(self, tmp_path, n=0, journal="fake", use_pty=False, batch=None, key=None,
                 pad_id=None, epoch=1, env=None):
        self.tmp = tmp_path
        self.key = key or os.urandom(16)
        self.pad_id = pad_id or os.urandom(8)
        Pad.made += 1
        self.flash = tmp_path / ("pad-%s-%d.img" % (journal, Pad.made))
        self.env = dict(env or {}, LINK_EPOCH=epoch, MICROPYPATH=_harness())
        if batch:
            self.env["LINK_BATCH"] = batch
        self.heap = "64k"
        if journal == "real":
            self.env["LINK_JOURNAL"] = "real"
        self.use_pty = use_pty
        self.proc = None
        self.start(n)

    def start(self, n=0):
        args = [self.flash, self.key.hex(), self.pad_id.hex()] + ([n] if n else [])
        err = open(self.tmp / "pad.err", "ab")
        if self.use_pty:
            master, slave = pty.openpty()
            tty.setraw(slave)
            self.proc = popen_mp("-m drive_link", args, env=self.env, heap=self.heap,
                                 tests=True, stdin=master, stdout=master, stderr=err)
            os.close(master)
            self.slave = slave  # held open: the line stays up while hosts come and go
            self.port = os.ttyname(slave)
            self.stream = None
        else:
            self.proc = popen_mp("-m drive_link", args, env=self.env, heap=self.heap,
                                 tests=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            self.stream = L.FdStream(self.proc.stdout.fileno(), self.proc.stdin.fileno(), 0.01)
        err.close()

    def link(self, **kw):
        return L.PadLink(self.stream, self.key, self.pad_id, timeout=5.0, **kw)

    def kill(self):
        """The power cut: SIGKILL (the line's file descriptors stay open)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def restart(self):
        self.stop()
        self.start()

    def stop(self):
        """Close the line (EOF for the pad), wait for it, kill it if it lingers."""
        if self.proc is None:
            return
        if self.use_pty:
            os.close(self.slave)
        else:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def errors(self):
        p = self.tmp / "pad.err"
        return p.read_text(errors="replace") if p.exists() else ""


@pytest.fixture
def pads(tmp_path):
    made = []

    def make(*a, **kw):
        p = Pad(tmp_path, *a, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def db_seqs(db, pad):
    with Store(db) as s:
        return [r[0] for r in s.db.execute(
            "SELECT seq FROM records WHERE pad_id=? ORDER BY seq", (pad.pad_id.hex(),))]


# --- the frame codec ------------------------------------------------------------------

def test_host_frame_codec_round_trip_and_noise():
    for p in (b"H", bytes(range(256)), os.urandom(600)):
        f = L.encode_frame(p)
        assert f[:1] == b"#" and f[-1:] == b"\n" and all(c in b"0123456789abcdef" for c in f[1:-1])
        r = L.FrameReader()
        assert r.feed(b"\x03\x00junk\r\n" + f[:5]) == []
        assert r.feed(f[5:] + b"\x03") == [p]
    r = L.FrameReader()
    bad = bytearray(L.encode_frame(b"Hello"))
    bad[3] ^= 1  # one payload digit changes ('6' to '7'): the CRC no longer matches
    got = r.feed(bytes(bad) + b"#12#zz\n#123\n" + L.encode_frame(b"ok"))
    assert [str(g) if isinstance(g, Exception) else g for g in got] == [
        "frame CRC wrong", "frame cut by a new '#'", "frame with a non-hex character",
        "frame with an odd number of hex digits", b"ok"]


def test_firmware_and_host_frames_agree():
    # the host's frames (either case) reach the firmware's LinkServer; its answers, read
    # by the host, are byte for byte the host's encoding of their payloads
    key, pad = os.urandom(16), os.urandom(8)
    sent = [L.encode_frame(b"H" + os.urandom(16)), L.encode_frame(b"H" + os.urandom(16)).upper(),
            L.encode_frame(b"Z" + os.urandom(3)), b"#zz\n"]
    code = """
import sys
from binascii import unhexlify
import kdf
import link
from drive_link import FakeJournal
keys = kdf.Keys(unhexlify("%s"), unhexlify("%s"))
s = link.LinkServer(FakeJournal(None, keys.journal_mac), keys, {"version": "v"})
for f in %r:
    sys.stdout.write(bytes(s.feed(f)).decode())
""" % (key.hex(), pad.hex(), sent)
    # (the encoding, not the RAM: with the test's helpers loaded beside the link, 96 KB;
    # the link's RAM is held to its budget by tests/fw/test_link_cost.py, and the pad
    # syncs at 64 KB in the simulator tests)
    r = run_code(code, heap="96k")
    assert r.returncode == 0, r.stderr
    out = r.stdout.encode()
    got = L.FrameReader().feed(out)
    assert [p[:2] for p in got] == [b"h\x01", b"h\x01", bytes((L.ERROR, 3)), bytes((L.ERROR, 1))]
    assert out == b"".join(L.encode_frame64(p) for p in got)  # the pad writes base64


# --- HELLO, PULL, ACK -----------------------------------------------------------------

@pytest.mark.parametrize("journal", ["fake", "real"])
def test_hello_pull_ack_end_to_end(pads, journal):
    pad = pads(12, journal=journal)
    link = pad.link()
    h = link.hello()
    assert (h.pad_id, h.version, h.epoch, h.head, h.acked) == (pad.pad_id, "test-1.0", 1, 12, 0)
    b = link.pull(1, 8)
    assert (b.epoch, b.first, b.head, len(b.records)) == (1, 1, 12, 8)
    good, err = verify_records(b.records, pad.pad_id.hex(), 1, 0, bytes(16), link.keys.journal_mac)
    assert err is None and [r.seq for r in good] == list(range(1, 9))
    assert good[0].card_id[:3] == b"\x11\x01\x05" and good[0].kind == 6
    a = link.ack(8, good[-1].mac)
    assert (a.seq, a.acked) == (8, 8)
    b2 = link.pull(9, 8)
    assert [struct.unpack_from(">I", r, 8)[0] for r in b2.records] == list(range(9, b2.head + 1))
    h2 = link.hello()
    assert h2.acked == 8 and h2.nonce != h.nonce
    if journal == "fake":  # it reclaims at once; the real one a whole sector at a time
        with pytest.raises(L.PadRefused) as e:
            link.pull(1, 1)
        assert e.value.code == L.E_GONE
    assert not pad.errors()


def test_noise_and_ctrl_c_on_stdin_are_ignored(pads):
    pad = pads(3)
    pad.stream.write(b"\x03\x03\x03 hello \x00\x1b[A\r\n\x04")
    link = pad.link()
    assert link.hello().head == 3
    pad.stream.write(b"\x03" * 50 + b"#zz\n")  # Ctrl-C outside, a broken frame
    assert link._frame()[:2] == bytes((L.ERROR, 1))  # the pad's answer to the garbage
    assert len(link.pull(1, 8).records) == 3
    assert pad.proc.poll() is None


def test_pty_with_pyserial_and_ctrl_c(pads):
    pad = pads(5, use_pty=True)
    port = L.open_port(pad.port)
    try:
        port.write(b"\x03\x03\x03")
        link = L.PadLink(port, pad.key, pad.pad_id)
        assert link.hello().head == 5
        port.write(b"\x03")
        b = link.pull(1, 8)
        assert len(b.records) == 5
    finally:
        port.close()
    assert pad.proc.poll() is None


def test_wrong_pad_or_key_refused(pads):
    pad = pads(3)
    with pytest.raises(L.AuthError, match="not"):
        L.PadLink(pad.stream, pad.key, os.urandom(8)).hello()
    other = L.PadLink(pad.stream, os.urandom(16), pad.pad_id)
    with pytest.raises(L.AuthError, match="MAC wrong"):
        other.hello()
    # a PULL MACed with another key (in a genuine session): refused, journaled as TAMPER
    link = pad.link()
    other.session = link.hello()
    with pytest.raises(L.PadRefused) as e:
        other.pull(1, 3)
    assert e.value.code == L.E_MAC
    recs = link.pull(1, 8).records
    kinds = [r[1] for r in recs]
    assert kinds[-1] == 3 and recs[-1][36:39] == bytes((0x4C, L.PULL, L.E_MAC))


def test_pull_without_hello_and_old_ack_replayed_refused(pads):
    pad = pads(4)
    link = pad.link()
    link.session = L.Hello(pad.pad_id, 1, "", 1, 0, 0, 0, os.urandom(16))
    with pytest.raises(L.PadRefused) as e:
        link.pull(1, 4)
    assert e.value.code == L.E_REPLAY
    link.hello()
    recs = link.pull(1, 4).records
    old_ack = L.encode_frame(link.ack_request(1, 2, recs[1][44:60]))
    pad.stream.write(old_ack)  # the genuine ACK, sent once: accepted
    assert link._frame()[0] == L.ACK_OK
    link.hello()  # a new session: the old ACK is now a replay
    for _ in range(2):
        pad.stream.write(old_ack)
        p = link._frame()
        assert p[:2] == bytes((L.ERROR, L.E_REPLAY))
    # and the same ACK inside its session, sent again: stale
    a = link.ack(3, recs[2][44:60])
    assert a.acked == 3
    with pytest.raises(L.PadRefused) as e:
        link.ack(3, recs[2][44:60])
    assert e.value.code == L.E_STALE
    with pytest.raises(L.PadRefused) as e:  # an ACK naming a MAC the pad does not hold
        link.ack(4, bytes(16))
    assert e.value.code == L.E_MISMATCH
    h = link.hello()
    assert h.acked == 3
    kinds = [r[1] for r in link.pull(4, 8).records]
    # AUTH_REFUSED for the pull without HELLO and the two replays, then TAMPER
    assert kinds.count(15) == 3 and kinds[-1] == 3


class Mitm:
    """Between host and pad: rewrites the pad's answers with edit(payload) (keeping the
    frame CRC valid, so only the MAC can tell)."""

    def __init__(self, inner, edit):
        self.inner = inner
        self.edit = edit
        self.reader = L.FrameReader()

    def write(self, data):
        self.inner.write(data)

    def read(self, n=4096):
        data = self.inner.read(n)
        out = b""
        for p in self.reader.feed(data):
            out += L.encode_frame(self.edit(bytes(p)))
        return out


def test_forged_replayed_reordered_answers_refused(pads):
    pad = pads(6)
    seen = {}

    def forge(p):  # flip one byte of the second record's card id
        if p[0] == L.RECORDS:
            p = bytearray(p)
            p[14 + 64 + 25] ^= 1
        return bytes(p)

    def swap(p):  # reorder the first two records
        if p[0] == L.RECORDS and p[9] >= 2:
            p = p[:14] + p[78:142] + p[14:78] + p[142:]
        return p

    def replay(p):  # answer with the first answer of its type seen (a recorded line)
        return seen.setdefault(p[0], p) if p[0] in (L.HELLO_ANS, L.RECORDS) else p

    for edit in (forge, swap):
        m = L.PadLink(Mitm(pad.stream, edit), pad.key, pad.pad_id)
        m.hello()
        with pytest.raises(L.AuthError):
            m.pull(1, 3)
    m = L.PadLink(Mitm(pad.stream, replay), pad.key, pad.pad_id)
    m.hello()
    assert len(m.pull(1, 3).records) == 3  # the genuine answers, recorded
    with pytest.raises(L.AuthError):  # an old HELLO answer: not over this host nonce
        m.hello()
    m.session = pad.link().hello()  # a genuine new session...
    with pytest.raises(L.AuthError):  # ...gets the old PULL answer: bound to the old PULL
        m.pull(1, 3)


def test_host_sees_a_record_altered_in_flash(pads, tmp_path):
    pad = pads(10)
    pad.stop()
    raw = bytearray(pad.flash.read_bytes())
    off = 64 * 6  # record 7: change its data byte, then fix its CRC (the MAC it cannot fix)
    raw[off + 36] ^= 0xFF
    import zlib
    struct.pack_into(">I", raw, off + 60, zlib.crc32(bytes(raw[off:off + 60])))
    pad.flash.write_bytes(bytes(raw))
    pad.start()
    db = tmp_path / "ev.db"
    res = sync(pad.stream, db, pad.key, pad.pad_id, batch=4, quiet=0.01)
    # reported, then passed (DESIGN 6): record 7 kept raw with a TAMPERING alert, the
    # chain re-anchored at 8 (an alert too), everything after it stored and acknowledged
    assert any("pad %s: record 7: MAC does not chain" % pad.pad_id.hex() in a
               for a in res.alerts), res.alerts
    assert db_seqs(db, pad) == [q for q in range(1, res.head + 1) if q != 7]
    assert res.acked == res.head
    with Store(db) as s:
        alerts = s.alerts(pad.pad_id.hex())
        assert [a["seq"] for a in alerts if a["kind"] == "tampering"] == [7]
        assert any(a["kind"] == "re-anchor" and a["seq"] == 8 for a in alerts)
        assert [q["seq"] for q in s.quarantined(pad.pad_id.hex())] == [7]
    again = sync(pad.stream, db, pad.key, pad.pad_id)  # nothing new, no new alert
    assert again.stored == 0 and again.alerts == []


# --- broken syncs ---------------------------------------------------------------------

class Killed(BaseException):
    """The host process dying (nothing catches it, nothing is cleaned up by sync)."""


class Dying:
    """A stream whose host dies at its k-th write: before it, or just after it."""

    def __init__(self, inner, k, after):
        self.inner, self.k, self.after, self.n = inner, k, after, 0

    def read(self, n=4096):
        return self.inner.read(n)

    def write(self, data):
        self.n += 1
        if self.n == self.k and not self.after:
            raise Killed()
        self.inner.write(data)
        if self.n == self.k:
            raise Killed()


def check_exactly_once(db, pad):
    link = pad.link()
    h = link.hello()
    assert db_seqs(db, pad) == list(range(1, h.head + 1))
    assert h.acked == h.head
    with Store(db) as s:
        c = s.chain(pad.pad_id.hex(), 1)
        assert c.head_seq == h.head


@pytest.mark.parametrize("journal", ["fake", "real"])
def test_host_dies_at_every_write_and_reruns(pads, tmp_path, journal):
    # Count the requests of a whole sync, then for each one: a fresh pad and store, the
    # host dies just before it or just after it (then once more at a random request of
    # the re-run), and a last re-run completes: every record stored exactly once.
    rng = random.Random(os.urandom(8))
    probe = pads(9, journal=journal, batch=2)
    counter = Dying(probe.stream, 0, False)
    sync(counter, tmp_path / "probe.db", probe.key, probe.pad_id, batch=2, quiet=0.01)
    probe.stop()
    writes = counter.n
    assert writes >= 10
    for k in range(1, writes + 1):
        for after in (False, True):
            pad = pads(9, journal=journal, batch=2)
            db = tmp_path / ("ev-%d-%d.db" % (k, after))
            with pytest.raises(Killed):
                sync(Dying(pad.stream, k, after), db, pad.key, pad.pad_id, batch=2,
                     quiet=0.01)
            try:
                sync(Dying(pad.stream, rng.randint(1, writes), rng.random() < 0.5), db,
                     pad.key, pad.pad_id, batch=2, quiet=0.01)
            except Killed:
                pass
            sync(pad.stream, db, pad.key, pad.pad_id, batch=2, quiet=0.01)
            check_exactly_once(db, pad)
            assert not pad.errors()
            pad.stop()


def test_pad_dies_at_random_points_and_reruns(pads, tmp_path):
    rng = random.Random(os.urandom(8))
    pad = pads(6, batch=2)
    db = tmp_path / "ev.db"

    class PadDying:  # the pad loses power just after the host's k-th request
        def __init__(self, inner, k):
            self.inner, self.k, self.n = inner, k, 0

        def read(self, n=4096):
            return self.inner.read(n)

        def write(self, data):
            self.n += 1
            self.inner.write(data)
            if self.n == self.k:
                time.sleep(rng.random() * 0.003)
                pad.kill()

    deaths = 0
    for _ in range(12):
        try:
            sync(PadDying(pad.stream, rng.randint(1, 6)), db, pad.key, pad.pad_id, batch=2,
                 quiet=0.01)
        except SyncError as e:
            assert "link" in str(e)
            deaths += 1
        pad.stop()
        pad.start(3)  # and the pad journals more while it is up
    assert deaths >= 6
    sync(pad.stream, db, pad.key, pad.pad_id, batch=2, quiet=0.01)
    check_exactly_once(db, pad)


HOST = """
import sys
from padctl.sync import sync
sync(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4]), batch=1)
"""


def test_host_process_killed_at_random_times(pads, tmp_path):
    rng = random.Random(os.urandom(8))
    pad = pads(40, use_pty=True)
    db = tmp_path / "ev.db"
    cmd = [sys.executable, "-c", HOST, pad.port, str(db), pad.key.hex(), pad.pad_id.hex()]
    for _ in range(4):
        p = subprocess.Popen(cmd, cwd=str(ROOT), stderr=subprocess.DEVNULL)
        time.sleep(0.15 + rng.random() * 0.3)
        p.send_signal(signal.SIGKILL)
        p.wait(5)
    assert subprocess.run(cmd, cwd=str(ROOT), timeout=30).returncode == 0
    port = L.open_port(pad.port)
    try:
        pad.stream = port
        check_exactly_once(db, pad)
    finally:
        port.close()


# --- what a sync meets ----------------------------------------------------------------

def test_new_store_and_gap_are_anchored_with_warnings(pads, tmp_path):
    pad = pads(6, batch=4)
    first, late = tmp_path / "first.db", tmp_path / "late.db"
    assert sync(pad.stream, first, pad.key, pad.pad_id, quiet=0.01).stored == 6
    pad.stop()
    pad.start(5)
    res = sync(pad.stream, late, pad.key, pad.pad_id, quiet=0.01)  # a store new to the pad
    assert res.stored == 5 and "anchored at 7" in res.warnings[0]
    assert db_seqs(late, pad) == [7, 8, 9, 10, 11]
    pad.stop()
    pad.start(4)
    res = sync(pad.stream, first, pad.key, pad.pad_id, quiet=0.01)  # 7..11 went elsewhere
    assert any("records 7..11 were acknowledged elsewhere" in w for w in res.warnings)
    assert db_seqs(first, pad) == [1, 2, 3, 4, 5, 6, 12, 13, 14, 15]
    with Store(first) as s:
        assert [a["seq"] for a in s.alerts()] == [7]
    res = sync(pad.stream, late, pad.key, pad.pad_id, quiet=0.01)
    assert res.stored == 0 and res.warnings  # late holds up to 11, the pad acked 15


def test_rolled_back_journal_or_older_epoch_is_tampering(pads, tmp_path):
    pad = pads(5, epoch=2)
    pad.stop()
    saved = pad.flash.read_bytes(), open(str(pad.flash) + ".meta").read()
    pad.start(4)
    db = tmp_path / "ev.db"
    assert sync(pad.stream, db, pad.key, pad.pad_id, quiet=0.01).stored == 9
    pad.stop()
    pad.flash.write_bytes(saved[0])  # the flash as it was before (a copy put back)
    with open(str(pad.flash) + ".meta", "w") as f:
        f.write(saved[1])
    pad.start()
    with pytest.raises(SyncError, match="TAMPERING: pad %s: record 6: the pad's head is 5 but 9"
                       % pad.pad_id.hex()):
        sync(pad.stream, db, pad.key, pad.pad_id, quiet=0.01)
    older = pads(3, key=pad.key, pad_id=pad.pad_id, epoch=1)
    with pytest.raises(SyncError, match="epoch 1 is older than epoch 2"):
        sync(older.stream, db, pad.key, pad.pad_id, quiet=0.01)
    assert db_seqs(db, pad) == list(range(1, 10))


class StubLink:
    """A pad that answers what the test says (host logic only: no firmware here)."""

    def __init__(self, keys, head, batches):
        self.keys, self.head, self.batches, self.stream = keys, head, list(batches), None

    def drain(self, quiet):
        pass

    def hello(self):
        return L.Hello(self.keys.pad_id, 1, "stub", 1, self.head, 0, 100, bytes(16))

    def pull(self, first, count):
        return self.batches.pop(0)

    def ack(self, seq, mac):
        return L.Acked(1, seq, seq, 100)


def test_truncated_or_shrinking_answers_are_tampering(tmp_path):
    from padctl.sync import _sync
    keys = L.Keys(os.urandom(16), os.urandom(8))
    with Store(tmp_path / "ev.db") as s:
        with pytest.raises(SyncError, match="record 1: the pad reports head 4 but sent no record"):
            _sync(s, StubLink(keys, 4, [L.Batch(1, 1, 4, [])]), None, 8, 0)
        with pytest.raises(SyncError, match="record 3: the pad's head went back from 4 to 2"):
            _sync(s, StubLink(keys, 4, [L.Batch(1, 1, 2, [])]), None, 8, 0)
        assert [a["seq"] for a in s.alerts()] == [1, 3]


def test_packed_answers_rebuild_the_flash_slots_byte_for_byte(tmp_path):
    # protocol.md 9.3 on the pad itself: a journal of verifications (RTC times, 40 cards,
    # PENDING then PIN_OK), pulled at 64 KB in packed answers, rebuilt by the host: each
    # record is the slot on flash, byte for byte; the answers are far below 64 bytes a
    # record (figures: make bench)
    from padsim.bench_common import start_pad
    from padsim.bench_sync import CountingStream, fill_journal
    from padsim.sim import Sim
    with Sim(tmp_path / "pad") as sim:
        fill_journal(sim, 60)
        start_pad(sim, "64k", link=True)
        port = CountingStream(L.open_port(sim.port))
        try:
            link = L.PadLink(port, bytes.fromhex(sim.config["link_key"]))
            h = link.hello()
            got, nxt = [], 1
            while nxt <= h.head:
                b = link.pull(nxt)
                assert 0 < len(b.records) <= 12
                got += b.records
                nxt += len(b.records)
        finally:
            port.close()
        img = sim.flash.read_bytes()  # (the pad has written its BOOT record by now)
    slots = {}
    for o in range(0, len(img), 64):
        if img[o] == 0x4A:
            slots[struct.unpack_from(">I", img, o + 8)[0]] = img[o:o + 64]
    assert got == [slots[q] for q in range(1, h.head + 1)]
    assert port.received < 50 * len(got)  # 85 a record as base64 of the whole slot
