"""The two sides a reconcile talks to: Partner Center and a CRM (Salesforce or HubSpot)."""
