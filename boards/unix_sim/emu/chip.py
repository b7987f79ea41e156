# The emulated pad's chip (`padctl emulate`, host_tools/padctl/emulate.py): what
# MicroPython's C runtime does on a board, for the unix port. At each start (a power-up, a
# hard reset or a soft reboot: the emulator starts a new process for each, so every boot
# has a clean heap) it mounts the littlefs partition of the flash image at /flash (never
# formatting it), makes /flash the working directory, runs boot.py, then main.py unless
# the REPL was in raw mode, then the REPL (repl.py: loaded only when main.py returns).
# Not firmware: the firmware is what is flashed onto /flash.
#
# Environment (set by the emulator): PAD_FLASH the image, PAD_REPL "raw" after a soft
# reboot from the raw REPL, PAD_EMU the folder of this file. Exit status: 75 hard reset
# (machine.reset(), or the board's reset), 78 the same into the link-first boot, 76 soft
# reboot into the friendly REPL, 77 into the raw REPL.
import os
import sys

_BS = 4096
_LFS_BLOCKS = 128  # boards/unix_sim/flash.py: the littlefs partition, blocks 0-127
_HARD = 75
_HARD_LINK = 78  # a hard reset into the link-first boot (the board's reset, app.py)


class _Part:
    """The littlefs partition of the image: the flash chip as the chip's own driver sees it."""

    def __init__(self, f):
        self.f = f

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * _BS + off)
        got = self.f.readinto(buf) or 0
        for i in range(got, len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * _BS + off)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 6:  # erase
            self.f.seek(arg * _BS)
            self.f.write(b"\xff" * _BS)
        return _LFS_BLOCKS if op == 4 else _BS if op == 5 else 0


class _Machine:
    """`machine` as a board has it, for what the REPL's users call (mpremote reset)."""

    def __init__(self, real):
        self._real = real

    def reset(self):
        raise SystemExit(_HARD)

    def soft_reset(self):
        raise SystemExit

    def __getattr__(self, name):
        return getattr(self._real, name)


def _corrupting(name):
    """open() whose files written with `name` in their path get the first byte of each
    write flipped: a copy corrupted on the way (test switch PAD_EMU_CORRUPT)."""
    real = open

    class W:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            return self.f.write(bytes((b[0] ^ 1,)) + bytes(b[1:]) if b else b)

        def __getattr__(self, n):
            return getattr(self.f, n)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    def o(path, mode="r", *a):
        f = real(path, mode, *a)
        return W(f) if name in path and "w" in mode else f
    return o


def run_file(name, g):
    """pyexec_file_if_exists: True unless the file asked for a soft reboot (SystemExit)."""
    try:
        os.stat(name)
    except OSError:
        return True
    try:
        with open(name) as f:
            code = compile(f.read(), name, "exec")
        g["__file__"] = name
        exec(code, g)
    except SystemExit as e:
        if e.value in (_HARD, _HARD_LINK):
            raise
        return False
    except BaseException as e:  # printed on the console, as the C runtime does
        sys.print_exception(e)
    return True


def main():
    raw = os.getenv("PAD_REPL") == "raw"
    emu = os.getenv("PAD_EMU") or "."
    img = open(os.getenv("PAD_FLASH"), "r+b")
    try:
        os.mount(os.VfsLfs2(_Part(img)), "/flash")
        os.chdir("/flash")
    except OSError as e:  # never formatted here: the REPL can still reach the pad
        sys.stderr.write("chip: littlefs does not mount: %r\n" % e)
    sys.path[:] = ["", "lib"]
    import machine
    sys.modules["machine"] = _Machine(machine)
    if os.getenv("PAD_EMU_MPY"):  # test switch: present another MicroPython (mpy version)
        sys.path.append(emu)
        import emusys
        sys.path.pop()
        emusys.install(int(os.getenv("PAD_EMU_MPY")))
    g = {"__name__": "__main__"}
    if os.getenv("PAD_EMU_CORRUPT"):  # test switch: line noise on files written via the REPL
        g["open"] = _corrupting(os.getenv("PAD_EMU_CORRUPT"))
    go = run_file("boot.py", g)
    if go and not raw:
        go = run_file("main.py", g)
    if go:
        sys.path.append(emu)
        import repl
        sys.path.remove(emu)
        return repl.run(g, raw)
    sys.stdout.write("MPY: soft reboot\r\n")
    return 77 if raw else 76


sys.exit(main())
