"""What the portal's browser tests share: a fresh database, authd, nginx in front of an
application, an SMTP sink, and headless Chromium under Selenium. Every server listens on a free
127.0.0.1 port and is stopped by its pid."""
import email
import email.policy
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

SECRET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds=10, what="a condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Child:
    """A process of the test's own, stopped by its pid."""

    def __init__(self, name, args, env=None, log_dir="."):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self.log.close()
        return code

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  # The application: it knows its user only by the Remote-User that nginx passes on.
  server {{
    listen 127.0.0.1:{upstream};
    location / {{
      default_type text/html;
      return 200 "<!doctype html><title>The application</title><h1 id=hello>hello $http_remote_user</h1>";
    }}
  }}
  server {{
    listen 127.0.0.1:{front};
    location = /_authd {{
      internal;
      proxy_pass http://127.0.0.1:{authd}/api/v1/authz/auth-request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }}
    location / {{
      auth_request /_authd;
      auth_request_set $authd_user $upstream_http_remote_user;
      auth_request_set $authd_login $upstream_http_location;
      error_page 401 =302 $authd_login;
      proxy_set_header Remote-User $authd_user;
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"""


class Portal:
    """One scenario's world: authd on a fresh database with mail and second factors, nginx with
    auth_request in front of an application, and a browser."""

    def __init__(self, scenario, rules=None):
        self.scenario = scenario
        self.rules = rules
        self.binary = os.environ["AUTHD_BINARY"]
        self.artefacts = os.path.join(os.environ["PORTAL_ARTEFACTS"], scenario)
        shutil.rmtree(self.artefacts, ignore_errors=True)
        os.makedirs(self.artefacts)
        self.tmp = tempfile.mkdtemp(prefix="authd-portal-")
        self.children = []
        self.console = []
        self.shots = 0
        self.driver = None
        self.database = None
        try:
            self._start()
        except BaseException:
            self.close(check=False)
            raise

    # --- the servers ---------------------------------------------------------------------
    def _start(self):
        server_url = os.environ["AUTHD_TEST_DATABASE_URL"]
        self.database = "authd_browser_%d_%d" % (os.getpid(), int(time.time() * 1000) % 1000000)
        subprocess.run(["psql", "-q", "-X", server_url, "-c", 'CREATE DATABASE "%s"' % self.database],
                       check=True, stdout=subprocess.DEVNULL)
        parts = urllib.parse.urlsplit(server_url)
        database_url = urllib.parse.urlunsplit(parts._replace(path="/" + self.database))

        self.smtp_port = free_port()
        self.mail_dir = os.path.join(self.tmp, "mail")
        os.makedirs(self.mail_dir)
        smtp = Child("smtp", ["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests/scripts/smtp_sink.py"),
                              str(self.smtp_port), self.mail_dir], log_dir=self.artefacts)
        self.children.append(smtp)

        self.port = free_port()
        # The browser's names: rd may only lead to a host name (not an IP address) like the portal's.
        self.direct = "http://127.0.0.1:%d" % self.port
        self.url = "http://localhost:%d" % self.port
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
        env.update({
            "AUTHD_DATABASE_URL": database_url,
            "AUTHD_LISTEN": "127.0.0.1:%d" % self.port,
            "AUTHD_PBKDF2_ITERATIONS": "1000",
            "AUTHD_IO_THREADS": "2",
            "AUTHD_HASH_THREADS": "2",
            "AUTHD_DB_POOL_SIZE": "4",
            "AUTHD_BACKUP_DIR": os.path.join(self.tmp, "backups"),
            "AUTHD_SECRET_KEY": SECRET_KEY,
            "AUTHD_PORTAL_URL": self.url,
            "AUTHD_PUBLIC_URL": self.url,
            "AUTHD_SMTP_URL": "smtp://127.0.0.1:%d" % self.smtp_port,
        })
        if self.rules:
            path = os.path.join(self.tmp, "rules.json")
            with open(path, "w") as f:
                json.dump(self.rules, f)
            env["AUTHD_ACCESS_RULES"] = path
        self.authd = Child("authd", [self.binary, "serve"], env=env, log_dir=self.artefacts)
        self.children.append(self.authd)

        self.front = free_port()
        upstream = free_port()
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.tmp, front=self.front, upstream=upstream, authd=self.port))
        self.children.append(Child("nginx", ["/usr/sbin/nginx", "-p", self.tmp, "-c", conf],
                                   log_dir=self.artefacts))
        self.app_url = "http://localhost:%d/" % self.front

        wait_for(lambda: self._ready(), 30, "authd's /readyz")
        wait_for(lambda: port_open(self.front) and port_open(upstream), 10, "nginx")
        wait_for(lambda: port_open(self.smtp_port), 10, "the SMTP sink")

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(20)

    def _ready(self):
        if self.authd.process.poll() is not None:
            raise AssertionError("authd exited at start-up:\n" + self.authd.output())
        try:
            with urllib.request.urlopen(self.direct + "/readyz", timeout=1) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def close(self, check=True):
        problems = []
        if self.driver is not None:
            try:
                self.collect_console()
            finally:
                self.driver.quit()
        for child in reversed(self.children):
            code = child.stop()
            if child is self.authd and code != 0:
                problems.append("authd exited with %d:\n%s" % (code, child.output()[-4000:]))
        if self.database:
            server_url = os.environ["AUTHD_TEST_DATABASE_URL"]
            subprocess.run(["psql", "-q", "-X", server_url, "-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.database],
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if check and problems:
            raise AssertionError("\n".join(problems))

    # --- the API, straight (to set up what a scenario starts from) --------------------------
    def api(self, method, path, body=None, token=None, user_agent="portal-test"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.direct + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", user_agent)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
                return answer.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, (json.loads(text) if text else None)

    def create_user(self, username, password="correct horse battery"):
        status, _ = self.api("POST", "/api/v1/signup",
                             {"username": username, "email": username + "@example.com", "password": password})
        assert status == 201, status
        return password

    # --- the browser ------------------------------------------------------------------------
    def open(self, path_or_url):
        self.collect_console()
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        self.driver.get(url)

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def visible(self, selector, seconds=10):
        return WebDriverWait(self.driver, seconds).until(
            EC.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def text_in(self, selector, text, seconds=10):
        WebDriverWait(self.driver, seconds).until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text))
        return self.find(selector).text

    def error(self, selector, seconds=10):
        """The sentence that appears in an error line."""
        return wait_for(lambda: self.find(selector).text, seconds, "an error in " + selector)

    def at(self, prefix, seconds=10):
        wait_for(lambda: self.driver.current_url.startswith(prefix), seconds, "the browser at " + prefix)

    def fill(self, selector, text):
        field = self.find(selector)
        field.clear()
        field.send_keys(text)

    def sign_in(self, identifier, password):
        self.visible("#login-identifier")
        self.fill("#login-identifier", identifier)
        self.fill("#login-password", password)
        self.find("#login button[type=submit]").click()

    def shot(self, name, docs=False, show=None):
        """Saves a screenshot among the artefacts (with the element `show` scrolled to the top);
        PORTAL_DOCS_DIR set also copies the README's there."""
        if show:
            self.driver.execute_script("arguments[0].scrollIntoView()", self.find(show))
        self.shots += 1
        path = os.path.join(self.artefacts, "%02d-%s.png" % (self.shots, name))
        self.driver.save_screenshot(path)
        docs_dir = os.environ.get("PORTAL_DOCS_DIR")
        if docs and docs_dir:
            os.makedirs(docs_dir, exist_ok=True)
            shutil.copyfile(path, os.path.join(docs_dir, name + ".png"))

    def collect_console(self):
        if self.driver is not None:
            self.console.extend(self.driver.get_log("browser"))

    def assert_clean_console(self):
        """No script errors and no CSP violations on any page. The one kind of SEVERE entry that
        is expected is the browser's note of an API call that was refused (a 401 for a wrong
        password): the page shows that refusal itself."""
        self.collect_console()
        bad = []
        for entry in self.console:
            message = entry.get("message", "")
            if "Content Security Policy" in message or "Refused to" in message:
                bad.append(entry)
            elif entry.get("level") == "SEVERE":
                refused_api_call = (entry.get("source") == "network" and "/api/v1/" in message
                                    and "Failed to load resource" in message)
                if not refused_api_call:
                    bad.append(entry)
        with open(os.path.join(self.artefacts, "console.json"), "w") as f:
            json.dump(self.console, f, indent=1)
        assert not bad, "console errors: %r" % bad

    # --- mail ------------------------------------------------------------------------------
    def mail_link(self, to, kind, seconds=15):
        """The link of the latest mail to `to` whose link goes to /kind?token=."""
        pattern = re.compile(re.escape(self.url) + "/" + kind + r"\?token=[A-Za-z0-9_-]+")

        def find():
            for path in sorted(glob.glob(os.path.join(self.mail_dir, "*.eml")), reverse=True):
                with open(path, "rb") as f:
                    message = email.message_from_binary_file(f, policy=email.policy.default)
                if to not in message.get("X-Envelope-To", ""):
                    continue
                for part in message.walk():
                    if part.get_content_maintype() == "text":
                        found = pattern.search(part.get_content())
                        if found:
                            return found.group(0)
            return None

        return wait_for(find, seconds, "a %s mail to %s" % (kind, to))


def totp(secret, ahead=0):
    """The TOTP code `ahead` seconds from now, by oathtool (an implementation other than authd's)."""
    args = ["oathtool", "--totp", "-b", secret]
    if ahead:
        args.append("--now=%s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + ahead)))
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()
