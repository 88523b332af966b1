"""Xero Practice Manager (XPM) API v3.1 adapter. The simulator lives in `simulators.xpm`."""
