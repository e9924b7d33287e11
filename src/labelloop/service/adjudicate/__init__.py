"""Adjudicate: agreement, truth inference over every labeler's answers, the expert tier."""
