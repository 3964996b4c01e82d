"""ASGI servers and headless Chromium users, for the end-to-end tests.

A ``Server`` is one Daphne or Uvicorn process (``LIVE_ASGI_SERVER``,
default Daphne), run by the interpreter under test, serving the example
site on a free loopback port.  A ``Browser`` is one user's headless Chromium (its own
profile, so its own cookies), driven by chromedriver; it logs in once and
opens each document in a tab of its own.  Everything a test checks on a
page it reads from ``<body data-lock-state data-lock-position
data-lock-warning data-save-result>``, waiting for a value with an upper
bound (WebDriverWait), never sleeping on hope.
"""
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .processes import SERVER_WARNINGS, SERVERS, Server, asgi_server, descendants, free_port, server_command

__all__ = ["Browser", "Page", "SERVERS", "SERVER_WARNINGS", "Server", "asgi_server", "descendants", "free_port",
           "server_command", "two_editors"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = "800,560"

# Headless Chromium as root on a closed network: without the networking
# flags its own connections are refused and slow it down; without the
# throttling flags a background tab's timers would slow to a crawl.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows", "--disable-features=Translate,MediaRouter",
    f"--window-size={WINDOW}",
]


@dataclass
class Page:
    """One editor tab: its window handle, and when it stopped showing anything."""

    browser: "Browser"
    handle: str
    label: str
    ended_at: Optional[float] = None
    history: List[Dict[str, Any]] = field(default_factory=list)


class Browser:
    """One user's headless Chromium."""

    def __init__(self, user: str, output: str) -> None:
        self.user = user
        self.output = output
        self.profile = tempfile.mkdtemp(prefix=f"lockable-chromium-{user}-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        service = Service(CHROMEDRIVER, log_path=os.path.join(output, f"chromedriver-{user}.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_script_timeout(30)
        self.home = self.driver.current_window_handle
        self.pages: List[Page] = []
        self.dead = False

    # ---- navigation ----

    def login(self, server: Server, password: str = "lockable") -> None:
        driver = self.driver
        driver.switch_to.window(self.home)
        driver.get(f"{server.url}/accounts/login/")
        driver.find_element(By.ID, "id_username").send_keys(self.user)
        driver.find_element(By.ID, "id_password").send_keys(password)
        driver.find_element(By.ID, "login").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.rstrip("/") == server.url)

    def open(self, server: Server, document: Any, query: str = "") -> Page:
        """Open the document's editor in a new tab."""
        self.driver.switch_to.new_window("tab")
        self.driver.get(f"{server.url}/documents/{document.pk}/{query}")
        page = Page(self, self.driver.current_window_handle, f"{self.user}@{server.port}")
        self.pages.append(page)
        return page

    def _on(self, page: Page) -> Any:
        if self.driver.current_window_handle != page.handle:
            self.driver.switch_to.window(page.handle)
        return self.driver

    # ---- reading the page ----

    def attribute(self, page: Page, name: str) -> str:
        return self._on(page).find_element(By.TAG_NAME, "body").get_attribute(name) or ""

    def state(self, page: Page) -> str:
        return self.attribute(page, "data-lock-state")

    def wait_for(self, page: Page, timeout: float, what: str, **attributes: str) -> None:
        """Wait until the body has all of these data attributes
        (``lock_state="editing"`` is ``data-lock-state``), at most timeout s."""
        wanted = {"data-" + key.replace("_", "-"): value for key, value in attributes.items()}
        driver = self._on(page)
        body = driver.find_element(By.TAG_NAME, "body")
        try:
            WebDriverWait(driver, timeout, poll_frequency=0.05).until(
                lambda d: all(body.get_attribute(name) == value for name, value in wanted.items()))
        except TimeoutException:
            seen = {name: body.get_attribute(name) for name in wanted}
            raise AssertionError(
                f"{page.label}: not {what} within {timeout} s ({wanted}; the page has {seen})") from None

    def wait_for_text(self, page: Page, timeout: float, element_id: str, text: str) -> None:
        """Wait until the element's text contains text, at most timeout s."""
        driver = self._on(page)
        element = driver.find_element(By.ID, element_id)
        try:
            WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: text in element.text)
        except TimeoutException:
            raise AssertionError(f"{page.label}: #{element_id} does not say {text!r} within {timeout} s "
                                 f"(it says {element.text!r})") from None

    def history(self, page: Page) -> List[Dict[str, Any]]:
        """The states the page showed, with their times (window.lockHistory)."""
        if page.ended_at is None:
            page.history = self._on(page).execute_script("return window.lockHistory || []")
        return page.history

    # ---- acting ----

    def click(self, page: Page, element_id: str) -> None:
        self._on(page).find_element(By.ID, element_id).click()

    def value(self, page: Page, element_id: str) -> str:
        """The value of a form field."""
        return self._on(page).find_element(By.ID, element_id).get_attribute("value") or ""

    def text(self, page: Page, element_id: str) -> str:
        return self._on(page).find_element(By.ID, element_id).text

    def shown(self, page: Page, element_id: str) -> bool:
        return self._on(page).find_element(By.ID, element_id).is_displayed()

    def focused(self, page: Page) -> str:
        """The id of the element that has the focus."""
        return self._on(page).execute_script("return document.activeElement && document.activeElement.id") or ""

    def press(self, page: Page, keys: str) -> None:
        """Send keys to whatever has the focus, as a keyboard user does."""
        self._on(page).switch_to.active_element.send_keys(keys)

    def allow_notifications(self, server: Server) -> None:
        """Grant the site the notification permission, as a user who said yes."""
        self.driver.execute_cdp_cmd("Browser.grantPermissions",
                                    {"origin": server.url, "permissions": ["notifications"]})

    def hide(self, page: Page) -> str:
        """Open a blank tab in front of page (a window's browser would hide
        page then; headless Chromium still calls it visible); returns the
        new tab's handle."""
        self._on(page).switch_to.new_window("tab")
        return self.driver.current_window_handle

    def execute(self, page: Page, script: str, *args: Any) -> Any:
        """Run script in the page (``return ...`` gives a value back)."""
        return self._on(page).execute_script(script, *args)

    def type_into(self, page: Page, element_id: str, text: str) -> None:
        element = self._on(page).find_element(By.ID, element_id)
        element.clear()
        element.send_keys(text)

    def screenshot(self, page: Page, name: str) -> str:
        path = os.path.join(self.output, name)
        self._on(page).save_screenshot(path)
        return path

    def close(self, page: Page) -> None:
        """Close the tab, as the user does (its websocket closes with it)."""
        self.history(page)
        page.ended_at = time.time() * 1000
        self._on(page).close()
        self.driver.switch_to.window(self.home)

    def close_pages(self) -> None:
        for page in self.pages:
            if page.ended_at is None and not self.dead:
                try:
                    self.close(page)
                except WebDriverException:
                    page.ended_at = time.time() * 1000

    def kill(self) -> None:
        """SIGKILL the browser's every process: no close frame, no goodbye."""
        for page in self.pages:
            if page.ended_at is None:
                self.history(page)
        pids = descendants(self.driver.service.process.pid)
        now = time.time() * 1000
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for page in self.pages:
            if page.ended_at is None:
                page.ended_at = now
        self.dead = True

    def quit(self) -> None:
        if not self.dead:
            try:
                self.driver.quit()
            except WebDriverException:
                pass
        else:
            self.driver.service.stop()
        subprocess.run(["rm", "-rf", self.profile], check=False)


