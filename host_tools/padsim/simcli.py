"""`padctl sim`: the simulated pad, interactive. Keys typed at the terminal go to the pad's
keypad; its display is printed each time it changes."""
import os
import sys
import tempfile
import termios
import tty

from .sim import Sim

HELP = ("keys: 0-9 digits, c Clear, x Cancel, Enter, # change PIN (then insert the card); "
        "i insert / pull the card; n a new card; q quit")


def sync_command(sim):
    """The exact padctl sync command for this simulated pad (its link key: test material)."""
    import shlex
    return "padctl sync --port %s --link-key %s --pad %s" % (
        shlex.quote(str(sim.port)), sim.config["link_key"], sim.pad_id)


def run(args):
    tmp = None
    if not args.dir:
        tmp = tempfile.TemporaryDirectory(prefix="padctl-sim-")
    workdir = args.dir or tmp.name

    def echo(l1, l2):
        sys.stdout.write("\r\n[ %s | %s ]\r\n" % (l1, l2))
        sys.stdout.flush()

    with Sim(workdir, lang=args.lang, echo=echo, resume=bool(args.dir)) as sim:
        print("pad %s, card %s, PIN %s (test keys generated %s)"
              % (sim.pad_id, sim.card_id, sim.pin,
                 "in %s, kept there" % workdir if args.dir else "for this run"))
        sim.start(heap=args.heap, link=getattr(args, "link", False))
        if getattr(args, "link", False):
            print("the pad's host link is %s; sync it from another terminal with:" % sim.port)
            print("  %s" % sync_command(sim))
        print(HELP, flush=True)
        inserted = False
        fd = sys.stdin.fileno()
        interactive = os.isatty(fd)
        old = termios.tcgetattr(fd) if interactive else None
        try:
            if interactive:
                tty.setcbreak(fd)
            while True:
                ch = sys.stdin.read(1)
                if not ch or ch == "q":
                    break
                if ch == "i":
                    if inserted:
                        sim.pull()
                    else:
                        sim.insert()
                    inserted = not inserted
                    echo("(card %s)" % ("inserted" if inserted else "pulled"), "")
                elif ch == "n":
                    sim.pull()
                    inserted = False
                    sim.new_card()
                    sim.save()
                    echo("(new card %s)" % sim.card_id, "")
                elif ch in "0123456789":
                    sim.ui.press(ch)
                elif ch in "cC":
                    sim.ui.press("C")
                elif ch in "xX":
                    sim.ui.press("X")
                elif ch == "#":  # the function key: CHANGE PIN with the next card
                    sim.ui.press("#")
                elif ch in "\r\n":
                    sim.ui.press("E")
        finally:
            if old is not None:
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
            sim.stop()
    if tmp:
        tmp.cleanup()
    return 0
