// The run page's playground: send the texts to POST /api/runs/<id>/predict/?teacher=1 and fill the
// table the server renders for the same answer without JavaScript (cldweb.api.playground_rows):
// per text, each model's label, its probability and the two runners-up, then the time line.
(function () {
  "use strict";
  const section = document.getElementById("playground");
  if (!section) return;
  const form = document.getElementById("playground-form");
  const textarea = document.getElementById("playground-text");
  // A text-pair run: a second box, paired with the first line by line, sent as "second_texts".
  const secondTextarea = section.dataset.pairs ? document.getElementById("playground-text-pair") : null;
  const errorLine = document.getElementById("playground-error");
  const teacherMissing = document.getElementById("playground-teacher-missing");
  const results = document.getElementById("playground-results");
  const rowsBody = document.getElementById("playground-rows");
  const timeLine = document.getElementById("playground-time");
  const button = form.querySelector("button[type=submit]");

  function percent(probability) {
    return (probability * 100).toFixed(1) + "%";
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_match, name) => String(values[name]));
  }

  function show(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  // One model's cell: "pos 93.1%", then the runners-up on their own lines.
  function cell(prediction) {
    const td = document.createElement("td");
    if (!prediction) {
      td.textContent = "—";
      return td;
    }
    const ranked = Object.entries(prediction.probabilities).sort((a, b) => b[1] - a[1]);
    const label = document.createElement("strong");
    label.className = "playground-label";
    label.textContent = ranked[0][0];
    const probability = document.createElement("span");
    probability.className = "playground-probability";
    probability.textContent = percent(ranked[0][1]);
    td.append(label, " ", probability);
    for (const [name, value] of ranked.slice(1, 3)) {
      const other = document.createElement("span");
      other.className = "muted";
      other.textContent = name + " " + percent(value);
      td.append(document.createElement("br"), other);
    }
    return td;
  }

  function render(answer) {
    const teacher = answer.teacher || {};
    const teacherPredictions = teacher.predictions || null;
    rowsBody.replaceChildren(...answer.student.predictions.map((student, index) => {
      const tr = document.createElement("tr");
      const text = document.createElement("td");
      text.textContent = student.text;
      if (student.text_pair !== undefined) {
        // Both texts of the pair, the second on its own line, as the page without JavaScript shows them.
        const second = document.createElement("span");
        second.className = "pair-second";
        second.textContent = "‖ " + student.text_pair;
        text.append(document.createElement("br"), second);
      }
      tr.append(text, cell(teacherPredictions && teacherPredictions[index]), cell(student));
      return tr;
    }));
    show(teacherMissing, teacher.error ? teacher.error.message : "");
    const values = {
      count: answer.student.predictions.length,
      student: answer.student.milliseconds.toFixed(1),
      teacher: teacherPredictions ? teacher.milliseconds.toFixed(1) : "",
    };
    timeLine.textContent = format(teacherPredictions ? section.dataset.timeBoth : section.dataset.timeStudent, values);
    results.hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    show(errorLine, "");
    try {
      const response = await fetch(section.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
        },
        body: JSON.stringify(secondTextarea ? {texts: textarea.value, second_texts: secondTextarea.value}
                                            : {texts: textarea.value}),
      });
      const answer = await response.json();
      if (!response.ok) {
        show(errorLine, answer.error ? answer.error.message : String(response.status));
        return;
      }
      render(answer);
    } catch (problem) {
      show(errorLine, String(problem));
    } finally {
      button.disabled = false;
    }
  });
})();
