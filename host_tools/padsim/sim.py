"""The simulated world around a pad running on the unix port.

A Sim owns a key service of generated test keys (padctl.keysvc), a virtual card and a virtual PSAM in their slots, the
keypad/display server, and the pad's flash image; it starts the real firmware
(`firmware/main.py` under `micropython`) wired to them through PAD_* variables.
"""
import json
import os
import secrets
import signal
import subprocess
import threading
from pathlib import Path

from padctl import keys as K
from padctl.mpy import BOARD, HEAP, popen_mp, run_mp

from .slot import SlotServer
from .ui_server import UiServer
from .vcard import VirtualCard, card_state
from .vpsam import VirtualPsam


RESET_EXIT = 75  # boards/unix_sim/board.py: the pad asks to be reset
RESET_LINK_EXIT = 78  # the same, into a link-first boot (board.rtc b"L")


class SimError(RuntimeError):
    pass


# The simulator's key service (issue 8): a sealed software keystore in its folder (and a
# PKCS#11 token for 3DES when given one), roots generated in it at first use. Its
# passphrase is this constant: the whole folder is TEST MATERIAL.
SIM_PASSPHRASE = "padctl simulator - TEST MATERIAL"


def sim_keys(home, token=None):
    """The Keystore interface on the simulator's key service in ``home`` (made if new);
    ``token`` (module, label, pin) puts its 3DES roots in that token."""
    from padctl.keysvc.compat import ServiceKeystore
    from padctl.keysvc.service import KeyService
    if (Path(home) / "service.json").exists():
        svc = KeyService.open(home, SIM_PASSPHRASE, token[2] if token else None, who="sim")
    else:
        svc = KeyService.create(home, SIM_PASSPHRASE, token=token, scrypt_n=1 << 10, who="sim")
    svc.init()
    return ServiceKeystore(svc)


