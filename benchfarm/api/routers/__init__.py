"""The API's routes, one router per resource: jobs, verdicts, hosts, internal (the Salt side), meta.

``benchfarm.api.app.create_app`` includes each of them; there is no optional route group,
so a route that fails to import fails the API's start, not silently its OpenAPI document.
"""
