#!/usr/bin/python3
"""The portal in a real browser: headless Chromium under Selenium against authd, with nginx's
auth_request in front of an application and an SMTP sink for mail.

usage: test_portal.py SCENARIO    (AUTHD_BINARY, AUTHD_TEST_DATABASE_URL, PORTAL_ARTEFACTS set;
                                   PORTAL_DOCS_DIR set copies the README's screenshots there)
"""
import re
import sys
import time

from portal import Portal, totp, wait_for

PASSWORD = "correct horse battery"


def front_door(p):
    """An application behind nginx: sent to /login, signed in, back at the application."""
    p.create_user("ann")
    p.open(p.app_url + "reports?q=1")
    p.at(p.url + "/login?rd=")
    p.visible("#login-identifier")
    p.shot("login", docs=True)
    p.sign_in("ann", PASSWORD)
    p.at(p.app_url + "reports?q=1")
    assert p.text_in("#hello", "hello ann") == "hello ann"
    p.shot("application")
    p.assert_clean_console()


TWO_FACTOR_RULES = {"default_policy": "one_factor",
                    "rules": [{"domain": ["localhost"], "path_prefix": ["/reports"], "policy": "two_factor"}]}


def two_factor_front_door(p):
    """A path that needs a second factor: the portal asks for the code and goes back."""
    p.create_user("ann")
    status, login = p.api("POST", "/api/v1/login", {"username": "ann", "password": PASSWORD})
    assert status == 200
    status, setup = p.api("POST", "/api/v1/totp/setup", {"password": PASSWORD}, token=login["token"])
    assert status == 200, setup
    status, _ = p.api("POST", "/api/v1/totp/confirm", {"code": totp(setup["secret"])}, token=login["token"])
    assert status == 200
    p.open(p.app_url + "reports/q3")
    p.at(p.url + "/login?rd=")
    assert "aal=aal2" in p.driver.current_url
    assert "second factor" in p.visible(".note").text
    p.sign_in("ann", PASSWORD)
    p.visible("#mfa-code")
    p.fill("#mfa-code", totp(setup["secret"], ahead=30))
    p.find("#mfa button[type=submit]").click()
    p.at(p.app_url + "reports/q3")
    assert p.text_in("#hello", "hello ann") == "hello ann"
    p.shot("two-factor-application")
    p.assert_clean_console()


def foreign_rd(p):
    """An rd to a foreign host is not followed: the portal's own account page instead."""
    p.create_user("ann")
    p.open("/login?rd=" + "https%3A%2F%2Fevil.example%2Fsteal")
    assert p.find("#login").get_attribute("data-next") == "/account"
    p.sign_in("ann@example.com", PASSWORD)
    p.at(p.url + "/account")
    assert p.text_in("#who-username", "ann") == "ann"
    assert "evil.example" not in p.driver.current_url
    p.shot("foreign-rd-account")
    p.assert_clean_console()
    # The console check sees what it is there for: a foreign image, refused by the CSP.
    p.driver.execute_script(
        "document.body.insertAdjacentHTML('beforeend', '<img src=\"https://evil.example/x.png\">')")
    wait_for(lambda: p.collect_console() or any("Content Security Policy" in e["message"]
                                                 for e in p.console), 10, "the CSP violation")
    try:
        p.assert_clean_console()
    except AssertionError:
        pass
    else:
        raise AssertionError("a CSP violation went unnoticed")
    p.console = []


def sign_up(p):
    """Sign-up, then the address confirmed by the link in its mail."""
    p.open("/signup")
    p.visible("#signup-username")
    p.fill("#signup-username", "cyril")
    p.fill("#signup-email", "cyril@example.com")
    p.fill("#signup-password", PASSWORD)
    p.shot("signup", docs=True)
    p.find("#signup button[type=submit]").click()
    p.at(p.url + "/account")
    assert p.text_in("#who-email", "not confirmed") == "cyril@example.com (not confirmed yet)"
    p.visible("#sessions-list li")
    p.shot("account", docs=True)
    # A second sign-up with the same name: the refusal next to the username.
    p.open("/signup")
    p.visible("#signup-username")
    p.fill("#signup-username", "cyril")
    p.fill("#signup-email", "cyril2@example.com")
    p.fill("#signup-password", PASSWORD)
    p.find("#signup button[type=submit]").click()
    assert "taken" in p.error("#signup-username-error")
    assert p.find("#signup-email-error").text == ""
    # The verification link.
    p.open(p.mail_link("cyril@example.com", "verify"))
    p.visible("#verify button").click()
    assert p.text_in("#done", "confirmed") == "Your address is confirmed."
    p.open("/account")
    assert p.text_in("#who-email", "cyril@example.com") == "cyril@example.com"
    p.assert_clean_console()


