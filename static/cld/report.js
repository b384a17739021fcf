// The evaluation report's confusion matrices: one Plotly heatmap per model, axes in label names.
// The data comes embedded in the page (#report-charts, built by cldweb.report); the page itself
// (run page or the downloadable report) loads Plotly before this file.
(function () {
  "use strict";

  var data = document.getElementById("report-charts");
  if (!data || typeof Plotly === "undefined") return;
  var charts = JSON.parse(data.textContent);
  var labels = charts.labels;

  charts.models.forEach(function (model) {
    var el = document.getElementById("confusion-" + model.key);
    if (!el) return;
    // Row i is true label i: reversed on the y axis, so the diagonal runs top-left to bottom-right as people read a matrix.
    var trace = {
      type: "heatmap", z: model.confusion, x: labels, y: labels,
      colorscale: [[0, "#f1f5f9"], [1, "#1d4ed8"]], showscale: false, xgap: 2, ygap: 2,  // more texts, darker
      texttemplate: "%{z}", hovertemplate: charts.axes.gold + ": %{y}<br>" + charts.axes.predicted + ": %{x}<br>%{z}<extra></extra>"
    };
    var layout = {
      margin: { l: 80, r: 8, t: 8, b: 56 },
      xaxis: { title: { text: charts.axes.predicted }, type: "category", side: "bottom" },
      yaxis: { title: { text: charts.axes.gold }, type: "category", autorange: "reversed" },
      font: { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      height: 120 + 36 * labels.length
    };
    Plotly.newPlot(el, [trace], layout, { responsive: true, displaylogo: false, staticPlot: false });
  });
})();
