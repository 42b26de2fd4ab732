"""Use cases: the only code that writes. One transaction for state, outbox and timers."""
