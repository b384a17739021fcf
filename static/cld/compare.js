// The compare page: the chosen runs' curves of one stage overlaid (one trace per run, in its colour),
// against step or epoch, the loss on a linear or logarithmic axis; and the settings table's
// "only the differences" switch. The runs' points come embedded in the page (#compare-data), as the
// run page stores and draws them; lines, layout and redrawing are charts.js's.
(function () {
  "use strict";

  var charts = window.cldCharts;
  var data = JSON.parse(document.getElementById("compare-data").textContent);
  var labels = data.labels;
  var PHASES = ["student", "teacher", "baseline"];

  // Per run, per stage: the loss of each step and the dev score of each evaluation.
  var lines = data.runs.map(function (run) {
    var byPhase = {};
    PHASES.forEach(function (phase) { byPhase[phase] = { loss: charts.emptyLine(), accuracy: charts.emptyLine() }; });
    run.points.forEach(function (p) {
      var phase = byPhase[p.phase];
      if (!phase) return;
      var chart = p.kind === "step" ? "loss" : p.kind === "eval" ? "accuracy" : null;
      var value = chart === "loss" ? p.values.loss : chart === "accuracy" ? p.values[run.eval_key] : null;
      if (value === null || value === undefined) return;
      charts.extend(phase[chart], p, value);
    });
    return byPhase;
  });

  var phaseSelect = document.getElementById("compare-phase");
  var axisSelect = document.getElementById("compare-x");
  var logBox = document.getElementById("compare-log");

  // A stage no chosen run went through (no teacher needed fine-tuning) is offered greyed out; the first
  // stage with curves is shown first.
  var withPoints = PHASES.filter(function (phase) {
    return lines.some(function (run) { return run[phase].loss.steps.length || run[phase].accuracy.steps.length; });
  });
  Array.prototype.forEach.call(phaseSelect.options, function (option) {
    option.disabled = withPoints.length > 0 && withPoints.indexOf(option.value) === -1;
  });
  if (withPoints.length && withPoints.indexOf(phaseSelect.value) === -1) phaseSelect.value = withPoints[0];

  function traces(chart, phase, axis) {
    return data.runs.map(function (run, i) {
      var line = charts.xy(lines[i][phase][chart], axis);
      return {
        type: "scatter", mode: "lines+markers", name: run.name, x: line.x, y: line.y,
        showlegend: true,  // every run keeps its colour in the legend, even one without curves in this stage
        line: { color: run.color, width: 2 },
        marker: { size: chart === "accuracy" ? 6 : 3 }
      };
    });
  }

  function draw() {
    var phase = phaseSelect.value;
    var axis = axisSelect.value;
    var xTitle = axis === "epoch" ? labels.epoch : labels.step;
    charts.react("compare-loss-chart", traces("loss", phase, axis),
                 charts.layout({ xTitle: xTitle, yTitle: labels.loss, yType: logBox.checked ? "log" : "linear" }));
    // An accuracy lies in 0-100%: a fixed axis, so an empty chart does not read "400%".
    charts.react("compare-accuracy-chart", traces("accuracy", phase, axis),
                 charts.layout({ xTitle: xTitle, yTitle: labels.accuracy, yFormat: ".0%", yRange: [0, 1] }));
  }

  [phaseSelect, axisSelect, logBox].forEach(function (control) { control.addEventListener("change", draw); });
  draw();

  // Without JavaScript the checkbox is sent with the form; with it, the table changes at once and the
  // address keeps the choice, so a reload or a shared link shows the same.
  var only = document.getElementById("only-differences");
  only.addEventListener("change", function () {
    document.getElementById("compare-settings").classList.toggle("only-differences", only.checked);
    var url = new URL(window.location.href);
    if (only.checked) url.searchParams.set("only_differences", "1");
    else url.searchParams.delete("only_differences");
    window.history.replaceState(null, "", url);
  });
})();
