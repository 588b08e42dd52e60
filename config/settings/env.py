"""Where the project lives and how settings read the environment: shared by the modes and the components.

Reading ``.env`` (if there is one) is the only thing importing this does; nothing is written.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of a development run (SQLite file, local-disk broker, file cache, demo SMS). Created at
# start-up by config.apps.ProjectConfig.ready (settings.LOCAL_DIRECTORIES), not by importing settings.
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")
