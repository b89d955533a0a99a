"""gunicorn reads this file from the working directory: access logs never show API keys or tokens."""

logger_class = "runtime.log_redaction.RedactingLogger"
