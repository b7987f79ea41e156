"""Issuing from a region's key mother card: PSAMs, user cards, pads (TEST MATERIAL devices)."""
import json
import os

from .. import keys as K
from ..crypto import Suite
from ..idnumber import valid_id
from . import regions
from .cards import authorise
from .compat import ServiceKeystore
from .errors import KeyServiceError, ScopeError


def issue_psam(svc, mother, pin, region, level, path, suite="SM4", terminal=None):
    region = regions.check(region)[0]
    at = regions.at(region, level)
    authorise(svc, mother, pin, at)
    terminal = terminal or "%012d" % (int.from_bytes(os.urandom(5), "big") % 10 ** 12)
    K.write_psam(ServiceKeystore(svc), path, suite=Suite.parse(suite), region=at,
                       level=level, terminal=terminal)
    svc.audit.append("issue-psam", region=at, suite=Suite.parse(suite).label,
                     detail="level %d, terminal %s" % (level, terminal))
    return at


def check_psam_serves(psam_path, region):
    """ScopeError naming both regions unless the PSAM serves cards of ``region``."""
    from ..cardspec import psam_region
    at = psam_region(psam_path)
    if not regions.covers(at, region):
        raise ScopeError("the PSAM of region %s cannot serve a card of region %s"
                         % (at, region))


def issue_card(svc, mother, pin, region, serial, holder_id, path, suite="SM4", psam=None):
    region, level = regions.check(region)
    if level != 3:
        raise KeyServiceError("a user card is issued by a city or county (PPCCDD), not %s"
                              % region)
    if not valid_id(holder_id):
        raise KeyServiceError("holder ID %s fails its GB 11643 check digit" % holder_id)
    if psam is not None:
        check_psam_serves(psam, region)
    authorise(svc, mother, pin, region)
    ident = K.new_identity(Suite.parse(suite), region, serial=serial)
    K.write_card(ServiceKeystore(svc), path, ident, holder_id=holder_id)
    svc.audit.append("issue-card", region=region, suite=ident.suite.label,
                     key="card %s" % ident.serial.hex().upper())
    return ident


def provision_pad(svc, mother, pin, pad_id, region, flash, lang="en"):
    """The pad's flash (unix simulator board) with its id, region and link key."""
    from ..mpy import BOARD, run_mp
    region, level = regions.check(region)
    authorise(svc, mother, pin, region)
    key = svc.pad_link_key(region, pad_id)
    config = {"pad_id": pad_id.upper(), "lang": lang, "pin_timeout_s": 30, "pad_limit": 3,
              "card_limit": 3, "region": region, "link_key": key.hex().upper()}
    r = run_mp(BOARD / "provision.py", [str(flash), json.dumps(config)], tests=False)
    if r.returncode != 0 or " epoch " not in r.stdout:
        raise KeyServiceError("provisioning failed: %s" % (r.stderr.strip().splitlines() or
                                                           ["?"])[-1])
    svc.audit.append("provision-pad", region=region, key="pad %s" % pad_id.upper())
    return r.stdout.strip()
