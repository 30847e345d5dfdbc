"""Reconcile with the store: the engine, its helpers, locks and runners."""
