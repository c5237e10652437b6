"""Serves Keystone's public WSGI application with Werkzeug on 127.0.0.1.

Used by conformance/run. The port comes from the KS_PORT environment variable, not argv:
keystone's oslo.config would parse any command-line argument as its own. The configuration
directory comes from OS_KEYSTONE_CONFIG_DIR (keystone.conf in it).

Requests are handled one at a time: Keystone on SQLite fails concurrent writes with
"database is locked" (a 500), and tempest's parallel workers create and delete projects and
users at the same moment. Connections are still accepted by many threads; only the
application is serialised.
"""
import os
import sys
import threading
import warnings

warnings.simplefilter("ignore")
port = int(os.environ["KS_PORT"])
del sys.argv[1:]

from keystone.server import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

application = wsgi.initialize_public_application()
lock = threading.Lock()


def serialised(environ, start_response):
    with lock:
        result = application(environ, start_response)
        try:
            return list(result)
        finally:
            if hasattr(result, "close"):
                result.close()


run_simple("127.0.0.1", port, serialised, threaded=True,
           use_reloader=False, use_debugger=False)
