"""`padctl emulate`: an emulated pad behind a pty that behaves as a board's USB console.

The firmware runs on the unix-port MicroPython as it runs on a pad: flashed onto the
littlefs partition of a flash image (``DIR/flash.img``, which persists: a flash survives
a restart), started by an emulated chip (boards/unix_sim/emu/chip.py) that mounts it,
runs ``boot.py`` and ``main.py``, and gives the REPL (friendly, raw, raw-paste: stock
mpremote drives it) when ``main.py`` returns, i.e. in service mode. The service strap is
an option (held at the first power-up, or at a reset asked with SIGUSR1); SIGUSR2 is a
reset without it. A soft reboot and a hard reset each start a new process (a clean heap),
as a board does. The simulated world around it (PSAM slot, empty card slot, keypad and
display) comes from the simulator; its test keys are generated in ``DIR/keystore.json``.
"""
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

from padctl import mpy

EMU_SRC = mpy.ROOT / "boards" / "unix_sim" / "emu"
HARD, SOFT, SOFT_RAW, HARD_LINK = 75, 76, 77, 78  # (78: a reset into the link-first boot)
FLASH_BYTES = (128 + 168) * 4096  # boards/unix_sim/flash.py: littlefs + journal partitions
# the pad's 64 KB plus what the emulated chip keeps (its runtime, and the littlefs mount the
# firmware loads from: the simulator instead loads it from the host's files, unmounted):
# about 8 KB, measured at boot (64,064 bytes in use against 56,064 on the simulator)
EMU_HEAP = "80k"


class EmulatorError(RuntimeError):
    pass


def build_chip():
    """The chip's runtime compiled with mpy-cross into build/emu/ (it shares the heap with
    the firmware in normal mode: compiled, it costs no compiler RAM at boot)."""
    out = mpy.BUILD / "emu"
    out.mkdir(parents=True, exist_ok=True)
    for src in EMU_SRC.glob("*.py"):
        dst = out / (src.stem + ".mpy")
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        tmp = dst.with_name(dst.name + ".%d.tmp" % os.getpid())
        r = subprocess.run([mpy.mpy_cross(), "-O3", "-s", src.stem, "-o", str(tmp), str(src)],
                           capture_output=True, text=True)
        if r.returncode:
            raise EmulatorError("mpy-cross %s: %s" % (src, r.stderr))
        os.replace(tmp, dst)
    return out


def new_image(path):
    """A factory-fresh flash: erased, with an empty littlefs (as MicroPython's first boot on
    a board makes it), no firmware, no journal."""
    mpy.build()
    r = mpy.run_code("import flash; flash.create_image(%r)" % str(path), tests=False)
    if r.returncode:
        raise EmulatorError("cannot make the flash image: %s" % r.stderr.strip())


