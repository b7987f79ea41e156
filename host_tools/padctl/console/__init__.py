"""padctl console: the clerk's console in a browser (issue 13).

A Flask app on loopback: clerks sign in (``padctl clerks add``), see the window's pads,
events, cards and alerts, and run the unlock / reset check at the window. Every page
reads the event store through ``padctl.store`` and every window operation goes through
``padctl.window`` (``winapi.WindowAdapter``, the one place that calls it): no second
implementation here.
"""
