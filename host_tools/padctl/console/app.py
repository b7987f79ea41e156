"""The console's pages (Flask). create_app() is the composition root: the event store's
path, the clerks file and the window adapter (winapi.WindowAdapter, or a test's fake) go in.

Security (DESIGN 7, issue 13): loopback only (the Host header must name a loopback
address, against DNS rebinding); every POST must come from this origin (Origin, else
Referer) and carry the session's CSRF token; sessions end after `idle` seconds without a
request and `max_age` seconds in all; pages may not be framed and run only this console's
own scripts.
"""
import hmac
import os
import re
import threading
import time
import uuid
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, g, redirect, render_template, request, session, url_for

from ..store import KINDS, Store, StoreError
from .clerks import ClerkError
from .i18n import translate
from .winapi import ConsoleWindowError

PAGE = 25
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CARD_ID = re.compile(r"[0-9a-f]{32}")
OPS = ("unlock", "reset")


class Job:
    """One unlock or reset running at a pad in a thread; the progress page reads it."""

    def __init__(self, clerk, op, pad):
        self.id = uuid.uuid4().hex
        self.clerk, self.op, self.pad = clerk, op, pad
        self.steps, self.state, self.outcome, self.error = [], "running", None, None
        self.started = time.time()


def _when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def _pads(store):
    """The pads the store has synced: Store.pads() where this padctl's store has it (with
    its alert counts), else its pads table read as Store.pads() reads it."""
    if hasattr(store, "pads"):
        return store.pads()
    rows = store.db.execute("SELECT pad_id, version, epoch, head, acked, free, last_seen"
                            " FROM pads ORDER BY pad_id").fetchall()
    return [dict(zip(("pad", "version", "epoch", "head", "acked", "free", "last_seen"), r))
            for r in rows]


