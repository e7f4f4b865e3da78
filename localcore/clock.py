"""The clock, re-exported for features and tests: it is part of the storage contract
(``localcore.contract.clock``), since backends stamp rows with it."""

from localcore.contract.clock import Clock, ManualClock, OffsetClock, iso, system_clock

__all__ = ["Clock", "ManualClock", "OffsetClock", "iso", "system_clock"]
