"""The ground floor every package stands on: errors, settings, storage, the write context and plugins."""
