"""The session cookie jar: aiohttp's, with repeated Set-Cookie headers and filtering cached."""

from __future__ import annotations

import asyncio

from yarl import URL

from akod.avi.session import csrf_token, make_cookie_jar

ORIGIN = "http://127.0.0.1:9"
LOGIN = [
    "csrftoken=abc; Max-Age=31449600; Path=/",
    "avi-sessionid=s1; HttpOnly; Max-Age=86400; Path=/; expires=Thu, 26 Nov 2026 14:30:00 GMT",
    "sessionid=s1; HttpOnly; Max-Age=86400; Path=/; expires=Thu, 26 Nov 2026 14:30:00 GMT",
]


def _sent(jar, path: str = "/api/pool") -> list[tuple[str, str]]:
    return sorted((k, v.value) for k, v in jar.filter_cookies(URL(ORIGIN + path)).items())


def test_changes_are_seen_at_once_and_repeats_are_cheap() -> None:
    async def main() -> None:
        jar = make_cookie_jar(ORIGIN)
        jar.update_cookies_from_headers(LOGIN, URL(ORIGIN + "/login"))
        assert _sent(jar) == [("avi-sessionid", "s1"), ("csrftoken", "abc"), ("sessionid", "s1")]
        assert csrf_token(jar) == "abc"
        # the same cookies again with a later expiry date: nothing to do
        again = [h.replace("14:30:00", "14:30:01") for h in LOGIN[1:]]
        jar.update_cookies_from_headers(again, URL(ORIGIN + "/api/pool"))
        assert _sent(jar) == [("avi-sessionid", "s1"), ("csrftoken", "abc"), ("sessionid", "s1")]
        # a new session id replaces the old one at once, also in a cached filter result
        jar.update_cookies_from_headers([h.replace("s1", "s2") for h in LOGIN[1:]], URL(ORIGIN + "/api/pool"))
        assert _sent(jar) == [("avi-sessionid", "s2"), ("csrftoken", "abc"), ("sessionid", "s2")]
        # a deletion (Max-Age=0) too
        jar.update_cookies_from_headers(["sessionid=s2; Max-Age=0; Path=/"], URL(ORIGIN + "/api/pool"))
        assert _sent(jar) == [("avi-sessionid", "s2"), ("csrftoken", "abc")]
        jar.clear()
        assert _sent(jar) == [] and csrf_token(jar) is None
        # after a clear, the very same headers as before are stored again
        jar.update_cookies_from_headers(LOGIN, URL(ORIGIN + "/login"))
        assert _sent(jar, "/api/vsvip") == [("avi-sessionid", "s1"), ("csrftoken", "abc"), ("sessionid", "s1")]

    asyncio.run(main())
