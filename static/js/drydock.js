/* Progressive enhancement for every page: copy buttons on code blocks and Mermaid diagrams.
   Without JavaScript, code stays highlighted and diagram sources stay readable. */
(function () {
  "use strict";

  function addCopyButtons(root) {
    root.querySelectorAll(".highlight").forEach(function (block) {
      if (block.querySelector(".copy-button")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code to clipboard");
      button.addEventListener("click", function () {
        var code = block.querySelector("code") || block.querySelector("pre");
        var done = function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(code.innerText).then(done);
        } else {
          var area = document.createElement("textarea");
          area.value = code.innerText;
          document.body.appendChild(area);
          area.select();
          document.execCommand("copy");
          area.remove();
          done();
        }
      });
      block.appendChild(button);
    });
  }

  function renderDiagrams() {
    var nodes = document.querySelectorAll("pre.mermaid:not([data-processed])");
    if (!nodes.length || !window.mermaid) return;
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: dark ? "dark" : "default" });
    window.drydockMermaid = { errors: [], done: false };
    window.mermaid
      .run({
        nodes: nodes,
        postRenderCallback: function () {},
      })
      .catch(function (error) { window.drydockMermaid.errors.push(String(error && error.message || error)); })
      .finally(function () { window.drydockMermaid.done = true; document.dispatchEvent(new Event("drydock:diagrams")); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    addCopyButtons(document);
    renderDiagrams();
  });
})();