class Sim:
    def __init__(self, workdir, suite="SM4", region="110105", psam_region=None, psam_level=3,
                 lang="en", pin="123456", limit=3, last_failure_sw=0x6983, pad_limit=3,
                 card_limit=3, pad_id=None, card_slot=None, psam_slot=None, echo=None,
                 resume=False, token=None, ta1=None):
        """resume: keep the pad of an earlier run in workdir (sim.json: its id, current
        card, provisioned flash with its journal) instead of making a new one. ta1: the
        Fi/Di the card's and the PSAM's ATRs offer (e.g. 0x13; None: no TA1)."""
        self.ta1 = ta1
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        saved_path = self.dir / "sim.json"
        saved = None
        if resume and saved_path.exists():
            try:
                saved = json.loads(saved_path.read_text())
                if not (self.dir / saved["card"]).exists():
                    saved = None
            except (ValueError, KeyError, TypeError):
                saved = None
        if saved:
            pad_id = saved["pad_id"]
        self.ks = sim_keys(self.dir / "keysvc", token)
        self.suite = suite
        self.region = region
        self.pin = pin
        self.limit = limit
        self.last_failure_sw = last_failure_sw
        self.pad_id = pad_id or secrets.token_hex(8).upper()
        self.cards = 0
        if saved:
            self.cards = saved["cards"]
            self.card_path = self.dir / saved["card"]
            self._card_id = saved["card_id"]
        else:
            self.card_path = self.new_card()
        self.psam_path = self.dir / "psam.json"
        K.write_psam(self.ks, self.psam_path, suite=suite, region=psam_region or region,
                     level=psam_level)
        self.card_slot = SlotServer(name="card", **dict({"detect": True}, **(card_slot or {})))
        self.psam_slot = SlotServer(name="psam", **(psam_slot or {}))
        self.psam_slot.insert(VirtualPsam(self.psam_path, ta1=ta1))
        self.ui = UiServer(echo=echo)
        self.flash = self.dir / "flash.img"
        self.config = {"pad_id": self.pad_id, "lang": lang, "pin_timeout_s": 30,
                       "pad_limit": pad_limit, "card_limit": card_limit, "region": region,
                       "link_key": self.ks.pad_link_key(region, self.pad_id).hex().upper()}
        if saved and self.flash.exists() and saved.get("lang") == lang:
            self.epoch = saved.get("epoch")  # provisioned before: its journal goes on
        else:
            self.provision()
        self.lang = lang
        self.resume = resume
        self.save()
        self.proc = None
        self._log = None
        self._lock = threading.RLock()

    def save(self):
        """With resume: what a later run needs to go on with this pad (sim.json)."""
        if self.resume:
            (self.dir / "sim.json").write_text(json.dumps(
                {"pad_id": self.pad_id, "card": self.card_path.name, "cards": self.cards,
                 "card_id": self.card_id, "epoch": self.epoch, "lang": self.lang}))

    # --- the pad ------------------------------------------------------------------------
    def provision(self, epoch=None):
        """(Re-)provision the pad: its journal's epoch only grows (at least `epoch`)."""
        args = [self.flash, json.dumps(self.config)] + ([epoch] if epoch is not None else [])
        r = run_mp(BOARD / "provision.py", args, tests=False)
        if r.returncode != 0 or " epoch " not in r.stdout:
            raise SimError("provisioning failed: " + r.stdout + r.stderr)
        self.epoch = int(r.stdout.split(" epoch ")[1].split()[0])

    def env(self, extra=None):
        e = {"PAD_CARD": self.card_slot.addr, "PAD_PSAM": self.psam_slot.addr,
             "PAD_UI": self.ui.addr, "PAD_FLASH": self.flash, "PAD_LINK": "0"}
        if self.card_slot.detect_addr:  # the card-detect switch: insertion is an event
            e["PAD_CARD_DETECT"] = self.card_slot.detect_addr
        if extra:
            e.update(extra)
        return e

    def start(self, env=None, heap=HEAP, link=False):
        """Start the firmware; returns the Popen. Its stderr goes to pad.log. With link, its
        console (the host link) is the master side of a pty: self.port is the slave's path,
        what `padctl sync --port` opens."""
        self.stop()
        self._log = open(self.dir / "pad.log", "ab")
        e = dict(env or {})
        if link:
            import pty
            import tty
            master, slave = pty.openpty()
            tty.setraw(slave)
            self.port = os.ttyname(slave)
            self._pty = (master, slave)
            e["PAD_LINK"] = "1"
            stdin = stdout = master
        else:
            stdin, stdout = subprocess.DEVNULL, self._log
        self._rtc = self.dir / "rtc.bin"  # the board's RTC memory: a power-up loses it
        if self._rtc.exists():
            self._rtc.unlink()
        e["PAD_RTC"] = str(self._rtc)
        self._args = dict(env=self.env(e), heap=heap, stdin=stdin, stdout=stdout, stderr=self._log)
        with self._lock:
            self.proc = popen_mp("-m main", **self._args)
        self.resets = 0  # resets the pad asked for (a crash, or back from link-first)
        self.switches = 0  # resets into a link-first boot (the host spoke: app.py)
        threading.Thread(target=self._supervise, args=(self.proc,), daemon=True).start()
        return self.proc

    def _supervise(self, proc):
        """The board's reset line: a pad that exits with RESET_EXIT (RESET_LINK_EXIT: into
        its link-first boot) is powered up again, with what it kept in RTC memory."""
        while True:
            rc = proc.wait()
            if rc not in (RESET_EXIT, RESET_LINK_EXIT):
                return
            with self._lock:
                if self.proc is not proc:
                    return
                link = rc == RESET_LINK_EXIT
                if link:
                    self.switches += 1
                else:
                    self.resets += 1
                kept = b""  # RTC memory: what the pad kept over its reset
                if self._rtc.exists():
                    kept = self._rtc.read_bytes()
                    self._rtc.unlink()
                args = dict(self._args, env=dict(self._args["env"], PAD_RTC_DATA=kept.hex()))
                proc = self.proc = popen_mp("-m main", **args)

    def kill(self):
        """Power cut: SIGKILL the firmware (safe from any thread)."""
        with self._lock:
            proc, self.proc = self.proc, None  # the supervisor must not power it up again
            if proc and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self):
        self.kill()
        self.proc = None
        for fd in getattr(self, "_pty", ()):
            os.close(fd)
        self._pty = ()
        if self._log:
            self._log.close()
            self._log = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # --- cards --------------------------------------------------------------------------
    def new_card(self, **kw):
        """Personalise a fresh card (new serial) and make it the current one."""
        self.cards += 1
        path = self.dir / ("card%d.json" % self.cards)
        opts = dict(pin=self.pin, limit=self.limit, last_failure_sw=self.last_failure_sw)
        opts.update(kw)
        region = opts.pop("region", self.region)
        suite = opts.pop("suite", self.suite)
        self.ident = K.new_identity(suite, region)
        K.write_card(self.ks, path, self.ident, **opts)
        self._card_id = self.ident.card_id.hex().upper()
        self.card_path = path
        return path

    def insert(self, path=None):
        self.card_slot.insert(VirtualCard(path or self.card_path, ta1=self.ta1))

    def pull(self):
        self.card_slot.pull()

    def card_tries(self, path=None):
        return int(card_state(path or self.card_path)["tries"])

    @property
    def card_id(self):
        return self._card_id

    def close(self):
        self.stop()
        for s in (self.card_slot, self.psam_slot, self.ui):
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

