"""Audit: check the history and quality of what was labeled (event chain export, import, verify)."""
