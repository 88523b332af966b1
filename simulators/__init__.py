"""Test doubles that behave like the real systems: loopback HTTP servers (XPM, Xero accounting, Xero
identity) that follow the documented APIs, limits and quirks, with fault injection. They are not part of the
worker: only `syncworker simulate`, `syncworker demo`, the tests and the benchmarks import them, lazily.

`http` and `faults` are the shared kit (loopback serving, resets, fault plans); each system states only its
routes, wire format and limits."""
