"""`padctl flash` and `padctl info`: a pad in service mode, through mpremote.

Flashing (DESIGN 8): reads the device's .mpy version and refuses a MicroPython this
mpy-cross cannot serve; takes the board from the device's sys.platform (esp32:
esp32_pinpad, linux: the emulated unix_sim) or --board, refused when the device is not
one; compiles the firmware and the board with mpy-cross (mpy.ARCH's flag); copies it with
mpremote into a version folder ``fw/<tag>/`` (a file already on the pad is not sent again:
one that is in the folder with the right hash is kept, one that the running version has
is copied on the pad); verifies the SHA-256 of every file on the pad against the build's
manifest; writes the root files (``boot.py``, ``main.py``, the board's ``service.mpy``)
each as a new file renamed over the old; then writes the switch file ``fw.cur`` (a new
file renamed over the old: one step), so a copy cut at any point leaves the old firmware
(or none: service mode). Then it provisions the pad (pad id, region, link key from the key
service, a new journal epoch) when it is not yet provisioned or with ``--reprovision``,
which refuses while the journal holds unsynced events, checks the result, removes the old
version folders and resets the pad into normal mode.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

from . import mpy

BOARDS = {"linux": "unix_sim", "esp32": "esp32_pinpad"}  # sys.platform -> boards/<name>
PLATFORMS = {b: p for p, b in BOARDS.items()}  # boards/<name> -> the sys.platform it runs on
ROOT_FILES = ("boot.py", "main.py", "service.mpy")
EXCLUDE = ("boot.mpy", "service.mpy", "provision.mpy")  # not in the version folder
MPY_RELEASES = {3: "1.9.3 to 1.10", 4: "1.11", 5: "1.12 to 1.18", 6: "1.19 or later"}

# The root main.py (the same for every firmware version, so a new version needs no change
# to it): the firmware's composition root is fw/<tag>/main.mpy, first on sys.path.
MAIN_PY = b"""\
# main.py, written by padctl flash (the same for every firmware version): runs the firmware
# boot.py selected (fw/<tag>/main.mpy, first on sys.path). In normal mode it never returns:
# a firmware that cannot start is retried after a reset, never the REPL. In service mode it
# returns, and the REPL starts.
import sys
import service
if not service.active():
    sys.modules.pop("service", None)  # read once: its RAM goes back to the pad
    del service
    try:
        if "/fw/" in sys.path[0]:
            import main
    except Exception as e:
        sys.print_exception(e, sys.stderr)
    import time
    time.sleep(2)
    import machine
    machine.reset()
"""

_HASH_CODE = """\
import os, hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()
def _walk(d):
    try:
        es = list(os.ilistdir(d))
    except OSError:
        return
    for e in es:
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            _walk(p)
        else:
            print(p, _h(p))
def _files(ps):
    for p in ps:
        try:
            print(p, _h(p))
        except OSError:
            pass
"""


class FlashError(Exception):
    """A flash or info that could not go on; str() is the message for the technician."""


def link_key(keystore, region, pad_id):
    """The pad's link key from the key service (the one call into it: padctl.keys today)."""
    from .keys import Keystore, KeystoreError
    try:
        return Keystore.load(keystore).pad_link_key(region, pad_id)
    except (KeystoreError, ValueError, OSError) as e:
        raise FlashError("key service: %s" % e) from None


# --- the device ---------------------------------------------------------------------

