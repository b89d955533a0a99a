"""Users and groups: service, routes and schemas of ``/users`` and ``/groups``."""
