"""A loopback simulator of the Xero Accounting API's contacts endpoints (see `server.XeroSimulator`)."""

from simulators.xero.faults import FAULT_KINDS
from simulators.xero.server import XeroSimulator
from simulators.xero.webhooks import Delivery, sign
from simulators.xpm.limits import Limits

__all__ = ["FAULT_KINDS", "Delivery", "Limits", "XeroSimulator", "sign"]
