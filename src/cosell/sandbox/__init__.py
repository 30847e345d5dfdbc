"""``cosell sandbox``: emulated Partner Center and Salesforce with the connector between them.

The pieces load only when the command runs (``stack.Sandbox`` is the entry point in Python).
"""
