"""Keeping referrals and opportunities in sync: ``core`` (pure), ``sides`` (I/O), ``engine``."""
