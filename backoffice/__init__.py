"""Backoffice: everything staff do, in one app.

Django admin (every model's registration, the actions and their reason forms, the economy and
settings forms), the reports page, the staff groups, and the operations that span apps (a top-up
refund or chargeback that also claws back creators' diamonds). It may import every app; no app
imports it. See docs/architecture.md.
"""
