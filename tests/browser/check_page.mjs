// Opens an HTML file in headless Chromium as a reader would, and reports what a reader would see go wrong:
//   node check_page.mjs PAGE.html SCREENSHOT.png
// prints {"console": [...], "page_errors": [...], "failed_requests": [...], "drawn_runs": [...], "title": "…"} —
// console messages of level error or warning, uncaught exceptions, requests that failed (a self-contained page
// makes none), and the runs of the timeline that take up room on the page (`g.run[data-run]` with a non-empty box).
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_path, screenshot] = process.argv.slice(2);
if (!page_path || !screenshot) {
  console.error("usage: node check_page.mjs PAGE.html SCREENSHOT.png");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // The flags this machine's closed network needs: no background connections, no component updates.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const found = { console: [], page_errors: [], failed_requests: [], drawn_runs: [], title: "" };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (message) => {
    if (["error", "warning"].includes(message.type())) found.console.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => found.page_errors.push(String(error)));
  page.on("requestfailed", (request) => found.failed_requests.push(request.url()));
  page.on("request", (request) => {
    if (!request.url().startsWith("file:")) found.failed_requests.push(`not self-contained: ${request.url()}`);
  });
  await page.goto(pathToFileURL(page_path).href, { waitUntil: "load" });
  found.title = await page.title();
  found.drawn_runs = await page.$$eval("g.run[data-run]", (groups) =>
    groups
      .filter((g) => {
        const box = g.getBoundingClientRect();
        return box.width > 0 && box.height > 0;
      })
      .map((g) => g.getAttribute("data-run")),
  );
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(found));
