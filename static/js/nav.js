// The site menu on narrow screens is a disclosure: a real button (aria-expanded, aria-controls) shows and
// hides it. Without this script the button stays hidden and the menu stays open (static/css/site.css).
(function () {
  "use strict";
  var nav = document.querySelector("[data-nav]");
  var button = nav && nav.querySelector(".nav-toggle");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) { return; }
  function isOpen() { return button.getAttribute("aria-expanded") === "true"; }
  function setOpen(open) { button.setAttribute("aria-expanded", String(open)); }
  button.hidden = false;
  button.addEventListener("click", function () { setOpen(!isOpen()); });
  // Escape closes an open menu and puts focus back on its button, as a disclosure's user expects.
  nav.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !isOpen() || button.offsetParent === null) { return; }
    setOpen(false);
    button.focus();
  });
}());
