# What the host link costs in RAM (the pad runs whole in a 64 KB heap): importing link
# (with jack and jcopy, which load with it) once the app runs, and one
# LinkServer with its Keys and its five key schedules after a HELLO (what a PULL answer
# allocates: tests/fw/test_link.py).
# Measured first thing in a fresh process, with what the app has loaded by then (and
# nothing more: a module loaded before link can move qstr pool boundaries by 2 KB).
# TEST MATERIAL: keys are generated at run time (os.urandom).
import gc
import micropython  # noqa: F401
import os
import struct  # noqa: F401
import binascii  # noqa: F401
import select  # noqa: F401
import sys  # noqa: F401

import cmac  # noqa: F401  (resident: the journal's MAC)
import errors  # noqa: F401
import journal  # noqa: F401
# (cmac.rand and its pool: resident with cmac, filled at the app's idle loop: not the link's)
cmac.rand(bytearray(1))

gc.collect()
_a = gc.mem_alloc()
import link  # noqa: E402

gc.collect()
IMPORTED = gc.mem_alloc() - _a

import drive_link as P  # noqa: E402
import kdf  # noqa: E402  (the key derivation: the app's, which makes the schedules)
import mptest as t  # noqa: E402

IMPORT_BUDGET = 9000  # measured 8,800 (the journal's reader and acknowledgement with it,
# and the link-first boot's set-up; the key schedules are the app's: kdf.schedules)
STATE_BUDGET = 3600  # measured 3,520 (the key schedules, 320 bytes each on this port)


def test_import_cost():
    print("import link (jack, jcopy with it): %d bytes" % IMPORTED)
    t.true(IMPORTED <= IMPORT_BUDGET, "import link: %d bytes" % IMPORTED)


def test_server_state_after_hello():
    key, pad = os.urandom(16), os.urandom(8)
    j = P.FakeJournal(None, None, epoch=7)
    hello = P.frame(b"H" + os.urandom(16))
    gc.collect()
    a = gc.mem_alloc()
    keys = kdf.Keys(key, pad)
    s = link.LinkServer(j, keys, {"version": "0.1.0"})
    P.one(s.feed(hello), P.HELLO_ANS)
    gc.collect()
    used = gc.mem_alloc() - a
    print("Keys and LinkServer after a HELLO: %d bytes" % used)
    t.true(used <= STATE_BUDGET, "Keys and LinkServer: %d bytes" % used)


t.main(globals())
