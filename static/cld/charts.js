// What the run page (run.js: one run's stages) and the compare page (compare.js: several runs overlaid)
// share: how stored metric points become a line, how a chart is laid out, and how it is redrawn.
(function () {
  "use strict";

  var FONT = { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 };
  var CONFIG = { responsive: true, displaylogo: false };

  // Fills Django's %(name)s placeholders: the format strings come translated from the server.
  function interpolate(format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return values[name]; });
  }

  // A line of one stage: the step and epoch of each point (either can be the x-axis) and its value.
  function emptyLine() { return { steps: [], epochs: [], y: [] }; }

  // A retried run (worker lost) resumes from its last checkpoint and reports some steps again: a step
  // at or before the end of a line replaces the tail from that step on, so the chart shows the run that counts.
  function extend(line, point, value) {
    while (line.steps.length && line.steps[line.steps.length - 1] >= point.step) {
      line.steps.pop();
      line.epochs.pop();
      line.y.pop();
    }
    line.steps.push(point.step);
    var epoch = point.values.epoch;
    line.epochs.push(typeof epoch === "number" ? epoch : null);
    line.y.push(value);
  }

  // The points of a line against "step" or "epoch", as new arrays (see react); a point without an epoch
  // (an older run's) is left out of the epoch axis rather than drawn at 0.
  function xy(line, axis) {
    if (axis !== "epoch") return { x: line.steps.slice(), y: line.y.slice() };
    var x = [], y = [];
    line.epochs.forEach(function (epoch, i) {
      if (epoch !== null) { x.push(epoch); y.push(line.y[i]); }
    });
    return { x: x, y: y };
  }

  // options: xTitle, yTitle, yFormat, yRange, yType ("log"), rightMargin.
  function layout(options) {
    return {
      margin: { l: 56, r: options.rightMargin || 16, t: 8, b: 44 },
      xaxis: { title: { text: options.xTitle }, zeroline: false },
      yaxis: { title: { text: options.yTitle }, tickformat: options.yFormat || "", zeroline: false,
               type: options.yType || "linear", range: options.yRange, autorange: !options.yRange },
      legend: { orientation: "h", y: -0.25 },
      font: FONT,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)"
    };
  }

  // Plotly.react only recomputes a trace whose data arrays are new objects or when
  // layout.datarevision changes: handing it the arrays extend() pushed into would leave the
  // drawing frozen at the first batch. So every draw passes copies (xy) and a new revision.
  var revision = 0;

  function react(el, traces, spec) {
    revision += 1;
    spec.datarevision = revision;
    Plotly.react(el, traces, spec, CONFIG);
  }

  window.cldCharts = { interpolate: interpolate, emptyLine: emptyLine, extend: extend, xy: xy, layout: layout,
                       react: react };
})();
