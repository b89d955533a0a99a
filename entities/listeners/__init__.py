"""Data listeners in entity metadata: handlers and webhooks called after record writes and job events."""
