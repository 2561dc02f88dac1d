"""The farm's web console under ``/ui``: farm, jobs, job, compare and history pages, served by the API.

Decisions, and why:

- **Server-rendered Jinja2 templates** (Jinja2 is already a dependency: the HTML report uses it). Every
  number is in an HTML table rendered on the server, so the pages work without JavaScript, with a
  screen reader, and in a test that reads the DOM; scripts only add charts and live updates.
- **Charts: uPlot 1.6.32, vendored from the npm registry** (``static/vendor/uplot/``, with a README
  naming its version, integrity, hashes and MIT licence). Why uPlot: 51 KB minified with no
  dependencies, made for time series (a job's collector timelines are thousands of points), canvas
  drawing that stays fast where SVG charts slow down; Chart.js is about four times the size for
  charts this console does not draw. Served from the API itself: nothing comes from a CDN at run time.
- **Same tokens and roles as the API**: the sign-in page takes a token (a user's from ``benchfarm
  tokens create``, or the farm's admin token) and checks it exactly as a bearer token is checked
  (:func:`benchfarm.api.dependencies.principal_of`); it then lives in an HttpOnly, SameSite=Strict
  cookie with ``Path=/ui``, so page scripts cannot read it and the JSON API never accepts it (the API
  stays bearer-only, with no cross-site request surface). The console only reads: it has no action
  that changes the farm. A missing, unknown or revoked token gets the sign-in page and no data; the
  internal (Salt) credential is refused. What a page shows follows the API's visibility rules
  (another team's private job answers 403, listings leave it out).
- **Paging on the server**: the jobs list reads one page of the job listing (a sorted set) by rank,
  so page 200 of 10,000 jobs costs what page 1 does (``bench/console_paging.py`` measures it).
- **Live progress** over server-sent events (``/ui/jobs/{id}/stream``, cookie-authenticated since
  ``EventSource`` cannot send a bearer header); without JavaScript the page refreshes itself.
- **Campaigns and the autoscaler** (issues 14 and 13) are read through their routes' own functions
  (``GET /campaigns``, ``/campaigns/{id}``, ``/campaigns/{id}/compare``, ``GET /pools``), so their pages
  show what those answer; an API made without them shows a note instead.
"""

from __future__ import annotations

from benchfarm.api.console.pages import install

__all__ = ["install"]
