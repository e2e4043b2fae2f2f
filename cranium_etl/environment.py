"""The `CRANIUM_*` settings that the command line hands to syncs and Dagster runs."""

import os
from pathlib import Path

from dotenv import dotenv_values

# Settings that name files. A relative value is resolved against the folder of the `.env` file,
# which is the working directory, so that a subprocess started elsewhere finds the same file.
PATH_SETTINGS = ("CRANIUM_DATA_DIR", "CRANIUM_CA_BUNDLE", "CRANIUM_PACER_DIR")


def load_environment(directory: Path | None = None) -> dict[str, str]:
    """Return the process environment with `<directory>/.env` applied on top.

    Values in `.env` take precedence over exported variables, as they do for Dagster's own
    commands (`dagster dev`, `dagster job execute`), so the command line and the Dagster runs it
    starts see the same settings. An empty value counts as unset.
    """
    directory = (directory or Path.cwd()).resolve()
    environment = dict(os.environ)

    env_file = directory / ".env"
    if env_file.is_file():
        for name, value in dotenv_values(env_file).items():
            if value is not None:
                environment[name] = value

    for name in PATH_SETTINGS:
        if environment.get(name):
            environment[name] = str((directory / environment[name]).resolve())
    return environment
