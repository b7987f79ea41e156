# The heap the ISO 7816 layer costs to import, held to its budget. On the unix port an
# imported module's bytecode, function objects and qstrs live in the GC heap, and the
# pad must run whole in 64 KB. Each figure comes from a fresh micropython process
# (gc.collect before and after, as docs/protocol.md section 4a measures it): the T=0
# transport with everything it imports, then the ATR reader on top of it (the app
# drops atr from sys.modules once the ATR is read, so t0 must not import it).
import os
import sys
from binascii import hexlify

import iso7816  # the package only: its path says where the compiled firmware is
import mptest
from mptest import eq, true

T0_BUDGET = 5000
ATR_BUDGET = 3000  # 2,816 measured; 3,328 with the PPS exchange in atr.py (iso7816/pps.py
# holds it, loaded only for a card with a rate to select)
_PRE = "import gc, micropython, time, errors"


def _mp(args):
    """A fresh micropython with only the compiled firmware on its path (run from /tmp)."""
    path = iso7816.__file__.rsplit("/", 2)[0]
    if not path.startswith("/"):
        path = os.getcwd() + "/" + path
    return "cd /tmp && MICROPYPATH=%s %s %s" % (path, sys.executable, args)


def _output(code):
    """What `code` prints, run in a fresh micropython process (1 MB heap)."""
    out = "/tmp/iso7816-mem-%s.txt" % hexlify(os.urandom(6)).decode()
    try:
        rc = os.system(_mp("-X heapsize=1M -c '%s' >%s 2>&1" % (code, out)))
        with open(out) as f:
            text = f.read()
    finally:
        try:
            os.remove(out)
        except OSError:
            pass
    eq(rc, 0, text)
    return text


def cost(before, module):
    """Bytes allocated by `import module` after `before`, in a fresh process."""
    return int(_output("%s\ngc.collect(); a=gc.mem_alloc()\nimport %s\ngc.collect(); "
                       "print(gc.mem_alloc()-a)" % (before, module)))


def test_t0_import_within_budget():
    n = cost(_PRE, "iso7816.t0")
    print("import iso7816.t0 (with what it imports): %d bytes, budget %d" % (n, T0_BUDGET))
    true(0 < n <= T0_BUDGET, "iso7816.t0 costs %d bytes" % n)


def test_atr_import_on_top_within_budget():
    n = cost(_PRE + "\nimport iso7816.t0", "iso7816.atr")
    print("import iso7816.atr after t0: %d bytes, budget %d" % (n, ATR_BUDGET))
    true(0 < n <= ATR_BUDGET, "iso7816.atr costs %d bytes" % n)


def test_t0_does_not_import_atr():
    rc = os.system(_mp("-c 'import sys, iso7816.t0; "
                       "sys.exit(1 if \"iso7816.atr\" in sys.modules else 0)'"))
    eq(rc, 0, "importing iso7816.t0 loads iso7816.atr")


def test_app_drop_frees_atr():
    # The app reads an ATR, then drops iso7816.atr. A submodule is also an attribute of
    # its package: popping sys.modules alone kept all of atr (about 2,500 bytes) alive.
    # Measured on the second read (a pad reads an ATR per card): the first interns atr's
    # names, which may take a new qstr pool (about 2 KB here, never freed) wherever the
    # pool happens to fill.
    code = ("import gc, micropython, time, errors, sys, iso7816.t0, app\n"
            "from iso7816 import atr\n"
            "atr = None\n"
            "app._drop(\"iso7816.atr\")\n"
            "gc.collect(); a=gc.mem_alloc()\n"
            "from iso7816 import atr\n"
            "atr = None\n"
            "app._drop(\"iso7816.atr\")\n"
            "import iso7816\n"
            "gc.collect(); print(gc.mem_alloc()-a, hasattr(iso7816, \"atr\"))")
    n, kept = _output(code).split()
    print("iso7816.atr read and dropped: %s bytes stay" % n)
    eq(kept, "False", "the package still holds atr")
    true(int(n) <= 600, "dropping atr left %s bytes" % n)


mptest.main(globals())
