# Transitional: the link's keys moved to cmac.py (Keys), its frames into link.py. app.py
# still imports Keys from here; once it imports `from cmac import Keys`, delete this file.
from cmac import Keys  # noqa: F401
