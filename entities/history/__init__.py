"""History: an audit trail of every record change (collection ``sys.history``)."""
