"""Xero Practice Manager (XPM) API v3.1 adapter. The simulator lives in `adapters.xpm.simulator`."""
