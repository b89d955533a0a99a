"""Application logs (``sys.logs``): what happened in the app, queried through ``/status/logs``.

Other packages write through ``services.app_logs.write(level, message, additional_info, user)`` (typed as
``core.services.AppLogWriter``).
"""

from runtime.applogs.service import LEVELS, AppLogs

__all__ = ["LEVELS", "AppLogs"]