class Device:
    """A pad in service mode on a port, in the raw REPL (mpremote's SerialTransport)."""

    def __init__(self, port, timeout=4.0):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        self.port = port
        try:
            self.t = SerialTransport(port, baudrate=115200)
        except (TransportError, OSError) as e:
            raise FlashError("cannot open %s: %s" % (port, e)) from None
        try:
            self._probe(timeout)
            self.t.enter_raw_repl(soft_reset=True, timeout_overall=10)
        except FlashError:
            self.close()
            raise
        except (TransportError, OSError) as e:
            self.close()
            raise FlashError("%s: the device does not answer as MicroPython's REPL (%s)"
                             % (port, e)) from None

    def _read(self, seconds, until=None):
        s, got = self.t.serial, b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n = s.in_waiting
            if n:
                got += s.read(n)
                if until and until in got:
                    break
            else:
                time.sleep(0.02)
        return got

    def _probe(self, timeout):
        """A REPL answers Ctrl-A with the raw REPL's banner; a pad in normal mode answers
        only host-protocol frames; a dead port answers nothing."""
        s = self.t.serial
        s.write(b"\r\x03\x03")
        self._read(0.3)
        s.write(b"\r\x01")
        if b"raw REPL; CTRL-B to exit" in self._read(timeout, b"raw REPL; CTRL-B to exit"):
            return
        s.write(b"#00\n")  # a frame too short: a pad in normal mode answers an ERROR frame
        got = self._read(1.5, b"\n")
        if re.search(rb"(#[0-9a-f]+|\$[A-Za-z0-9+/]+)\n", got):  # hex or base64 (9.2)
            raise FlashError("%s: the pad is in normal mode (it speaks only the host protocol, "
                             "no REPL): hold the service strap while you reset it, then run "
                             "this again" % self.port)
        raise FlashError("%s: no answer from the device (is it powered, and is this its port?)"
                         % self.port)

    def exec(self, code):
        from mpremote.transport import TransportError, TransportExecError
        try:
            return self.t.exec(code)
        except TransportExecError as e:
            last = (e.error_output or "").strip().splitlines()
            if os.getenv("PADCTL_DEBUG"):
                print(code[:300], e.error_output, file=sys.stderr)
            raise FlashError("the pad says: %s" % (last[-1] if last else "error")) from None
        except (TransportError, OSError) as e:
            raise FlashError("link to the pad lost: %s" % e) from None

    def eval(self, code):
        out = self.exec(code).decode().strip()
        try:
            return json.loads(out.splitlines()[-1])
        except (ValueError, IndexError):
            raise FlashError("unexpected answer from the pad: %r" % out[-200:]) from None

    def facts(self):
        """[sys.platform, .mpy version, MicroPython version, cwd, the port's machine name
        (sys.implementation._machine, e.g. "Generic ESP32 module with ESP32")]."""
        return self.eval("import sys, os, json\nprint(json.dumps([sys.platform, "
                         "sys.implementation._mpy, list(sys.implementation.version), "
                         "os.getcwd(), getattr(sys.implementation, '_machine', '')]))")

    def info(self, held=0):
        """svcmode.info() of the firmware on the pad, or what can be read without it. held:
        the last seq of the pad's epoch that the host's store holds (unsynced counts after
        it too)."""
        try:
            return self.eval("import svcmode\nsvcmode.show(%d)" % held)
        except FlashError as e:  # no firmware, or one whose tools fail: what can be read
            why = str(e)
        d = self.eval("import json, os\ntry:\n with open('fw.cur') as f: fw = f.read().strip()"
                      "\nexcept OSError:\n fw = None\ntry:\n with open('config.json') as f: "
                      "c = json.load(f)\nexcept (OSError, ValueError):\n c = {}\n"
                      "c = c if isinstance(c, dict) else {}\n"
                      "st = os.statvfs('.')\nprint(json.dumps({'firmware': fw, 'pad_id': "
                      "c.get('pad_id'), 'region': c.get('region'), 'provisioned': "
                      "bool(c.get('link_key')), 'fs_free': st[0] * st[3]}))")
        d["tools_error"] = why
        return d

    def hashes(self, folder=None, files=()):
        """{path: sha256 hex} of the files under folder, or of the files named (one line
        each: no large string on the pad's heap)."""
        self.exec(_HASH_CODE)
        out = self.exec("_walk(%r)" % folder if folder else "_files(%r)" % list(files))
        return dict(line.split() for line in out.decode().splitlines() if line.strip())

    def write(self, path, data):
        from mpremote.transport import TransportError, TransportExecError
        try:
            self.t.fs_writefile(path, data, chunk_size=256)
        except (TransportError, TransportExecError, OSError) as e:
            raise FlashError("copy of %s interrupted: %s" % (path, e)) from None

    def soft_reset(self):
        from mpremote.transport import TransportError
        try:
            self.t.enter_raw_repl(soft_reset=True)
        except (TransportError, OSError) as e:
            raise FlashError("the pad did not come back from a soft reset: %s" % e) from None

    def reset(self):
        """Hard reset (the service session ends: the pad boots in normal mode)."""
        try:
            self.exec("import service\nservice.clear()")
            self.t.exec_raw_no_follow("import machine\nmachine.reset()")
        except Exception:
            pass

    def close(self):
        try:
            self.t.close()
        except Exception:
            pass


# --- the build ----------------------------------------------------------------------

