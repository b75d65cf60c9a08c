/* Live preview beside a Markdown field in the admin: an htmx POST to the same pipeline
   that renders lesson pages, then Mermaid renders any diagram in the preview. */
(function () {
  "use strict";
  var script = document.currentScript;
  var field = document.getElementById(script.dataset.field);
  if (!field) return;
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  var panel = document.createElement("div");
  panel.id = "markdown-preview";
  panel.className = "markdown-preview";
  panel.setAttribute("aria-live", "polite");
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
  htmx.process(field);

  if (window.mermaid) mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  panel.addEventListener("htmx:afterSwap", function () {
    if (window.mermaid) mermaid.run({ nodes: panel.querySelectorAll("pre.mermaid") });
  });
})();
