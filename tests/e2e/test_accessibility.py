"""Every page of the shell, in each state a person meets it in, checked by axe-core and at 375 px wide.

axe-core (bundled by axe-playwright-python: nothing is fetched at run time) runs with its default rules
plus the experimental ones (``label-content-name-mismatch`` is one), at a phone width, at a desktop width
and in the dark theme; a violation of impact serious or critical fails the page. At 375 px the document
must not scroll sideways: whatever is wider (a tab row, a header) has to wrap or scroll inside its own box.

One server serves the whole module. The setup signs up a user, invites someone, stores a workspace
secret and opens a test checkout, and collects the one-time links the dev mailbox received; the pages
below only look (no confirm button is pressed), so the links stay usable for every case.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from e2e_support import Server, link_containing, open_dev_mailbox, running_server, sign_up, wait_for_mail
from playwright.sync_api import Browser, BrowserContext, Page, Route, StorageState, ViewportSize, expect

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
#: Impacts that fail a page; moderate and minor findings are printed, not asserted.
FAILING_IMPACTS = {"serious", "critical"}
OWNER = "ada@example.com"
INVITEE = "bob@example.com"

#: axe-core as axe-playwright-python bundles it (read from the installed package, never downloaded).
AXE_SCRIPT: str = Axe().axe_script


@dataclass(frozen=True)
class Site:
    """The module's server and what its pages need: the owner's signed-in browser state and links."""

    server: Server
    owner_state: StorageState
    workspace: str  # /workspace/<id>
    verify_link: str
    reset_link: str
    magic_link: str
    invite_link: str
    checkout_link: str

    def path(self, template: str) -> str:
        """``template`` with ``{workspace}``, ``{verify_link}``… filled in."""
        return template.format(**{name: getattr(self, name) for name in (
            "workspace", "verify_link", "reset_link", "magic_link", "invite_link", "checkout_link")})


def _local(url: str, server: Server) -> str:
    assert url.startswith(server.url), f"{url} is not on {server.url}"
    return url[len(server.url):]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server every case of this module reads from (the tests elsewhere get one each)."""
    with running_server(tmp_path_factory.mktemp("a11y"), "--no-bootstrap") as handle:
        yield handle


