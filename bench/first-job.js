// Time to first job: a runner built on npm socket.io-client does what peertube-runner
// does (websocket transport, auth {runnerToken}; on `available-jobs`: POST
// /jobs/request, take availableJobs[0], POST /accept), while this script submits a
// video ROUNDS times, GAP_MS apart (each submission starts a quiet period), and
// prints, for each, the time from the submission's 201 to the runner's accepted job.
// Usage: node bench/first-job.js BASE_URL RUNNER_TOKEN API_KEY CLIP [ROUNDS] [GAP_MS]
// Needs `npm ci` in tests/ (the pinned socket.io-client). Node 18+ (fetch, FormData).
"use strict";
const fs = require("fs");
const path = require("path");
const { io } = require(path.join(__dirname, "..", "tests", "node_modules", "socket.io-client"));

const [base, runnerToken, apiKey, clip, roundsArg, gapArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 20);
const gap = Number(gapArg || 1500);
const clipBytes = fs.readFileSync(clip);

const post = async (p, body) => {
  const res = await fetch(base + p, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
};

let waiting = null; // { videoUuid, resolve }
const accepts = []; // { payload, at }: accepts not yet matched to a submission
let busy = false;
async function checkAvailableJobs() {
  if (busy) return;
  busy = true;
  try {
    const { body } = await post("/api/v1/runners/jobs/request", { runnerToken });
    const job = (body.availableJobs || [])[0];
    if (!job) return;
    const { status } = await post(`/api/v1/runners/jobs/${job.uuid}/accept`, { runnerToken });
    if (status !== 200) return;
    const at = performance.now();
    const payload = JSON.stringify(job.payload);
    if (waiting && payload.includes(waiting.videoUuid)) {
      const w = waiting;
      waiting = null;
      w.resolve(at);
    } else {
      accepts.push({ payload, at });
    }
  } finally {
    busy = false;
  }
}

const socket = io(base + "/runners", { auth: { runnerToken }, transports: ["websocket"] });
socket.on("available-jobs", () => checkAvailableJobs().catch((e) => console.error(e)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

socket.on("connect", async () => {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    await sleep(gap);
    const form = new FormData();
    form.append("videoFile", new Blob([clipBytes], { type: "video/mp4" }), "clip.mp4");
    form.append("resolutions", "360");
    form.append("webVideos", "false");
    let accepted;
    const acceptedAt = new Promise((resolve) => (accepted = resolve));
    const start = performance.now();
    const res = await fetch(base + "/api/v1/videos", {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}` },
      body: form,
    });
    const created = performance.now();
    const video = await res.json();
    if (res.status !== 201) throw new Error(`submit: ${res.status} ${JSON.stringify(video)}`);
    // The job may have been accepted before this client read the 201.
    const early = accepts.findIndex((a) => a.payload.includes(video.uuid));
    if (early >= 0) accepted(accepts.splice(early, 1)[0].at);
    else waiting = { videoUuid: video.uuid, resolve: accepted };
    const at = await Promise.race([acceptedAt, sleep(10000).then(() => null)]);
    if (at === null) throw new Error(`round ${i}: no accept within 10 s`);
    const ms = Math.max(0, at - created);
    times.push(ms);
    console.log(`round ${i + 1}: submit ${(created - start).toFixed(0)} ms, 201 → accepted ${ms.toFixed(1)} ms`);
  }
  times.sort((a, b) => a - b);
  console.log(
    `201 → first job accepted: p50 ${pct(times, 50).toFixed(1)} ms, p90 ${pct(times, 90).toFixed(1)} ms, ` +
      `max ${times[times.length - 1].toFixed(1)} ms over ${times.length} submissions (target < 200 ms)`,
  );
  socket.close();
  process.exit(0);
});
socket.on("connect_error", (e) => {
  console.error("connect_error", e.message);
  process.exit(1);
});
