"""The long-running service: configuration in, web app + signals + work queue running."""
