"""One package per external system. Each translates its system's wire format to and from the canonical
profile (`syncworker.domain.profile`); its loopback simulator lives in `simulators/`. Adapters make no matching or sync
decisions."""
