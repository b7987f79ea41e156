# _boot.py for a frozen build (firmware/manifest.py): mounts the littlefs partition at "/"
# and never formats it (the port's own _boot.py formats a filesystem that does not mount).
# A pad whose filesystem does not mount stays without boot.py: the journal partition is
# raw and untouched, and the REPL (service strap) is how a technician recovers it.
import gc
import vfs

try:
    from flashbdev import bdev
    if bdev:
        vfs.mount(bdev, "/")
except OSError as e:
    import sys
    sys.print_exception(e, sys.stderr)
gc.collect()
