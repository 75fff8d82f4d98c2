"""Schemathesis hooks of the contract test (loaded through ``schemathesis.toml``).

The fuzzer authenticates with one API key for the whole run; revoking that key (``DELETE
/api/v1/api-keys/{id}`` with its id, which generated integers and the key list both reach) would turn
every later request into a 401 and silently end the run's coverage. Such requests are not sent: they
are dropped where cases are generated, and in the stateful phase (whose cases come from links, not
generation) they revoke the spare key instead. Revocation itself is still tested on every other id.
"""

import os

import schemathesis

REVOKE = ("DELETE", "/api/v1/api-keys/{id}")


def _revokes_own_key(case):
    own = os.environ.get("FUZZ_KEY_ID")
    return (case.method.upper(), case.path) == REVOKE and str((case.path_parameters or {}).get("id")) == own


@schemathesis.hook
def filter_case(context, case):
    return not _revokes_own_key(case)


@schemathesis.hook
def before_call(context, case, kwargs):
    if _revokes_own_key(case):
        case.path_parameters["id"] = int(os.environ["FUZZ_SPARE_KEY_ID"])
