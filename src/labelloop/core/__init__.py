"""Pure core: arrays in, arrays out. No I/O, no clock, no global RNG, no ORM/web/CLI imports."""

from labelloop.core.answers import ABSTAIN, Answers, LabelSpace, encode_answers

__all__ = ["ABSTAIN", "Answers", "LabelSpace", "encode_answers"]