class Emulator:
    """The emulated pad. start() powers it up; the console is self.port (a pty)."""

    def __init__(self, workdir, region="110105", service=False, heap=EMU_HEAP, link=None,
                 env=None, log=None):
        self.dir = Path(workdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.region = region
        self.strap = service  # held at the next power-up / hard reset
        self.heap = heap
        self.link = Path(link) if link else None
        self.extra_env = dict(env or {})
        self.flash = self.dir / "flash.img"
        self.log_path = Path(log) if log else self.dir / "pad.log"
        self.proc = None
        self.service = False  # the mode of the current power session
        self.boots = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._reset_to = None
        self._world = None
        self._rtc = ""  # the chip's RTC memory (hex): kept over its own resets only

    # --- the world ------------------------------------------------------------------
    def _make_world(self):
        from padctl import keys as K
        from .slot import SlotServer
        from .ui_server import UiServer
        from .vpsam import VirtualPsam
        ks_path = self.dir / "keystore.json"
        self.keystore = ks_path
        ks = K.Keystore.load(ks_path) if ks_path.exists() else K.Keystore.generate(ks_path)
        psam = self.dir / "psam.json"
        if not psam.exists():
            K.write_psam(ks, psam, region=self.region)
        self.card_slot = SlotServer(name="card")
        self.psam_slot = SlotServer(name="psam")
        self.psam_slot.insert(VirtualPsam(psam))
        self.ui = UiServer()
        self._world = (self.card_slot, self.psam_slot, self.ui)

    # --- power ----------------------------------------------------------------------
    def start(self):
        if not self.flash.exists():
            new_image(self.flash)
        mpy.build()
        self.chip = build_chip()
        self._make_world()
        master, slave = pty.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self._pty = (master, slave)  # the slave stays open: the console never hangs up
        self.port = os.ttyname(slave)
        if self.link:
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(self.port)
        self._log = open(self.log_path, "ab")
        # the console's input reaches the chip through a pipe (kept across its restarts, as
        # the pty keeps what a board has not read yet): a Ctrl-C while a program runs in the
        # REPL becomes SIGINT, as a board's UART interrupt makes it KeyboardInterrupt
        self._in = os.pipe()
        self._running = False  # the chip says a REPL program runs ("@emu exec")
        threading.Thread(target=self._relay, daemon=True).start()
        self._thread = threading.Thread(target=self._power, daemon=True)
        self._thread.start()
        return self

    def _relay(self):
        master, w = self._pty[0], self._in[1]
        while not self._stop.is_set():
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            while b"\x03" in data and self.service:
                i = data.index(b"\x03")
                if i:
                    os.write(w, data[:i])
                with self._lock:
                    p = self.proc
                    if self._running and p and p.poll() is None:
                        p.send_signal(signal.SIGINT)
                    else:
                        os.write(w, b"\x03")
                data = data[i + 1:]
            if data:
                os.write(w, data)

    def _errors(self, f):
        """The chip's stderr: its REPL's state lines, the rest to the log."""
        for line in iter(f.readline, b""):
            if line.startswith(b"@emu "):
                self._running = line.strip() == b"@emu exec"
            else:
                try:
                    self._log.write(line)
                    self._log.flush()
                except (AttributeError, ValueError, OSError):  # closed: the emulator stopped
                    pass
        f.close()

    def _env(self, boot, raw):
        e = dict(os.environ)
        e.update({"MICROPYPATH": str(self.chip), "PAD_EMU": str(self.chip),
                  "PAD_FLASH": str(self.flash), "PAD_CARD": self.card_slot.addr,
                  "PAD_PSAM": self.psam_slot.addr, "PAD_UI": self.ui.addr, "PAD_LINK": "1",
                  "PAD_SERVICE": "1" if self.service else "0", "PAD_BOOT": boot,
                  "PAD_REPL": "raw" if raw else "", "PAD_RTC": str(self.dir / "rtc.bin"),
                  "PAD_RTC_DATA": self._rtc})
        e.update({k: str(v) for k, v in self.extra_env.items()})
        return e

    def _power(self):
        boot, raw = "hard", False
        while not self._stop.is_set():
            if boot == "hard":
                self.service = self.strap
                self.strap = False  # the technician lets go of the strap after the reset
            with self._lock:
                if self._stop.is_set():
                    return
                self.boots += 1
                self._running = False
                self.proc = subprocess.Popen(
                    [mpy.micropython(), "-X", "heapsize=" + self.heap, "-m", "chip"],
                    env=self._env(boot, raw), stdin=self._in[0], stdout=self._pty[0],
                    stderr=subprocess.PIPE, cwd=str(self.dir))
                threading.Thread(target=self._errors, args=(self.proc.stderr,),
                                 daemon=True).start()
            rc = self.proc.wait()
            if self._stop.is_set():
                return
            with self._lock:
                asked, self._reset_to = self._reset_to, None
            rtc = self.dir / "rtc.bin"  # RTC memory: kept over the chip's own resets
            self._rtc = rtc.read_bytes().hex() if rc in (HARD, HARD_LINK) and rtc.exists() \
                and asked is None else ""
            if rtc.exists():
                rtc.unlink()
            if asked is not None:  # a reset from outside (the reset button, the strap)
                self.strap = asked
                boot, raw = "hard", False
            elif rc in (SOFT, SOFT_RAW):
                boot, raw = "soft", rc == SOFT_RAW
            else:  # 75, 78: reset; anything else (a kill: a power cut) powers up again
                if rc not in (HARD, HARD_LINK):
                    self._log.write(b"emulator: the pad stopped (%d); power-up\n" % rc)
                    self._log.flush()
                    time.sleep(0.2)
                boot, raw = "hard", False

    def reset(self, service=False):
        """The reset button, with the service strap held or not."""
        with self._lock:
            self._reset_to = service
            if self.proc and self.proc.poll() is None:
                self.proc.kill()

    def stop(self):
        self._stop.set()
        with self._lock:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_thread", None):
            self._thread.join(5)
        for fd in getattr(self, "_pty", ()) + getattr(self, "_in", ()):
            try:
                os.close(fd)
            except OSError:
                pass
        self._pty = self._in = ()
        if self.link and self.link.is_symlink():
            self.link.unlink()
        for w in self._world or ():
            w.close()
        self._world = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run(args):
    """The `padctl emulate` command (its options: padctl.cli): runs until interrupted."""
    d = args.dir or "pad-emu"
    emu = Emulator(d, region=args.region, service=args.service, heap=args.heap or EMU_HEAP,
                   link=args.pty)
    try:
        emu.start()
    except (EmulatorError, OSError) as e:
        raise SystemExit("padctl: emulate: %s" % e)
    done = threading.Event()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, lambda *_: emu.reset(service=True))
    signal.signal(signal.SIGUSR2, lambda *_: emu.reset(service=False))
    where = "%s -> %s" % (args.pty, emu.port) if args.pty else emu.port
    print("pad emulator: console on %s; flash %s; keystore %s (test material); %s"
          % (where, emu.flash, emu.keystore,
             "service strap held at power-up" if args.service else "normal mode"))
    print("SIGUSR1 (kill -USR1 %d): reset with the service strap held; SIGUSR2: reset; "
          "Ctrl-C: power off" % os.getpid())
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


__all__ = ["Emulator", "EmulatorError", "run"]
