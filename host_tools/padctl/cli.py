"""padctl: the clerk's and technician's tool for the PIN pads.

One CLI; each command is a handler do_<name>(args) with its own parser; one error type
(CommandError) becomes `padctl: message` and exit status 1.
"""
import argparse
import json
import sys


class CommandError(Exception):
    pass


def do_demo(args):
    from . import demo
    try:
        return demo.run(lang=args.lang, heap=args.heap)
    except demo.DemoFailed as e:
        raise CommandError("demo failed: %s" % e)


def do_sim(args):
    from . import simcli
    return simcli.run(args)


def do_keys(args):
    from . import keys as K
    try:
        ks = K.Keystore.generate(args.path, overwrite=args.force)
    except K.KeystoreError as e:
        raise CommandError(str(e))
    out = {"keystore": str(args.path), "marker": ks.data.get("marker")}
    print(json.dumps(out) if args.json else "wrote %s (test material: generated roots)" % args.path)
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="padctl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser("demo", help="run the scripted story on the simulated pad",
                       description="Runs the scripted story (right PIN, three wrong PINs, locked, "
                                   "locked card refused) on the unix-port simulator.")
    d.add_argument("--lang", choices=("en", "zh"), default="en", help="pad language")
    d.add_argument("--heap", default="64k", help="micropython -X heapsize for the pad")
    d.set_defaults(func=do_demo)

    s = sub.add_parser("sim", help="run the simulated pad interactively",
                       description="The simulated pad with a virtual card: type digits, c Clear, "
                                   "x Cancel, Enter; i insert / pull the card; q quit.")
    s.add_argument("--lang", choices=("en", "zh"), default="en")
    s.add_argument("--heap", default="64k")
    s.add_argument("--dir", help="keep the simulator's state here (default: a temporary folder)")
    s.set_defaults(func=do_sim)

    k = sub.add_parser("keys", help="generate a test keystore (roots per purpose)",
                       description="Generates random root keys per purpose into a JSON keystore, "
                                   "marked as test material.")
    k.add_argument("path")
    k.add_argument("--force", action="store_true", help="overwrite an existing keystore")
    k.add_argument("--json", action="store_true", help="machine-readable output")
    k.set_defaults(func=do_keys)

    try:
        from . import sync
    except ImportError:
        sync = None
    if sync is not None and hasattr(sync, "add_arguments"):
        sync.add_arguments(sub)
    try:
        from .console import cli as console_cli
    except ImportError:  # the console's web framework is not installed
        console_cli = None
    if console_cli is not None:
        console_cli.add_arguments(sub)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except CommandError as e:
        print("padctl: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
