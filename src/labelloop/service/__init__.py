"""Use cases, one transaction each, grouped by the stage of the loop they serve.

``project`` sets a workspace up (init, schema, status); then the loop:
``source`` → ``sample`` → ``annotate`` → ``adjudicate`` → ``audit``.
"""
