"""Routes added to the API by other parts of the farm: one ``register`` call per part."""


def register(app, Auth, Deps) -> None:
    """Add every extra route group to ``app`` (called by :func:`benchfarm.api.app.create_app`)."""
    from benchfarm.api.verdict_routes import register as verdict_routes

    verdict_routes(app, Auth, Deps)

    from benchfarm.api.internal_routes import register as internal_routes

    internal_routes(app, Auth, Deps)
