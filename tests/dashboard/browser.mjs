// Drives Debian's chromium (through playwright-core, no browser download) through the
// dashboard for tests/api/dashboard_browser.rs, which runs the server and the runner.
//
// Usage: node browser.mjs   with env BASE (server origin), ADMIN_KEY, RUNNER (runner
// name), CHROMIUM (browser binary), SHOTS (screenshot folder).
//
// The two sides take turns over lines: this script prints `STEP <name>` when it needs
// the test to act, and the test answers with one line of JSON on standard input.
// Anything that fails throws: the script exits 1 with the error on standard error.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const { BASE, ADMIN_KEY, RUNNER, CHROMIUM, SHOTS } = process.env;
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

async function step(name) {
  process.stdout.write(`STEP ${name}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed at step ${name}`);
  return JSON.parse(value);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e}\n`));
  const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  const wait = { timeout: 20000 };

  // Log in.
  await page.goto(`${BASE}/dashboard`);
  if (!page.url().endsWith("/dashboard/login")) throw new Error(`not sent to the login form: ${page.url()}`);
  await page.fill("#key", "wrong-key");
  await page.click("button[type=submit]");
  await page.waitForSelector("p.error[role=alert]", wait);
  await page.fill("#key", ADMIN_KEY);
  await page.click("button[type=submit]");
  await page.waitForURL(`${BASE}/dashboard`, wait);

  // The runner holds a socket: online.
  const runnerRow = page.locator(`tr[data-runner="${RUNNER}"]`);
  await runnerRow.locator(".badge.online").waitFor(wait);
  await page.waitForSelector("#live.connected", wait);
  await shot("1-overview");

  // A video submitted through the API appears; its bar advances without a reload.
  const { video } = await step("submit-video");
  await page.goto(`${BASE}/dashboard/videos`);
  await page.waitForSelector("#live.connected", wait);
  const bar = page.locator(`progress[data-video-progress="${video}"]`);
  await bar.waitFor(wait);
  const before = Number(await bar.getAttribute("value"));
  await page.evaluate(() => { window.__notReloaded = true; });
  await step("progress");
  await page.waitForFunction(
    ({ uuid, before }) => {
      const el = document.querySelector(`progress[data-video-progress="${uuid}"]`);
      return el && el.value > before;
    },
    { uuid: video, before },
    wait,
  );
  const after = await bar.evaluate((el) => el.value);
  if (!(await page.evaluate(() => window.__notReloaded === true))) throw new Error("the page was reloaded");
  process.stderr.write(`progress bar: ${before} -> ${after}\n`);
  await shot("2-videos-progress");

  // The overview shows the job in the runner's hands, at its progress.
  await page.goto(`${BASE}/dashboard`);
  const inHand = runnerRow.locator("progress[data-job-progress]");
  await inHand.waitFor(wait);
  if ((await inHand.getAttribute("value")) !== "60") throw new Error("the job in hand is not at 60 %");
  await shot("2-overview-busy");

  // Once published, the video page plays its master playlist.
  await step("publish");
  await page.goto(`${BASE}/dashboard/videos/${video}`);
  await page.waitForSelector("video#player", wait);
  await page.evaluate(() => document.querySelector("video#player").play().catch(() => {}));
  await page.waitForFunction(
    () => {
      const v = document.querySelector("video#player");
      if (v.getAttribute("data-error")) throw new Error(v.getAttribute("data-error"));
      return v.currentTime > 0.5;
    },
    null,
    wait,
  );
  const played = await page.evaluate(() => {
    const v = document.querySelector("video#player");
    return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight };
  });
  process.stderr.write(`player: ${JSON.stringify(played)}\n`);
  if (played.width === 0) throw new Error("no picture decoded");
  await page.waitForSelector("section#video-files table", wait);
  await shot("3-video-page");

  // Cancel a waiting job from the queue, confirming the dialog.
  const { job } = await step("job-to-cancel");
  await page.goto(`${BASE}/dashboard/queue`);
  const row = page.locator(`tr[data-job="${job}"]`);
  await row.waitFor(wait);
  let asked = null;
  page.once("dialog", (d) => { asked = d.message(); d.accept(); });
  await row.locator("button", { hasText: "Cancel" }).click();
  await page.waitForSelector(`tr[data-job="${job}"] .badge.s-6`, wait);
  if (!asked || !asked.includes(job)) throw new Error(`no confirmation naming the job: ${asked}`);
  await shot("4-queue-cancelled");
  await step("cancelled");
  process.stdout.write("DONE\n");
} finally {
  await browser.close();
  rl.close();
}
