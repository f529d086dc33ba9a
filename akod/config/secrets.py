"""Find the controller password without ever letting it into the settings or a message.

The password is not a config key: keeping it out of `Settings` means no repr, log line, status
response or SIGHUP diff can leak it. It is read when the daemon logs in, from the first source
that is configured, in this order:

1. `[controller] password_file`, which must not be readable by group or others;
2. the environment variable `AKOD_CONTROLLER_PASSWORD`;
3. the systemd credential `controller-password` (`LoadCredential=`), found in
   `$CREDENTIALS_DIRECTORY`; systemd already makes that file private to the service.

A configured source that fails (missing file, wrong mode, empty) is an error, never a reason to
fall through to the next one: the user said where the password is.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from akod.config.errors import ConfigError
from akod.config.settings import Settings

PASSWORD_ENV = "AKOD_CONTROLLER_PASSWORD"
CREDENTIAL_NAME = "controller-password"
_KEY = "[controller] password_file"


def read_controller_password(settings: Settings, *, environ: Mapping[str, str]) -> str:
    """The controller password from the first configured source. Raises ConfigError."""
    password_file = settings.controller.password_file
    if password_file is not None:
        return _read_private_file(password_file)
    if PASSWORD_ENV in environ:
        password = _strip_newline(environ[PASSWORD_ENV])
        if not password:
            raise ConfigError([f"{_KEY}: not set, and env {PASSWORD_ENV} is set but empty"])
        return password
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        credential = Path(credentials) / CREDENTIAL_NAME
        if credential.exists():
            return _read_file(
                credential, name=f"systemd credential {CREDENTIAL_NAME!r} ({credential})"
            )
    raise ConfigError(
        [
            f"{_KEY}: no controller password: set password_file (a file with mode 0600), "
            f"or env {PASSWORD_ENV}, or the systemd credential {CREDENTIAL_NAME!r} "
            f"(LoadCredential={CREDENTIAL_NAME}:/etc/akod/password)"
        ]
    )


def _read_private_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError([f"{_KEY}: {path} does not exist"]) from None
    except OSError as error:
        raise ConfigError([f"{_KEY}: cannot read {path}: {error.strerror}"]) from None
    if not stat.S_ISREG(mode):
        raise ConfigError([f"{_KEY}: {path} is not a regular file"])
    if mode & 0o077:
        raise ConfigError(
            [
                f"{_KEY}: {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            ]
        )
    return _read_file(path, name=str(path), key=_KEY)


def _read_file(path: Path, *, name: str, key: str = _KEY) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError([f"{key}: cannot read {name}: {error.strerror}"]) from None
    try:
        password = _strip_newline(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{key}: {name} is not UTF-8 text"]) from None
    if not password:
        raise ConfigError([f"{key}: {name} is empty"])
    return password


def _strip_newline(text: str) -> str:
    """Files written with `echo` end in one newline, which is not part of the password."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")
