"""gunicorn's logs as Secretum's (``secretum.lib.logs``): JSON lines, the request id on each.

gunicorn sets up handlers of its own for its error and access logs, in its own text formats.
``JsonLogger`` (the workers' ``logger_class``) drops them: gunicorn's error log goes up to the
root logger (``secretum.log``), and each request is one line of the access log (``access.log``)
with the fields of the ``access_log_format`` the workers are given (``logs.access_fields``) and
the request's id, which ``lib.workers.behind_front`` made.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import glogging

from secretum.lib import logs


class JsonLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)
        self.error_log.propagate = True
        self.access_lines = logging.getLogger(logs.ACCESS_LOGGER)
        self.fields = logs.access_fields(cfg.access_log_format)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        # The atoms themselves, not gunicorn's SafeAtoms (which escapes quotes for its text
        # format): json escapes what it must.
        atoms = self.atoms(resp, req, environ, request_time)
        values = {
            name: _typed(atoms.get(atom.lower() if atom.startswith("{") else atom))
            for name, atom in self.fields.items()
        }
        logs.log_access(self.access_lines, environ.get(logs.ENVIRON_KEY), values)
        # The request is over: lines this thread writes until its next one belong to none.
        logs.REQUEST_ID.set(None)


def _typed(value: Any) -> Any:
    """Numbers as numbers (status, bytes, duration); gunicorn's "-" for nothing as null."""
    if value == "-" or value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