TAKEN_AWAY = ("taken_over", "other_tab")
"""The reasons of a "lost" that a take over sends the displaced page."""


def editing_intervals(page: Page, until: float) -> List[tuple]:
    """(start, end, taken_away) of each stretch the page showed "editing",
    in ms; taken_away: it ended in "lost" for a take over (TAKEN_AWAY)."""
    intervals, start = [], None
    for entry in page.history:
        if entry["state"] == "editing" and start is None:
            start = entry["at"]
        elif entry["state"] != "editing" and start is not None:
            intervals.append((start, entry["at"], entry["state"] == "lost" and entry.get("reason") in TAKEN_AWAY))
            start = None
    if start is not None:
        intervals.append((start, page.ended_at if page.ended_at is not None else until, False))
    return intervals


def two_editors(pages: List[Page], taken_over_ok: bool = False) -> List[str]:
    """Every moment at which two pages showed "editing" at once; with
    taken_over_ok, but where one of them was being taken over (it showed
    "editing" until it heard so)."""
    now = time.time() * 1000
    spans = [(page.label, interval) for page in pages for interval in editing_intervals(page, now)]
    overlaps = []
    for i, (label_a, (start_a, end_a, away_a)) in enumerate(spans):
        for label_b, (start_b, end_b, away_b) in spans[i + 1:]:
            if taken_over_ok and ((away_a and start_a < start_b) or (away_b and start_b < start_a)):
                continue
            if label_a != label_b and start_a < end_b and start_b < end_a:
                overlaps.append(f"{label_a} {start_a:.0f}-{end_a:.0f} and {label_b} {start_b:.0f}-{end_b:.0f}")
    return overlaps
