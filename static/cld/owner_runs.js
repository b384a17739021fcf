// The signed-in user's runs, followed live on the dashboard, the runs list, the queue page and a run's page.
// ws/runs/ sends each status change of the user's runs (cldweb.consumers.OwnerRunsConsumer): the status
// cells ([data-run] rows), the runs list's queue cell and the queue page's positions follow it, and when a
// run ends a notice (role="status") appears and the page title says so until the notice is dismissed.
// On a run's own page run.js reloads the page when that run ends: the notice is kept in sessionStorage
// across the reload, and the runs already announced too, so a late copy of the message says nothing twice.
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("owner-runs").textContent);
  var region = document.getElementById("run-toasts");
  var originalTitle = document.title;
  var titleSuffix = / · cld$/.test(originalTitle) ? " · cld" : "";
  var PENDING = "cld-run-toasts";  // notices to show after a reload
  var ANNOUNCED = "cld-runs-announced";  // "<run>:<status>" already said, in this tab
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function interpolate(format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return values[name]; });
  }

  function stored(key) {
    try { return JSON.parse(window.sessionStorage.getItem(key) || "[]"); } catch (error) { return []; }
  }

  function store(key, value) {
    try { window.sessionStorage.setItem(key, JSON.stringify(value)); } catch (error) { /* private mode: no memory */ }
  }

  function isTerminal(status) { return page.terminal_statuses.indexOf(status) !== -1; }

  function runName(run) { return run.name || interpolate(page.run_number, { pk: run.run }); }

  // The page title while notices are shown: the latest one's, e.g. "✓ Run #12 done · cld".
  var shown = [];
  function updateTitle() {
    document.title = shown.length ? shown[shown.length - 1].title + titleSuffix : originalTitle;
  }

  function showToast(notice) {
    var toast = document.createElement("div");
    toast.className = "toast toast-" + notice.status;
    toast.setAttribute("role", "status");
    toast.setAttribute("data-run", notice.run);
    region.appendChild(toast);  // in the page before its words, so screen readers announce them
    var text = document.createElement("span");
    text.className = "toast-text";
    text.textContent = notice.text + " ";
    toast.appendChild(text);
    if (!notice.here) {
      var link = document.createElement("a");
      link.href = "/runs/" + notice.run + "/";
      link.textContent = page.open;
      toast.appendChild(link);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", page.dismiss);
    close.textContent = "×";
    close.addEventListener("click", function () {
      toast.remove();
      shown = shown.filter(function (item) { return item !== notice; });
      updateTitle();
    });
    toast.appendChild(close);
    shown.push(notice);
    updateTitle();
  }

  // A run ended: say it once per tab, even if the message comes twice or the page reloads meanwhile.
  function announce(run, here) {
    var key = run.run + ":" + run.status;
    var announced = stored(ANNOUNCED);
    if (announced.indexOf(key) !== -1) return;
    announced.push(key);
    store(ANNOUNCED, announced.slice(-100));
    var name = runName(run);
    var notice = { run: run.run, status: run.status, here: here,
                   text: interpolate(page.ended[run.status], { name: name }),
                   title: interpolate(page.titles[run.status], { name: name }) };
    if (here) store(PENDING, stored(PENDING).concat([notice]));  // run.js reloads this page now
    showToast(notice);
  }

  function queueWords(run) {
    if (run.status !== "queued") return run.is_active ? page.running : "—";
    var formats = page.queue_formats;
    return run.runs_ahead === 0 ? formats.next
      : interpolate(run.runs_ahead === 1 ? formats.one : formats.many, { count: numbers.format(run.runs_ahead) });
  }

  // The run's row, wherever the page lists it: its status badge, queue cell, position and queue controls.
  function updateRow(run) {
    document.querySelectorAll('tr[data-run="' + run.run + '"]').forEach(function (row) {
      var badge = row.querySelector(".badge[data-status]");
      if (badge) {
        badge.className = "badge status-" + run.status;
        badge.setAttribute("data-status", run.status);
        badge.textContent = page.status_labels[run.status] || run.status;
      }
      // The runs list's queue column, found by its header (its cells carry no marker of their own).
      var header = row.closest("table") && row.closest("table").querySelector("th[data-queue-column]");
      var queueCell = header ? row.cells[header.cellIndex] : null;
      if (queueCell) queueCell.textContent = queueWords(run);
      var position = row.querySelector("[data-queue-position]");
      if (position) {
        position.textContent = run.status === "queued" ? numbers.format(run.queue_position)
          : (run.is_active ? page.running : "—");
      }
      // A run that left the queue can no longer be moved; one that ended, no longer cancelled.
      if (run.status !== "queued") {
        row.querySelectorAll("[data-queue-actions] form").forEach(function (form) { form.remove(); });
      }
      if (!run.is_active) {
        var cancel = row.querySelector("[data-queue-actions] [data-cancel]");
        if (cancel) cancel.remove();
      }
    });
  }

  function onRun(run) {
    updateRow(run);
    var current = page.current_run;
    if (isTerminal(run.status)) announce(run, Boolean(current && current.pk === run.run));
  }

  // The notices kept across run.js's reload, shown again on the page it loaded.
  var pending = stored(PENDING);
  store(PENDING, []);
  pending.forEach(function (notice) { showToast(notice); });

  // On a run's page, run.js has that run's status first, from its own socket (and reloads on its end).
  var current = page.current_run;
  if (current) {
    var currentStatus = current.status;
    document.addEventListener("cld:run-status", function (event) {
      var message = event.detail;
      var ended = !isTerminal(currentStatus) && isTerminal(message.status);
      currentStatus = message.status;
      if (ended) announce({ run: current.pk, name: current.name, status: message.status }, true);
    });
  }

  var delay = 1000;
  var MAX_DELAY = 30000;

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + page.websocket_path);
    socket.onopen = function () {
      delay = 1000;
      document.documentElement.setAttribute("data-owner-runs", "live");  // following: changes from now on show
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "run") onRun(message);
    };
    socket.onclose = function () {
      document.documentElement.removeAttribute("data-owner-runs");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY);  // exponential backoff
    };
  }

  connect();
})();
