"""Application logs (``sys.logs``): what happened in the app, queried through ``/status/logs``.

Other packages write through the service: ``app_logs(services).write(level, message, additional_info, user)``.
"""

from runtime.applogs.service import LEVELS, AppLogs, app_logs

__all__ = ["LEVELS", "AppLogs", "app_logs"]
