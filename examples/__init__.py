"""The sample app: entity definitions in ``entities/`` and action handlers in ``crm``."""