@pytest.fixture(scope="module")
def site(browser: Browser, shared_server: Server) -> Iterator[Site]:
    server = shared_server
    owner = browser.new_context(base_url=server.url, viewport=DESKTOP, locale="en-US")
    owner.set_default_timeout(10_000)
    guest = browser.new_context(base_url=server.url, viewport=DESKTOP, locale="en-US")
    guest.set_default_timeout(10_000)
    try:
        page = owner.new_page()
        sign_up(page, OWNER)
        workspace = _local(page.url, server)
        verify_link = link_containing(wait_for_mail(page, server, OWNER, "verify"), "/auth/verify-email")

        # A pending invite (listed on the invites tab) and its link.
        page.goto(workspace + "/invites")
        page.get_by_label("Email address").fill(INVITEE)
        page.get_by_role("button", name="Send invite").click()
        expect(page.get_by_role("list", name="Invites").get_by_text(INVITEE)).to_be_visible()
        invite_link = link_containing(wait_for_mail(page, server, INVITEE, "invited you"), "/invites/")

        # A stored secret (listed on the settings tab).
        page.goto(workspace + "/settings")
        page.get_by_label("Key").fill("OPENAI_API_KEY")
        page.get_by_label("Value", exact=True).fill("sk-secret-value")
        page.get_by_role("button", name="Save secret").click()
        expect(page.get_by_role("list", name="Configured keys").get_by_text("OPENAI_API_KEY")).to_be_visible()

        # An open test checkout (the offline stand-in for the payment page).
        page.goto("/credits")
        page.get_by_role("button", name=re.compile(r"^Buy ")).click()
        expect(page).to_have_url(re.compile(r"/credits/dev-checkout\?checkout="))
        checkout_link = _local(page.url, server)

        # Mailed links a signed-out visitor follows: password reset and magic-link sign-in.
        other = guest.new_page()
        other.goto("/auth/forgot-password")
        other.get_by_label("Email").fill(OWNER)
        other.get_by_role("button", name="Send reset link").click()
        expect(other.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        reset_link = link_containing(wait_for_mail(other, server, OWNER, "reset"), "/auth/reset-password")
        other.goto("/auth/signin")
        other.get_by_role("button", name="Email me a sign-in link").click()
        other.get_by_label("Email").fill(OWNER)
        other.get_by_role("button", name="Send sign-in link").click()
        expect(other.get_by_role("heading", level=1)).to_have_text("Check your email")
        magic_link = link_containing(wait_for_mail(other, server, OWNER, "sign in"), "/auth/magic-link/verify")

        yield Site(
            server=server,
            owner_state=owner.storage_state(),
            workspace=workspace,
            verify_link=_local(verify_link, server),
            reset_link=_local(reset_link, server),
            magic_link=_local(magic_link, server),
            invite_link=_local(invite_link, server),
            checkout_link=checkout_link,
        )
    finally:
        owner.close()
        guest.close()


# --- the pages ------------------------------------------------------------------------------------

Step = Callable[[Page], None]


@dataclass(frozen=True)
class Case:
    """One page in one state: open ``path`` (as the owner when ``signed_in``, with the dev mailbox opened
    through the banner link when ``mailbox``), expect the ``heading`` h1, then do ``then``.

    ``in_app``: reach ``path`` by the shell's own navigation (from the sign-in page) rather than by loading
    it: the server answers a browser's GET of a mailed one-time link with its own confirm page, so the
    shell's pages for those routes are only ever shown that way.
    """

    id: str
    path: str
    heading: str | re.Pattern[str]
    signed_in: bool = False
    mailbox: bool = False
    in_app: bool = False
    before: Step | None = None  # before the page loads (e.g. routes)
    then: Step | None = None  # once it shows (e.g. open a menu, submit an empty form)


def _click(role: Any, name: str | re.Pattern[str], *, exact: bool = False) -> Step:
    def step(page: Page) -> None:
        page.get_by_role(role, name=name, exact=exact).click()
    return step


def _then_expect(step: Step, role: Any, name: str | re.Pattern[str]) -> Step:
    """``step``, then wait for the ``role`` named ``name`` to show (a menu, a dialog)."""
    def both(page: Page) -> None:
        step(page)
        expect(page.get_by_role(role, name=name)).to_be_visible()
    return both


def _open_create_workspace(page: Page) -> None:
    page.get_by_role("button", name=re.compile(", workspace menu$")).click()
    page.get_by_role("menuitem", name=re.compile("Create workspace")).click()


def _config_unreachable(page: Page) -> None:
    def fail(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json",
                      body='{"error":"db_unavailable","code":"db_unavailable","message":"Service unavailable"}')
    page.route("**/api/v1/config", fail)


CASES = [
    # Signed out.
    Case("sign-in", "/auth/signin", "Sign in"),
    Case("sign-in-invalid", "/auth/signin", "Sign in",
         then=_then_expect(_click("button", "Sign in", exact=True), "textbox", "Email")),
    Case("sign-in-magic-link", "/auth/signin", "Sign in",
         then=_then_expect(_click("button", "Email me a sign-in link"), "heading", "Sign in with a link")),
    Case("sign-up", "/auth/signup", "Create an account"),
    Case("sign-up-invalid", "/auth/signup", "Create an account", then=_click("button", "Sign up")),
    Case("sign-up-from-invite", "/auth/signup?invite_token=abc", "Create an account"),
    Case("forgot-password", "/auth/forgot-password", "Forgot password"),
    Case("reset-password", "{reset_link}", "Reset password"),
    Case("reset-password-no-token", "/auth/reset-password", "Link expired"),
    # The mailed links open the server's confirm pages...
    Case("verify-email-link", "{verify_link}", "Verify your email"),
    Case("verify-email-link-no-token", "/auth/verify-email", "Link expired"),
    Case("magic-link", "{magic_link}", re.compile(r"^Sign in to ")),
    # ...and the shell keeps its own for its routes.
    Case("verify-email", "{verify_link}", "Verify your email", in_app=True),
    Case("verify-email-no-token", "/auth/verify-email", "Invalid verification link", in_app=True),
    Case("verify-email-expired", "/auth/verify-email?error=TOKEN_EXPIRED", "Link expired", in_app=True),
    Case("magic-link-in-app", "{magic_link}", re.compile(r"^Sign in to "), in_app=True),
    Case("magic-link-invalid", "/auth/magic-link/verify?error=INVALID_TOKEN", "Sign-in link unavailable",
         in_app=True),
    Case("bootstrap", "/auth/bootstrap?token=abc", re.compile(r"^Set up ")),
    Case("bootstrap-no-token", "/auth/bootstrap", "Setup link unavailable"),
    Case("auth-error", "/auth/error?error=INVALID_TOKEN", "Authentication error"),
    Case("invite-signed-out", "{invite_link}", "Sign in to accept this invite"),
    Case("dev-mailbox-closed", "/dev/mail", "Dev mailbox"),
    Case("dev-mailbox-open", "/dev/mail", "Dev mailbox", mailbox=True),
    Case("not-found", "/no/such/page", "Page not found"),
    Case("cannot-reach-server", "/auth/signin", "Cannot reach server", before=_config_unreachable),
    # Signed in.
    Case("home", "/", "Default workspace", signed_in=True),
    Case("workspace-overview", "{workspace}", "Default workspace", signed_in=True),
    Case("workspace-members", "{workspace}/members", "Members", signed_in=True),
    Case("workspace-invites", "{workspace}/invites", "Invites", signed_in=True),
    Case("workspace-settings", "{workspace}/settings", "Settings", signed_in=True),
    Case("workspace-audit", "{workspace}/audit", "Audit log", signed_in=True),
    Case("workspace-switcher-open", "{workspace}", "Default workspace", signed_in=True,
         then=_then_expect(_click("button", re.compile(", workspace menu$")), "menu", "Workspaces")),
    Case("user-menu-open", "{workspace}", "Default workspace", signed_in=True,
         then=_then_expect(_click("button", "User menu"), "menu", "User menu")),
    Case("create-workspace-dialog", "{workspace}", "Default workspace", signed_in=True,
         then=_then_expect(_open_create_workspace, "dialog", "Create workspace")),
    Case("workspace-not-found", "/workspace/no-such-workspace", re.compile("^Workspace (not found|unavailable)"),
         signed_in=True),
    Case("account", "/me", "Account settings", signed_in=True),
    Case("account-activity", "/me#activity", "Account settings", signed_in=True,
         then=lambda page: expect(page.get_by_role("table", name="Your account activity")).to_be_visible()),
    Case("delete-account-dialog", "/me#danger-zone", "Account settings", signed_in=True,
         then=_then_expect(_click("button", "Delete account"), "dialog", "Delete your account?")),
    Case("invite-signed-in", "{invite_link}", re.compile("^(You've been invited|Invite unavailable)$"),
         signed_in=True),
    Case("credits", "/credits", "Credits", signed_in=True),
    Case("dev-checkout", "{checkout_link}", "Test checkout", signed_in=True),
    Case("dev-mailbox-signed-in", "/dev/mail", "Dev mailbox", signed_in=True, mailbox=True),
    Case("not-found-signed-in", "/no/such/page", "Page not found", signed_in=True),
]


# --- the checks -----------------------------------------------------------------------------------

def open_case(browser: Browser, site: Site, case: Case) -> tuple[BrowserContext, Page]:
    """A fresh browser at phone width, in the case's state, showing the case's page (settled)."""
    context = browser.new_context(base_url=site.server.url, viewport=PHONE, locale="en-US",
                                  color_scheme="light", reduced_motion="reduce",  # no colour mid-transition
                                  storage_state=site.owner_state if case.signed_in else None)
    context.set_default_timeout(15_000)
    page = context.new_page()
    if case.mailbox:
        open_dev_mailbox(page, site.server)
    if case.before:
        case.before(page)
    if case.in_app:
        page.goto("/auth/signin")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        page.evaluate("(to) => { history.pushState({}, '', to); dispatchEvent(new PopStateEvent('popstate')); }",
                      site.path(case.path))
    else:
        page.goto(site.path(case.path))
    expect(page.get_by_role("heading", level=1)).to_have_text(case.heading)
    if case.then:
        case.then(page)
    # Parts arrive after the heading (the top bar's credits badge, lists): measure the page with them.
    page.wait_for_load_state("networkidle")
    return context, page


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now: the default rules plus the experimental ones."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    return cast("list[dict[str, Any]]", page.evaluate("""async () => {
        const rules = Object.fromEntries(axe.getRules(['experimental']).map((rule) => [rule.ruleId, {enabled: true}]));
        const results = await axe.run(document, {resultTypes: ['violations'], rules});
        return results.violations;
    }"""))


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])} nodes): "
                     f"{violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['failureSummary']!r}")
    return "\n".join(lines)


def horizontal_overflow(page: Page) -> str | None:
    """None when the document does not scroll sideways, else its width and the elements sticking out."""
    return cast("str | None", page.evaluate("""() => {
        const doc = document.documentElement;
        const width = window.innerWidth;
        if (doc.scrollWidth <= width) return null;
        const sticksOut = (el) => el.getBoundingClientRect().right > width + 0.5;
        const scrollsInside = (el) => getComputedStyle(el).overflowX !== 'visible';
        const name = (el) => [el.tagName.toLowerCase(), ...el.classList].join('.');
        // Where to look: the outermost elements past the right edge, leaving out those inside a box that
        // fits and clips or scrolls them.
        const clipped = (el) => {
            for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
                if (scrollsInside(box) && !sticksOut(box)) return true;
            }
            return false;
        };
        const culprits = [...document.body.querySelectorAll('*')]
            .filter((el) => sticksOut(el) && !sticksOut(el.parentElement) && !clipped(el))
            .slice(0, 8)
            .map((el) => `${name(el)} (right edge ${Math.round(el.getBoundingClientRect().right)})`);
        return `document is ${doc.scrollWidth}px wide in a ${width}px window: ${culprits.join(', ')}`;
    }"""))


def failing(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in FAILING_IMPACTS]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_page_has_no_serious_axe_violations_and_fits_375px(browser: Browser, site: Site, case: Case,
                                                           tmp_path: pathlib.Path) -> None:
    context, page = open_case(browser, site, case)
    try:
        overflow = horizontal_overflow(page)
        phone = axe_violations(page)
        page.set_viewport_size(DESKTOP)
        page.wait_for_function("() => window.innerWidth === 1280")
        desktop = axe_violations(page)
        # The dark theme has its own colours (contrast): the system preference flips it live (the shell's
        # theme script sets data-theme; the server's own pages follow the media query alone).
        page.emulate_media(color_scheme="dark")
        page.wait_for_function("() => [undefined, 'dark'].includes(document.documentElement.dataset.theme)")
        dark = axe_violations(page)
        runs = {"375 px": phone, "1280 px": desktop, "1280 px, dark theme": dark}
        problems = [f"scrolls sideways at 375 px: {overflow}"] if overflow else []
        problems += [f"axe at {run}:\n{describe(failing(found))}" for run, found in runs.items() if failing(found)]
        minor = [v for found in runs.values() for v in found if v["impact"] not in FAILING_IMPACTS]
        if minor:
            print(f"{case.id}: moderate/minor findings (not asserted):\n{describe(minor)}")
        if problems:
            shot = tmp_path / f"{case.id}-375.png"
            page.set_viewport_size(PHONE)
            page.screenshot(path=shot, full_page=True)
            pytest.fail(f"{case.id} (screenshot: {shot}):\n" + "\n".join(problems), pytrace=False)
    finally:
        context.close()
