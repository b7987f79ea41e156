"""padctl: the clerk's and technician's tool for the PIN pads.

One CLI; each command is a handler do_<name>(args) with its own parser; one guard
(main): an expected failure becomes `padctl: message` and exit status 1, usage 2,
tampering 3, Ctrl-C 130, a closed pipe is quiet.
"""
import argparse
import sys


class CommandError(Exception):
    pass


SIM_MISSING = "the simulator is not installed: pip install 'padctl[sim]'"


def simulator(module):
    """padsim.<module>, imported only by the commands that run the simulated world (demo,
    sim, emulate): padctl itself never imports padsim."""
    import importlib
    try:
        return importlib.import_module("padsim." + module)
    except ImportError as e:
        if (e.name or "").split(".")[0] == "padsim":
            raise CommandError(SIM_MISSING) from None
        raise


def do_demo(args):
    demo = simulator("demo")
    try:
        return demo.run(lang=args.lang, heap=args.heap)
    except demo.DemoFailed as e:
        raise CommandError("demo failed: %s" % e)


def do_sim(args):
    return simulator("simcli").run(args)


def do_emulate(args):
    return simulator("emulate").run(args)


def version():
    from . import __version__
    return __version__


def build_parser():
    p = argparse.ArgumentParser(prog="padctl", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version="padctl " + version())
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
    s.add_argument("--dir", help="keep the simulator's state here, and go on with it next "
                   "time: pad id, card, flash and journal (default: a temporary folder)")
    s.add_argument("--link", action="store_true", help="open the pad's host link (a pty): "
                   "prints its port and the padctl sync command to run")
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
    from . import flash
    flash.add_arguments(sub)
    from . import window  # window unlock / reset / checks (issue 9)
    window.add_arguments(sub)
    e = sub.add_parser("emulate", help="an emulated pad on a pty, for mpremote and padctl",
                       description="An emulated pad behind a pty that behaves as a board's USB "
                                   "console: the firmware on a flash image (DIR/flash.img), the "
                                   "REPL in service mode; SIGUSR1 resets with the service strap "
                                   "held, SIGUSR2 without. Its test keys: DIR/keystore.json.")
    e.add_argument("--pty", help="make PATH a link to the console's pty (else it is printed)")
    e.add_argument("--dir", help="the pad's state: flash.img, keystore.json (default pad-emu)")
    e.add_argument("--service", action="store_true",
                   help="hold the service strap at power-up (REPL for mpremote)")
    e.add_argument("--region", default="110105", help="region of the emulated PSAM")
    e.add_argument("--heap", help="micropython -X heapsize (default 80k: the pad's 64k and "
                   "the emulated chip's own)")
    e.set_defaults(func=do_emulate)
    try:
        from .console import cli as console_cli
    except ImportError:  # the console's web framework is not installed
        console_cli = None
    if console_cli is not None:
        console_cli.add_arguments(sub)
    return p


EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130  # (tampering: 3, sync.EXIT_TAMPER)


def main(argv=None):
    """The one guard: a usage error exits 2 (argparse), an expected failure prints one
    line `padctl: ...` and exits 1, tampering exits 3 (padctl sync), Ctrl-C exits 130,
    and a reader that closed the pipe (padctl events | head) ends it quietly."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keys"] and len(argv) > 1 and not argv[1].startswith("-"):
        from .keysvc.cli import SUBCOMMANDS
        if argv[1] not in SUBCOMMANDS:  # `padctl keys PATH`: the JSON test keystore
            argv.insert(1, "test-roots")
    args = build_parser().parse_args(argv)
    from .store import StoreError
    from .sync import SyncError
    try:
        rc = args.func(args)
        sys.stdout.flush()
    except (CommandError, SyncError, StoreError) as e:
        print("padctl: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as e:  # a file or device that failed: said in one line
        print("padctl: %s" % (e.strerror and "%s%s" % (
            e.strerror, ": %s" % e.filename if e.filename else "") or e), file=sys.stderr)
        return EXIT_FAILURE
    return rc or 0


def _quiet_stdout():
    """stdout's reader is gone: what is left to flush goes nowhere (no error at exit)."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
