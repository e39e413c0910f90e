// The stream page's video: the creator's HLS address (data-src, an https .m3u8 the studio validated), played
// natively where the browser can (Safari, iOS), else with hls.js served from our own static files (loaded
// only then). hls.js's transmuxer worker loads from its own file (data-hls-worker), which the page's
// Content-Security-Policy allows, rather than from a blob: URL, which it does not.
(function () {
  "use strict";
  var player = document.querySelector("[data-player][data-src]");
  if (!player) return;
  var video = player.querySelector("video");
  var status = player.querySelector("[data-player-status]");
  // Called as gettext(...) so makemessages -d djangojs finds each string.
  var gettext = window.gettext || function (text) { return text; };
  var source = player.dataset.src;
  var hls = null;
  var ended = false;

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function native() {
    return !!video.canPlayType("application/vnd.apple.mpegurl");
  }

  function playMuted() {
    // Browsers allow autoplay only when muted; the viewer unmutes with the controls.
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { say(gettext("Tap play to start the video.")); });
  }

  function withHlsJs() {
    var script = document.createElement("script");
    script.src = player.dataset.hlsScript;
    script.onload = function () {
      if (!window.Hls || !window.Hls.isSupported()) return say(gettext("This browser cannot play the live video."));
      hls = new window.Hls({ workerPath: player.dataset.hlsWorker, lowLatencyMode: true, liveDurationInfinity: true });
      hls.on(window.Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal || ended) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) return hls.recoverMediaError();
        // The ingest server has no stream yet, or lost it: keep asking, as a viewer would by reloading.
        say(gettext("Waiting for the video…"));
        setTimeout(function () { if (!ended) hls.loadSource(source); }, 3000);
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { say(""); playMuted(); });
      hls.loadSource(source);
      hls.attachMedia(video);
    };
    script.onerror = function () { say(gettext("The video player could not be loaded.")); };
    document.head.appendChild(script);
  }

  video.addEventListener("playing", function () { say(""); });
  document.addEventListener("coinsite:stream-ended", function () {
    ended = true;
    if (hls) hls.destroy();
  });

  if (native()) {
    video.src = source;
    video.addEventListener("loadedmetadata", playMuted);
    video.addEventListener("error", function () { if (!ended) say(gettext("Waiting for the video…")); });
  } else {
    withHlsJs();
  }
})();
