// Shows the price of a custom amount as the viewer types; the server recomputes it authoritatively.
(function () {
  const input = document.getElementById("id_custom_coins");
  const output = document.getElementById("custom-price");
  if (!input || !output) return;
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
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
  }

  input.addEventListener("input", function () {
    if (custom) custom.checked = true;
    const coins = Number(input.value);
    const min = Number(input.min), max = Number(input.max);
    if (!Number.isInteger(coins) || coins < min || coins > max) {
      output.textContent = `Enter a whole number from ${min.toLocaleString()} to ${max.toLocaleString()}.`;
      return;
    }
    output.textContent = `${coins.toLocaleString()} coins cost ${priceText(coins)}.`;
  });
})();
