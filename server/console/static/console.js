// Draws the charts of a console page from its embedded JSON (no network calls).
(function () {
  var node = document.getElementById("chart-data");
  if (!node || typeof echarts === "undefined") return;
  var data = JSON.parse(node.textContent);
  var pct = function (v) { return v === null ? null : Math.round(v * 1000) / 10; };
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
    title: { text: "完成率与及时率 (%)", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { top: 24, data: ["完成率", "及时率"] },
    grid: { top: 60, left: 40, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.groups || [] }, yAxis: { type: "value", max: 100 },
    series: [
      { name: "完成率", type: "bar", data: (data.completion || []).map(pct) },
      { name: "及时率", type: "bar", data: (data.timely || []).map(pct) }
    ]
  });
  draw("chart-days", {
    title: { text: "每日任务", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { top: 24, data: ["新任务", "已完成"] },
    grid: { top: 60, left: 40, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.days || [] }, yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "新任务", type: "line", data: data.tasks || [] },
      { name: "已完成", type: "line", data: data.completed || [] }
    ]
  });
  draw("chart-custom", {
    tooltip: { trigger: "axis" }, grid: { top: 20, left: 50, right: 10, bottom: 40 },
    xAxis: { type: "category", data: data.names || [] }, yAxis: { type: "value" },
    series: [{ type: "bar", data: data.values || [] }]
  });
})();
