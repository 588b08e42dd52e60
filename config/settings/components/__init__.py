"""Settings by concern, star-imported by ``config/settings/base.py`` (see its docstring for the map)."""
