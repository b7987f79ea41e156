# Unit tests of firmware/config.py under the unix-port micropython: a missing, corrupt or
# out-of-range configuration never stops the pad; it runs on the defaults for what is bad.
import json
import os

import mptest
from mptest import eq

import config

PATH = "/tmp/pad-test-config-%d.json" % os.getpid() if hasattr(os, "getpid") else \
    "/tmp/pad-test-config.json"


def write(obj):
    with open(PATH, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


def test_missing_and_corrupt_files_run_on_defaults():
    try:
        os.remove(PATH)
    except OSError:
        pass
    cfg, problem = config.load(PATH)
    eq((cfg, problem), (config.DEFAULTS, "no config"))
    write("{not json")
    eq(config.load(PATH), (config.DEFAULTS, "config corrupt"))


def test_the_limits_outside_1_to_15_fall_back_to_3():
    # card_limit is the cards' maximum a plain tries read at it is taken for (app.py
    # _resolve): never 0, negative or beyond what 63Cx can say
    for bad in (0, -1, 16, 99):
        write({"pad_limit": bad, "card_limit": bad})
        cfg, problem = config.load(PATH)
        eq((cfg["pad_limit"], cfg["card_limit"], problem), (3, 3, None))
    write({"pad_limit": 5, "card_limit": 10})
    cfg, _ = config.load(PATH)
    eq((cfg["pad_limit"], cfg["card_limit"]), (5, 10))
    write({"card_limit": "3"})  # the wrong type: the default
    eq(config.load(PATH)[0]["card_limit"], 3)
    os.remove(PATH)


mptest.main(globals())
