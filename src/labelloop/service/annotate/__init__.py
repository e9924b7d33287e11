"""Annotate: batches of work for people, labeling functions, LLM and trained-model labelers."""
