"""Login, cookies, CSRF, versions, tenants, re-login and logout, seen from the controller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from akod.avi import AviAuthError, AviClient, AviError

from .conftest import CallLog
from .fake_controller import FakeController, Reply


async def test_first_call_logs_in_with_json_and_sends_session_headers(
    fake: FakeController, client: AviClient
) -> None:
    assert fake.logins == 0  # opening does not log in
    await client.post("pool", {"name": "p1"})

    (login,) = fake.seen("POST", "/login")
    assert login.body == {"username": fake.username, "password": fake.password}
    assert login.headers["Content-Type"] == "application/json"
    (create,) = fake.seen("POST", "/api/pool")
    csrf = create.cookies["csrftoken"]
    assert create.headers["X-CSRFToken"] == csrf
    assert create.cookies["avi-sessionid"] == create.cookies["sessionid"]
    assert create.headers["Referer"] == fake.url
    assert create.headers["X-Avi-Tenant"] == "admin"
    assert create.headers["Content-Type"] == "application/json"


async def test_api_version_defaults_to_the_controllers_own(
    fake: FakeController, client: AviClient
) -> None:
    assert client.api_version is None
    await client.login()
    await client.list("pool")
    assert client.controller_version == "22.1.3"
    assert client.api_version == "22.1.3"
    assert fake.seen("GET", "/api/pool")[0].headers["X-Avi-Version"] == "22.1.3"
    assert client.connected


async def test_configured_api_version_is_sent_even_on_login(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    async with make_client(version="20.1.1") as client:
        await client.list("pool")
        assert client.api_version == "20.1.1"
        assert client.controller_version == "22.1.3"
    assert fake.seen("POST", "/login")[0].headers["X-Avi-Version"] == "20.1.1"
    assert fake.seen("GET", "/api/pool")[0].headers["X-Avi-Version"] == "20.1.1"


async def test_tenant_is_per_call_with_the_clients_default(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    async with make_client(tenant="team-a") as client:
        await client.list("pool")
        await client.list("pool", tenant="*")
    assert [r.headers["X-Avi-Tenant"] for r in fake.seen("GET", "/api/pool")] == ["team-a", "*"]


async def test_expired_session_logs_in_again_once_and_retries(
    fake: FakeController, client: AviClient
) -> None:
    created = await client.post("pool", {"name": "p1"})
    fake.expire_sessions()
    await client.delete("pool", created["uuid"])
    assert fake.logins == 2
    assert [r.path for r in fake.requests].count("/api/pool/" + created["uuid"]) == 2
    assert fake.objects["pool"] == {}


async def test_419_also_logs_in_again(fake: FakeController, client: AviClient) -> None:
    await client.login()
    fake.fail("GET", "/api/pool", Reply(419, {"error": "session invalidated"}))
    assert await client.list("pool") == []
    assert fake.logins == 2


async def test_a_session_refused_after_a_fresh_login_is_an_error_not_a_loop(
    fake: FakeController, client: AviClient
) -> None:
    fake.fail("GET", "/api/pool", 401, 401, 401)
    with pytest.raises(AviError) as caught:
        await client.list("pool")
    assert caught.value.status == 401
    assert fake.logins == 2
    assert len(fake.seen("GET", "/api/pool")) == 2


async def test_many_calls_on_an_expired_session_share_one_new_login(
    fake: FakeController, client: AviClient
) -> None:
    await client.login()
    fake.expire_sessions()
    await asyncio.gather(*(client.list("pool") for _ in range(10)))
    assert fake.logins == 2


async def test_bad_credentials_raise_auth_error_without_retrying(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    async with make_client(password="wrong-password-value") as client:
        with pytest.raises(AviAuthError) as caught:
            await client.list("pool")
        assert "Invalid credentials" in str(caught.value)
        assert not client.connected
        assert client.last_error is not None and "Invalid credentials" in client.last_error
    assert len(fake.seen("POST", "/login")) == 1
    assert fake.seen("GET", "/api/pool") == []


async def test_invalid_credentials_on_an_api_call_is_an_auth_error(
    fake: FakeController, client: AviClient
) -> None:
    fake.fail("GET", "/api/pool", Reply(401, {"error": "Invalid credentials"}))
    with pytest.raises(AviAuthError):
        await client.list("pool")
    assert fake.logins == 1


async def test_close_logs_out(fake: FakeController, make_client: Callable[..., AviClient]) -> None:
    async with make_client() as client:
        await client.login()
    assert fake.logouts == 1
    assert fake.sessions == {}
    assert not client.connected


async def test_close_without_login_does_not_call_the_controller(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    async with make_client():
        pass
    assert fake.requests == []


async def test_logout_failure_does_not_fail_close(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    fake.fail("POST", "/logout", "reset")
    async with make_client() as client:
        await client.login()
    assert fake.logouts == 0


async def test_calls_before_open_are_refused(make_client: Callable[..., AviClient]) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await make_client().list("pool")


async def test_password_and_cookies_never_show_in_repr_errors_or_logs(
    fake: FakeController,
    make_client: Callable[..., AviClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="akod.avi")
    async with make_client() as client:
        await client.post("pool", {"name": "p1"})
        fake.fail("GET", "/api/pool", 503, 503, 503, 503, 503, 503)
        with pytest.raises(AviError) as caught:
            await client.list("pool")
        text = " ".join([repr(client), str(caught.value), repr(caught.value), caplog.text])
    assert caplog.text  # the calls were logged
    secrets = [fake.password, *fake.requests[1].cookies.values()]
    for secret in secrets:
        assert secret not in text


async def test_observer_hears_every_attempt_including_login(
    fake: FakeController, client: AviClient, calls: CallLog
) -> None:
    fake.fail("GET", "/api/pool", 503)
    await client.list("pool")
    assert calls.calls == [("POST", "login", 200), ("GET", "pool", 503), ("GET", "pool", 200)]
