"""padctl keys / issue / provision: the key service's commands (issue 8).

The service's folder is --home (default $PADCTL_KEYSVC_HOME, else ~/.padctl/keysvc); its
passphrase comes from $PADCTL_PASSPHRASE or --passphrase-file, the token's user PIN from
$PADCTL_PKCS11_PIN; custodian PINs from --pin or $PADCTL_CARD_PIN. No command prints a
key value: ids, regions and check values only.
"""
import json
import os
import sys
from pathlib import Path

SUBCOMMANDS = ("init", "disperse", "export", "import", "own", "list", "transport-card",
               "load-transport", "master-cards", "restore", "mother-card", "pad-links",
               "audit", "test-roots")


class Fail(Exception):
    pass


def _home(args):
    return Path(args.home or os.environ.get("PADCTL_KEYSVC_HOME")
                or Path.home() / ".padctl" / "keysvc")


def _passphrase(args, env="PADCTL_PASSPHRASE"):
    if getattr(args, "passphrase_file", None):
        try:
            return Path(args.passphrase_file).read_text().rstrip("\n")
        except OSError as e:
            raise Fail("cannot read the passphrase file: %s" % e.strerror)
    p = os.environ.get(env)
    if not p:
        raise Fail("set %s or give --passphrase-file" % env)
    return p


def _card_pin(args):
    p = getattr(args, "pin", None) or os.environ.get("PADCTL_CARD_PIN")
    if not p:
        raise Fail("give the custodian PIN (--pin or PADCTL_CARD_PIN)")
    return p


def _open(args):
    from .service import KeyService
    return KeyService.open(_home(args), _passphrase(args), os.environ.get("PADCTL_PKCS11_PIN"))


def _out(args, obj, text):
    print(json.dumps(obj, indent=1) if getattr(args, "json", False) else text)


def _types(s):
    try:
        return tuple(int(x, 16) for x in s.split(","))
    except ValueError:
        raise Fail("--types is a comma list of key types 01-07")


# --- handlers -----------------------------------------------------------------------------

def do_init(args):
    from .service import MINISTRY, KeyService, token_from_env
    token = None
    if args.token_label:
        token = (args.pkcs11_module, args.token_label, os.environ.get("PADCTL_PKCS11_PIN", ""))
    elif not args.no_token:
        token = token_from_env()
    home = _home(args)
    region = args.region or MINISTRY
    if (home / "service.json").exists():
        svc = _open(args)
    else:
        svc = KeyService.create(home, _passphrase(args), region=region, token=token)
    made = []
    if svc.region == MINISTRY:
        made = svc.init(suites=args.suites.split(","), types=_types(args.types),
                        versions=tuple(int(v) for v in args.versions.split(",")))
    _out(args, {"home": str(home), "region": svc.region, "generated": made},
         "key service %s (region %s): %d root(s) generated%s"
         % (home, svc.region, len(made), "".join("\n  " + m for m in made)))


def do_disperse(args):
    svc = _open(args)
    made = svc.disperse(args.region, suites=args.suites.split(",") if args.suites else None)
    _out(args, [{"key": k, "kcv": c} for k, c in made],
         "\n".join("%s  KCV %s" % kc for kc in made))


def do_export(args):
    svc = _open(args)
    doc = svc.export(args.key, args.transport)
    from .sealed import write_private
    write_private(args.out, json.dumps(doc, indent=1).encode())
    _out(args, {"key": args.key, "file": args.out, "kcv": doc["kcv"]},
         "%s wrapped under %s into %s (KCV %s)" % (args.key, doc["transport"], args.out,
                                                  doc["kcv"]))


def do_import(args):
    svc = _open(args)
    try:
        doc = json.loads(Path(args.file).read_text())
    except (OSError, ValueError):
        raise Fail("%s is not a wrapped key file" % args.file)
    kid = svc.import_(doc, args.transport)
    _out(args, {"key": kid}, "imported %s" % kid)


def do_own(args):
    svc = _open(args)
    kid = svc.generate_own(args.region, args.suite, int(args.type, 16), args.version)
    _out(args, {"key": kid}, "generated %s" % kid)


def do_list(args):
    svc = _open(args)
    rows = [{"key": k, "in": b} for k, b in svc.key_ids()]
    _out(args, rows, "\n".join("%-32s %s" % (r["key"], r["in"]) for r in rows))


def do_transport_card(args):
    from .cards import make_transport_card
    svc = _open(args)
    make_transport_card(svc, args.name, _card_pin(args), args.card)
    _out(args, {"card": args.card}, "transport key card %s: transport/%s" % (args.card, args.name))


def do_load_transport(args):
    from .cards import load_transport_card
    svc = _open(args)
    kid = load_transport_card(svc, args.card, _card_pin(args))
    _out(args, {"key": kid}, "loaded %s" % kid)


