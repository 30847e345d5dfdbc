"""cosell: two-way sync between Microsoft Partner Center co-sell referrals and CRM opportunities."""

__version__ = "0.1.0"
__all__ = ["__version__"]
