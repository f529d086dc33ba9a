"""Login, sessions, CSRF and Basic auth behave like the controller's (avi-api.md section 1)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from akod.emulator.server import EmulatorServer


async def test_login_with_a_form_body_returns_the_controller_version_and_sets_three_cookies(
    anonymous: Any,
) -> None:
    answer = await anonymous.login()

    assert answer.status == 200
    assert answer.body["version"]["Version"] == "20.1.2"
    assert answer.body["session_cookie_name"] == "avi-sessionid"
    assert set(answer.body) >= {"user", "tenants", "system_config", "controller", "user_initialized"}
    set_cookies = answer.headers.getall("Set-Cookie")
    names = {c.split("=", 1)[0] for c in set_cookies}
    assert names == {"csrftoken", "avi-sessionid", "sessionid"}
    session = next(c for c in set_cookies if c.startswith("avi-sessionid="))
    assert "HttpOnly" in session and "Max-Age=86400" in session and "Path=/" in session
    csrf = next(c for c in set_cookies if c.startswith("csrftoken="))
    assert "Max-Age=31449600" in csrf and "HttpOnly" not in csrf


async def test_login_with_a_json_body_is_accepted(anonymous: Any) -> None:
    answer = await anonymous.login(as_json=True)

    assert answer.status == 200
    assert anonymous.csrf() is not None


async def test_login_with_a_wrong_password_is_401_invalid_credentials(anonymous: Any) -> None:
    answer = await anonymous.login(password="wrong")

    assert answer.status == 401
    assert answer.body == {"error": "Invalid credentials"}


async def test_api_call_without_a_session_is_401(anonymous: Any) -> None:
    answer = await anonymous.get("/api/pool")

    assert answer.status == 401


async def test_unsafe_call_without_the_csrf_header_is_401_plain_text(avi: Any) -> None:
    answer = await avi.post("/api/tenant", {"name": "t1"}, headers={"X-CSRFToken": "invalid"})

    assert answer.status == 401
    assert answer.text == "CSRF token missing or incorrect."


async def test_safe_call_needs_no_csrf_header(avi: Any) -> None:
    answer = await avi.get("/api/tenant", headers={"X-CSRFToken": "whatever"})

    assert answer.status == 200


async def test_authenticated_answers_refresh_the_session_cookies(avi: Any) -> None:
    answer = await avi.get("/api/cloud")

    names = {c.split("=", 1)[0] for c in answer.headers.getall("Set-Cookie")}
    assert names == {"avi-sessionid", "sessionid"}


async def test_logout_ends_the_session(avi: Any) -> None:
    assert (await avi.post("/logout")).status == 200

    assert (await avi.get("/api/cloud")).status == 401


async def test_session_idle_for_longer_than_api_idle_timeout_is_rejected(
    avi: Any, emulator: EmulatorServer
) -> None:
    assert (await avi.get("/api/cloud")).status == 200
    for session in list(emulator.state.sessions._by_id.values()):
        session.last_seen -= 16 * 60  # api_idle_timeout is 15 minutes

    assert (await avi.get("/api/cloud")).status == 401


async def test_session_older_than_api_force_timeout_is_rejected_even_when_busy(
    avi: Any, emulator: EmulatorServer
) -> None:
    for session in list(emulator.state.sessions._by_id.values()):
        session.created -= 24 * 3600 + 1  # api_force_timeout is 24 hours

    assert (await avi.get("/api/cloud")).status == 401


async def test_a_new_login_after_expiry_works(avi: Any, emulator: EmulatorServer) -> None:
    for session in list(emulator.state.sessions._by_id.values()):
        session.created -= 24 * 3600 + 1
    assert (await avi.get("/api/cloud")).status == 401

    assert (await avi.login()).status == 200
    assert (await avi.get("/api/cloud")).status == 200


async def test_basic_auth_works_without_login_or_csrf(emulator: EmulatorServer) -> None:
    token = base64.b64encode(b"admin:admin").decode()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{emulator.url}/api/tenant",
            json={"name": "basic-t"},
            headers={"Authorization": f"Basic {token}", "X-Avi-Version": "20.1.2"},
        ) as rsp:
            assert rsp.status == 201
            assert {c.split("=", 1)[0] for c in rsp.headers.getall("Set-Cookie")} == {
                "avi-sessionid",
                "sessionid",
            }


async def test_basic_auth_with_a_wrong_password_is_401(emulator: EmulatorServer) -> None:
    token = base64.b64encode(b"admin:nope").decode()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emulator.url}/api/tenant", headers={"Authorization": f"Basic {token}"}) as rsp:
            assert rsp.status == 401
            assert (await rsp.json())["error"] == "Invalid credentials"


async def test_password_change_through_useraccount_applies_to_the_next_login(
    avi: Any, new_client: Any
) -> None:
    changed = await avi.put("/api/useraccount", {"old_password": "admin", "password": "s3cret"})
    assert changed.status == 200

    other = await new_client(login=False)
    assert (await other.login(password="admin")).status == 401
    assert (await other.login(password="s3cret")).status == 200


async def test_password_change_with_a_wrong_old_password_is_refused(avi: Any) -> None:
    answer = await avi.put("/api/useraccount", {"old_password": "nope", "password": "x"})

    assert answer.status == 400


async def test_initial_data_and_cluster_status_answer_without_a_session(anonymous: Any) -> None:
    initial = await anonymous.get("/api/initial-data")
    status = await anonymous.get("/api/cluster/status")

    assert initial.status == 200 and initial.body["version"]["Version"] == "20.1.2"
    assert status.status == 200 and status.body["cluster_state"]["state"] == "CLUSTER_UP_NO_HA"


async def test_cluster_runtime_reports_a_cluster_up_without_ha(avi: Any) -> None:
    answer = await avi.get("/api/cluster/runtime")

    assert answer.status == 200
    assert answer.body["cluster_state"]["state"] == "CLUSTER_UP_NO_HA"
