"""The pure core: metrics, classification and the lifecycle. No database, no I/O, no clock reads."""
