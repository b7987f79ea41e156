# The pad's start (app.Pad.__init__): its long-lived objects, made once per boot in their
# order. Loaded, run and dropped by app.py: its code takes no RAM once the pad runs.
import gc
import struct

from micropython import const

import journal as J
import retry as R
from events import Events

_LINK_BUF = const(1094)  # link.py's frame buffer (PULL answers of up to 12 records)
# The card session's code, loaded at boot while the heap is whole. The host link is served
# by a boot of its own: when the host speaks between cards the pad restarts into its
# link-first boot (without the session's code), and back when a card comes or the host is
# quiet. (On a 64 KB heap the two do not fit together, and code dropped and loaded in
# place leaves the heap in fragments too small for the link's blocks: measured, 16 KB
# free, none over 560 bytes.) The flows' own modules (verify.py, change.py, ...) are
# loaded per card, into the room this module's code leaves.
_SESSION = ("secure", "pin_entry", "pinblock", "psam", "card", "iso7816.t0")


def build(pad, board):
    """Long-lived allocations first, while the heap is whole: in a link-first boot (the
    one the pad restarted into for the host link: board.reset) the link's buffer, then its
    keys (the key derivation's code is dropped after them, and in a normal boot once the
    journal's key is made); the journal (its recovery code is dropped after opening), and
    in a link-first boot the link's key schedules; then the journal audit's code; the events and the retry index; the
    session's code (in a link-first boot the link's comes after, in app.py)."""
    from app import _drop
    pad.board = board
    pad.cfg = board.cfg  # read by the board from its flash (config.py)
    pad.tab = __import__("messages").table(pad.cfg["lang"])
    rtc = board.rtc() if hasattr(board, "rtc") else b""  # kept over a reset (app._reset)
    pad.linkbuf = bytearray(_LINK_BUF) if rtc[:1] == b"L" else None
    keys = __import__("kdf").configured(pad.cfg)  # (no local name for kdf)
    pad.link_first = pad.linkbuf is not None and keys is not None
    if not pad.link_first:  # a window boot (protocol.md 9.7) keeps here the host's W
        pad.linkbuf = rtc[1:-4] if rtc[:1] == b"W" and keys else None  # and its pad nonce
    mac = pad.sched = None
    if keys:  # the journal's MAC keeps only its AES key (cmac.chain)
        from cmac import chain
        mac = chain(keys.journal)
        if pad.linkbuf:  # the link's keys, or a window boot's (kdf.link_keys)
            pad.sched = __import__("kdf").link_keys(keys, pad.link_first)
    pad.pad_id = keys.pad_id if keys else None
    keys = None  # the key derivation's code is gone before the journal opens
    _drop("kdf")
    gc.collect()
    j = pad.journal = J.Journal(board.journal_dev, clock=board, defer=True, mac=mac)
    if pad.link_first:  # the link's key schedules, into the opening code's hole: made
        from cryptolib import aes  # once (per frame, 320-byte blocks that fragmentation
        k = pad.sched  # can take away: 0C answers)
        pad.sched = tuple(aes(bytes(k[i:i + 16]), 1) for i in range(0, 80, 16))
        k = None
    if len(rtc) >= 5:  # the events a full journal could only count, before the reset (the
        j.missed, j.missed_boots = struct.unpack_from(">HH", rtc, len(rtc) - 4)  # last 4)
    gc.collect()
    if j._aud is not None:  # the audit's code while the heap is whole: it stays until
        __import__("jaudit")  # the audit is done (Journal.audit)
    pad.events = Events(board.ui, board.host if mac else None, pad._link, board.card)
    # board.skip_pending: the simulator's test switch that removes the durable write
    # before the VERIFY, to prove the power-cut test catches that bug
    kw = {"skip_pending_write": True} if board.skip_pending else {}
    # RAM holds at most 8 cards with an open run; the others are found by a scan
    # (its index is built by the journal's audit: app._settle)
    pad.retry = R.Retry(j, pad_limit=pad.cfg["pad_limit"], max_cards=8, **kw)
    pad.sam = None
    pad.in_session = False  # a card is being served: its RAM comes first
    pad.switch = False  # restart into a link-first boot as soon as no card is in
    pad.pin = bytearray(12)
    pad.trace = board.trace  # simulator test hook (None on a real pad)
    gc.collect()
    if not pad.link_first:  # (a link-first boot loads the link's code instead: app.py)
        for m in _SESSION:  # each into a heap just collected (a window boot's PIN entry
            if not (pad.linkbuf and m[:3] == "pin"):  # comes later: reset.py's)
                __import__(m)
                gc.collect()
