"""Schemathesis hooks of the contract test (loaded through ``schemathesis.toml``).

The fuzzer authenticates with one API key for the whole run; revoking that key (``DELETE
/api/v1/api-keys/{id}`` with its id, which generated integers and the key list both reach) would turn
every later request into a 401 and silently end the run's coverage. Such requests are not sent: they
are dropped where cases are generated, and in the stateful phase (whose cases come from links, not
generation) they revoke the spare key instead. Revocation itself is still tested on every other id.

Requests whose request line gunicorn refuses before the application runs are not sent either (below).
"""

import os
from urllib.parse import quote, urlencode

import schemathesis

REVOKE = ("DELETE", "/api/v1/api-keys/{id}")


def _revokes_own_key(case):
    own = os.environ.get("FUZZ_KEY_ID")
    return (case.method.upper(), case.path) == REVOKE and str((case.path_parameters or {}).get("id")) == own


@schemathesis.hook
def filter_case(context, case):
    return not _revokes_own_key(case) and _request_line_length(case) <= REQUEST_LINE_LIMIT - 200


@schemathesis.hook
def before_call(context, case, kwargs):
    if _revokes_own_key(case):
        case.path_parameters["id"] = int(os.environ["FUZZ_SPARE_KEY_ID"])


# gunicorn (the web server, before any Python of ours runs) refuses a request line longer than this with
# its own HTML 400, as docs/api.md says. Schemathesis reaches it only by repeating query parameters
# hundreds of times; such cases test the web server, not the API, and are not sent (200 characters are
# left for the encoding differences between this estimate and the request sent).
REQUEST_LINE_LIMIT = 4094


def _request_line_length(case):
    path = case.path
    for name, value in (case.path_parameters or {}).items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    query = urlencode(case.query or {}, doseq=True)
    return len(f"{case.method.upper()} {path}?{query} HTTP/1.1")
