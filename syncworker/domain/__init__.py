"""Pure domain: canonical records, matching, link and sync decisions. No I/O, no adapters, no ORM."""
