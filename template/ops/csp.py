"""Where browsers report Content Security Policy violations (the policy's
report-uri, /csp-report/): each report becomes one WARNING line on the
``ops.csp`` logger, with the request's ID like every other line.

A report names the page, the directive that blocked something, and what it
blocked. Browser extensions cause some; a page of your own that appears
here has something the policy blocks (README, "Content Security Policy").
"""

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger(__name__)

# A browser's report is under 2 kB; read no more of a body than this.
MAX_REPORT_BYTES = 16_384


@csrf_exempt  # Browsers send reports without a CSRF token.
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    """Log the violation a browser reports (``{"csp-report": {...}}``, as
    report-uri sends it). Returns 204, or 400 for a body that is no report."""
    try:
        violation = json.loads(request.read(MAX_REPORT_BYTES))["csp-report"]
        directive = violation.get("effective-directive") or violation["violated-directive"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return HttpResponse(status=400)
    logger.warning(
        "CSP violation: %s blocked %r on %r",
        directive,
        violation.get("blocked-uri"),
        violation.get("document-uri"),
    )
    return HttpResponse(status=204)
