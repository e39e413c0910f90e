// The creator's daily earnings chart (Chart.js, served locally); 30 or 90 days.
// Words from Django's JavaScript catalogue; days and numbers in the page's language (<html lang>), days in
// UTC as the server counts them. Started once the page is parsed: base.html loads the catalogue after the
// content, where this script sits.
(function () {
  "use strict";
  function start() {
    var canvas = document.getElementById("earnings-chart");
    var source = document.getElementById("earnings-data");
    if (!canvas || !source || typeof Chart === "undefined") { return; }
    // Named gettext so makemessages finds the strings; the fallback keeps the chart working without the catalogue.
    var gettext = window.gettext || function (text) { return text; };
    var locale = document.documentElement.lang || "en";
    var dayFormat = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
    var data = JSON.parse(source.textContent);
    var chart = new Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ label: gettext("Diamonds"), data: [], backgroundColor: "#6d3df5" }] },
      options: {
        animation: false,
        locale: locale,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true } },
      },
    });
    function dayLabel(isoDay) {
      return dayFormat.format(new Date(isoDay + "T00:00:00Z"));
    }
    function show(days) {
      chart.data.labels = data.labels.slice(-days).map(dayLabel);
      chart.data.datasets[0].data = data.diamonds.slice(-days);
      chart.update();
      document.querySelectorAll("[data-chart-days]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(Number(button.dataset.chartDays) === days));
      });
      canvas.dataset.days = String(days);
    }
    document.querySelectorAll("[data-chart-days]").forEach(function (button) {
      button.addEventListener("click", function () { show(Number(button.dataset.chartDays)); });
    });
    show(30);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
