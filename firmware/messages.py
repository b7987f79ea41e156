# What the pad says, two lines a message, in Chinese or English (chosen by configuration).
# The texts live in lang_<xx>.txt beside this module, one message a line (line 1 TAB
# line 2, "{}" for the argument), read when shown: they cost no RAM while idle.
from micropython import const

IDLE = const(0)
READING = const(1)
ENTER_PIN = const(2)
PIN_OK = const(3)
PIN_WRONG = const(4)
LOCKED = const(5)
OTHER_REGION = const(6)
NOT_SSC = const(7)
CARD_ERROR = const(8)
PSAM_ERROR = const(9)
LOG_FULL = const(10)
TIMED_OUT = const(11)
CANCELLED = const(12)
PIN_LENGTH = const(13)
NOT_GENUINE = const(14)
CHECKING = const(15)
CARD_PULLED = const(16)
# Lines 17-27 have no names here (a name costs RAM in every boot): the flows that show
# them name them where they are used. 17-21: a new PIN refused, its reason r from
# weakpin.reason (message weakpin.WEAK + r); 22: CHANGE PIN asked for, insert the card
# (app.py); 23-27: change.py (old PIN, new PIN, again, PINs differ, PIN changed).

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def table(lang):
    """The file of a language ("zh" or "en"; anything else is English)."""
    return "%s/lang_%s.txt" % (_DIR, "zh" if lang == "zh" else "en")


def lines(tab, msg, arg=""):
    with open(tab, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == msg:
                l1, _, l2 = line.rstrip("\n").partition("\t")
                return l1, l2.replace("{}", str(arg))
    return "?%d" % msg, ""
