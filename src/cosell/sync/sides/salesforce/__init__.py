"""The Salesforce side: opportunities, accounts, related rows and the org schema."""
