"""Webhooks: signed JSON POSTs from a worker, retried with backoff, logged in ``sys.webhookDeliveries``."""
