"""`padctl console` (the clerk's console in a browser) and `padctl clerks` (its accounts)."""
import getpass
import json
import sys

from ..store import default_path as store_path

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def add_arguments(sub):
    c = sub.add_parser("console", help="serve the clerk's console on loopback (a browser page)",
                       description="Serves the clerk's console (pads, events, cards, alerts, "
                                   "the unlock / reset check and its receipt) on a loopback "
                                   "address only; clerks sign in with `padctl clerks add` "
                                   "accounts. Open the printed address in the window PC's "
                                   "browser.")
    c.add_argument("--http-port", type=int, default=8765, help="TCP port (default 8765)")
    c.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS,
                   help="loopback address to bind (never another)")
    c.add_argument("--db", help="event store (default %s)" % store_path())
    c.add_argument("--clerks", help="clerks file (default: clerks.json beside the store)")
    c.add_argument("--keystore", help="the department's keystore (key service)")
    c.add_argument("--region", help="the department's region PPCCDD")
    c.add_argument("--pad-port", action="append", default=[], metavar="[PADID@]PORT",
                   help="a pad the window may use (repeat for each pad)")
    c.add_argument("--window-name", default="", help="the window's name on receipts")
    c.add_argument("--region-db", metavar="URL",
                   help="show the regional database (postgresql://...) across all windows, "
                        "read-only, instead of this window's store (no unlock / reset form)")
    c.add_argument("--idle-minutes", type=float, default=15.0,
                   help="a session ends after this long without a request (default 15)")
    c.set_defaults(func=do_console)

    k = sub.add_parser("clerks", help="the console's clerk accounts",
                       description="Clerk accounts for `padctl console`: passwords kept "
                                   "under scrypt in clerks.json beside the store (mode 0600).")
    ks = k.add_subparsers(dest="clerks_command", metavar="ACTION")
    ks.required = True
    a = ks.add_parser("add", help="add a clerk (asks the password twice)",
                      description="Adds a clerk; the password is asked twice on the terminal "
                                  "(or read from standard input with --password-stdin).")
    a.add_argument("clerk", help="the clerk's id (1-32 letters, digits, . - _)")
    a.add_argument("--name", default="", help="the clerk's name")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    a.add_argument("--replace", action="store_true", help="set a new password for a clerk")
    r = ks.add_parser("remove", help="remove a clerk", description="Removes a clerk's account.")
    r.add_argument("clerk")
    ls = ks.add_parser("list", help="list the clerks", description="Lists the clerks.")
    ls.add_argument("--json", action="store_true")
    for p in (a, r, ls):
        p.add_argument("--db", help="event store (default %s)" % store_path())
        p.add_argument("--clerks", help="clerks file (default: clerks.json beside the store)")
        p.set_defaults(func=do_clerks)


def _fail(msg):
    print("padctl: %s" % msg, file=sys.stderr)
    return 1


def _clerks(args):
    from .clerks import Clerks, default_path
    return Clerks(args.clerks or default_path(args.db))


def do_clerks(args):
    from .clerks import ClerkError
    c = _clerks(args)
    try:
        if args.clerks_command == "add":
            if args.password_stdin:
                pw = sys.stdin.readline().rstrip("\r\n")
            else:
                pw = getpass.getpass("password for %s: " % args.clerk)
                if getpass.getpass("again: ") != pw:
                    return _fail("the two passwords differ; nothing changed")
            c.add(args.clerk, pw, args.name, args.replace)
            print("clerk %s %s in %s" % (args.clerk, "set" if args.replace else "added", c.path))
        elif args.clerks_command == "remove":
            c.remove(args.clerk)
            print("clerk %s removed" % args.clerk)
        else:
            rows = c.list()
            if args.json:
                print(json.dumps(rows, indent=1))
            for r in rows if not args.json else ():
                print("%s %s" % (r["clerk"], r["name"]))
    except ClerkError as e:
        return _fail(e)
    except (EOFError, KeyboardInterrupt):
        return _fail("no password given; nothing changed")
    return 0


def do_console(args):
    from .app import create_app
    from .winapi import ConsoleWindowError, PadPort, WindowAdapter
    if not 0 <= args.http_port < 65536:
        return _fail("--http-port: 0 (any free port) to 65535")
    if bool(args.keystore) != bool(args.region):
        return _fail("give --keystore and --region together")
    try:
        pads = [PadPort(s) for s in args.pad_port]
    except ConsoleWindowError as e:
        return _fail(e)
    clerks = _clerks(args)
    if not clerks.path.exists():
        return _fail("no clerks in %s: add one with `padctl clerks add ID` first" % clerks.path)
    db = args.db or store_path()
    if args.region_db:
        if args.keystore or args.pad_port:
            return _fail("--region-db shows the region read-only: --keystore, --region and "
                         "--pad-port are for a window's console")
        from .. import region as R
        from .regionsrc import RegionAdapter, RegionReader, where
        try:
            with R.connect(args.region_db, read_only=True) as conn:
                R.check_schema(conn)
        except R.RegionError as e:
            return _fail(e)
        app = create_app(db, clerks, RegionAdapter(args.region_db), args.window_name,
                         idle=args.idle_minutes * 60, regional=where(args.region_db),
                         source=lambda: RegionReader(args.region_db))
        adapter = None
    else:
        adapter = WindowAdapter(db, args.keystore, args.region, pads)
        app = create_app(db, clerks, adapter, args.window_name, idle=args.idle_minutes * 60)
    from werkzeug.serving import make_server
    try:
        server = make_server(args.host, args.http_port, app, threaded=True)
    except OSError as e:
        return _fail("cannot listen on %s port %d: %s" % (args.host, args.http_port, e))
    host = "[%s]" % args.host if ":" in args.host else args.host
    print("padctl console: http://%s:%d/ (Ctrl-C stops it)" % (host, server.server_port),
          flush=True)
    if adapter is not None and adapter.available:
        print("padctl console: the unlock / reset form is off: %s" % adapter.available,
              file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
