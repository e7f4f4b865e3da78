"""The five emails: subjects, both parts, TTL wording derived from the configured TTLs, escaping."""

from __future__ import annotations

import pytest

from localcore.mail.templates import (
    RenderedEmail,
    describe_duration,
    render_magic_link,
    render_reset_password,
    render_verify_email,
    render_welcome,
    render_workspace_invite,
)

URL = "https://app.example.com/auth/verify-email?token=tok123&callbackURL=%2F"


def all_emails() -> dict[str, tuple[RenderedEmail, str]]:
    return {
        "verify": (render_verify_email(app_name="Boring", verify_url=URL, ttl_seconds=86400, year=2026),
                   "Verify email"),
        "reset": (render_reset_password(app_name="Boring", reset_url=URL, ttl_seconds=3600, year=2026),
                  "Reset password"),
        "magic": (render_magic_link(app_name="Boring", login_url=URL, ttl_seconds=300, year=2026), "Sign in"),
        "invite": (render_workspace_invite(accept_url=URL, inviter_name="Ann", workspace_name="Acme",
                                           role="member", ttl_days=7, year=2026), "Accept invitation"),
        "welcome": (render_welcome(app_name="Boring", get_started_url=URL, year=2026), "Get started"),
    }


def test_subjects_are_upstreams() -> None:
    subjects = {name: email.subject for name, (email, _) in all_emails().items()}
    assert subjects == {
        "verify": "Verify your Boring email address",
        "reset": "Reset your Boring password",
        "magic": "Sign in to Boring",
        "invite": "Ann invited you to Acme",
        "welcome": "Welcome to Boring",
    }


@pytest.mark.parametrize("name", ["verify", "reset", "magic", "invite", "welcome"])
def test_both_parts_carry_button_link_and_footer(name: str) -> None:
    email, label = all_emails()[name]
    html, text = email.html, email.text
    assert html.startswith("<!DOCTYPE html>")
    assert text.strip() and "<p" not in text and "&amp;" not in text
    assert f"{label}: {URL}" in text
    assert f">{label}</a>" in html
    assert 'href="https://app.example.com/auth/verify-email?token=tok123&amp;callbackURL=%2F"' in html
    brand = "Acme" if name == "invite" else "Boring"
    assert f"© 2026 {brand}. All rights reserved." in text
    assert f"© 2026 {brand}. All rights reserved." in html
    # Emails carry inline styles only: no stylesheet, script or remote resource.
    for forbidden in ("<link", "<script", "<style", "src=", "@import"):
        assert forbidden not in html


def test_copy_matches_the_contract() -> None:
    emails = all_emails()
    verify = emails["verify"][0].text
    assert "Verify your email address" in verify
    assert "activate your Boring account" in verify
    assert "This link expires in 24 hours. If you didn't create an account" in verify
    reset = emails["reset"][0].text
    assert "Reset your password" in reset
    assert "This link expires in 1 hour. If you didn't request a password reset" in reset
    magic = emails["magic"][0].text
    assert "No password needed." in magic and "This link expires in 5 minutes." in magic
    invite = emails["invite"][0]
    assert "Ann invited you to join Acme as a member." in invite.text
    assert "join <strong>Acme</strong> as a <strong>member</strong>" in invite.html
    assert "This invitation expires in 7 days." in invite.text
    welcome = emails["welcome"][0].text
    assert "Your account is ready. Click below to get started." in welcome
    assert "expires" not in welcome


def test_singular_units() -> None:
    assert "expires in 1 hour." in render_verify_email(app_name="A", verify_url=URL, ttl_seconds=3600,
                                                       year=2026).text
    assert "expires in 1 minute." in render_magic_link(app_name="A", login_url=URL, ttl_seconds=60,
                                                       year=2026).html
    invite = render_workspace_invite(accept_url=URL, inviter_name="Ann", workspace_name="W", role="admin",
                                     ttl_days=1, year=2026)
    assert "expires in 1 day." in invite.text and "expires in 1 day." in invite.html
    assert "as an admin." in invite.text


def test_ttl_is_derived_from_the_configured_seconds() -> None:
    reset = render_reset_password(app_name="A", reset_url=URL, ttl_seconds=1800, year=2026)
    assert "This link expires in 30 minutes." in reset.text
    assert "30 minutes" in reset.html
    verify = render_verify_email(app_name="A", verify_url=URL, ttl_seconds=2 * 86400, year=2026)
    assert "expires in 48 hours." in verify.text
    magic = render_magic_link(app_name="A", login_url=URL, ttl_seconds=600, year=2026)
    assert "expires in 10 minutes." in magic.text


@pytest.mark.parametrize(
    ("seconds", "largest", "expected"),
    [
        (86400, "hour", "24 hours"),
        (3600, "hour", "1 hour"),
        (5400, "hour", "90 minutes"),
        (60, "minute", "1 minute"),
        (3600, "minute", "60 minutes"),
        (172800, "day", "2 days"),
        (86400, "day", "1 day"),
        (90, "day", "90 seconds"),
        (1, "minute", "1 second"),
    ],
)
def test_describe_duration(seconds: int, largest: str, expected: str) -> None:
    assert describe_duration(seconds, largest=largest) == expected  # type: ignore[arg-type]


def test_non_positive_ttl_is_refused() -> None:
    with pytest.raises(ValueError):
        describe_duration(0)
    with pytest.raises(ValueError):
        render_workspace_invite(accept_url=URL, inviter_name="A", workspace_name="W", role="member",
                                ttl_days=0, year=2026)


def test_names_are_escaped_in_html_and_kept_verbatim_in_text_and_subject() -> None:
    email = render_workspace_invite(accept_url=URL, inviter_name="Eve & <b>co</b>",
                                    workspace_name="<script>alert(1)</script>", role="member", ttl_days=7,
                                    year=2026)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Eve &amp; &lt;b&gt;co&lt;/b&gt;" in email.html
    assert email.subject == "Eve & <b>co</b> invited you to <script>alert(1)</script>"
    assert "join <script>alert(1)</script> as a member" in email.text
    assert "© 2026 <script>alert(1)</script>. All rights reserved." in email.text


def test_subject_cannot_carry_a_line_break() -> None:
    email = render_workspace_invite(accept_url=URL, inviter_name="Ann\r\nBcc: x@evil.test",
                                    workspace_name="Acme", role="member", ttl_days=7, year=2026)
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == "Ann Bcc: x@evil.test invited you to Acme"


def test_preview_text_is_the_subject() -> None:
    email = render_welcome(app_name="Boring", get_started_url=URL, year=2031)
    assert "<title>Welcome to Boring</title>" in email.html
    assert 'opacity:0;mso-hide:all;">Welcome to Boring</div>' in email.html
    assert "© 2031 Boring." in email.html
