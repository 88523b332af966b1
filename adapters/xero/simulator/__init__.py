"""A loopback simulator of the Xero Accounting API's contacts endpoints (see `server.XeroSimulator`)."""

from adapters.xero.simulator.faults import FAULT_KINDS
from adapters.xero.simulator.server import XeroSimulator
from adapters.xero.simulator.webhooks import Delivery, sign
from adapters.xpm.simulator.limits import Limits

__all__ = ["FAULT_KINDS", "Delivery", "Limits", "XeroSimulator", "sign"]