def wrong_password(p):
    """A wrong password: the API's sentence next to the password field, focus on it; and the
    page fits a 360 px phone."""
    p.create_user("ann")
    p.open("/login")
    p.sign_in("ann", "not the password")
    assert p.error("#login-password-error")
    assert p.find("#login-password").get_attribute("aria-invalid") == "true"
    assert p.driver.switch_to.active_element.get_attribute("id") == "login-password"
    assert p.find("#login-identifier-error").text == ""
    p.shot("wrong-password", docs=True)
    p.driver.set_window_size(360, 800)
    width = p.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 360, "the login page is %d px wide at 360" % width
    p.shot("wrong-password-360", docs=True)
    p.sign_in("ann", PASSWORD)
    p.at(p.url + "/account")
    p.visible("#sessions-list li")
    width = p.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 360, "the account page is %d px wide at 360" % width
    p.shot("account-360", docs=True)
    p.assert_clean_console()


def second_factor(p):
    """Enrolment reading the secret off the page, sign-out, sign-in with a code from oathtool,
    then with a recovery code."""
    p.create_user("ann")
    p.open("/login")
    p.sign_in("ann", PASSWORD)
    p.at(p.url + "/account")
    p.visible("#totp-setup-password")
    p.fill("#totp-setup-password", PASSWORD)
    p.find("#totp-setup-form button[type=submit]").click()
    p.visible("#totp-pending")
    secret = p.error("#totp-secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert p.driver.execute_script(
        "const i = document.getElementById('totp-qr'); return i.complete && i.naturalWidth > 0")
    p.shot("second-factor-enrol", docs=True, show="#factor")
    p.fill("#totp-confirm-code", "000000" if totp(secret) != "000000" else "111111")
    p.find("#totp-confirm-form button[type=submit]").click()
    assert p.error("#totp-confirm-code-error")
    p.fill("#totp-confirm-code", totp(secret))
    p.find("#totp-confirm-form button[type=submit]").click()
    p.visible("#codes")
    codes = [li.text for li in p.driver.find_elements("css selector", "#codes-list li")]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes), codes
    assert p.find("#who-factor").text == "on"
    p.shot("second-factor-codes", docs=True, show="#factor")

    p.find("#signout").click()
    p.at(p.url + "/login")
    p.sign_in("ann", PASSWORD)
    p.visible("#mfa-code")
    p.shot("second-factor-login", docs=True)
    # The next step's code: the current one went to the confirmation, and each step counts once.
    p.fill("#mfa-code", totp(secret, ahead=30))
    p.find("#mfa button[type=submit]").click()
    p.at(p.url + "/account")
    assert p.text_in("#who-factor", "on") == "on"

    p.find("#signout").click()
    p.at(p.url + "/login")
    p.sign_in("ann", PASSWORD)
    p.visible("#mfa-code")
    p.fill("#mfa-code", "zzzzz-zzzzz")
    p.find("#mfa button[type=submit]").click()
    assert p.error("#mfa-code-error")
    p.fill("#mfa-code", codes[0])
    p.find("#mfa button[type=submit]").click()
    p.at(p.url + "/account")
    assert p.text_in("#who-factor", "on") == "on"

    # New recovery codes (proved by another old one), then removal (by a new one).
    p.visible("#codes-password")
    p.fill("#codes-password", PASSWORD)
    p.fill("#codes-code", codes[1])
    p.find("#codes-form button[type=submit]").click()
    p.visible("#codes")
    fresh = wait_for(lambda: [li.text for li in p.driver.find_elements("css selector", "#codes-list li")],
                     10, "new codes")
    assert len(fresh) == 10 and not set(fresh) & set(codes), fresh
    p.fill("#totp-disable-password", PASSWORD)
    p.fill("#totp-disable-code", codes[2])
    p.find("#totp-disable-form button[type=submit]").click()
    assert p.error("#totp-disable-code-error")  # the old codes stopped working
    p.fill("#totp-disable-code", fresh[0])
    p.find("#totp-disable-form button[type=submit]").click()
    assert p.text_in("#who-factor", "off") == "off"
    p.visible("#totp-setup-password")
    p.assert_clean_console()


