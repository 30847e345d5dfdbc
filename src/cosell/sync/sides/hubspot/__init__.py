"""The HubSpot CRM side: deals with their company, contacts and notes, over the CRM API v3."""
