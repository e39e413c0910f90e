// Live feed (stream page and OBS overlay): swap in the feed fragment when the server announces a gift
// over Server-Sent Events, and poll it as well — every second while no event stream is open (WSGI,
// old browsers, errors), every 10 seconds as a safety net while one is. Pauses while the page is hidden.
(function () {
  "use strict";
  var box = document.getElementById("live-feed");
  if (!box || !box.dataset.feedUrl) return;
  var timer = null;
  var last = null;
  var busy = false;
  var again = false;
  var seen = {};
  var source = null;
  var failures = 0;
  var primed = !box.hasAttribute("data-skip-initial");

  // Only gifts that just arrived play their animation; the rest of a swapped-in feed stays still.
  function markSeen(alreadySeen) {
    box.querySelectorAll("[data-event-id]").forEach(function (item) {
      if (alreadySeen && seen[item.dataset.eventId]) item.classList.add("feed-item-seen");
      seen[item.dataset.eventId] = true;
    });
  }

  function live() { return source !== null && source.readyState === 1; }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, live() ? 10000 : 1000);
  }

  function refresh() {
    if (busy) { again = true; return; }  // one fetch at a time; a burst of gifts costs one more
    busy = true;
    again = false;
    fetch(box.dataset.feedUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null && html !== last) {
          last = html;
          box.innerHTML = html;
          markSeen(true);
          if (!primed) box.querySelectorAll("[data-event-id]").forEach(function (i) { i.classList.add("feed-item-seen"); });
          primed = true;
        }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { busy = false; if (again) refresh(); else schedule(); });
  }

  function connect() {
    if (!window.EventSource || !box.dataset.eventsUrl || failures >= 3) return;
    source = new EventSource(box.dataset.eventsUrl);
    source.addEventListener("open", function () { failures = 0; schedule(); });
    source.addEventListener("gift", function () { refresh(); });
    source.addEventListener("error", function () {
      // The browser reconnects by itself unless the server said stop (204) — then, or after
      // repeated failures, polling alone carries on.
      if (source.readyState === 2 || ++failures >= 3) { source.close(); source = null; }
      schedule();
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) clearTimeout(timer); else refresh();
  });
  markSeen(false);
  connect();
  if (primed) schedule(); else refresh();
})();
