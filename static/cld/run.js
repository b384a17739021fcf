// Live charts for one run.
// History comes embedded in the page (#run-points); the WebSocket sends what came after
// (?after=<last seq>) and then live batches. Points are deduplicated by seq, so a replay
// after a reconnect never draws a point twice. A channel layer can drop a batch; the
// replay on the next connection fills the gap. Lines, layout and redrawing are charts.js's (shared with compare.js).
(function () {
  "use strict";

  var charts = window.cldCharts;

  var page = JSON.parse(document.getElementById("run-page").textContent);
  var backlog = JSON.parse(document.getElementById("run-points").textContent);
  var labels = page.labels;
  var lastSeq = 0;
  var status = page.status;
  var initiallyActive = isActive(status);

  // Trace order is fixed: 0 = teacher fine-tuning, 1 = student distillation, 2 = the same student
  // trained on labels only (the no-distillation baseline, when the run trains one).
  var PHASES = ["teacher", "student", "baseline"];
  var COLORS = { teacher: "#b45309", student: "#2563eb", baseline: "#059669" };
  var CHARTS = {
    // The teacher's fine-tuning and the labels-only student minimise cross-entropy on the labels (the
    // left axis); the distilled student its distillation loss, often ten times smaller, on an axis of
    // its own, or its curve lies flat on zero. A labels-only run's student shares the left axis.
    loss: { el: "loss-chart", kind: "step", key: "loss", yTitle: labels.labels_loss, yFormat: "",
            studentAxis: page.student_on_labels_only ? null : { title: labels.distillation_loss } },
    // An accuracy lies in 0-100%: a fixed axis, so an empty chart does not read "400%".
    accuracy: { el: "accuracy-chart", kind: "eval", key: page.eval_key || "dev_accuracy", yTitle: labels.accuracy, yFormat: ".0%",
                yRange: [0, 1] }
  };

  function isActive(s) { return page.active_statuses.indexOf(s) !== -1; }

  // Thousands separators as the page's language writes them (12,345).
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  var interpolate = charts.interpolate;

  function progressText(progress) {
    // Training stages count steps; teacher labelling counts texts.
    var formats = page.step_stages.indexOf(progress.stage) !== -1 ? page.step_progress_formats : page.progress_formats;
    var values = {
      stage: page.status_labels[progress.stage] || progress.stage,
      done: numbers.format(progress.done),
      total: numbers.format(progress.total)
    };
    var eta = progress.eta_s;
    if (typeof eta !== "number" || progress.done >= progress.total) return interpolate(formats.no_eta, values);
    if (eta < 60) return interpolate(formats.under_a_minute, values);
    values.minutes = numbers.format(Math.round(eta / 60));
    return interpolate(formats.minutes, values);
  }

  // The line and bar under the badge: texts labelled by the teacher, or training steps of the
  // teacher's fine-tuning and the student's distillation; hidden when the stage reports nothing
  // or the run has ended.
  function showProgress(progress) {
    var box = document.getElementById("run-progress");
    if (!progress || !progress.total || !isActive(status)) {
      box.hidden = true;
      return;
    }
    document.getElementById("run-progress-text").textContent = progressText(progress);
    var bar = document.getElementById("run-progress-bar");
    bar.max = progress.total;
    bar.value = progress.done;
    box.hidden = false;
  }

  function emptySeries() {
    var series = {};
    Object.keys(CHARTS).forEach(function (name) {
      series[name] = PHASES.map(charts.emptyLine);
    });
    return series;
  }

  // Everything drawn so far, per chart and phase (charts.extend keeps a retried run's steps once).
  var series = emptySeries();

  // A note's params written as cldweb/messages.py engine_note_param writes them (the engine's naming
  // rule: *_accuracy a fraction shown as a percentage, *_ms milliseconds, any other number a count).
  var percents = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                       { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var milliseconds = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                           { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function noteParam(name, value) {
    var words = page.note_words;
    if (value === null || value === undefined) return words["n/a"];
    if (typeof value === "string") return name === "device" ? (words[value] || value) : value;
    if (Array.isArray(value)) return value.join(words.list_separator);  // line numbers
    if (typeof value === "object") {
      // Why rows were skipped, {reason code: rows}: most first, ties by code, as the server says it.
      return Object.keys(value).sort(function (a, b) { return value[b] - value[a] || (a < b ? -1 : a > b ? 1 : 0); })
        .map(function (code) {
          return interpolate(words.skip_reason, { count: numbers.format(value[code]),
                                                  reason: words.skip_reasons[code] || code });
        }).join(words.list_separator);
    }
    if (/_accuracy$/.test(name)) return percents.format(value);
    if (/_ms$/.test(name)) return milliseconds.format(value);
    return numbers.format(Math.round(value));
  }

  // A note in the page's language: its code's template with the params filled in; the engine's
  // English when the code is unknown or the template names a param the note lacks.
  function noteText(values) {
    var text = values.text || "";
    var template = page.note_templates[values.code || ""];
    if (!template) return text;
    var params = values.params || {};
    var missing = false;
    var filled = template.replace(/%\((\w+)\)s/g, function (match, name) {
      if (!Object.prototype.hasOwnProperty.call(params, name)) {
        missing = true;
        return match;
      }
      return noteParam(name, params[name]);
    });
    return missing ? text : filled;
  }

  // A note from the engine: one line in the notes list (textContent: a note is never markup).
  // The server already rendered the notes of the page's backlog; a replay never adds one twice.
  function addNote(p) {
    if (p.phase === "stage") return;  // a stage mark: the timeline's (run_story.js, from the status), not a sentence
    var list = document.getElementById("engine-note-list");
    if (!list || list.querySelector('li[data-seq="' + p.seq + '"]')) return;
    var item = document.createElement("li");
    item.setAttribute("data-seq", p.seq);
    if (page.warning_notes.indexOf(p.values.code) !== -1) {
      item.className = "warning";
      var label = document.createElement("strong");
      label.textContent = page.warning_label;
      item.appendChild(label);  // its separating space included, where the language writes one
    }
    item.appendChild(document.createTextNode(noteText(p.values)));
    list.appendChild(item);
    document.getElementById("engine-notes").hidden = false;
  }

  function add(points) {
    var changed = false;
    points.forEach(function (p) {
      if (p.seq <= lastSeq) return; // already drawn
      lastSeq = p.seq;
      if (p.kind === "note") {
        addNote(p);
        return;
      }
      var trace = PHASES.indexOf(p.phase);
      if (trace === -1) return;
      Object.keys(CHARTS).forEach(function (name) {
        var chart = CHARTS[name];
        var value = p.values[chart.key];
        if (p.kind !== chart.kind || value === null || value === undefined) return;
        charts.extend(series[name][trace], p, value);
        changed = true;
      });
    });
    return changed;
  }

  function layout(chart) {
    // The left axis's title is the teacher's and the baseline's: no one curve's colour.
    var spec = charts.layout({ xTitle: labels.step, yTitle: chart.yTitle, yFormat: chart.yFormat, yRange: chart.yRange,
                               rightMargin: chart.studentAxis ? 56 : 16 });
    if (chart.studentAxis) {
      spec.yaxis2 = { title: { text: chart.studentAxis.title, font: { color: COLORS.student } },
                      overlaying: "y", side: "right", zeroline: false, showgrid: false,
                      tickmode: "auto", automargin: true };  // its own round ticks, title clear of them
    }
    return spec;
  }

  function draw() {
    Object.keys(CHARTS).forEach(function (name) {
      var chart = CHARTS[name];
      var traces = PHASES.map(function (phase, i) {
        var line = charts.xy(series[name][i], "step");
        return {
          type: "scatter", mode: "lines+markers",
          name: labels[phase], x: line.x, y: line.y,
          // A stage that reported nothing (a teacher that needed no fine-tuning) gets no legend entry;
          // an explicit true shows the legend even when only one stage has points.
          showlegend: line.x.length > 0,
          // The baseline minimises cross-entropy on the labels, like the teacher: it shares the teacher's axis.
          yaxis: chart.studentAxis && phase === "student" ? "y2" : "y",
          line: { color: COLORS[phase], width: 2 },
          marker: { size: chart.kind === "eval" ? 6 : 3 }
        };
      }).filter(function (trace, i) {
        // Most runs train no baseline, or have not reached it: no empty third trace in the drawing then.
        return PHASES[i] !== "baseline" || trace.x.length > 0;
      });
      charts.react(chart.el, traces, layout(chart));
    });
  }

  function setStatus(message) {
    var previous = status;
    status = message.status;
    var badge = document.querySelector("#status-badge .badge");
    if (badge) {
      badge.className = "badge status-" + status;
      badge.setAttribute("data-status", status);
      badge.textContent = page.status_labels[status] || status;
    }
    var device = document.getElementById("run-device");
    var words = page.device_labels;
    if (device && message.device) {
      device.textContent = message.device === "cuda" && message.device_name
        ? interpolate(words.cuda_named, { name: message.device_name })
        : (words[message.device] || message.device);
    }
    // Once the run has ended (or left the queue), the cancel control and the queue line say nothing true.
    var cancel = document.getElementById("run-cancel");
    if (cancel && !isActive(status)) cancel.hidden = true;
    var queue = document.getElementById("queue-position");
    if (queue && status !== "queued") queue.hidden = true;
    if (queue && status === "queued" && typeof message.runs_ahead === "number") {
      var formats = page.queue_formats;
      var ahead = message.runs_ahead;
      queue.textContent = ahead === 0 ? formats.next
        : interpolate(ahead === 1 ? formats.one : formats.many, { count: numbers.format(ahead) });
    }
    showProgress(message.progress);
    // The stage timeline and the whole run's bar are run_story.js's: it words the same message.
    document.dispatchEvent(new CustomEvent("cld:run-status", { detail: message }));
    // The results table, error and download link are rendered by the server: reload once at the end.
    if (initiallyActive && isActive(previous) && !isActive(status)) {
      window.location.reload();
    }
  }

  add(backlog);
  draw();
  showProgress(page.progress);
  if (!initiallyActive) return;

  var delay = 1000;
  var MAX_DELAY = 30000;
  var notice = null;

  function showReconnecting(show) {
    if (show && !notice) {
      notice = document.createElement("p");
      notice.className = "notice";
      notice.textContent = labels.reconnecting;
      document.querySelector(".charts").before(notice);
    } else if (!show && notice) {
      notice.remove();
      notice = null;
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + page.websocket_path + "?after=" + lastSeq);
    socket.onopen = function () { delay = 1000; showReconnecting(false); };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "points") {
        if (add(message.points)) draw();
      } else if (message.type === "status") {
        setStatus(message);
      }
    };
    socket.onclose = function () {
      if (!isActive(status)) return; // finished: nothing more will come
      showReconnecting(true);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY); // exponential backoff
    };
  }

  connect();
})();
