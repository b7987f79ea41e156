# Bench helper, not a test (padsim.bench_sync runs it before the pad starts): appends COUNT
# records to a provisioned simulator flash image with the real journal, MACed with the
# pad's journal key exactly as firmware/app.py builds it, as if the pad had done that
# many PIN verifications: PENDING (tries, pad limit) then PIN_OK, or for every 7th
# first attempt of a card PIN_WRONG (tries, run), the data retry.py journals.
# usage: micropython bench_fill.py IMAGE COUNT|full
# "full": the ring filled as a pad fills it when nobody syncs: verifications while a
# transaction fits, then pad events (BOOT) until the event reserve is used up too.
# prints "progress <head>" every 1000 records, then "filled <head> <epoch>"
import sys
import time
from binascii import unhexlify

import config
import flash
import journal as J
import jnames  # noqa: F401 (the kinds' and messages' names)
from kdf import Keys

_CARDS = 40  # distinct cards in the generated history


class _Clock:
    def now(self):  # as boards/unix_sim/board.py: RTC seconds once the RTC is set
        t = int(time.time())
        return t if t > 1600000000 else None


def fill(path, count):
    jdev = flash.mount(path)
    cfg = config.load()[0]
    keys = Keys(unhexlify(cfg["link_key"]), unhexlify(cfg["pad_id"]))
    j = J.Journal(jdev, clock=_Clock(), mac=keys.journal_mac)
    limit = cfg["pad_limit"]
    wrong = bytearray(_CARDS)  # the failure run of each card
    cid = bytearray(16)
    cid[0:3] = b"\x11\x01\x05"
    i = 0
    full = count is None
    if full:
        count = 1 << 30
    while j.head < count and not (full and not j.fits(2)):
        k = i % _CARDS
        cid[15] = k
        c = bytes(cid)
        if count - j.head < 2:
            j.append(J.CARD_REFUSED, c, b"\x02")  # one record left: a card of another region
        else:
            tries = 3 - wrong[k]
            j.append(J.PENDING, c, bytes((tries, limit)))
            if wrong[k] or i % 7 != 6:
                j.append(J.PIN_OK, c)
                wrong[k] = 0
            else:
                wrong[k] += 1
                j.append(J.PIN_WRONG, c, bytes((tries - 1, wrong[k])))
        i += 1
        if j.head % 1000 < 2:
            print("progress", j.head)
    while full and j.event(J.BOOT, None, b"\0") is not None:
        pass
    print("filled", j.head, j.epoch)


if __name__ == "__main__":
    fill(sys.argv[1], None if sys.argv[2] == "full" else int(sys.argv[2]))
