# What the pad says, two lines a message, in Chinese or English (chosen by configuration).
# The texts live in lang_<xx>.txt beside this module, one message a line (line 1 TAB
# line 2, "{}" for the argument), read when shown: they cost no RAM while idle.
# The numbers below are private (a public name costs RAM in every boot): each module
# that shows a message declares the numbers it uses as its own `_M_<NAME> = const(n)`,
# and tests/test_names.py checks those against this table.
from micropython import const

_IDLE = const(0)
_READING = const(1)
_ENTER_PIN = const(2)
_PIN_OK = const(3)
_PIN_WRONG = const(4)
_LOCKED = const(5)
_OTHER_REGION = const(6)
_NOT_SSC = const(7)
_CARD_ERROR = const(8)
_PSAM_ERROR = const(9)
_LOG_FULL = const(10)
_TIMED_OUT = const(11)
_CANCELLED = const(12)
_PIN_LENGTH = const(13)
_NOT_GENUINE = const(14)
_CHECKING = const(15)
_CARD_PULLED = const(16)
# Lines 17-27 have no names here either: the flows that show them name them where they
# are used. 17-21: a new PIN refused, its reason r from
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
