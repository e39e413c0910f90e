// The live room's actions (templates/gifting/stream.html): a tap on a gift sends it without leaving the page,
// chat messages, the creator's moderation, and the gift tray as a bottom sheet on phones. What arrives for
// everyone (gifts, chat, the goal, the stream ending) is drawn by static/js/live.js from live events; this file
// only sends, and shows the sender's own gift and message at once (live.js then skips them by id).
// Strings come from Django's JavaScript catalogue (gettext, loaded by base.html).
(function () {
  "use strict";
  var room = document.getElementById("live-feed");
  if (!room) return;
  // Called as gettext(...) so makemessages -d djangojs finds each string.
  var gettext = window.gettext || function (text) { return text; };
  var live = function () { return window.coinsiteLive || { addGift: function () {}, addChat: function () {} }; };

  function csrfToken(form) {
    var field = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // POST form data, answer {status, body}; a network failure retries once, with the same data (and so, for a
  // gift, the same idempotency key: the server charges once however many of the attempts arrive).
  function post(url, data, csrf, attempt) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    }, function (error) {
      if (!attempt) return new Promise(function (resolve) { setTimeout(resolve, 800); }).then(function () {
        return post(url, data, csrf, 1);
      });
      throw error;
    });
  }

  // --- Gifts ----------------------------------------------------------------------------------------

  var form = document.querySelector("[data-gift-form]");
  if (form) setUpGifts(form);

  function setUpGifts(form) {
    var feedback = form.querySelector("[data-gift-feedback]");
    var message = form.querySelector("[data-gift-message]");
    var recharge = form.querySelector("[data-gift-recharge]");
    var sent = form.querySelector("[data-gift-sent]");
    var balance = form.querySelector("[data-balance]");
    var dialog = document.querySelector("[data-gift-confirm]");
    var busy = false;

    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || button.name !== "gift") return;  // e.g. Enter in the quantity field: nothing to send
      event.preventDefault();
      if (busy) return;  // a second tap while the first is on its way sends nothing more
      var data = new FormData(form);
      data.set("gift", button.value);
      data.set("idempotency_key", newKey());
      send(data, button);
    });

    function send(data, button) {
      busy = true;
      form.setAttribute("aria-busy", "true");
      button.classList.add("gift-option-sending");
      post(form.dataset.tapUrl, data, csrfToken(form))
        .then(function (result) { answered(result, data, button); })
        .catch(function () { showError(gettext("Your gift could not be sent: check your connection and try again."), null); })
        .then(function () {
          busy = false;
          form.removeAttribute("aria-busy");
          button.classList.remove("gift-option-sending");
        });
    }

    function answered(result, data, button) {
      var body = result.body || {};
      if (body.ok) {
        hideError();
        if (balance && body.balance) balance.innerHTML = body.balance.html;  // rendered by the server, escaped there
        sent.textContent = body.message;
        var note = form.querySelector("input[name=message]");
        if (note) note.value = "";
        live().addGift(body.gift, true);
        return;
      }
      if (body.error === "confirmation_required") return confirm(body.message, data, button);
      if (body.error === "login_required") { location.href = body.login_url + "?next=" + encodeURIComponent(location.pathname); return; }
      showError(body.message || gettext("Your gift could not be sent. Try again."), body.recharge_url ? body : null);
    }

    // A large gift: the same request again, with the same key, once the viewer says so.
    function confirm(text, data, button) {
      dialog.querySelector("[data-gift-confirm-text]").textContent = text;
      var yes = dialog.querySelector("[data-gift-confirm-yes]");
      var no = dialog.querySelector("[data-gift-confirm-no]");
      function close(confirmed) {
        yes.onclick = no.onclick = null;
        dialog.close();
        button.focus();
        if (confirmed) {
          data.set("confirmed", "true");
          send(data, button);
        }
      }
      yes.onclick = function () { close(true); };
      no.onclick = function () { close(false); };
      dialog.oncancel = function () { yes.onclick = no.onclick = null; };
      dialog.showModal();
      yes.focus();
    }

    function showError(text, shortfall) {
      sent.textContent = "";
      message.textContent = text;
      recharge.hidden = !shortfall;
      if (shortfall) {
        recharge.href = shortfall.recharge_url;
        recharge.textContent = shortfall.recharge_text;
      }
      feedback.hidden = false;
    }

    function hideError() {
      feedback.hidden = true;
      message.textContent = "";
    }

    document.addEventListener("coinsite:stream-ended", function () { if (dialog.open) dialog.close(); });
    setUpSheet();
  }

  // On phones the tray folds into a bottom sheet opened from a button; on wider screens it stays in the panel.
  function setUpSheet() {
    var tray = document.querySelector("[data-gift-tray]");
    if (!tray) return;
    var toggle = tray.querySelector("[data-gift-tray-toggle]");
    var close = tray.querySelector("[data-gift-tray-close]");
    var sheet = document.getElementById(toggle.getAttribute("aria-controls"));
    tray.classList.add("gift-tray-js");
    toggle.hidden = false;
    close.hidden = false;
    function setOpen(open) {
      tray.classList.toggle("gift-tray-open", open);
      toggle.setAttribute("aria-expanded", String(open));
      if (open) {
        var first = sheet.querySelector(".gift-option");
        if (first) first.focus();
      }
    }
    toggle.addEventListener("click", function () { setOpen(toggle.getAttribute("aria-expanded") !== "true"); });
    close.addEventListener("click", function () { setOpen(false); toggle.focus(); });
    tray.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && tray.classList.contains("gift-tray-open")) { setOpen(false); toggle.focus(); }
    });
  }

  // --- Chat -----------------------------------------------------------------------------------------

  var chatForm = document.querySelector("[data-chat-form]");
  if (chatForm) {
    var input = chatForm.querySelector("input[name=text]");
    var chatError = chatForm.querySelector("[data-chat-error]");
    var sending = false;
    chatForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending || !input.value.trim()) return;
      sending = true;
      post(chatForm.action, new FormData(chatForm), csrfToken(chatForm))
        .then(function (result) {
          var body = result.body || {};
          if (body.ok) {
            input.value = "";
            chatError.hidden = true;
            return;
          }
          chatError.textContent = body.message || gettext("Your message could not be sent. Try again.");
          chatError.hidden = false;
        })
        .catch(function () {
          chatError.textContent = gettext("Your message could not be sent: check your connection and try again.");
          chatError.hidden = false;
        })
        .then(function () { sending = false; input.focus(); });
    });
  }

  // --- Moderation (the creator and staff) -----------------------------------------------------------------

  if (room.hasAttribute("data-moderator")) {
    room.addEventListener("click", function (event) {
      var button = event.target.closest("[data-moderate] button[data-action]");
      if (!button) return;
      var item = button.closest("[data-chat-id]");
      var action = button.dataset.action;
      var question = {
        "delete": gettext("Delete this message for everyone?"),
        "mute": gettext("Mute this viewer in this stream's chat?"),
        "ban": gettext("Ban this viewer from the chat of all your streams?"),
      }[action];
      if (!item || !window.confirm(question)) return;
      var data = new FormData();
      data.set("action", action);
      var url = room.dataset.moderateUrl.replace("/0/", "/" + Number(item.dataset.chatId) + "/");
      post(url, data, csrfToken()).then(function (result) {
        var body = result.body || {};
        var status = document.querySelector("[data-announce]");
        if (status) status.textContent = body.message || "";
        if (body.ok && action === "delete") item.remove();
        if (body.ok && action !== "delete") item.classList.add("chat-item-restricted");
      });
    });
  }
})();
