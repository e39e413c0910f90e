"""Small helpers every app shares: locks, rate limits, CSV cells, dates, currencies, email, access checks.

Nothing here knows a model: the modules import Django and third-party libraries only, so every app
(and `coinsite.accounts`, the bottom of the graph) may use them.
"""
