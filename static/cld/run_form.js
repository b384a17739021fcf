// The run form's "Grow the training set": the extra teacher time next to the choice, kept current as the
// teacher, the choice, the number of rows and the ways to make them change (cldweb/growing.py says the same
// sentence for the page as first sent), teacher-MLM greyed out for a teacher without a masked-LM head, and
// growing greyed out altogether for a text-pair corpus (it makes variants of single texts).
(function () {
  "use strict";
  const settingsNode = document.getElementById("grow-settings");
  const form = document.getElementById("run-form");
  if (!settingsNode || !form) return;
  const settings = JSON.parse(settingsNode.textContent);
  const formats = settings.formats;
  const estimate = document.getElementById("grow-estimate");
  const teacher = form.querySelector("[name=teacher]");
  const rows = form.querySelector("[name=grow_rows]");
  const mlm = form.querySelector("[name=grow_methods][value=mlm]");
  const corpus = form.querySelector("[name=corpus]");
  const pairNote = document.getElementById("grow-pair-note");
  const pairCorpora = new Set(settings.pair_corpora || []);
  const grouped = new Intl.NumberFormat("en-US");

  function fill(format, params) {
    return format.replace(/%\((\w+)\)s/g, (whole, name) => (name in params ? params[name] : whole));
  }

  function duration(seconds) {
    if (seconds < 60) return formats.under_a_minute;
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return fill(minutes === 1 ? formats.minute : formats.minutes, {count: grouped.format(minutes)});
    const hours = Math.round(seconds / 3600);
    return fill(hours === 1 ? formats.hour : formats.hours, {count: grouped.format(hours)});
  }

  function chosen(name) {
    return Array.from(form.querySelectorAll(`[name=${name}]:checked`)).map((input) => input.value);
  }

  // A text-pair corpus: growing makes variants of single texts, so only "Off" stays open (the note says why).
  function offerGrowing() {
    const pairs = Boolean(corpus && pairCorpora.has(corpus.value));
    for (const input of form.querySelectorAll("[name=grow]")) {
      if (input.value === "off") {
        if (pairs) input.checked = true;
        continue;
      }
      if (pairs) input.checked = false;
      input.disabled = pairs;
      input.closest("label").classList.toggle("disabled", pairs);
    }
    if (pairNote) pairNote.hidden = !pairs;
  }

  function update() {
    offerGrowing();
    const speed = settings.teachers[teacher ? teacher.value : ""];
    const isDemo = Boolean(speed && speed.kind === "demo");
    if (mlm) {
      if (isDemo) mlm.checked = false;
      mlm.disabled = isDemo;
      mlm.closest("label").classList.toggle("disabled", isDemo);
    }
    const grow = chosen("grow")[0] || "off";
    const preset = settings.presets[grow];
    const typed = parseInt(rows && rows.value, 10);
    const count = preset && preset.rows ? (typed > 0 ? typed : preset.rows) : 0;
    if (!speed || !count) {
      estimate.hidden = true;
      estimate.textContent = "";
      return;
    }
    const key = speed.measured ? "measured" : `guess_${speed.kind}`;
    let sentence = fill(formats[key], {time: duration(count / speed.texts_per_second), rows: grouped.format(count),
                                       speed: speed.speed_words});
    const methods = chosen("grow_methods");
    if ((methods.length ? methods : preset.methods).includes("mlm") && !isDemo) sentence += " " + formats.mlm;
    estimate.textContent = sentence;
    estimate.hidden = false;
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();
