// Live feed (stream page and OBS overlay). Each event arrives over Server-Sent Events with everything the
// page shows (no re-fetch): a gift, a chat message or its deletion, goal progress (and the celebration when
// the goal is reached), the viewer count, the leaderboard, the stream ending.
// Without an event stream (old browsers, a buffering proxy, a WSGI server answering 204) the page polls the
// stream's one poll document instead, the same JSON for every viewer. Coins are valued here, in the
// page's currency, exactly (decimal arithmetic on BigInt). Event types and payloads: docs/live.md.
(function () {
  "use strict";
  var box = document.getElementById("live-feed");
  if (!box) return;
  if (!box.dataset.pollUrl) {
    // An overlay opened before its creator went live: look again shortly.
    if (box.dataset.waitLive) setTimeout(function () { location.reload(); }, Number(box.dataset.waitLive) * 1000);
    return;
  }
  var overlay = box.classList.contains("overlay");
  var list = box.querySelector(overlay ? ".overlay-alerts" : ".feed");
  // The overlay shows its newest alert first; the stream page's log (role=log) adds at the end, as chat does.
  var limit = overlay ? 5 : 60;
  var stageAlerts = box.querySelector("[data-stage-alerts]");
  var scroller = list.closest(".room-log") || list;  // the log's scrolling box (role=log) around the list
  var combos = {};
  var COMBO_MS = 4000;
  var strings = (document.getElementById("live-strings") || box).dataset;
  // An event names its gift as stored; the starting catalogue's names read in the page's language.
  var giftNames = JSON.parse(strings.giftNames || "{}");
  function giftName(gift) { return giftNames[gift.name] || gift.name; }
  var locale = box.dataset.locale || document.documentElement.lang || "en";
  var numbers = new Intl.NumberFormat(locale);
  var money = box.dataset.currency ? new Intl.NumberFormat(locale, { style: "currency", currency: box.dataset.currency }) : null;
  var perCoin = decimal(box.dataset.perCoin);
  var shown = {};
  var chatShown = {};
  var goalReached = !!box.querySelector(".goal-reached");
  var source = null;
  var timer = null;
  var failures = 0;
  var ended = false;

  list.querySelectorAll("[data-event-id]").forEach(function (item) {
    shown[item.dataset.eventId] = true;
    if (box.hasAttribute("data-skip-initial")) item.classList.add("feed-item-seen");
  });
  list.querySelectorAll("[data-chat-id]").forEach(function (item) { chatShown[item.dataset.chatId] = true; });
  scrollToEnd(true);

  // --- values -------------------------------------------------------------------------------------

  function decimal(text) {
    var match = /^(\d+)(?:\.(\d+))?$/.exec(text || "");
    if (!match) return null;
    return { units: BigInt(match[1] + (match[2] || "")), scale: (match[2] || "").length };
  }

  function coinsText(coins) {
    return numbers.format(coins) + " " + (coins === 1 ? strings.coin : strings.coins);
  }

  // What `coins` are worth at the per-coin price, rounded half up to the currency's minor unit (as the server does).
  function valueText(coins) {
    if (!money || !perCoin) return "";
    var digits = money.resolvedOptions().maximumFractionDigits;
    var amount = BigInt(coins) * perCoin.units;
    var shift = perCoin.scale - digits;
    if (shift > 0) {
      var unit = BigInt(10) ** BigInt(shift);
      amount = amount / unit + (BigInt(2) * (amount % unit) >= unit ? BigInt(1) : BigInt(0));
    } else {
      amount = amount * BigInt(10) ** BigInt(-shift);
    }
    var text = amount.toString().padStart(digits + 1, "0");
    var exact = digits ? text.slice(0, -digits) + "." + text.slice(-digits) : text;
    return "(" + sameYenSign(money.format(exact)) + ")";
  }

  // The server (wallet.money.format_money) prints the yen as "¥"; Japanese CLDR data, here too, says "￥".
  function sameYenSign(text) {
    return text.replace(/\uFFE5/g, "\u00A5");
  }

  function clone(id) {
    var template = document.getElementById(id);
    return template ? template.content.firstElementChild.cloneNode(true) : null;
  }

  function fill(element, slot, text) {
    var target = element.querySelector('[data-slot="' + slot + '"]');
    if (target) target.textContent = text;
  }

  // --- what events change -------------------------------------------------------------------------

  function addGift(gift, fresh) {
    if (shown[gift.id]) return;  // a resume may bring a gift this page already has
    shown[gift.id] = true;
    var item = clone("live-gift-item");
    if (!item) return;
    item.dataset.eventId = gift.id;
    if (gift.gift.tier === "large" || gift.gift.tier === "epic") item.classList.add(overlay ? "overlay-alert-big" : "feed-item-big");
    if (!fresh) item.classList.add("feed-item-seen");
    item.querySelector("img").src = gift.gift.artwork;
    fill(item, "sender", gift.sender ? gift.sender.name : strings.anonymous);
    fill(item, "quantity", numbers.format(gift.quantity));
    fill(item, "gift", giftName(gift.gift));
    fill(item, "coins", coinsText(gift.coins));
    fill(item, "value", valueText(gift.coins));
    note(item.querySelector('[data-slot="gift"]'), gift.message);
    place(item);
    if (fresh) stageAlert(gift);
  }

  // The message sent with a gift, highlighted after it (as text, never as HTML).
  function note(after, message) {
    var quote = message && after ? clone("live-gift-note") : null;
    if (!quote) return;
    quote.textContent = message;
    after.after(" ", quote);
  }

  // Into the log: newest first on the overlay, newest last (and kept in view) on the stream page.
  function place(item) {
    var empty = list.querySelector("[data-live-empty]");
    if (empty) empty.remove();
    if (overlay) {
      list.insertBefore(item, list.firstChild);
      while (list.children.length > limit) list.removeChild(list.lastElementChild);
      return;
    }
    var follow = nearEnd();
    list.appendChild(item);
    while (list.children.length > limit) list.removeChild(list.firstElementChild);
    scrollToEnd(follow);
  }

  function nearEnd() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToEnd(follow) {
    if (!overlay && follow) scroller.scrollTop = scroller.scrollHeight;
  }

  function addChat(message) {
    if (overlay || chatShown[message.id]) return;
    chatShown[message.id] = true;
    var item = clone("live-chat-item");
    if (!item) return;
    item.dataset.chatId = message.id;
    fill(item, "author", message.author.name);
    fill(item, "text", message.text);  // as text, never as HTML
    if (message.author.creator) {
      item.classList.add("chat-item-creator");
      var badge = clone("live-chat-creator");
      if (badge) item.querySelector(".chat-author").after(" ", badge);
    } else {
      var tools = clone("live-chat-tools");
      if (tools) item.appendChild(tools);
    }
    place(item);
  }

  function removeChat(deleted) {
    var item = list.querySelector('[data-chat-id="' + Number(deleted.id) + '"]');
    if (item) item.remove();
  }

  // Over the video: the same viewer sending the same gift within a few seconds grows one alert ("Rose ×12");
  // display only, each tap is still its own gift in the log and the ledger.
  function stageAlert(gift) {
    if (!stageAlerts) return;
    var who = gift.sender ? gift.sender.name : strings.anonymous;
    var key = who + "\u0000" + gift.gift.id;
    var now = Date.now();
    var combo = combos[key];
    if (combo && now - combo.at < COMBO_MS && combo.item.isConnected) {
      combo.count += gift.quantity;
      combo.at = now;
    } else {
      var item = clone("live-stage-alert");
      if (!item) return;
      item.querySelector("img").src = gift.gift.artwork;
      fill(item, "sender", who);
      fill(item, "gift", giftName(gift.gift));
      note(item.querySelector('[data-slot="count"]'), gift.message);
      if (gift.gift.tier === "large" || gift.gift.tier === "epic") item.classList.add("stage-alert-big");
      stageAlerts.appendChild(item);
      while (stageAlerts.children.length > 3) stageAlerts.removeChild(stageAlerts.firstElementChild);
      combo = combos[key] = { item: item, count: gift.quantity, at: now };
    }
    fill(combo.item, "count", "×" + numbers.format(combo.count));
    combo.item.classList.remove("stage-alert-bump");
    void combo.item.offsetWidth;  // restart the bump animation
    combo.item.classList.add("stage-alert-bump");
    clearTimeout(combo.timer);
    combo.timer = setTimeout(function () { combo.item.remove(); delete combos[key]; }, COMBO_MS + 1000);
  }

  function announce(text) {
    var status = document.querySelector("[data-announce]");
    if (!status) return;
    status.textContent = "";
    setTimeout(function () { status.textContent = text; }, 50);
  }

  function celebrate() {
    var party = box.querySelector("[data-celebration]");
    announce(strings.goalReached);
    if (!party) return;
    party.hidden = false;
    party.classList.remove("celebrating");
    void party.offsetWidth;
    party.classList.add("celebrating");
    clearTimeout(party.timer);
    party.timer = setTimeout(function () { party.hidden = true; }, 5000);
  }

  function setGoal(goal) {
    var current = box.querySelector(".goal");
    if (overlay) return;
    if (!goal || !goal.goal_coins) { if (current) current.remove(); goalReached = false; return; }
    var element = clone("live-goal");
    if (!element) return;
    // The colon is the language's ("Objectif : …" in French); a function, so a "$&" in a label stays as typed.
    if (goal.label) fill(element, "label", (strings.goalLabelled || "{label}").replace("{label}", function () { return goal.label; }));
    fill(element, "coins", numbers.format(goal.coins));
    fill(element, "goal", numbers.format(goal.goal_coins));
    fill(element, "unit", strings.coins);
    fill(element, "value", valueText(goal.coins));
    fill(element, "goal-value", valueText(goal.goal_coins));
    var bar = element.querySelector("progress");
    bar.max = goal.goal_coins;
    bar.value = Math.min(goal.coins, goal.goal_coins);
    bar.textContent = goal.percent + "%";
    bar.setAttribute("aria-label", (strings.goalProgress || "{percent}%").replace("{percent}", goal.percent));
    element.classList.toggle("goal-reached", goal.reached);
    if (!goal.reached) element.querySelector('[data-slot="reached"]').remove();
    if (current) current.replaceWith(element);
    else if (box.querySelector("[data-goal-slot]")) box.querySelector("[data-goal-slot]").appendChild(element);
    else box.insertBefore(element, box.querySelector(".card"));
    if (goal.reached && !goalReached) celebrate();
    goalReached = goal.reached;
  }

  function setViewers(count) {
    var target = box.querySelector("[data-live-viewers]");
    if (target) target.textContent = numbers.format(count);
  }

  function setLeaderboard(entries) {
    var board = box.querySelector(".leaderboard");
    if (!board) return;
    board.replaceChildren.apply(board, entries.map(function (entry) {
      var row = clone("live-leader-row");
      fill(row, "rank", entry.rank);
      fill(row, "name", entry.anonymous ? strings.anonymous : entry.name);
      fill(row, "coins", coinsText(entry.coins));
      fill(row, "value", valueText(entry.coins));
      return row;
    }));
    var empty = box.querySelector("[data-live-leaders-empty]");
    if (empty) empty.hidden = entries.length > 0;
  }

  function setStream(stream) {
    if (stream.state !== "ended" || ended) return;
    ended = true;
    stop();
    document.querySelectorAll(".badge-live").forEach(function (badge) {
      badge.textContent = strings.ended;
      badge.className = "badge badge-muted";
    });
    var viewers = box.querySelector(".viewer-count");
    if (viewers) viewers.remove();
    var actions = document.querySelector("[data-live-actions]");
    var notice = clone("live-ended");
    if (actions && notice) actions.replaceChildren(notice);
    box.classList.add("room-ended");
    var chatForm = document.querySelector("[data-chat-form]");
    if (chatForm) chatForm.remove();
    box.querySelectorAll("[data-moderate]").forEach(function (tools) { tools.remove(); });
    var video = box.querySelector("video");
    if (video) {
      video.pause();
      video.removeAttribute("src");
      video.hidden = true;
      var status = box.querySelector("[data-player-status]");
      if (status) { status.textContent = strings.streamEnded; status.hidden = false; }
    }
    document.dispatchEvent(new CustomEvent("coinsite:stream-ended"));
    announce(strings.streamEnded);
  }

  function apply(document_) {
    document_.gifts.slice().reverse().forEach(function (gift) { addGift(gift, true); });
    if (document_.chat) {
      document_.chat.slice().reverse().forEach(addChat);
      syncDeletions(document_.chat);
    }
    setGoal(document_.goal);
    setViewers(document_.viewers);
    setLeaderboard(document_.leaderboard);
    setStream(document_.stream);
  }

  // A poll document lists the latest messages: any shown message within its range that it lacks was deleted.
  function syncDeletions(messages) {
    if (!messages.length) return;
    var present = {};
    var oldest = Infinity;
    messages.forEach(function (message) { present[message.id] = true; oldest = Math.min(oldest, message.id); });
    list.querySelectorAll("[data-chat-id]").forEach(function (item) {
      var id = Number(item.dataset.chatId);
      if (id >= oldest && !present[id]) item.remove();
    });
  }

  // --- transport ----------------------------------------------------------------------------------

  function data(handler) {
    return function (event) { handler(JSON.parse(event.data)); };
  }

  function connect() {
    if (!window.EventSource || !box.dataset.eventsUrl) return false;
    source = new EventSource(box.dataset.eventsUrl);
    source.addEventListener("open", function () { failures = 0; clearTimeout(timer); });
    source.addEventListener("gift", data(function (gift) { addGift(gift, true); }));
    source.addEventListener("chat", data(addChat));
    source.addEventListener("chat_deleted", data(removeChat));
    source.addEventListener("goal", data(setGoal));
    source.addEventListener("viewers", data(function (viewers) { setViewers(viewers.count); }));
    source.addEventListener("leaderboard", data(function (board) { setLeaderboard(board.entries); }));
    source.addEventListener("stream", data(setStream));
    source.addEventListener("reset", function () { poll(false); });
    source.addEventListener("error", function () {
      // The browser reconnects by itself (resuming with Last-Event-ID) unless the server said stop
      // (204) — then, or after repeated failures, the page polls.
      if (source.readyState === 2 || ++failures >= 3) { source.close(); source = null; }
      if (!ended) schedule();
    });
    return true;
  }

  function stop() {
    clearTimeout(timer);
    if (source) { source.close(); source = null; }
  }

  function schedule() {
    clearTimeout(timer);
    if (!ended && !document.hidden && !(source && source.readyState === 1)) timer = setTimeout(function () { poll(true); }, 2000);
  }

  function poll(again) {
    fetch(box.dataset.pollUrl, { credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (document_) { if (document_) apply(document_); })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { if (again) schedule(); });
  }

  // What static/js/room.js uses to show a viewer's own gift and message at once (the event dedupes by id).
  window.coinsiteLive = { addGift: addGift, addChat: addChat };

  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(); });
  if (!connect()) poll(true);
})();
