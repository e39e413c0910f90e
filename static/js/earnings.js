// The creator's daily earnings chart (Chart.js, served locally); 30 or 90 days.
// Started once the page is parsed: base.html loads Django's JavaScript catalogue (gettext) after the content.
(function () {
  "use strict";
  function start() {
    var canvas = document.getElementById("earnings-chart");
    var source = document.getElementById("earnings-data");
    if (!canvas || !source || typeof Chart === "undefined") { return; }
    var gettext = window.gettext || String;
    var data = JSON.parse(source.textContent);
    var chart = new Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ label: gettext("Diamonds"), data: [], backgroundColor: "#6d3df5" }] },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
    function show(days) {
      chart.data.labels = data.labels.slice(-days);
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
