// Shows the price of a custom amount as the viewer types; the server recomputes it authoritatively.
// Numbers and prices in the page's language (<html lang>, as the server's Babel formats do); the words
// come from Django's JavaScript catalogue (base.html loads it before this script).
(function () {
  const input = document.getElementById("id_custom_coins");
  const output = document.getElementById("custom-price");
  if (!input || !output) return;
  // Named gettext and ngettext, as makemessages -d djangojs looks for them by name.
  const gettext = window.gettext || function (text) { return text; };
  const ngettext = window.ngettext || function (one, many, count) { return count === 1 ? one : many; };
  const interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\(\w+\)s/g, function (key) { return values[key.slice(2, -2)]; });
  };
  const locale = document.documentElement.lang || "en";
  const numbers = new Intl.NumberFormat(locale);
  const custom = document.querySelector('input[name="choice"][value="custom"]');
  const exponent = Number(input.dataset.exponent);
  const currency = input.dataset.currency;
  const [whole, fraction = ""] = input.dataset.perCoin.split(".");
  const scale = 10n ** BigInt(fraction.length);
  const perCoinScaled = BigInt(whole + fraction); // per-coin price times `scale`, exact

  function priceText(coins) {
    // Round half away from zero to the currency's minor unit, in integers (no floats).
    const minorScale = 10n ** BigInt(exponent);
    const numerator = perCoinScaled * BigInt(coins) * minorScale;
    const minor = (numerator * 2n + scale) / (2n * scale);
    const amount = Number(minor) / Number(minorScale);
    const text = new Intl.NumberFormat(locale, { style: "currency", currency }).format(amount);
    return text.replace(/\uFFE5/g, "\u00A5"); // the yen sign the server prints (wallet.money.format_money)
  }

  input.addEventListener("input", function () {
    if (custom) custom.checked = true;
    const coins = Number(input.value);
    const min = Number(input.min), max = Number(input.max);
    if (!Number.isInteger(coins) || coins < min || coins > max) {
      output.textContent = interpolate(gettext("Enter a whole number from %(min)s to %(max)s."), {
        min: numbers.format(min),
        max: numbers.format(max),
      }, true);
      return;
    }
    output.textContent = interpolate(ngettext("%(coins)s coin costs %(price)s.", "%(coins)s coins cost %(price)s.", coins), {
      coins: numbers.format(coins),
      price: priceText(coins),
    }, true);
  });
})();
