"""Group permissions on entities, records, fields and actions (regular users; developers are never restricted)."""
