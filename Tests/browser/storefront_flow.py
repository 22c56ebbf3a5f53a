#!/usr/bin/env python3
"""Completes a shop order as a real user in headless Chromium, driven over the DevTools Protocol.

Signs in through the platform's login page, adds products to the basket, checks out, then
checks a tenant's customization and saves PNG screenshots:
  --scenario shipping  My Orders shows a SHIPPING DATE column with a date for the new order.
  --scenario rfid      the order is held until its lines are scanned at the RFID station
                       (--rfid URL), then becomes Paid.
Prints one JSON line {"orderId": ..., "screenshots": [...]} and exits 0; on failure prints the
reason, the current URL and the start of the page text on stderr and exits 1.
Needs only the standard library and websocket-client.
"""
import argparse, base64, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request
import websocket  # websocket-client


class FlowError(Exception):
    pass


class Browser:
    """A headless Chromium with its own throwaway profile, and one page talked to over CDP."""

    def __init__(self, chromium, timeout):
        self.timeout, self.next_id = timeout, 0
        self.profile = tempfile.mkdtemp(prefix="storefront-flow-")
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--hide-scrollbars", "--window-size=1200,800", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # own process group
        self.ws = None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self):
        port_file, deadline = os.path.join(self.profile, "DevToolsActivePort"), time.time() + 20
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise FlowError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [t for t in json.load(response) if t.get("type") == "page"]
        if not pages:
            raise FlowError("Chromium has no page target")
        # No Origin header, so Chromium accepts the connection without --remote-allow-origins.
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True)
        self.call("Page.enable")

    def close(self):
        if self.ws is not None:
            self.ws.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the group we started: browser, renderers, GPU
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(5)
                break
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method, **params):
        """Sends one command and returns its result, skipping the events that arrive meanwhile."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise FlowError(f"{method} failed: {message['error'].get('message')}")
                return message["result"]

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise FlowError(f"script failed: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression, what):
        """Polls a JS expression until it is truthy; errors while a page is swapped count as not yet."""
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            try:
                value = self.eval(expression)
                if value:
                    return value
            except (FlowError, websocket.WebSocketTimeoutException):
                pass
            time.sleep(0.1)
        raise FlowError(f"timed out waiting for {what}")

    def loads(self, action, what):
        """Runs an action that makes the page navigate (navigate, reload, submit) and waits for
        the new document: the old one carries a marker, which the new one lacks."""
        self.eval("window.__flowOld = true")
        action()
        self.wait_for("!window.__flowOld && document.readyState === 'complete'", what)

    def goto(self, url):
        def navigate():
            result = self.call("Page.navigate", url=url)
            if result.get("errorText"):
                raise FlowError(f"cannot open {url}: {result['errorText']}")
        self.loads(navigate, f"{url} to load")

    def reload(self):
        self.loads(lambda: self.call("Page.reload", ignoreCache=True), "the page to reload")

    def submit(self, form_selector, values, what):
        """Types values into the named inputs of a form and submits it like a user would."""
        script = f"""(() => {{
            const form = document.querySelector({json.dumps(form_selector)});
            if (!form) return 'no form ' + {json.dumps(form_selector)};
            for (const [name, value] of Object.entries({json.dumps(values)})) {{
                const input = form.elements[name];
                if (!input) return 'no input ' + name;
                input.focus(); input.value = value;
                input.dispatchEvent(new Event('input', {{bubbles: true}}));
            }}
            setTimeout(() => form.requestSubmit(), 0);
            return 'ok';
        }})()"""
        def fill_and_submit():
            outcome = self.eval(script)
            if outcome != "ok":
                raise FlowError(f"{what}: {outcome}")
        self.loads(fill_and_submit, what)

    def url(self):
        return self.eval("location.href")

    def text(self):
        return self.eval("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path):
        """Saves the whole page, not just the viewport."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": max(size["width"], 1200), "height": max(size["height"], 800), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))
        return os.path.abspath(path)


def poll(browser, condition, what, timeout=30.0):
    """Reloads the page every half second until condition(browser) is truthy."""
    deadline = time.time() + timeout
    while True:
        value = condition(browser)
        if value:
            return value
        if time.time() > deadline:
            raise FlowError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)
        browser.reload()


def sign_in(b, args):
    shop = f"{args.base}/shop/{args.tenant}"
    b.goto(f"{shop}/login")  # redirects to the platform's login page
    if "/oauth/authorize" not in b.url():
        raise FlowError("signing in did not open the login page")
    b.submit('form[action="/oauth/authorize"]', {"username": args.user, "password": args.password}, "the sign-in")
    if not b.url().startswith(shop) or f"Signed in as {args.user}" not in b.text():
        raise FlowError("signing in did not come back to the storefront signed in")