def mpy_cross_version(sub=False):
    """The .mpy major version our mpy-cross emits (sub: (major, sub-version))."""
    r = subprocess.run([mpy.mpy_cross(), "--version"], capture_output=True, text=True)
    m = re.search(r"mpy v(\d+)(?:\.(\d+))?", r.stdout)
    if not m:
        raise FlashError("mpy-cross: cannot read its version (%s)" % r.stdout.strip())
    v = int(m.group(1))
    return ((v, int(m.group(2) or 0)) if sub else v), r.stdout.strip()


def firmware_version():
    m = re.search(r'^VERSION = "([^"]+)"', (mpy.FIRMWARE / "app.py").read_text(), re.M)
    return m.group(1) if m else "0"


def package(board):
    """(tag, {device path: bytes}) of the build: fw/<tag>/... and the root files."""
    if not (mpy.ROOT / "boards" / board / "board.py").exists():
        raise FlashError("board %s has no board.py yet: nothing to flash for it" % board)
    try:
        out = mpy.build(board)
    except RuntimeError as e:
        raise FlashError(str(e)) from None
    files = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and rel not in EXCLUDE and ".tmp" not in p.name:
            files[rel] = p.read_bytes()
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    tag = "%s-%s" % (firmware_version(), digest.hexdigest()[:8])
    pkg = {"fw/%s/%s" % (tag, rel): data for rel, data in files.items()}
    pkg["boot.py"] = (mpy.FIRMWARE / "boot.py").read_bytes()
    pkg["main.py"] = MAIN_PY
    pkg["service.mpy"] = (out / "service.mpy").read_bytes()
    return tag, pkg


def sha(data):
    return hashlib.sha256(data).hexdigest()


# --- flashing -----------------------------------------------------------------------

def pick_board(platform, machine="", wanted=None):
    """The board to build for a device of this sys.platform: `wanted` (--board) when the
    device is one (else refused, naming both), or the platform's board."""
    found = BOARDS.get(platform)
    what = "%s (%s)" % (platform, machine) if machine else platform
    if wanted:
        if wanted not in PLATFORMS:
            raise FlashError("--board %s: no such board (boards: %s)"
                             % (wanted, ", ".join(sorted(PLATFORMS))))
        if PLATFORMS[wanted] != platform:
            raise FlashError("--board %s is firmware for a device whose sys.platform is %s, "
                             "but this device runs MicroPython for %s%s; nothing was written"
                             % (wanted, PLATFORMS[wanted], what,
                                " (its board is %s)" % found if found else ""))
        return wanted
    if found is None:
        raise FlashError("no board for a device of platform %s (boards: %s)"
                         % (what, ", ".join("%s for %s" % (b, p) for b, p in
                                            sorted(PLATFORMS.items()))))
    return found


def check_mpy(dev_mpy, dev_version, native=False):
    """Refuses a device whose MicroPython cannot load this mpy-cross's files: another .mpy
    version; and, for a build whose files name an architecture (native code: none today,
    mpy-cross writes no arch into bytecode-only files even with -march), another
    sub-version too (MicroPython checks it only for those)."""
    (ours, osub), text = mpy_cross_version(sub=True)
    theirs, tsub = dev_mpy & 0xFF, (dev_mpy >> 8) & 3
    if theirs == ours and native and tsub != osub:
        v = ".".join(map(str, dev_version))
        raise FlashError(
            "the device runs MicroPython %s (.mpy v%d.%d); this firmware's native code is "
            "compiled by %s (.mpy v%d.%d): the device's MicroPython is too %s (flash a "
            "MicroPython whose .mpy is v%d.%d first)" % (v, theirs, tsub, text, ours, osub,
                                                        "old" if tsub < osub else "new",
                                                        ours, osub))
    if theirs != ours:
        v = ".".join(map(str, dev_version))
        raise FlashError(
            "the device runs MicroPython %s (.mpy v%d, MicroPython %s); this firmware is "
            "compiled by %s (.mpy v%d, MicroPython %s): the device's MicroPython is too %s"
            % (v, theirs, MPY_RELEASES.get(theirs, "unknown"), text, ours,
               MPY_RELEASES.get(ours, "?"), "old" if theirs < ours else "new"))


def held_by_host(db, info):
    """The last seq of the pad's current epoch the event store holds (0: none, or no store)."""
    from .store import Store, StoreError, default_path
    from pathlib import Path
    if not info.get("pad_id") or info.get("epoch") is None:
        return 0
    if not Path(db or default_path()).exists():
        return 0
    try:
        with Store(db) as s:
            c = s.chain(info["pad_id"].lower(), info["epoch"])
    except (StoreError, OSError, ValueError):
        return 0
    return c.head_seq if c else 0