def do_master_cards(args):
    from .cards import make_master_cards
    svc = _open(args)
    pins = args.pins.split(",")
    paths = make_master_cards(svc, args.m, pins, args.dir)
    _out(args, [str(p) for p in paths], "%d of %d master key cards: %s"
         % (args.m, len(pins), " ".join(map(str, paths))))


def do_restore(args):
    from .cards import restore_with_master_cards
    pins = args.pins.split(",")
    if len(pins) != len(args.cards):
        raise Fail("give one custodian PIN per master key card")
    restore_with_master_cards(_home(args), list(zip(args.cards, pins)),
                              _passphrase(args, "PADCTL_NEW_PASSPHRASE"))
    _out(args, {"restored": str(_home(args))}, "restored %s with a new passphrase" % _home(args))


def do_mother_card(args):
    from .cards import make_mother_card
    svc = _open(args)
    make_mother_card(svc, args.region, _card_pin(args), args.card)
    _out(args, {"card": args.card}, "key mother card %s for region %s" % (args.card, args.region))


def do_pad_links(args):
    from .compat import PadLinks
    svc = _open(args)
    links = {}
    for pad in args.pads:
        try:
            if len(bytes.fromhex(pad)) != 8:
                raise ValueError
        except ValueError:
            raise Fail("pad id %r must be 16 hex digits" % pad)
        links[pad.upper()] = (args.region, svc.pad_link_key(args.region, pad,
                                                            why="window key file"))
    PadLinks.write(args.out, _passphrase(args, "PADCTL_WINDOW_PASSPHRASE"), links)
    _out(args, {"file": args.out, "pads": sorted(links)},
         "%s: link keys of %d pad(s), sealed" % (args.out, len(links)))


def do_audit(args):
    from .audit import AuditLog
    log = AuditLog(_home(args) / "audit.log")
    entries = log.verify()
    if args.json:
        print(json.dumps(entries, indent=1))
    else:
        for e in entries:
            print("%5d %s %-10s %-14s %-26s %s %s" % (
                e["seq"], e["at"], e["who"], e["op"], e.get("key", "-"), e.get("region", "-"),
                e.get("detail", "")))
        print("audit log %s: %d entries, hash chain verified" % (log.path, len(entries)))


def do_test_roots(args):
    from .. import keys as K
    ks = K.Keystore.generate(args.path, overwrite=args.force)
    _out(args, {"keystore": str(args.path), "marker": ks.data.get("marker")},
         "wrote %s (test material: generated roots)" % args.path)


def do_issue_psam(args):
    from .issue import issue_psam
    svc = _open(args)
    at = issue_psam(svc, args.mother, _card_pin(args), args.region, args.level, args.out,
                    suite=args.suite)
    _out(args, {"psam": args.out, "region": at, "level": args.level},
         "PSAM %s issued for region %s at level %d" % (args.out, at, args.level))


def do_issue_card(args):
    from .issue import issue_card
    svc = _open(args)
    ident = issue_card(svc, args.mother, _card_pin(args), args.region, args.serial,
                       args.holder_id, args.out, suite=args.suite, psam=args.psam)
    _out(args, {"card": args.out, "card_id": ident.card_id.hex().upper()},
         "card %s issued: card id %s" % (args.out, ident.card_id.hex().upper()))


def do_provision_pad(args):
    from .issue import provision_pad
    svc = _open(args)
    out = provision_pad(svc, args.mother, _card_pin(args), args.pad_id, args.region, args.flash)
    _out(args, {"pad": args.pad_id.upper(), "flash": args.flash}, out)


# --- parsers ------------------------------------------------------------------------------

def _common(p, json_=True):
    p.add_argument("--home", help="the key service's folder (default $PADCTL_KEYSVC_HOME)")
    p.add_argument("--passphrase-file", help="file holding the sealed keystore's passphrase "
                                             "(default $PADCTL_PASSPHRASE)")
    if json_:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def _wrap(fn):
    def run(args):
        from .errors import KeyServiceError
        from ..keys import KeystoreError
        try:
            fn(args)
        except (Fail, KeyServiceError, KeystoreError) as e:
            print("padctl: %s" % e, file=sys.stderr)
            return 1
        return 0
    return run


