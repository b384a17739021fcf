// The run form's "Grow the training set": the extra teacher time next to the choice, kept current as the
// teacher, the choice, the number of rows and the ways to make them change (cldweb/growing.py says the same
// sentence for the page as first sent), teacher-MLM greyed out for a teacher without a masked-LM head,
// growing greyed out altogether for a text-pair or named-entity corpus (it makes variants of single texts),
// and for a named-entity corpus the students that cannot tag (TextCNN) greyed out too. Each greyed-out
// choice has its reason shown beside it; the server refuses the same choices (forms.RunForm.clean).
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
  const taggingNote = document.getElementById("grow-tagging-note");
  const taggingCorpora = new Set(settings.tagging_corpora || []);
  const taggers = new Set(settings.tagging_students || []);
  const student = form.querySelector("[name=student_architecture]");
  const studentNote = document.getElementById("student-tagging-note");
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

  // A text-pair or named-entity corpus: growing makes variants of single texts, so only "Off" stays open
  // (the note says why).
  function offerGrowing(pairs, tagging) {
    const closed = pairs || tagging;
    for (const input of form.querySelectorAll("[name=grow]")) {
      if (input.value === "off") {
        if (closed) input.checked = true;
        continue;
      }
      if (closed) input.checked = false;
      input.disabled = closed;
      input.closest("label").classList.toggle("disabled", closed);
    }
    if (pairNote) pairNote.hidden = !pairs;
    if (taggingNote) taggingNote.hidden = !tagging;
  }

  // A named-entity corpus: only the students that tag stay open; a chosen TextCNN moves to the first that tags.
  function offerStudents(tagging) {
    if (!student) return;
    for (const option of student.options) option.disabled = tagging && !taggers.has(option.value);
    if (student.selectedOptions[0] && student.selectedOptions[0].disabled) {
      const first = Array.from(student.options).find((option) => !option.disabled);
      if (first) student.value = first.value;
    }
    if (studentNote) studentNote.hidden = !tagging;
  }

  function update() {
    const chosenCorpus = corpus ? corpus.value : "";
    const tagging = taggingCorpora.has(chosenCorpus);
    offerGrowing(pairCorpora.has(chosenCorpus), tagging);
    offerStudents(tagging);
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
