"""The controller's error text is kept whole when short, and cut when it is a page of HTML."""

from __future__ import annotations

from akod.avi.transport import MESSAGE_CHARS, Reply


def test_the_controllers_error_field_is_the_message() -> None:
    reply = Reply(status=400, body={"error": "Invalid match string"}, text="", retry_after=None)
    assert reply.message == "Invalid match string"


def test_a_huge_error_text_is_cut_with_an_ellipsis() -> None:
    page = "<html>" + "x" * 500_000 + "</html>"
    for reply in (Reply(status=502, body=None, text=page, retry_after=None),
                  Reply(status=400, body={"error": page}, text=page, retry_after=None)):
        assert len(reply.message) == MESSAGE_CHARS and reply.message.endswith("...")
