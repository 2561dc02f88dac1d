"""One adapter per external system.

Only the modules in this package import ``docker``, ``redis``,
``elasticsearch``, ``celery`` or ``salt``.  Each exposes just the calls the
farm uses, is built from :class:`benchfarm.settings.Settings` by a
``from_settings()`` constructor, and converts its library's errors into
:mod:`benchfarm.errors` in one place.
"""