def _info(dev, db):
    """The pad's facts, its unsynced events counted after what the host's store holds."""
    d = dev.info()
    held = held_by_host(db, d)
    return dev.info(held) if held > d.get("acked", 0) else d


def flash(port, keystore=None, region=None, pad_id=None, reprovision=False, lang="en",
          epoch=0, out=print, sync_first=False, db=None, wait=120.0, board=None):
    dev = Device(port)
    try:
        if board:  # a wrong --board is refused before anything else
            f = dev.facts()
            pick_board(f[0], f[4] if len(f) > 4 else "", board)
        if reprovision and sync_first:
            before = _info(dev, db)
            if before.get("provisioned") and before.get("unsynced"):
                dev = _sync_first(dev, keystore, before, db, wait, out)
        return _flash(dev, keystore, region, pad_id, reprovision, lang, epoch, out, db,
                      board)
    finally:
        dev.close()


def _sync_first(dev, keystore, before, db, wait, out):
    """The pad holds unsynced events: reset it into normal mode, sync it (padctl sync, with
    its link key from the key service), then wait for the technician to hold the strap and
    reset it again. Returns the Device in service mode again."""
    from .sync import SyncError, sync
    if not keystore:
        raise FlashError("--sync-first needs --keystore (the pad's link key)")
    key = link_key(keystore, before["region"], before["pad_id"])
    port = dev.port
    out("the pad holds %d unsynced journal records: resetting it into normal mode to sync"
        % before["unsynced"])
    dev.reset()
    dev.close()
    time.sleep(2.0)
    try:
        res = sync(port, db, link_key=key, patience=30.0)
    except SyncError as e:
        raise FlashError("sync before re-provisioning: %s; nothing was re-provisioned" % e)
    out("synced: %d record(s) stored, acknowledged up to %d" % (res.stored, res.acked))
    out("now hold the service strap and reset the pad (waiting %d s)" % wait)
    end = time.monotonic() + wait
    while True:
        try:
            return Device(port, timeout=1.0)
        except FlashError as e:
            if time.monotonic() > end:
                raise FlashError("the pad did not come back in service mode: %s" % e)
            time.sleep(0.5)


