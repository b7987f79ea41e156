"""padctl: the clerk's and technician's tool for the PIN pads.

One CLI; each command is a handler do_<name>(args) with its own parser; one error type
(CommandError) becomes `padctl: message` and exit status 1.
"""
import argparse
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

    from .keysvc import cli as keysvc_cli  # keys, issue, provision (issue 8)
    keysvc_cli.add_arguments(sub)

    try:
        from . import sync
    except ImportError:
        sync = None
    if sync is not None and hasattr(sync, "add_arguments"):
        sync.add_arguments(sub)
    from . import region  # forward / region (psycopg is imported only when they run)
    region.add_arguments(sub)
    from . import emulate, flash
    flash.add_arguments(sub)
    emulate.add_arguments(sub)
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keys"] and len(argv) > 1 and not argv[1].startswith("-"):
        from .keysvc.cli import SUBCOMMANDS
        if argv[1] not in SUBCOMMANDS:  # `padctl keys PATH`: the JSON test keystore
            argv.insert(1, "test-roots")
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
