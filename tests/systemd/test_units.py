"""The shipped systemd units are valid, hardened, and keep the daemon's contract with systemd.

systemd cannot run here (PID 1 is not systemd), so the units are checked offline the way CI can:
`systemd-analyze verify` must print nothing (it warns about unknown keys yet exits 0), and
`systemd-analyze security --offline=true` must score them as well hardened. `verify` insists that
ExecStart exists, so a copy with ExecStart pointed at an executable on this machine is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ["akod.service", "akod@.service"]
INSTALLED_AKOD = "/opt/akod/bin/akod"
MAX_EXPOSURE = 2.5

systemd_analyze = shutil.which("systemd-analyze") or "systemd-analyze"
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package: systemd)",
)


def _local_executable() -> str:
    """The venv's own `akod` console script if there is one, else a binary every system has."""
    candidate = Path(sys.executable).with_name("akod")
    if candidate.is_file() and candidate.stat().st_mode & 0o111:
        return str(candidate.absolute())
    return shutil.which("true") or "/bin/true"


def _unit_copy(tmp_path: Path, unit: str, *, name: str | None = None) -> Path:
    text = (UNITS_DIR / unit).read_text()
    assert f"ExecStart={INSTALLED_AKOD} run --config " in text
    copy = tmp_path / (name or unit)
    copy.write_text(text.replace(f"ExecStart={INSTALLED_AKOD}", f"ExecStart={_local_executable()}"))
    return copy


def _directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS_DIR / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@needs_systemd_analyze
@pytest.mark.parametrize("unit,name", [*((u, None) for u in UNITS), ("akod@.service", "akod@S1-AZ1.service")])
def test_unit_verifies_without_any_message(tmp_path: Path, unit: str, name: str | None) -> None:
    copy = _unit_copy(tmp_path, unit, name=name)
    result = subprocess.run(
        [systemd_analyze, "verify", str(copy)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_systemd_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_hardened_to_a_low_exposure(tmp_path: Path, unit: str) -> None:
    copy = _unit_copy(tmp_path, unit)
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=true", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"{unit}: exposure {exposure}")
    assert exposure <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_unit_keeps_the_daemon_contract(unit: str) -> None:
    d = _directives(unit)
    template = unit.endswith("@.service")
    config = "/etc/akod/%i.toml" if template else "/etc/akod/akod.toml"
    password = "/etc/akod/%i.password" if template else "/etc/akod/password"
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["ExecStart"] == [f"{INSTALLED_AKOD} run --config {config}"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["StateDirectory"] == ["akod/%i" if template else "akod"]
    assert d["StateDirectoryMode"] == ["0700"]
    assert d["LoadCredential"] == [f"controller-password:{password}"]
    assert d["User"] == ["akod"]
    assert d["CapabilityBoundingSet"] == [""]
    assert d["MemoryDenyWriteExecute"] == ["yes"]


def test_sysusers_file_creates_the_akod_user(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.skip("systemd-sysusers is not installed (Debian package: systemd)")
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group"):
        (tmp_path / "etc" / name).touch()
    result = subprocess.run(
        [sysusers, "--dry-run", f"--root={tmp_path}", str(UNITS_DIR / "akod.sysusers.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Creating user 'akod'" in result.stdout + result.stderr


# MemoryDenyWriteExecute=yes kills a process that maps writable+executable memory. The kernel's
# PR_SET_MDWE (Linux >= 6.3) applies the same rule to one process, so the daemon's libraries can
# be exercised under it here.
_UNDER_MDWE = r"""
import ctypes, mmap, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("W+X memory was allowed: MDWE is not in force")
except OSError:
    pass
import importlib, pkgutil, re, ssl
import akod, aiohttp, alembic, kubernetes_asyncio, prometheus_client, pydantic, uvloop, yaml
for module in pkgutil.walk_packages(akod.__path__, "akod."):
    # __main__ would run the command line; migrations run only under alembic; the emulator and
    # the dev environment are not part of the daemon.
    if not re.search(r"\.__main__$|\.migrations\b|^akod\.(emulator|devenv)\b", module.name):
        importlib.import_module(module.name)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
key.public_key().verify(key.sign(b"x", ec.ECDSA(hashes.SHA256())), b"x", ec.ECDSA(hashes.SHA256()))
class Model(pydantic.BaseModel):
    n: int
assert Model.model_validate({"n": "1"}).n == 1
async def main():
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as conn:
        assert (await conn.exec_driver_sql("select 1")).scalar() == 1
    await engine.dispose()
    ssl.create_default_context()
    async with aiohttp.ClientSession():
        pass
uvloop.run(main())
print("ok")
"""


def test_daemon_libraries_run_without_writable_executable_memory() -> None:
    result = subprocess.run([sys.executable, "-c", _UNDER_MDWE], capture_output=True, text=True, check=False)
    if result.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux < 6.3): MemoryDenyWriteExecute not checked")
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
