// Live stream page: poll the feed fragment every second and swap it in; pause while the page is hidden.
(function () {
  "use strict";
  var box = document.getElementById("live-feed");
  if (!box || !box.dataset.feedUrl) return;
  var timer = null;
  var last = null;
  var busy = false;
  var seen = {};

  // Only gifts that just arrived play their animation; the rest of a swapped-in feed stays still.
  function markSeen(alreadySeen) {
    box.querySelectorAll("[data-event-id]").forEach(function (item) {
      if (alreadySeen && seen[item.dataset.eventId]) item.classList.add("feed-item-seen");
      seen[item.dataset.eventId] = true;
    });
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(poll, 1000);
  }

  function poll() {
    if (busy) return;
    busy = true;
    fetch(box.dataset.feedUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null && html !== last) {
          last = html;
          box.innerHTML = html;
          markSeen(true);
        }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { busy = false; schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) clearTimeout(timer); else poll();
  });
  markSeen(false);
  schedule();
})();
