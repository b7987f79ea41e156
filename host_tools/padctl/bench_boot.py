"""Boot figures for `make bench`: the journal's opening time on a new and on a full ring.

Opening (what the pad's boot waits for) reads the sector headers, the head sector and the
sectors outside the ring, never the other records (docs/protocol.md 8.5); the audit and
the retry index run after boot, a slice at a time. Measured in one micropython process
at the pad's heap (tests/fw/bench_boot.py), reported as times and as the ratio of the
full ring's opening to the new journal's (this machine is noisy: the ratio is the figure
to compare), with the ESP32 estimate at the ~50x the issue names.
"""
import subprocess
import sys

from .mpy import FWTESTS, HEAP, ROOT, mp_cmd, mp_env

ESP32_FACTOR = 50  # MicroPython on an ESP32 runs roughly 50 times slower than here


def measure(heap=HEAP):
    """{"new": (records, open_us, audit_us), "full": (...)} from one run."""
    r = subprocess.run(mp_cmd(FWTESTS / "bench_boot.py", heap), env=mp_env(tests=True),
                       cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    got = {}
    for line in r.stdout.splitlines():
        if line.startswith("open "):
            _, tag, n, o, a = line.split()
            got[tag] = (int(n), int(o), int(a))
    if r.returncode != 0 or set(got) != {"new", "full"}:
        raise RuntimeError("bench_boot failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return got


def report(got, say=print):
    (_, o0, a0), (n1, o1, a1) = got["new"], got["full"]
    say("boot: the journal opens in %.1f ms new and %.1f ms with a full ring of %d records "
        "(ratio %.2f: opening does not grow with the records; on an ESP32 about %.0f ms); "
        "the audit and retry index after boot: %.1f ms new, %.1f ms full (%.1f s on an "
        "ESP32, a slice at a time while the pad idles)"
        % (o0 / 1000, o1 / 1000, n1, o1 / o0, o1 * ESP32_FACTOR / 1000, a0 / 1000,
           a1 / 1000, a1 * ESP32_FACTOR / 1e6))


def main(argv=None):
    report(measure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
