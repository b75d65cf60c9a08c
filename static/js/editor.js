/* The submission editors, enhanced: a line-number gutter, findings as markers on their lines,
   and feedback while typing — the static checks run on the current text (debounced; not an
   attempt, nothing stored) and the live checklist ticks and unticks. Ctrl/Cmd+Enter submits.
   Without JavaScript the editors are plain textareas and the form works the same. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 75;
  var FILE_OF = { dockerfile: "Dockerfile", compose: "docker-compose.yml" };
  var editors = {};  // file name -> {area, gutter, inner, list}
  var timer = null, controller = null, sequence = 0, typedAt = 0;
  var state = window.drydockLive = { runs: 0, lastMs: null, serverMs: null, status: "" };

  function lineCount(text) { return text.split("\n").length; }

  function renderGutter(editor) {
    var count = lineCount(editor.area.value);
    if (editor.count === count) return;
    var html = [];
    for (var n = 1; n <= count; n += 1) html.push('<span class="gutter-line" data-line="' + n + '">' + n + "</span>");
    editor.inner.innerHTML = html.join("");
    editor.count = count;
    applyMarkers(editor);
    syncScroll(editor);
  }

  function syncScroll(editor) {
    editor.inner.style.transform = "translateY(" + (-editor.area.scrollTop) + "px)";
  }

  function setUp(area) {
    var file = FILE_OF[area.name];
    var frame = document.createElement("div");
    frame.className = "editor-frame";
    var gutter = document.createElement("div");
    gutter.className = "gutter";
    gutter.setAttribute("aria-hidden", "true");
    var inner = document.createElement("div");
    inner.className = "gutter-inner";
    gutter.appendChild(inner);
    area.parentNode.insertBefore(frame, area);
    frame.appendChild(gutter);
    frame.appendChild(area);
    var list = document.createElement("ul");
    list.className = "findings";
    list.id = "findings-" + area.name;
    list.setAttribute("aria-label", "Findings in " + (file || area.name));
    list.hidden = true;
    var after = frame.closest(".editor-pair") || frame;  // below the editor and its preview
    after.parentNode.insertBefore(list, after.nextSibling);
    var described = (area.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.push(list.id);
    area.setAttribute("aria-describedby", described.join(" "));
    var editor = { area: area, gutter: gutter, inner: inner, list: list, findings: [], count: 0 };
    if (file) editors[file] = editor;
    area.addEventListener("scroll", function () { syncScroll(editor); });
    area.addEventListener("input", function () { renderGutter(editor); });
    renderGutter(editor);
    return editor;
  }

  function applyMarkers(editor) {
    editor.inner.querySelectorAll(".marker").forEach(function (line) {
      line.classList.remove("marker", "marker-error", "marker-warning", "marker-info");
      line.removeAttribute("title");
    });
    editor.findings.forEach(function (finding) {
      var line = editor.inner.querySelector('[data-line="' + finding.line + '"]');
      if (!line) return;
      var worst = line.classList.contains("marker-error") ? "error" : finding.severity;
      line.classList.add("marker", "marker-" + worst);
      line.title = (line.title ? line.title + "\n" : "") + finding.message;
    });
  }

  function goToLine(area, number) {
    var lines = area.value.split("\n"), start = 0;
    for (var i = 0; i < number - 1 && i < lines.length; i += 1) start += lines[i].length + 1;
    area.focus();
    area.setSelectionRange(start, start + (lines[number - 1] || "").length);
  }

  function renderFindings(editor) {
    editor.list.textContent = "";
    editor.findings.forEach(function (finding) {
      var item = document.createElement("li");
      item.className = "finding finding-" + finding.severity;
      item.dataset.line = finding.line;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button finding-line";
      button.textContent = "Line " + finding.line + (finding.column ? ":" + finding.column : "");
      button.addEventListener("click", function () { goToLine(editor.area, finding.line); });
      item.appendChild(button);
      item.appendChild(document.createTextNode(" " + finding.message));
      editor.list.appendChild(item);
    });
    editor.list.hidden = editor.findings.length === 0;
  }

  function renderChecks(data) {
    var panel = document.getElementById("live-checks");
    if (!panel) return;
    var byId = {};
    (data.checks || []).forEach(function (check) { byId[check.id] = check; });
    panel.querySelectorAll("[data-check]").forEach(function (item) {
      var check = byId[item.dataset.check];
      var status = check ? (check.passed ? "pass" : "fail") : "unknown";
      item.className = "live-check " + status;
      item.querySelector(".mark").textContent = check ? (check.passed ? "✓" : "✗") : "·";
      item.querySelector(".visually-hidden").textContent = check ? (check.passed ? "Passes:" : "Fails:") : "Not checked:";
      item.title = check ? check.summary : "";
    });
    var summary = panel.querySelector(".live-summary"), text;
    if (data.status === "passed" || data.status === "failed") {
      text = data.passed + "/" + data.total + " checks pass on your current text.";
    } else if (data.status === "error") {
      text = "Your files cannot be checked yet: " + data.error;
    } else if (data.status === "rejected") {
      text = "The sandbox policy would reject these files: " + (data.notes || []).join("; ");
    } else {
      text = data.error || "";
    }
    if (summary.textContent !== text) summary.textContent = text;  // announced politely once
    panel.dataset.status = data.status;
  }

  function apply(data) {
    Object.keys(editors).forEach(function (file) {
      var editor = editors[file];
      editor.findings = (data.findings || []).filter(function (f) { return f.file === file; });
      applyMarkers(editor);
      renderFindings(editor);
    });
    renderChecks(data);
  }

  function run(form) {
    var mine = ++sequence;
    if (controller) controller.abort();
    controller = window.AbortController ? new AbortController() : null;
    var body = new FormData();
    form.querySelectorAll("textarea.code-editor").forEach(function (area) { body.append(area.name, area.value); });
    fetch(form.dataset.liveUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== sequence) return;
        apply(data);
        state.runs += 1;
        state.status = data.status;
        state.serverMs = data.server_ms;
        state.lastMs = typedAt ? Math.round(performance.now() - typedAt) : null;
        form.dataset.liveRuns = String(state.runs);
        document.dispatchEvent(new CustomEvent("drydock:live", { detail: data }));
      })
      .catch(function () { /* aborted by a newer keystroke, or offline: the next pause retries */ });
  }

  // The Back button after submitting brings back exactly what was submitted, even when the
  // browser reloads the page (which would otherwise show the attempt named in its URL).
  var DRAFT_KEY = "drydock-draft:" + location.pathname;

  function saveDraft(form) {
    var draft = {};
    form.querySelectorAll("textarea.code-editor").forEach(function (area) { draft[area.name] = area.value; });
    try { sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); } catch (e) { /* private mode */ }
  }

  function restoreDraft(form) {
    var navigation = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (!navigation || navigation.type !== "back_forward" || form.querySelector(".field-error")) return;
    var draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { draft = null; }
    if (!draft) return;
    form.querySelectorAll("textarea.code-editor").forEach(function (area) {
      if (typeof draft[area.name] === "string") area.value = draft[area.name];
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("submission-form");
    if (!form) return;
    restoreDraft(form);
    form.addEventListener("submit", function () {
      saveDraft(form);
      clearTimeout(timer);  // the submission gets the static checks anyway
      if (controller) controller.abort();
    });
    form.querySelectorAll("textarea.code-editor").forEach(setUp);
    form.classList.add("has-live-editor");
    var panel = document.getElementById("live-checks");
    if (panel) panel.hidden = false;
    form.addEventListener("input", function (event) {
      if (!event.target.matches || !event.target.matches("textarea.code-editor") || !form.dataset.liveUrl) return;
      typedAt = performance.now();
      clearTimeout(timer);
      timer = setTimeout(function () { run(form); }, DEBOUNCE_MS);
    });
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      }
    });
    if (form.dataset.liveUrl) run(form);
  });
})();
