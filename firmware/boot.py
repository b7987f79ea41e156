# boot.py (DESIGN 8), flashed as source to the root of the pad's filesystem (padctl flash;
# the chip or the frozen _boot.py has mounted it, never formatting it). It selects the
# firmware the switch file fw.cur names (fw/<tag>/ first on sys.path: a flash makes a new
# version live in one step) and the mode: normal, the console speaks only the host
# protocol (Ctrl-C is data from here on), or service (the board's strap held at reset,
# service.py), the REPL for mpremote. Entering service mode is journaled (svcmode.py: a
# BOOT record flagged service).
# Nothing here formats, and no error reaches the REPL: a pad whose firmware cannot load
# waits and resets in main.py; the strap still gives the REPL to flash it again.
def _boot():
    import sys
    import service  # the board's strap (at the root: the same for every version)
    svc = service.active()
    if not svc:
        import micropython
        micropython.kbd_intr(-1)
    tag = None
    try:
        import os
        with open("fw.cur") as f:
            tag = f.read().strip()
        root = os.getcwd().rstrip("/")
        os.stat(root + "/fw/" + tag + "/main.mpy")
        sys.path.insert(0, root + "/fw/" + tag)
    except Exception as e:
        sys.print_exception(e, sys.stderr)
        tag = None
    if svc and service.first():
        try:
            import svcmode
            svcmode.entered()
            sys.modules.pop("svcmode", None)
        except Exception as e:
            sys.print_exception(e, sys.stderr)
        print("PIN pad service mode: firmware %s" % (tag or "none"))


try:
    _boot()
except Exception:  # never the REPL in normal mode: main.py resets a pad without firmware
    pass
del _boot
