"""Records of an entity: validation schema, rendering, CRUD with optimistic locking, HTTP routes."""