def account_changes(p):
    """Changing the password and the email from /account, each refusal next to its field; the
    new address confirmed by its mailed link."""
    p.create_user("ann")
    p.open("/login")
    p.sign_in("ann", PASSWORD)
    p.at(p.url + "/account")
    p.visible("#password-current")
    p.fill("#password-current", "not the password")
    p.fill("#password-new", "a different passphrase")
    p.find("#password-form button[type=submit]").click()
    assert p.error("#password-current-error")
    assert p.find("#password-new-error").text == ""
    p.fill("#password-current", PASSWORD)
    p.fill("#password-new", "short")
    p.find("#password-form button[type=submit]").click()
    assert p.error("#password-new-error")
    p.fill("#password-current", PASSWORD)
    p.fill("#password-new", "a different passphrase")
    p.find("#password-form button[type=submit]").click()
    assert "changed" in p.text_in("#password .status", "changed")

    p.fill("#email-new", "ann.new@example.com")
    p.fill("#email-password", "not the password")
    p.find("#email-form button[type=submit]").click()
    assert p.error("#email-password-error")
    p.fill("#email-new", "ann.new@example.com")
    p.fill("#email-password", "a different passphrase")
    p.find("#email-form button[type=submit]").click()
    assert "ann.new@example.com" in p.text_in("#email .status", "We sent")
    p.shot("account-changes", docs=True, show="#password")
    p.open(p.mail_link("ann.new@example.com", "verify"))
    p.visible("#verify button").click()
    assert "confirmed" in p.text_in("#done", "confirmed")
    p.open("/account")
    assert p.text_in("#who-email", "ann.new@example.com") == "ann.new@example.com"
    p.assert_clean_console()


def recovery(p):
    """A forgotten password: the mail's link, a new password, signing in with it."""
    p.create_user("ann")
    p.open("/recovery")
    p.visible("#recovery-email")
    p.fill("#recovery-email", "ann@example.com")
    p.find("#recovery button[type=submit]").click()
    assert "on its way" in p.text_in("#done", "on its way")
    p.shot("recovery", docs=True)
    link = p.mail_link("ann@example.com", "reset")
    p.open(link)
    p.visible("#reset-password")
    p.fill("#reset-password", "a brand new passphrase")
    p.shot("reset", docs=True)
    p.find("#reset button[type=submit]").click()
    assert "changed" in p.text_in("#done", "changed")
    # The link is used: a second use is refused next to the field.
    p.open(link)
    p.visible("#reset-password")
    p.fill("#reset-password", "yet another passphrase")
    p.find("#reset button[type=submit]").click()
    assert p.error("#reset-password-error")
    p.open("/login")
    p.sign_in("ann", "a brand new passphrase")
    p.at(p.url + "/account")
    p.assert_clean_console()


def sessions(p):
    """Ending another session from /account: its token stops working."""
    p.create_user("ann")
    status, other = p.api("POST", "/api/v1/login", {"username": "ann", "password": PASSWORD},
                          user_agent="Other Device/1.0")
    assert status == 200
    p.open("/login")
    p.sign_in("ann", PASSWORD)
    p.at(p.url + "/account")
    p.visible("#sessions-list button")
    items = p.driver.find_elements("css selector", "#sessions-list li")
    assert len(items) == 2, [i.text for i in items]
    assert "Other Device/1.0" in p.find("#sessions-list").text
    p.shot("sessions", docs=True, show="#sessions")
    p.find("#sessions-list button").click()
    wait_for(lambda: len(p.driver.find_elements("css selector", "#sessions-list li")) == 1, 10,
             "one session left")
    assert "This browser" in p.find("#sessions-list").text
    assert p.api("GET", "/api/v1/me", token=other["token"])[0] == 401
    # Sign out everywhere: this browser is signed out too.
    p.find("#signout-all").click()
    p.at(p.url + "/login")
    p.open("/account")
    p.at(p.url + "/login")
    p.assert_clean_console()


SCENARIOS = {f.__name__: f for f in (front_door, two_factor_front_door, foreign_rd, sign_up, wrong_password, second_factor,
                                      account_changes, recovery, sessions)}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: test_portal.py " + "|".join(SCENARIOS), file=sys.stderr)
        return 2
    name = sys.argv[1]
    started = time.monotonic()
    portal = Portal(name, rules=TWO_FACTOR_RULES if name == "two_factor_front_door" else None)
    try:
        SCENARIOS[name](portal)
    except BaseException:
        try:
            portal.shot("failure")
        except Exception:
            pass
        portal.close(check=False)
        print("authd's log:\n" + portal.authd.output()[-3000:], file=sys.stderr)
        raise
    portal.close()
    print("%s: passed in %.1f s (artefacts in %s)" % (name, time.monotonic() - started, portal.artefacts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
