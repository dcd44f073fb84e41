// The dashboard's script (served from the binary): live updates over Server-Sent
// Events, confirmation of actions, and the HLS player.
"use strict";

(function () {
  // Progress reported by runners moves the bars at once; anything else that changed
  // (a job's state, a new video, a runner connecting) re-reads this page at most once
  // a second and swaps its live regions (elements with data-live and an id), leaving
  // the rest (the player) alone.
  function setBar(selector, value) {
    document.querySelectorAll(selector).forEach(function (el) {
      if (el.tagName === "PROGRESS") {
        el.value = value;
      } else {
        el.textContent = value + "%";
      }
    });
  }

  var refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } })
        .then(function (res) { return res.ok ? res.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live]").forEach(function (el) {
            var next = fresh.getElementById(el.id);
            if (next) el.replaceWith(next);
          });
        })
        .catch(function () {});
    }, 1000);
  }

  function connect() {
    var live = document.getElementById("live");
    var source = new EventSource("/dashboard/events");
    source.addEventListener("open", function () {
      if (live) { live.classList.add("connected"); live.textContent = "live"; }
    });
    source.addEventListener("error", function () {
      if (live) { live.classList.remove("connected"); live.textContent = "reconnecting"; }
    });
    source.addEventListener("progress", function (e) {
      var p = JSON.parse(e.data);
      setBar('[data-video-progress="' + p.video + '"]', p.progress);
      setBar('[data-job-progress="' + p.job.uuid + '"]', p.job.progress);
    });
    source.addEventListener("changed", refreshSoon);
  }

  // Forms with data-confirm ask first.
  document.addEventListener("submit", function (e) {
    var message = e.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) e.preventDefault();
  });

  function player() {
    var video = document.querySelector("video[data-hls]");
    if (!video) return;
    var src = video.getAttribute("data-hls");
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls();
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.ERROR, function (_, data) {
        if (data.fatal) video.setAttribute("data-error", data.type + ": " + data.details);
      });
      window.dashboardPlayer = hls;
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
    } else {
      video.setAttribute("data-error", "this browser cannot play HLS");
    }
  }

  if (document.body.hasAttribute("data-session")) {
    connect();
    player();
  }
})();
