"""Change signals: the Salesforce poller and the Partner Center sweeper only mark keys dirty."""
