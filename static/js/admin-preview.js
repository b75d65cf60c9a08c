/* Live preview beside a Markdown field in the admin: an htmx POST to the same pipeline that
   renders lesson pages, then drydock.js renders diagrams and adds Copy buttons, as on a lesson.
   Loaded with `defer` after htmx and drydock.js, so both are defined when this runs. */
(function () {
  "use strict";
  var script = document.currentScript;
  var field = document.getElementById(script.dataset.field);
  if (!field || !window.htmx) return;
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  var panel = document.createElement("div");
  panel.id = "markdown-preview";
  panel.className = "markdown-preview";
  panel.setAttribute("aria-live", "polite");
  panel.setAttribute("aria-label", "Preview");
  panel.innerHTML = "<p class='preview-meta'>Preview loading…</p>";
  var wrap = document.createElement("div");
  wrap.className = "markdown-editor";
  field.parentNode.insertBefore(wrap, field);
  wrap.appendChild(field);
  wrap.appendChild(panel);

  field.setAttribute("hx-post", script.dataset.url);
  field.setAttribute("hx-trigger", "load, input changed delay:400ms");
  field.setAttribute("hx-target", "#markdown-preview");
  field.setAttribute("hx-vals", JSON.stringify({ field: field.name }));
  field.setAttribute("hx-include", "this");
  if (token) field.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": token.value }));
  window.htmx.process(field);

  panel.addEventListener("htmx:afterSettle", function () {
    if (!window.drydock) return;
    window.drydock.addCopyButtons(panel);
    window.drydock.renderDiagrams(panel);
  });
})();
