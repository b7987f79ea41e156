"""The ministry-issued cards of article 23, as virtual cards (TEST MATERIAL).

Each card is a JSON state file (mode 0600) with its role, region, serial, a custodian PIN
(scrypt hash, never the PIN) and its try counter: three wrong PINs in a row lock it for
good; a right one resets the run. What it holds is read only after the right PIN:
- master key card: one share of the service's master key (Shamir M-of-N over GF(256));
  any M cards restore the sealed keystore (a new passphrase), fewer tell nothing;
- key mother card: the authentication key of a region's issuing (PSAMs, user cards, pads);
  it answers a service challenge with an AES-CMAC and serves only its own region;
- transport key card: a transport key, carried from the ministry to a department;
- the PSAM: a state file (padctl.cardspec) issued by ``padctl issue psam``; the
  simulator's padsim.vpsam answers from it.
"""
import hashlib
import hmac
import json
import os
from pathlib import Path

from .. import crypto as C
from . import regions
from .errors import CardError, ScopeError
from .sealed import write_private

FORMAT = "padctl-keycard/1"
MARKER = "TEST MATERIAL - generated, not real keys"
ROLES = {"master": "master key card", "mother": "key mother card",
         "transport": "transport key card"}
LIMIT = 3


# --- Shamir's secret sharing over GF(256) --------------------------------------------------

def _mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = (a << 1) ^ (0x11B if a & 0x80 else 0)
        b >>= 1
    return r


def _inv(a):
    r = 1
    for _ in range(254):
        r = _mul(r, a)
    return r


def split(secret, m, n, rand=os.urandom):
    """n shares (x, bytes) of which any m give the secret back."""
    if not 1 <= m <= n <= 255:
        raise CardError("M-of-N needs 1 <= M <= N <= 255, got %d of %d" % (m, n))
    coeffs = [list(rand(m - 1)) for _ in secret]
    out = []
    for x in range(1, n + 1):
        share = bytearray()
        for s, cs in zip(secret, coeffs):
            y, xp = s, 1
            for c in cs:
                xp = _mul(xp, x)
                y ^= _mul(c, xp)
            share.append(y)
        out.append((x, bytes(share)))
    return out


def combine(shares):
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs):
        raise CardError("the same master key card twice")
    out = bytearray()
    for i in range(len(shares[0][1])):
        s = 0
        for j, (xj, yj) in enumerate(shares):
            num = den = 1
            for k, (xk, _) in enumerate(shares):
                if k != j:
                    num = _mul(num, xk)
                    den = _mul(den, xj ^ xk)
            s ^= _mul(yj[i], _mul(num, _inv(den)))
        out.append(s)
    return bytes(out)


# --- the virtual key card ----------------------------------------------------------------

def _pin_hash(pin, salt):
    return hashlib.scrypt(pin.encode(), salt=salt, n=1 << 12, r=8, p=1, dklen=32)


class KeyCard:
    def __init__(self, path):
        self.path = Path(path)
        try:
            self.d = json.loads(self.path.read_text())
            if self.d.get("format") != FORMAT or self.d.get("role") not in ROLES:
                raise ValueError
        except FileNotFoundError:
            raise CardError("no card at %s" % self.path) from None
        except (ValueError, OSError):
            raise CardError("%s is not an article-23 key card" % self.path) from None

    @classmethod
    def make(cls, path, role, pin, secret, region=None, serial=None, meta=None):
        if not (isinstance(pin, str) and pin.isdigit() and 6 <= len(pin) <= 12):
            raise CardError("a custodian PIN is 6 to 12 digits")
        salt = os.urandom(16)
        d = {"format": FORMAT, "marker": MARKER, "role": role, "region": region,
             "serial": serial or os.urandom(8).hex().upper(), "tries": LIMIT, "limit": LIMIT,
             "pin": {"salt": salt.hex(), "hash": _pin_hash(pin, salt).hex()},
             "secret": bytes(secret).hex().upper(), "meta": meta or {}}
        write_private(path, json.dumps(d, indent=1).encode())
        return cls(path)

    @property
    def role(self):
        return self.d["role"]

    @property
    def region(self):
        return self.d["region"]

    @property
    def serial(self):
        return self.d["serial"]

    def _save(self):
        write_private(self.path, json.dumps(self.d, indent=1).encode())

    def open(self, pin, role):
        """The card's content after the custodian PIN; CardError if locked or wrong."""
        name = ROLES[self.role]
        if self.role != role:
            raise CardError("%s is a %s, not a %s" % (self.path, name, ROLES[role]))
        if self.d["tries"] <= 0:
            raise CardError("%s %s is locked (%d wrong custodian PINs)"
                            % (name, self.serial, self.d["limit"]))
        p = self.d["pin"]
        if not hmac.compare_digest(_pin_hash(str(pin), bytes.fromhex(p["salt"])),
                                   bytes.fromhex(p["hash"])):
            self.d["tries"] -= 1
            self._save()
            if self.d["tries"] <= 0:
                raise CardError("wrong custodian PIN: %s %s is now locked" % (name, self.serial))
            raise CardError("wrong custodian PIN for %s %s: %d tries left"
                            % (name, self.serial, self.d["tries"]))
        if self.d["tries"] != self.d["limit"]:
            self.d["tries"] = self.d["limit"]
            self._save()
        return bytes.fromhex(self.d["secret"])

    def answer(self, pin, challenge):
        """A key mother card's answer to a service challenge: AES-CMAC over it."""
        return C.aes_cmac(self.open(pin, "mother"), b"MOTHER" + bytes(challenge))


