// Draws the charts of a console page from its embedded JSON (no network calls). Titles and
// series names come from the page (data-title, data-series): the text lives in templates_msg.
(function () {
  var node = document.getElementById("chart-data");
  if (!node || typeof echarts === "undefined") return;
  var data = JSON.parse(node.textContent);
  var pct = function (v) { return v === null ? null : Math.round(v * 1000) / 10; };
  var words = function (id) {
    var el = document.getElementById(id);
    return el ? { title: el.dataset.title || "", series: (el.dataset.series || "").split(",") }
              : { title: "", series: [] };
  };
  var groups = words("chart-groups"), days = words("chart-days");
  var draw = function (id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el);
    option.animation = false;  // draw at once: screenshots and slow phones see the result
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
    el.setAttribute("data-drawn", "1");
  };
  draw("chart-groups", {
    title: { text: groups.title, textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { top: 24, data: groups.series },
    grid: { top: 60, left: 40, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.groups || [] }, yAxis: { type: "value", max: 100 },
    series: [
      { name: groups.series[0], type: "bar", data: (data.completion || []).map(pct) },
      { name: groups.series[1], type: "bar", data: (data.timely || []).map(pct) }
    ]
  });
  draw("chart-days", {
    title: { text: days.title, textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { top: 24, data: days.series },
    grid: { top: 60, left: 40, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.days || [] }, yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: days.series[0], type: "line", data: data.tasks || [] },
      { name: days.series[1], type: "line", data: data.completed || [] }
    ]
  });
  draw("chart-custom", {
    tooltip: { trigger: "axis" }, grid: { top: 20, left: 50, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.names || [] }, yAxis: { type: "value" },
    series: [{ type: "bar", data: data.values || [] }]
  });
})();
