"""Pure core: arrays in, arrays out. No I/O, no clock, no global RNG, no ORM/web/CLI imports."""