# --- what the service does with them --------------------------------------------------------

def make_master_cards(svc, m, pins, folder):
    """Seal the service's store under a fresh master key too, and split the key onto
    len(pins) master key cards of which any m restore it. Returns the card paths."""
    mk = os.urandom(32)
    svc.soft.store.set_master_key(mk)
    paths = []
    for x, share in split(mk, m, len(pins)):
        p = Path(folder) / ("master%d.json" % x)
        KeyCard.make(p, "master", pins[x - 1], share, meta={"x": x, "m": m, "n": len(pins)})
        paths.append(p)
    svc.audit.append("master-cards", detail="%d of %d master key cards" % (m, len(pins)))
    return paths


def restore_with_master_cards(home, cards_pins, new_passphrase):
    """Open the sealed keystore of ``home`` with M master key cards and set a new
    passphrase. CardError if fewer than M cards or a card refuses."""
    from .sealed import SealedError, SealedStore
    shares, need = [], None
    for path, pin in cards_pins:
        c = KeyCard(path)
        share = c.open(pin, "master")
        need = c.d["meta"]["m"]
        shares.append((c.d["meta"]["x"], share))
    if need is None or len(shares) < need:
        raise CardError("restoring needs %s master key cards, %d given" % (need, len(shares)))
    try:
        st = SealedStore.open(Path(home) / "sealed.json", master_key=combine(shares))
    except SealedError as e:
        raise CardError("the master key cards do not open %s: %s" % (home, e)) from None
    st.set_passphrase(new_passphrase)
    from .audit import AuditLog
    AuditLog(Path(home) / "audit.log").append("restore", detail="with %d master key cards"
                                              % len(shares))
    return st


def make_mother_card(svc, region, pin, path):
    region = regions.check(region)[0]
    svc._scope(region, "key mother card")
    serial = os.urandom(8).hex().upper()
    kid = "mother/%s" % serial
    key = svc.soft.generate(kid, "AES", {"region": region})
    value = svc.issue_values({0: key}, "key mother card", key=kid, region=region)[0]
    KeyCard.make(path, "mother", pin, value, region=region, serial=serial)
    return path


def authorise(svc, card_path, pin, region):
    """Issuing for ``region`` needs that region's key mother card (or an ancestor's) and
    its custodian PIN; checked by challenge and AES-CMAC."""
    card = KeyCard(card_path)
    if card.role != "mother":
        raise CardError("%s is a %s, not a key mother card" % (card_path, ROLES[card.role]))
    region = regions.check(region)[0]
    if not regions.covers(card.region, region):
        raise ScopeError("the key mother card of region %s cannot issue for region %s"
                         % (card.region, region))
    r = os.urandom(16)
    got = card.answer(pin, r)
    kid = "mother/%s" % card.serial
    if not svc.soft.has(kid):
        raise CardError("key mother card %s was not issued by this service" % card.serial)
    want = C.aes_cmac(svc.soft.get(kid).value, b"MOTHER" + r)
    if not C.ct_equal(got, want):
        raise CardError("key mother card %s failed its authentication" % card.serial)
    svc.audit.append("authorise", key=kid, region=region, detail="key mother card")
    return card


def make_transport_card(svc, name, pin, path):
    kid = svc.new_transport(name)
    key = svc.backend_for("AES").get(kid)  # the token's, when there is one
    value = svc.issue_values({0: key}, "transport key card", key=kid)[0]
    KeyCard.make(path, "transport", pin, value, meta={"name": name})
    return path


def load_transport_card(svc, path, pin):
    c = KeyCard(path)
    value = c.open(pin, "transport")
    return svc.add_transport(c.d["meta"]["name"], value)
