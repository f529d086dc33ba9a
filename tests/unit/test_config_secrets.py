"""The controller password: where it is read from, and that it never shows up anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akod.config import (
    ConfigError,
    Settings,
    describe,
    parse_settings,
    read_controller_password,
)

PASSWORD = "s3cr3t-Pa55word"

BASE = """
[cluster]
name = "S1-AZ1"

[controller]
host = "10.10.20.43"
se_group = "S1-AZ1-SE-Group"
"""


def settings_with_password_file(path: Path | None) -> Settings:
    text = BASE
    if path is not None:
        text = text.replace("[controller]\n", f'[controller]\npassword_file = "{path}"\n')
    return parse_settings(text)


def password_file(tmp_path: Path, content: str, *, mode: int = 0o600) -> Path:
    path = tmp_path / "password"
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def failure(settings: Settings, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read_controller_password(settings, environ=environ)
    return str(caught.value)


def test_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    settings = settings_with_password_file(password_file(tmp_path, PASSWORD + "\n"))
    assert read_controller_password(settings, environ={}) == PASSWORD


def test_only_one_trailing_newline_is_stripped(tmp_path: Path) -> None:
    settings = settings_with_password_file(password_file(tmp_path, "pw \n\n"))
    assert read_controller_password(settings, environ={}) == "pw \n"


def test_password_file_readable_by_others_is_refused_with_the_chmod_fix(tmp_path: Path) -> None:
    path = password_file(tmp_path, PASSWORD, mode=0o644)
    message = failure(settings_with_password_file(path), {})
    assert message == (
        f"[controller] password_file: {path} is readable by group or others (mode 0644); "
        f"run: chmod 600 {path}"
    )


def test_password_file_readable_by_group_is_refused(tmp_path: Path) -> None:
    path = password_file(tmp_path, PASSWORD, mode=0o640)
    assert "(mode 0640); run: chmod 600" in failure(settings_with_password_file(path), {})


def test_missing_password_file_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    path = tmp_path / "absent"
    message = failure(settings_with_password_file(path), {"AKOD_CONTROLLER_PASSWORD": "from-env"})
    assert message == f"[controller] password_file: {path} does not exist"


def test_empty_password_file_is_refused(tmp_path: Path) -> None:
    path = password_file(tmp_path, "\n")
    assert failure(settings_with_password_file(path), {}) == (
        f"[controller] password_file: {path} is empty"
    )


def test_password_file_wins_over_the_environment(tmp_path: Path) -> None:
    settings = settings_with_password_file(password_file(tmp_path, PASSWORD))
    environ = {"AKOD_CONTROLLER_PASSWORD": "from-env"}
    assert read_controller_password(settings, environ=environ) == PASSWORD


def test_environment_is_used_without_a_password_file() -> None:
    settings = settings_with_password_file(None)
    environ = {"AKOD_CONTROLLER_PASSWORD": PASSWORD}
    assert read_controller_password(settings, environ=environ) == PASSWORD


def test_environment_wins_over_the_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "controller-password").write_text("from-credential")
    environ = {"AKOD_CONTROLLER_PASSWORD": PASSWORD, "CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert read_controller_password(settings_with_password_file(None), environ=environ) == PASSWORD


def test_empty_environment_variable_is_refused() -> None:
    message = failure(settings_with_password_file(None), {"AKOD_CONTROLLER_PASSWORD": ""})
    assert "AKOD_CONTROLLER_PASSWORD is set but empty" in message


def test_systemd_credential_is_used_last(tmp_path: Path) -> None:
    credential = tmp_path / "controller-password"
    credential.write_text(PASSWORD + "\n")
    credential.chmod(0o440)  # systemd's own mode; the service owns the directory
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert read_controller_password(settings_with_password_file(None), environ=environ) == PASSWORD


def test_no_password_source_at_all_names_all_three(tmp_path: Path) -> None:
    message = failure(settings_with_password_file(None), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert message.startswith("[controller] password_file: no controller password")
    assert "AKOD_CONTROLLER_PASSWORD" in message
    assert "'controller-password'" in message


def test_password_never_appears_in_settings_or_their_description(tmp_path: Path) -> None:
    path = password_file(tmp_path, PASSWORD)
    settings = settings_with_password_file(path)
    assert read_controller_password(settings, environ={}) == PASSWORD

    for rendering in (repr(settings), str(settings), json.dumps(describe(settings))):
        assert PASSWORD not in rendering
    assert "password" not in {key for section in describe(settings).values() for key in section} - {
        "password_file"
    }


def test_password_never_appears_in_error_messages(tmp_path: Path) -> None:
    path = password_file(tmp_path, PASSWORD, mode=0o666)
    assert PASSWORD not in failure(settings_with_password_file(path), {})
