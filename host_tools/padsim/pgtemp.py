"""A throwaway PostgreSQL cluster in a temporary folder, for tests and the bench.

``TempCluster()`` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/N/bin``,
else ``pg_config --bindir``, else PATH) on a fresh temporary folder, listening on a
Unix socket in that folder only (no TCP port, so nothing clashes with another cluster).
initdb refuses to run as root: as root the folder is handed to the ``postgres`` user
(made by Debian's package) and the commands run as that user through ``runuser``.
``stop()`` stops the server (immediate: the data is thrown away) and removes the folder.
"""
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class ClusterError(Exception):
    pass


def bindir():
    """The folder holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return str(Path(found[-1]).parent)
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and os.path.exists(os.path.join(out.stdout.strip(), "initdb")):
            return out.stdout.strip()
    except OSError:
        pass
    path = shutil.which("initdb")
    return str(Path(path).parent) if path else None


class TempCluster:
    """settings: extra server settings (name -> value), e.g. {"fsync": "off"} for tests."""

    def __init__(self, settings=None, user="padctl", dbname="region", prefix="padctl-pg-"):
        self.bin = bindir()
        if self.bin is None:
            raise ClusterError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.user, self.dbname = user, dbname
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.dir / "data"
        self.as_user = []
        if os.geteuid() == 0:  # initdb refuses root: the postgres user owns the folder
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterError("running as root and there is no postgres user") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.dir, 0o755)
        self.started = False
        try:
            self._run("initdb", "-D", str(self.data), "-U", user, "-A", "trust", "--no-sync",
                      "-E", "UTF8", "--locale=C")
            opts = {"listen_addresses": "''", "unix_socket_directories": "'%s'" % self.dir,
                    "max_connections": "50"}
            opts.update(settings or {})
            with open(self.data / "postgresql.conf", "a") as f:
                for k, v in opts.items():
                    f.write("%s = %s\n" % (k, v))
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                      "-w", "-t", "30", "start")
            self.started = True
            self._run("createdb", "-h", str(self.dir), "-U", user, dbname)
        except BaseException:
            self.stop()
            raise

    def _run(self, tool, *args):
        cmd = self.as_user + [os.path.join(self.bin, tool)] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise ClusterError("%s failed (%d): %s" % (tool, p.returncode,
                                                       (p.stderr or p.stdout).strip()[-800:]))
        return p.stdout

    def url(self, dbname=None):
        """A libpq URL for the cluster's socket."""
        return "postgresql://%s@/%s?host=%s" % (self.user, dbname or self.dbname, self.dir)

    def createdb(self, name):
        self._run("createdb", "-h", str(self.dir), "-U", self.user, name)
        return self.url(name)

    def stop(self):
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except ClusterError:
                pass
            self.started = False
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