def create_app(db, clerks, adapter, window_name="", idle=15 * 60, max_age=8 * 3600,
               clock=time.time, page_size=PAGE, source=None, regional=None):
    """source: what the pages read (default: the window's event store at db), e.g. a
    regionsrc.RegionReader factory with regional naming that database for the banner."""
    here = os.path.dirname(__file__)
    app = Flask(__name__, template_folder=os.path.join(here, "templates"),
                static_folder=os.path.join(here, "static"))
    app.secret_key = os.urandom(32)  # a restart signs everyone out
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="padctl_console", MAX_CONTENT_LENGTH=64 * 1024)
    jobs, fails, lock = {}, {}, threading.Lock()

    def store():
        return source() if source else Store(db)

    def lang():
        return session.get("lang", "en")

    @app.context_processor
    def _context():
        def here_in(code):
            args = request.args.to_dict()
            args["lang"] = code
            return request.path + "?" + urlencode(args)
        return {"_": translate(lang()), "lang": lang(), "when": _when, "here_in": here_in,
                "csrf": session.get("csrf", ""), "clerk": session.get("clerk"),
                "window_name": window_name, "region": adapter.region or "",
                "regional": regional}

    def refuse(status, why):
        return render_template("refused.html", why=why), status

    @app.before_request
    def _guard():
        host = urlsplit("//" + request.host).hostname
        if host not in LOOPBACK:
            return refuse(403, "Host %s is not this console's loopback address" % host)
        if request.args.get("lang") in ("en", "zh"):
            session["lang"] = request.args["lang"]
        if "csrf" not in session:
            session["csrf"] = os.urandom(24).hex()
        now = clock()
        if session.get("clerk"):
            if now - session.get("seen", 0) > idle or now - session.get("since", 0) > max_age:
                keep, token = session.get("lang", "en"), session["csrf"]
                session.clear()  # the token stays: a form posted late says "expired"
                session.update(lang=keep, csrf=token, expired=True)
            else:
                session["seen"] = now
        if request.method == "POST":
            want = request.host_url.rstrip("/")
            origin = request.headers.get("Origin")
            if origin is None and request.referrer:
                r = urlsplit(request.referrer)
                origin = "%s://%s" % (r.scheme, r.netloc)
            token = request.form.get("csrf", "")
            if origin != want or not hmac.compare_digest(token, session["csrf"]):
                return refuse(403, translate(lang())("The form was not sent by this console "
                                                     "(CSRF token or origin wrong)."))
        g.clerk = session.get("clerk")
        if g.clerk is None and request.endpoint not in ("login", "static"):
            return redirect(url_for("login", next=request.path))

    @app.after_request
    def _headers(resp):
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
            " frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    # --- signing in -------------------------------------------------------------------

    @app.route("/login", methods=["GET", "POST"])
    def login():
        _ = translate(lang())
        error = _("Your session has expired: sign in again.") if session.pop("expired", None) \
            else None
        if request.method == "POST":
            who = request.form.get("clerk", "").strip()
            n, until = fails.get(who, (0, 0))
            if until > clock():
                error = _("Too many failed sign-ins: wait a minute.")
            else:
                try:
                    ok = clerks.check(who, request.form.get("password", ""))
                except ClerkError as e:
                    return refuse(500, str(e))
                if ok:
                    fails.pop(who, None)
                    keep = lang()
                    session.clear()  # a new session (and token) at sign-in
                    now = clock()
                    session.update(clerk=who, since=now, seen=now, lang=keep,
                                   csrf=os.urandom(24).hex())
                    nxt = request.args.get("next", "/")
                    return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//")
                                    else "/", 303)
                n += 1
                fails[who] = (n, clock() + 60 if n >= 5 else 0)
                error = _("Wrong clerk id or password.")
        return render_template("login.html", error=error), 401 if error else 200

    @app.route("/logout", methods=["POST"])
    def logout():
        keep = lang()
        session.clear()
        session["lang"] = keep
        return redirect(url_for("login"), 303)

    # --- the store's pages ------------------------------------------------------------

    @app.route("/")
    def pads():
        try:
            with store() as s:
                rows = _pads(s)
                for p in rows:
                    if p.get("alerts") is None:
                        p["alerts"] = len(s.alerts(p["pad"]))
        except StoreError as e:
            return refuse(500, str(e))
        known = {p.pad_id for p in adapter.pads if p.pad_id}
        ports = {p.pad_id: p.port for p in adapter.pads}
        for p in rows:
            p["port"] = ports.get(p["pad"], "")
        extra = [p for p in adapter.pads if p.pad_id is None or p.pad_id not in
                 {r["pad"] for r in rows}]
        return render_template("pads.html", pads=rows, unsynced=extra, known=known)

    @app.route("/events")
    def events():
        f = {k: request.args.get(k, "").strip() or None
             for k in ("pad", "card", "kind", "since", "until")}
        try:
            page = max(1, int(request.args.get("page", "1")))
        except ValueError:
            page = 1
        error, rows = None, []
        try:
            if f["card"] and not CARD_ID.fullmatch(f["card"].lower()):
                raise ValueError("card id: 32 hex digits")
            if f["pad"] and not re.fullmatch(r"[0-9a-fA-F]{16}", f["pad"]):
                raise ValueError("pad id: 16 hex digits")
            with store() as s:
                rows, total, page = s.events_page(f, page, page_size)  # newest first
        except ValueError as e:
            error, total = str(e), 0
        except StoreError as e:
            return refuse(500, str(e))
        pages = max(1, (total + page_size - 1) // page_size)
        args = {k: v for k, v in f.items() if v}

        def page_url(n):
            return url_for("events", page=n, **args)
        return render_template("events.html", rows=rows,
                               total=total, page=page, pages=pages, f=f, error=error,
                               kinds=list(KINDS.values()), page_url=page_url)

    @app.route("/cards")
    def cards():
        q = request.args.get("q", "").strip().lower()
        state = request.args.get("state", "")
        if q and CARD_ID.fullmatch(q):
            return redirect(url_for("card", card=q))
        try:
            with store() as s:
                rows = s.cards()
        except StoreError as e:
            return refuse(500, str(e))
        rows = [c for c in rows if (not state or c["state"] == state) and q in c["card"]]
        return render_template("cards.html", rows=rows, q=q, state=state)

    @app.route("/cards/<card>")
    def card(card):
        card = card.lower()
        if not CARD_ID.fullmatch(card):
            abort(404)
        try:
            with store() as s:
                info = next(iter(s.cards(card=card)), None)
                history = s.events(card=card)
        except StoreError as e:
            return refuse(500, str(e))
        try:
            checks = adapter.checks(card)
        except ConsoleWindowError as e:
            return refuse(500, str(e))
        by_seq = {}
        for c in checks:  # the journal records that name each check (after a sync)
            for r in c.get("records", ()):
                by_seq[(r["seq"], r["kind"])] = c
        wrong = 0  # wrong PINs since the card's last success (the store's count stops at LOCK)
        for e in history:
            e["check"] = by_seq.get((e["seq"], e["kind"]))
            if e["kind"] == "PIN_WRONG":
                wrong += 1
            elif e["kind"] in ("PIN_OK", "UNLOCK", "RESET", "CHANGE"):
                wrong = 0
        if info is not None:
            info = dict(info, wrong=wrong)
        history.reverse()
        return render_template("card.html", card=card, info=info, history=history,
                               checks=list(reversed(checks)))

    @app.route("/alerts")
    def alerts():
        try:
            with store() as s:
                rows = list(reversed(s.alerts()))
                quarantined = s.quarantined()
        except StoreError as e:
            return refuse(500, str(e))
        return render_template("alerts.html", rows=rows, quarantined=quarantined)

    # --- the window -------------------------------------------------------------------

    def form_page(form, error=None, status=200):
        types, numbered = adapter.doc_types()
        return render_template("window.html", form=form, error=error, types=types,
                               numbered=numbered, pads=adapter.pads,
                               unavailable=adapter.available), status

    @app.route("/window", methods=["GET", "POST"])
    def window():
        _ = translate(lang())
        if request.method == "GET":
            return form_page({"op": request.args.get("op", "unlock"),
                              "card": request.args.get("card", "")})
        form = request.form.to_dict()
        if adapter.available:
            return form_page(form, adapter.available, 503)
        op = form.get("op")
        if op not in OPS:
            return form_page(form, "operation: unlock or reset", 400)
        pad = next((p for p in adapter.pads if p.key == form.get("pad")), None)
        if pad is None:
            return form_page(form, _("no such pad"), 400)
        holder = "%s:%s" % (form.get("holder_type", ""), form.get("holder_number", ""))
        agent = None
        if form.get("agent"):
            if op == "unlock":
                return form_page(form, _("an agent may only reset a PIN; unlocking is done "
                                         "by the holder in person"), 400)
            if not form.get("agent_number", "").strip():
                return form_page(form, _("the agent's document is required in an agent "
                                         "case"), 400)
            agent = "%s:%s" % (form.get("agent_type", ""), form.get("agent_number", ""))
        try:
            adapter.check(holder, agent)  # refused here before any pad is touched
        except ConsoleWindowError as e:
            return form_page(form, "%s: %s" % (_("The documents were refused"), e), 400)
        if not pad.lock.acquire(blocking=False):
            return form_page(form, _("another operation runs on this pad"), 409)
        job = Job(g.clerk, op, pad.key)
        with lock:
            jobs[job.id] = job

        def work():
            try:
                job.outcome = adapter.run(op, pad, job.clerk, holder, agent,
                                          progress=job.steps.append)
                job.state = "done" if job.outcome.get("done") else "failed"
            except ConsoleWindowError as e:
                job.error, job.state = str(e), "failed"
            except Exception as e:  # never a silent thread: the page says what broke
                job.error, job.state = "%s: %s" % (type(e).__name__, e), "failed"
            finally:
                pad.lock.release()
        threading.Thread(target=work, daemon=True).start()
        return redirect(url_for("job", job_id=job.id), 303)

    @app.route("/window/job/<job_id>")
    def job(job_id):
        j = jobs.get(job_id)
        if j is None or j.clerk != g.clerk:
            abort(404)
        return render_template("job.html", job=j)

    @app.route("/receipt/<ref>")
    def receipt(ref):
        if not re.fullmatch(r"[0-9a-f]{12}", ref):
            abort(404)
        try:
            c = adapter.check_ref(ref)
        except ConsoleWindowError as e:
            return refuse(500, str(e))
        if c is None:
            abort(404)
        c = dict(c, holder_type_name=dict(adapter.doc_types()[0]).get(c["holder_type"]))
        return render_template("receipt.html", c=c)

    @app.errorhandler(404)
    def _404(e):
        return render_template("refused.html", why=translate(lang())("Not found")), 404

    app.jobs = jobs
    return app