def add_arguments(sub):
    from .backends import DEFAULT_MODULE
    k = sub.add_parser("keys", help="the key service: roots, dispersion, cards, audit",
                       description="The key service (PKCS#11 token and sealed keystore). "
                                   "`padctl keys PATH` still writes a JSON test keystore.")
    ks = k.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    ks.required = True

    def cmd(name, fn, help_, json_=True):
        p = ks.add_parser(name, help=help_, description=help_)
        _common(p, json_)
        p.set_defaults(func=_wrap(fn))
        return p

    p = cmd("init", do_init, "create the service and generate the ministry's roots in it")
    p.add_argument("--region", help="a department's service (PPCCDD); default the ministry")
    p.add_argument("--suites", default="SM4,3DES")
    p.add_argument("--types", default="01,02,03,04,05,06,07")
    p.add_argument("--versions", default="1")
    p.add_argument("--pkcs11-module", default=DEFAULT_MODULE)
    p.add_argument("--token-label", help="PKCS#11 token for 3DES and AES keys "
                                         "(default $PADCTL_PKCS11_TOKEN)")
    p.add_argument("--no-token", action="store_true", help="software keystore only")
    p = cmd("disperse", do_disperse, "store the sub-keys of a province, prefecture or city")
    p.add_argument("--region", required=True, help="GB/T 2260 code PPCCDD")
    p.add_argument("--suites")
    p = cmd("export", do_export, "a sub-key, wrapped under a transport key, into a file")
    p.add_argument("key")
    p.add_argument("--transport", help="transport key name (required)")
    p.add_argument("--out", required=True)
    p = cmd("import", do_import, "a wrapped sub-key, unwrapped under a transport key")
    p.add_argument("file")
    p.add_argument("--transport", help="transport key name (required)")
    p = cmd("own", do_own, "generate a region-own key")
    p.add_argument("--region", required=True)
    p.add_argument("--suite", default="SM4")
    p.add_argument("--type", default="01")
    p.add_argument("--version", type=int, default=1)
    cmd("list", do_list, "key ids held (never values)")
    p = cmd("transport-card", do_transport_card, "a new transport key on a transport key card")
    p.add_argument("--name", required=True)
    p.add_argument("--card", required=True)
    p.add_argument("--pin")
    p = cmd("load-transport", do_load_transport, "load a transport key card's key")
    p.add_argument("--card", required=True)
    p.add_argument("--pin")
    p = cmd("master-cards", do_master_cards, "split the master key onto N cards (M restore)")
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--pins", required=True, help="custodian PINs, one per card, comma list")
    p.add_argument("--dir", required=True)
    p = cmd("restore", do_restore, "reopen the keystore with M master key cards; new "
                                   "passphrase from $PADCTL_NEW_PASSPHRASE")
    p.add_argument("cards", nargs="+")
    p.add_argument("--pins", required=True)
    p = cmd("mother-card", do_mother_card, "a key mother card for a region")
    p.add_argument("--region", required=True)
    p.add_argument("--card", required=True)
    p.add_argument("--pin")
    p = cmd("pad-links", do_pad_links, "a window PC's key file: its pads' link keys only "
                                       "(sealed under $PADCTL_WINDOW_PASSPHRASE)")
    p.add_argument("--pads", nargs="+", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--out", required=True)
    cmd("audit", do_audit, "list the audit log and verify its hash chain")
    p = ks.add_parser("test-roots", help="write a JSON keystore of generated test roots",
                      description="Generates random root keys per purpose into a JSON "
                                  "keystore, marked as test material.")
    p.add_argument("path")
    p.add_argument("--force", action="store_true", help="overwrite an existing keystore")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_wrap(do_test_roots))

    i = sub.add_parser("issue", help="issue a PSAM or a user card from a key mother card",
                       description="Issue a PSAM or a user card (virtual, TEST MATERIAL).")
    isub = i.add_subparsers(dest="issue_command", metavar="WHAT")
    isub.required = True
    p = isub.add_parser("psam", help="a PSAM of a region at a level")
    _common(p)
    p.add_argument("--region", required=True)
    p.add_argument("--level", type=int, choices=(1, 2, 3), required=True)
    p.add_argument("--suite", default="SM4")
    p.add_argument("--mother", required=True, help="the region's key mother card")
    p.add_argument("--pin")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_wrap(do_issue_psam))
    p = isub.add_parser("card", help="a social security card")
    _common(p)
    p.add_argument("--region", required=True)
    p.add_argument("--serial", required=True, help="16 hex digits")
    p.add_argument("--holder-id", required=True, help="GB 11643 ID number")
    p.add_argument("--suite", default="SM4")
    p.add_argument("--psam", help="check that this PSAM serves the card's region")
    p.add_argument("--mother", required=True)
    p.add_argument("--pin")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_wrap(do_issue_card))

    v = sub.add_parser("provision", help="provision a pad (id, region, link key)",
                       description="Provision a pad's flash from the region's key mother card.")
    vsub = v.add_subparsers(dest="provision_command", metavar="WHAT")
    vsub.required = True
    p = vsub.add_parser("pad", help="a pad's flash image (unix simulator board)")
    _common(p)
    p.add_argument("--pad-id", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--flash", required=True)
    p.add_argument("--mother", required=True)
    p.add_argument("--pin")
    p.set_defaults(func=_wrap(do_provision_pad))
