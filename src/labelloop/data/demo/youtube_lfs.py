"""Labeling functions for the YouTube spam demo (`labelloop demo`, items with a `text` field).

    labelloop lf apply youtube_lfs.py     (copied into the demo workspace)
    labelloop lf report

Each LF gets one comment's text and returns "spam", "ham" or ABSTAIN.
"""

import re

from labelloop.labelers.rules import ABSTAIN, labeling_function

SPAM, HAM = "spam", "ham"

_CHECK_OUT = re.compile(r"check\s*(it\s*)?out", re.IGNORECASE)
_LINK = re.compile(r"https?://|www\.|\.com\b", re.IGNORECASE)


@labeling_function(resources={"words": ("subscribe", "subscribers", "sub to")})
def asks_to_subscribe(text: str, words: tuple[str, ...]) -> str | int:
    t = text.lower()
    return SPAM if any(w in t for w in words) else ABSTAIN


@labeling_function()
def check_out(text: str) -> str | int:
    return SPAM if _CHECK_OUT.search(text) else ABSTAIN


@labeling_function()
def has_link(text: str) -> str | int:
    return SPAM if _LINK.search(text) else ABSTAIN


@labeling_function(resources={"words": ("my channel", "my video", "my page", "my music")})
def self_promotion(text: str, words: tuple[str, ...]) -> str | int:
    t = text.lower()
    return SPAM if any(w in t for w in words) else ABSTAIN


@labeling_function()
def please(text: str) -> str | int:
    t = text.lower()
    return SPAM if "please" in t or "plz" in t or "pls" in t else ABSTAIN


@labeling_function()
def money(text: str) -> str | int:
    t = text.lower()
    return SPAM if "$" in t or "money" in t or "free" in t or "earn" in t else ABSTAIN


@labeling_function()
def about_the_song(text: str) -> str | int:
    t = text.lower()
    return HAM if ("song" in t or "love this" in t) and "my" not in t else ABSTAIN


@labeling_function()
def short_comment(text: str) -> str | int:
    return HAM if len(text.split()) < 5 else ABSTAIN


@labeling_function()
def views_milestone(text: str) -> str | int:
    t = text.lower()
    return HAM if "billion" in t or "views" in t else ABSTAIN