def _flash(dev, keystore, region, pad_id, reprovision, lang, epoch, out, db=None,
           wanted=None):
    platform, dev_mpy, dev_version, cwd, machine = dev.facts()
    board = pick_board(platform, machine, wanted)
    check_mpy(dev_mpy, dev_version)
    before = _info(dev, db) if reprovision else dev.info()
    held = held_by_host(db, before) if reprovision else 0
    old = before.get("firmware")
    # provisioning: decided before anything is written
    prov = None
    if before.get("provisioned") and not reprovision:
        if pad_id and pad_id.upper() != (before.get("pad_id") or "").upper():
            raise FlashError("the pad is provisioned as %s: give --reprovision to make it %s"
                             % (before.get("pad_id"), pad_id.upper()))
    else:
        if before.get("provisioned") and "unsynced" not in before:
            raise FlashError("the pad's journal cannot be read (%s): its unsynced records are "
                             "unknown; re-provisioning refused" % before.get("tools_error"))
        if before.get("provisioned") and before.get("unsynced"):
            raise FlashError("the pad holds %d unsynced journal records: sync it first "
                             "(padctl sync, in normal mode); nothing was changed"
                             % before["unsynced"])
        pad_id = (pad_id or before.get("pad_id") or "").upper()
        region = region or before.get("region")
        if not (pad_id and region and keystore):
            raise FlashError("the pad is not provisioned: give --pad-id, --region and "
                             "--keystore (the key service)")
        if not re.fullmatch(r"[0-9A-F]{16}", pad_id) or not re.fullmatch(r"\d{6}", region):
            raise FlashError("--pad-id is 16 hex digits, --region 6 digits (PPCCDD)")
        key = link_key(keystore, region, pad_id)
        prov = {"pad_id": pad_id, "region": region, "link_key": key.hex().upper(),
                "lang": lang}
    tag, pkg = package(board)
    if any(p.endswith(".mpy") and d[2] >> 2 for p, d in pkg.items()):  # an arch: native
        check_mpy(dev_mpy, dev_version, native=True)
    # the version folder: the build's tag, never the live folder (a damaged live folder of
    # this very build is repaired in a second folder, tag-r, and the switch moves to it)
    src = "fw/%s/" % tag
    rels = {p[len(src):]: pkg.pop(p) for p in list(pkg) if p.startswith(src)}
    live = dev.hashes(folder="fw/" + old) if old else {}
    ftag = tag
    if old in (tag, tag + "-r"):
        n = len("fw/%s/" % old)
        if {p[n:]: h for p, h in live.items()} == {r: sha(d) for r, d in rels.items()}:
            ftag = old  # up to date: nothing to write (verified again below)
        else:
            ftag = tag + "-r" if old == tag else tag
    folder = "fw/" + ftag
    for rel, data in rels.items():
        pkg["%s/%s" % (folder, rel)] = data
    out("pad on %s: MicroPython %s (%s), firmware %s; flashing %s"
        % (dev.port, ".".join(map(str, dev_version)), board, old or "none", ftag))
    dev.exec("import os\nfor d in ('fw', %r):\n try:\n  os.mkdir(d)\n except OSError:\n  pass"
             % folder)
    have = dev.hashes(folder=folder)
    for p in sorted(set(have) - {"%s/%s" % (folder, r) for r in rels}):
        dev.exec("import os\nos.remove(%r)" % p)  # left by an earlier build: not live
    cur = live if old != ftag else {}
    by_hash = {h: p for p, h in cur.items()}
    names = ["%s/%s" % (folder, rel) for rel in rels]
    sent = 0
    for i, path in enumerate(names, 1):
        data = pkg[path]
        h = sha(data)
        if have.get(path) == h:
            how = "on the pad"
        elif h in by_hash:
            d = path.rsplit("/", 1)[0]
            dev.exec("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass\n"
                     "with open(%r, 'rb') as s, open(%r, 'wb') as d:\n"
                     " while True:\n  b = s.read(512)\n  if not b:\n   break\n  d.write(b)"
                     % (d, by_hash[h], path))
            how = "unchanged (copied on the pad)"
        else:
            d = path.rsplit("/", 1)[0]
            if d != folder:
                dev.exec("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % d)
            dev.write(path, data)
            sent += 1
            how = "sent"
        out("[%2d/%d] %-40s %7d B  %s" % (i, len(names), path[len(folder) + 1:], len(data), how))
    # every file of the version folder, on the pad, against the manifest
    got = dev.hashes(folder=folder)
    want = {p: sha(pkg[p]) for p in names}
    bad = sorted(p for p in want if got.get(p) != want[p])
    extra = sorted(set(got) - set(want))
    if bad or extra:
        p = (bad or extra)[0]
        why = ("missing" if p not in got else "not in the build" if p not in want
               else "sha256 %s on the pad, %s in the build" % (got[p][:16], want[p][:16]))
        raise FlashError("verification failed: %s %s (%d file(s) wrong); the switch was not "
                         "written: the pad keeps firmware %s; run padctl flash again"
                         % (p, why, len(bad) + len(extra), old or "none (service mode)"))
    out("verified: %d files, sha256 of each as in the build manifest" % len(names))
    # the root files, each replaced in one step
    roots = dev.hashes(files=list(ROOT_FILES))
    for rf in ROOT_FILES:
        h = sha(pkg[rf])
        if roots.get(rf) == h:
            continue
        dev.write(rf + ".new", pkg[rf])
        if dev.hashes(files=[rf + ".new"]).get(rf + ".new") != h:
            raise FlashError("verification failed: %s (hash mismatch); the pad keeps firmware "
                             "%s; run padctl flash again" % (rf, old or "none"))
        dev.exec("import os\nos.rename(%r, %r)" % (rf + ".new", rf))
        out("root %s replaced" % rf)
    # the switch: the new firmware is live in one step
    dev.write("fw.new", ftag.encode())
    if dev.hashes(files=["fw.new"]).get("fw.new") != sha(ftag.encode()):
        raise FlashError("verification failed: the switch file; the pad keeps firmware %s"
                         % (old or "none"))
    dev.exec("import os\nos.rename('fw.new', 'fw.cur')")
    out("switched: firmware %s is live (%d file(s) sent)" % (ftag, sent))
    dev.soft_reset()
    if prov is not None:
        r = dev.eval("import svcmode, json\nsvcmode.provision(json.loads(%r), %d, False, %d)"
                     % (json.dumps(prov), epoch, held))
        out("provisioned: pad %s, region %s, epoch %d (after %d)"
            % (prov["pad_id"], prov["region"], r["epoch"], r["before"]))
    after = dev.info()
    if after.get("firmware") != ftag:
        raise FlashError("the pad reports firmware %s after the switch, not %s"
                         % (after.get("firmware"), ftag))
    if prov is not None and (after.get("pad_id") != prov["pad_id"] or
                             after.get("region") != prov["region"] or
                             not after.get("provisioned")):
        raise FlashError("provisioning did not take: the pad reports %s" % after)
    for d in dev.eval("import os, json\nprint(json.dumps([e[0] for e in os.ilistdir('fw')]))"):
        if d != ftag:
            dev.exec(_RMTREE + "_rm('fw/%s')" % d)
            out("removed old firmware fw/%s" % d)
    dev.reset()
    out("pad %s: firmware %s, epoch %s; reset into normal mode"
        % (after.get("pad_id"), ftag, after.get("epoch")))
    return after


_RMTREE = """\
import os
def _rm(p):
    for e in list(os.ilistdir(p)):
        q = p + '/' + e[0]
        if e[1] == 0x4000:
            _rm(q)
        else:
            os.remove(q)
    os.rmdir(p)
"""


def info(port, db=None):
    dev = Device(port)
    try:
        return _info(dev, db)
    finally:
        dev.close()


# --- the command line ---------------------------------------------------------------

def do_flash(args):
    from .cli import CommandError
    try:
        flash(args.port, args.keystore, args.region, args.pad_id, args.reprovision,
              args.lang, args.epoch, out=(lambda s: None) if args.json else
              (lambda s: print(s, flush=True)), sync_first=args.sync_first, db=args.db,
              wait=args.wait, board=args.board)
    except FlashError as e:
        raise CommandError("flash: %s" % e)
    return 0


def do_info(args):
    from .cli import CommandError
    try:
        d = info(args.port, args.db)
    except FlashError as e:
        raise CommandError("info: %s" % e)
    if args.json:
        print(json.dumps(d, indent=1))
        return 0
    print("pad %s, region %s, %s" % (d.get("pad_id") or "-", d.get("region") or "-",
                                     "provisioned" if d.get("provisioned") else "NOT provisioned"))
    print("firmware %s" % (d.get("firmware") or "none"))
    if "epoch" in d:
        print("journal epoch %d, head %d, acknowledged up to %d, %d unsynced event(s), room "
              "for %d records" % (d["epoch"], d["head"], d["acked"], d["unsynced"],
                                  d["free_records"]))
    elif d.get("journal_error"):
        print("journal: %s" % d["journal_error"])
    print("filesystem free: %d bytes" % d.get("fs_free", 0))
    return 0


def add_arguments(sub):
    p = sub.add_parser("flash", help="flash and provision a pad in service mode (mpremote)",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--port", required=True, help="the pad's serial port (or the emulator's pty)")
    p.add_argument("--keystore", help="key service: the keystore holding the city link root")
    p.add_argument("--region", help="the pad's region code PPCCDD")
    p.add_argument("--pad-id", help="the pad's id, 16 hex digits")
    p.add_argument("--reprovision", action="store_true",
                   help="provision an already provisioned pad again (a new journal epoch; "
                        "refused while it holds unsynced records)")
    p.add_argument("--sync-first", action="store_true",
                   help="with --reprovision: when the pad holds unsynced records, reset it into "
                        "normal mode, sync it, then wait for it in service mode again")
    p.add_argument("--db", help="the event store holding the pad's synced records (with "
                                "--reprovision; default: padctl sync's)")
    p.add_argument("--wait", type=float, default=120.0,
                   help="seconds to wait for the pad back in service mode (--sync-first)")
    p.add_argument("--board", choices=sorted(PLATFORMS),
                   help="the board to build for (default: the device's, from its "
                        "sys.platform: esp32 -> esp32_pinpad, linux -> unix_sim); one the "
                        "device is not is refused")
    p.add_argument("--epoch", type=int, default=0, help="the new epoch at least this")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--json", action="store_true", help="no progress lines")
    p.set_defaults(func=do_flash)
    p = sub.add_parser("info", help="a pad's id, firmware, epoch, journal head and free space",
                       description="Reads, from a pad in service mode, its id, region, "
                                   "firmware version, journal epoch, head, acknowledged mark "
                                   "and unsynced events, and free space; no keystore needed.")
    p.add_argument("--port", required=True)
    p.add_argument("--db", help="the event store: unsynced events are counted after what it "
                                "holds (default: padctl sync's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=do_info)


__all__ = ["flash", "info", "FlashError", "Device", "package", "link_key"]
