// The run page's stage timeline and its one bar over the whole run (cldweb/timeline.py works both out).
// The server renders them; every status message run.js receives carries them again as data
// ({"timeline": [{stage, state, seconds}], "overall": {fraction, eta_s}}), worded here in the page's
// language: the worker sends one message to every viewer, whatever language each reads. Between
// messages the current stage's time counts on, from the seconds the last message gave.
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("run-page").textContent);
  var story = page.story;
  var list = document.getElementById("stage-timeline");
  if (!list) return;
  var lang = document.documentElement.lang || undefined;
  var numbers = new Intl.NumberFormat(lang);
  var oneDecimal = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var percents = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 });

  function interpolate(format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return values[name]; });
  }

  // As cldweb/messages.py duration writes it: "12.3 s", then "4 min 5 s".
  function duration(seconds) {
    if (seconds < 60) return interpolate(story.durations.seconds, { seconds: oneDecimal.format(seconds) });
    var whole = Math.round(seconds);
    return interpolate(story.durations.minutes, { minutes: numbers.format(Math.floor(whole / 60)), seconds: whole % 60 });
  }

  function stageTime(state, seconds) {
    return interpolate(story.states[state] || "", { time: duration(seconds || 0) });
  }

  var current = null;  // {item, seconds, since}: the line whose time counts on between messages

  function drawTimeline(rows) {
    var items = rows.map(function (row) {
      var item = document.createElement("li");
      item.className = "stage-" + row.state;
      item.setAttribute("data-stage", row.stage);
      item.setAttribute("data-state", row.state);
      var name = document.createElement("span");
      name.className = "stage-name";
      name.textContent = story.stage_names[row.stage] || row.stage;
      var time = document.createElement("span");
      time.className = "stage-time";
      time.textContent = stageTime(row.state, row.seconds);
      item.appendChild(name);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(time);
      if (row.state === "current") current = { time: time, seconds: row.seconds || 0, since: Date.now() };
      return item;
    });
    current = items.some(function (item) { return item.getAttribute("data-state") === "current"; }) ? current : null;
    list.replaceChildren.apply(list, items);
  }

  function drawOverall(overall) {
    var box = document.getElementById("overall-progress");
    if (!overall || typeof overall.fraction !== "number") {
      box.hidden = true;
      return;
    }
    var formats = story.overall;
    var values = { percent: percents.format(overall.fraction) };
    var text;
    if (overall.fraction >= 1) text = formats.done;
    else if (typeof overall.eta_s !== "number") text = interpolate(formats.estimating, values);
    else if (overall.eta_s < 60) text = interpolate(formats.under_a_minute, values);
    else text = interpolate(formats.minutes, { percent: values.percent, minutes: numbers.format(Math.round(overall.eta_s / 60)) });
    document.getElementById("overall-progress-text").textContent = text;
    document.getElementById("overall-progress-bar").value = overall.fraction;
    box.hidden = false;
  }

  // The server's first rendering names the current line; its time counts on from the page's load.
  var first = list.querySelector('li[data-state="current"] .stage-time');
  if (first && page.story_current_seconds !== null && page.story_current_seconds !== undefined) {
    current = { time: first, seconds: page.story_current_seconds, since: Date.now() };
  }

  document.addEventListener("cld:run-status", function (event) {
    var message = event.detail;
    if (message.timeline) drawTimeline(message.timeline);
    if (message.overall) drawOverall(message.overall);
  });

  setInterval(function () {
    if (!current || page.active_statuses.indexOf(page.status) === -1) return;
    current.time.textContent = stageTime("current", current.seconds + (Date.now() - current.since) / 1000);
  }, 1000);
})();
