"""Source: bring items, answers, gold and production telemetry in."""
