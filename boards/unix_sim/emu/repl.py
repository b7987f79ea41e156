# The emulated pad's REPL on its console: shared/runtime/pyexec.c of MicroPython, written
# for the unix port so that stock mpremote drives the emulator as it drives a board.
# Friendly REPL (echo, Ctrl-A raw REPL, Ctrl-B banner, Ctrl-C cancel, Ctrl-D soft reboot,
# Ctrl-E paste mode), raw REPL (Ctrl-A reset, Ctrl-B friendly, Ctrl-C clear, Ctrl-D run;
# an empty run is a soft reboot; output, 04, exception, 04), and raw-paste mode (05 'A' 01:
# a 128-byte window, 01 per window consumed). Loaded by chip.py only when main.py returns
# (service mode); not firmware. A running program is interrupted by Ctrl-C (the
# emulator sends SIGINT for a Ctrl-C that arrives while a program runs: this REPL tells it
# with the lines "@emu exec" / "@emu idle" on stderr, and a Ctrl-C that arrives while it
# reads the console is the byte 03 as on a board).
import sys

_HARD = 75
_FORCED = 0x100  # soft reboot
_TO_RAW = 1
_TO_FRIENDLY = 2
_WINDOW = 128  # MICROPY_REPL_STDIN_BUFFER_MAX 256, halved

_in = sys.stdin.buffer
_out = sys.stdout.buffer


def _w(s):
    _out.write(s if isinstance(s, bytes) else s.encode())


def _rd():
    try:
        b = _in.read(1)
    except KeyboardInterrupt:  # the emulator's SIGINT came late: the program had ended
        return 3
    if not b:  # the console is gone (the emulator closed it): power off
        raise SystemExit(0)
    return b[0]


def _run(src, g, mode, eof):
    """parse_compile_execute: 0, or _FORCED for a SystemExit (soft reboot). eof: the raw
    REPL's framing (04 after the output, 04 after the exception's)."""
    ret = 0
    err = sys.stderr
    try:
        err.write("@emu exec\n")  # a Ctrl-C now interrupts the program (KeyboardInterrupt)
        exec(compile(src, "<stdin>", mode), g)
        err.write("@emu idle\n")
        if eof:
            _w(b"\x04")
    except SystemExit as e:
        err.write("@emu idle\n")
        if e.value == _HARD:
            raise
        if eof:
            _w(b"\x04")
        ret = _FORCED
    except BaseException as e:
        err.write("@emu idle\n")
        if eof:
            _w(b"\x04")
        sys.print_exception(e, sys.stdout)
    if eof:
        _w(b"\x04")
    return ret


def _paste(cmd, g):
    if cmd != 0x41:  # 'A'
        _w(b"R\x00")
        return 0
    _w(b"R\x01")
    _w(bytes((_WINDOW & 0xFF, _WINDOW >> 8, 1)))
    buf = bytearray()
    left = _WINDOW
    while True:
        c = _rd()
        if c == 3 or c == 4:
            _w(b"\x04")  # end of data, to the host
            if c == 3:
                _w(b"\x04")
                _w(b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04")
                return 0
            break
        buf.append(c)
        left -= 1
        if not left:
            _w(b"\x01")  # another window is free
            left = _WINDOW
    return _run(bytes(buf).decode(), g, "exec", True)


def raw(g):
    _w("raw REPL; CTRL-B to exit\r\n")
    while True:
        line = bytearray()
        _w(">")
        while True:
            c = _rd()
            if c == 1:  # Ctrl-A
                if len(line) == 2 and line[0] == 5:  # 05 x 01: raw-paste
                    if _paste(line[1], g) & _FORCED:
                        return _FORCED
                    line = bytearray()
                    _w(">")
                    continue
                _w("raw REPL; CTRL-B to exit\r\n")
                line = bytearray()
                _w(">")
            elif c == 2:  # Ctrl-B
                _w("\r\n")
                return _TO_FRIENDLY
            elif c == 3:  # Ctrl-C
                line = bytearray()
            elif c == 4:  # Ctrl-D
                break
            else:
                line.append(c)
        _w("OK")
        if not line:
            _w("\r\n")
            return _FORCED
        if _run(bytes(line).decode(), g, "exec", True) & _FORCED:
            return _FORCED


def _readline(prompt):
    """(control char or 0, line)."""
    _w(prompt)
    line = bytearray()
    esc = 0
    while True:
        c = _rd()
        if esc:  # ESC [ ... letter: cursor keys, ignored
            esc = 0 if (esc == 2 and 0x40 <= c <= 0x7E) else 2
            continue
        if c == 0x1B:
            esc = 1
        elif 1 <= c <= 5 and not line:
            return c, line
        elif c == 3:
            return c, line
        elif c == 13:
            _w("\r\n")
            return 0, line
        elif c in (8, 0x7F):
            if line:
                line.pop()
                _w("\x08 \x08")
        elif c >= 32 or c == 9:
            line.append(c)
            _out.write(bytes((c,)))


def _more(src):
    """mp_repl_continue_with_input, simplified: an open bracket, a line ending in ':' or
    '\\', or a compound statement not yet ended by an empty line."""
    depth = 0
    for ch in src:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    lines = src.split("\n")
    last = lines[-1]
    if depth > 0 or last.endswith("\\"):
        return True
    if lines[0].rstrip().endswith(":"):  # a compound statement: until an empty line
        return last.strip() != ""
    return False


def _banner():
    v = sys.implementation.version
    _w("MicroPython v%d.%d.%d on the PIN pad emulator; unix port with %s\r\n"
       'Type "help()" for more information.\r\n' % (v[0], v[1], v[2], sys.platform))


def friendly(g):
    _banner()
    while True:
        c, line = _readline(">>> ")
        mode = "single"
        if c == 1:
            _w("\r\n")
            return _TO_RAW
        if c == 2:
            _w("\r\n")
            _banner()
            continue
        if c == 3:
            _w("\r\n")
            continue
        if c == 4:
            _w("\r\n")
            return _FORCED
        if c == 5:
            _w("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            line = bytearray()
            while True:
                c = _rd()
                if c == 3:
                    _w("\r\n")
                    break
                if c == 4:
                    _w("\r\n")
                    break
                line.append(c)
                _w("\r\n=== " if c == 13 else bytes((c,)))
            if c == 3:
                continue
            mode = "exec"
        elif not line:
            continue
        else:
            while _more(bytes(line).decode()):
                line.append(10)
                c, more = _readline("... ")
                if c == 3:
                    _w("\r\n")
                    line = None
                    break
                if c == 4:
                    break
                line.extend(more)
            if line is None:
                continue
        src = bytes(line).decode().replace("\r\n", "\n").replace("\r", "\n")
        if _run(src, g, mode, False) & _FORCED:
            return _FORCED


def _close_files(g):
    """A soft reboot sweeps the heap: files left open (an interrupted copy) are closed."""
    for v in g.values():
        if type(v).__name__ in ("FileIO", "TextIOWrapper") and v not in (sys.stdin, sys.stdout,
                                                                           sys.stderr):
            try:
                v.close()
            except Exception:
                pass


def run(g, is_raw):
    """The REPL until a soft reboot; returns the chip's exit status (76, 77)."""
    while True:
        try:
            r = raw(g) if is_raw else friendly(g)
        except KeyboardInterrupt:  # a Ctrl-C between a program's end and the REPL's read
            continue
        if r == _FORCED:
            _close_files(g)
            _w("MPY: soft reboot\r\n")
            return 77 if is_raw else 76
        is_raw = r == _TO_RAW
