"""Release: dataset versions with signed checkpoints of the event log, and their verification."""