def order_and_check_out(b, args):
    shop = f"{args.base}/shop/{args.tenant}"
    for product, quantity in args.product:
        b.goto(f"{shop}/products/{product}")
        b.submit('main form[action$="/basket"]', {"quantity": str(quantity)}, f"adding {product} to the basket")
        if not b.eval(f"!!document.querySelector('input[name=productId][value={json.dumps(product)}]')"):
            raise FlowError(f"{product} is not in the basket")
    holder = f"{args.user.title()} Nordmann"
    b.submit('form[action$="/checkout"]', {
        "street": "Karl Johans gate 22", "city": "Oslo", "zipCode": "0150", "country": "NO",
        "cardHolderName": holder, "cardNumber": "4111 1111 1111 1111"}, "the checkout")
    match = re.search(rf"/shop/{re.escape(args.tenant)}/orders/([^/?#]+)$", b.url())
    if not match:
        raise FlowError("the checkout did not lead to the new order's page")
    return match.group(1)


def shipping_scenario(b, args, order_id):
    """My Orders gets a SHIPPING DATE column whose cell for the order becomes a date."""
    row_script = f"""(() => {{
        const table = document.querySelector('#my-orders');
        if (!table) return null;
        const heads = [...table.rows[0].cells].map(c => c.innerText.trim());
        const row = [...table.rows].find(r => r.querySelector('a[href$={json.dumps("/" + order_id)}]'));
        return {{heads, cells: row ? [...row.cells].map(c => c.innerText.trim()) : null}};
    }})()"""

    def dated(browser):
        table = browser.eval(row_script)
        if not table or not table["cells"]:
            return None
        heads = [h.upper() for h in table["heads"]]
        if "SHIPPING DATE" not in heads:
            return None
        cell = table["cells"][heads.index("SHIPPING DATE")]
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell) and cell

    b.goto(f"{args.base}/shop/{args.tenant}/orders")
    poll(b, dated, "a SHIPPING DATE for the order in My Orders")
    return [b.screenshot(os.path.join(args.out, f"my-orders-{args.tenant}.png"))]


def rfid_scenario(b, args, order_id):
    """The order is held until every line is scanned at the station, then it is paid."""
    detail = f"{args.base}/shop/{args.tenant}/orders/{order_id}"
    shots = []
    b.goto(detail)
    poll(b, lambda browser: "lines scanned" in browser.text(), "the RFID scan row on the order page")
    shots.append(b.screenshot(os.path.join(args.out, f"order-detail-{args.tenant}-held.png")))

    station = f"{args.rfid.rstrip('/')}/orders/{order_id}"
    b.goto(station)
    poll(b, lambda browser: browser.eval("!!document.querySelector('form[action$=\"/scan\"], #status')"),
         "the order at the scanning station")
    unscanned, tag = "document.querySelectorAll('form[action$=\"/scan\"]').length", 0
    while (left := b.eval(unscanned)) > 0:  # one form per line without a tag
        tag += 1
        b.submit('form[action$="/scan"]', {"tag": f"E200-0000-{tag:04d}"}, f"scanning tag {tag}")
        if not b.url().startswith(station) or b.eval(unscanned) >= left:
            raise FlowError(f"the scanning station did not take tag {tag}")
    lines = b.eval("document.querySelectorAll('table tr').length - 1")  # the order's lines, less the header
    shots.append(b.screenshot(os.path.join(args.out, f"rfid-station-{args.tenant}.png")))

    b.goto(detail)
    poll(b, lambda browser: browser.eval("(document.querySelector('#order-status') || {}).innerText") == "Paid"
         and f"all {lines} lines scanned" in browser.text(), f"status Paid and 'all {lines} lines scanned'")
    shots.append(b.screenshot(os.path.join(args.out, f"order-detail-{args.tenant}-confirmed.png")))
    return shots


def product_arg(value):
    match = re.fullmatch(r"([\w-]+)(?::([1-9]\d*))?", value)
    if not match:
        raise argparse.ArgumentTypeError(f"expected PRODUCT[:QUANTITY], got {value!r}")
    return match.group(1), int(match.group(2) or 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--base", required=True, help="the platform's URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--product", action="append", type=product_arg, required=True, help="PRODUCT[:QUANTITY], repeatable")
    parser.add_argument("--out", required=True, help="directory for the screenshots")
    parser.add_argument("--scenario", choices=["shipping", "rfid"], required=True)
    parser.add_argument("--rfid", help="the RFID scanning station's URL (scenario rfid)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a single page step may take")
    args = parser.parse_args()
    if args.scenario == "rfid" and not args.rfid:
        parser.error("--scenario rfid needs --rfid URL")
    args.base = args.base.rstrip("/")
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the finally below still cleans up

    browser = None
    try:
        browser = Browser(args.chromium, args.timeout)
        sign_in(browser, args)
        order_id = order_and_check_out(browser, args)
        scenario = shipping_scenario if args.scenario == "shipping" else rfid_scenario
        shots = scenario(browser, args, order_id)
        print(json.dumps({"orderId": order_id, "screenshots": shots}))
        return 0
    except Exception as error:  # FlowError, or the browser or connection failing
        print(f"storefront_flow: {error}", file=sys.stderr)
        if browser is not None:
            try:
                print(f"  at {browser.url()}\n  page text: {browser.text()[:500]!r}", file=sys.stderr)
            except Exception:
                print("  (the page could not be read)", file=sys.stderr)
        return 1
    finally:
        if browser is not None:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
