# Service mode's tools (DESIGN 8), called by `padctl flash` and `padctl info` through the
# REPL: the pad's facts, provisioning, and the journal's unsynced records. Loaded only in
# service mode (the pad does not run then), so RAM is not counted here.
import json
import os
import struct
from micropython import const

import journal as J

# journal kinds (journal.py; private here: a name costs RAM)
_J_BOOT = const(1)
_J_ACK = const(19)
_J_PROVISION = const(20)

# BOOT data byte 1 of a boot into service mode (protocol.md 8.3)
_SERVICE = const(1)
# journal kinds a re-provisioning may drop unsynced: the pad's own boots (service mode's
# too) and acknowledgements; every other record is an event the host must hold first
_HOUSEKEEPING = (_J_BOOT, _J_ACK)


class _Clock:
    def now(self):
        import service
        return service.now()


def _path():
    """config.json's path: the board's (service.config_path(): /config.json on the ESP32,
    whose vfs is mounted at /), else config.PATH (the simulator's /flash/config.json)."""
    import service
    f = getattr(service, "config_path", None)
    if f:
        return f()
    import config
    return config.PATH


def _config():
    try:
        with open(_path()) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def _mac(cfg):
    if not cfg or not cfg.get("link_key"):
        return None
    from binascii import unhexlify
    from kdf import Keys
    return Keys(unhexlify(cfg["link_key"]), unhexlify(cfg["pad_id"])).journal_mac


def _journal(cfg):
    import service
    return J.Journal(service.journal_dev(), clock=_Clock(), mac=_mac(cfg))


def entered():
    """The strap gave the REPL: journaled when the pad is provisioned, as a BOOT record
    whose second data byte says service mode."""
    cfg = _config()
    if cfg:
        j = _journal(cfg)
        j.event(_J_BOOT, data=bytes((len(j.problems), _SERVICE)))


def unsynced(j, held=0):
    """Records after the host's mark (the pad's acknowledged mark, or `held`: the last seq
    of this epoch the host's store holds, when higher: a mark the pad keeps in RAM until a
    reclaim can be behind after a reset) that the host must hold before a re-provisioning
    may format the journal: the events, not the housekeeping."""
    n = 0
    for r in j.iter_from(max(j.acked, held) + 1):
        if r.kind not in _HOUSEKEEPING:
            n += 1
    return n


def info(held=0):
    """The pad's facts as a dict (printed as JSON for the host); held: unsynced()."""
    cfg = _config()
    d = {"pad_id": None, "region": None, "provisioned": False}
    if cfg:
        d.update(pad_id=cfg.get("pad_id"), region=cfg.get("region"),
                 provisioned=bool(cfg.get("link_key")))
    try:
        with open("fw.cur") as f:
            d["firmware"] = f.read().strip()
    except OSError:
        d["firmware"] = None
    try:
        j = _journal(cfg)
        d.update(epoch=j.epoch, head=j.head, acked=j.acked, free_records=j.free(),
                 unsynced=unsynced(j, held), journal_problems=list(j.problems))
    except Exception as e:
        d["journal_error"] = repr(e)
    st = os.statvfs(".")
    d["fs_free"] = st[0] * st[3]
    return d


def show(held=0):
    print(json.dumps(info(held)))
    _drop()


def _drop():
    """What a tool loaded goes, so the REPL's heap is whole for the copy that follows."""
    import sys
    for m in ("svcmode", "journal", "jscan", "config", "cmac", "kdf", "flash", "blockdev"):
        sys.modules.pop(m, None)


def provision(cfg, epoch=0, force=False, held=0):
    """Writes config.json (atomically: a new file renamed over the old) and starts a new
    journal epoch, above the one held and at least `epoch`, whose first record is PROVISION
    naming the epoch before. Refuses (ValueError) while the journal holds unsynced events,
    unless force (the host has them). Prints the result as JSON."""
    old = _config()
    before, left = 0, 0
    try:
        j = _journal(old)
        before = j.epoch
        left = unsynced(j, held)
        del j
    except Exception:
        pass  # a journal that does not open: nothing it holds can be read
    if left and not force:
        raise ValueError("%d unsynced journal records: sync the pad first" % left)
    new = max(epoch, before + 1)
    path = _path()
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.rename(tmp, path)
    import service
    dev = service.journal_dev()
    J.Journal.format(dev, new)
    J.Journal(dev, clock=_Clock(), mac=_mac(cfg)).append(_J_PROVISION, None,
                                                           struct.pack(">I", before))
    print(json.dumps({"epoch": new, "before": before}))
    _drop()
