/* The submission form's editors: Tab indents (Esc then Tab leaves the editor), and sizes are
   checked before upload with the server's own limits. Without JavaScript the form still works
   (plain textareas, the server checks everything). */
(function () {
  "use strict";

  var INDENT = "  ";

  function indent(area, outdent) {
    var start = area.selectionStart, end = area.selectionEnd, value = area.value;
    var lineStart = value.lastIndexOf("\n", start - 1) + 1;
    if (start === end && !outdent) {
      area.setRangeText(INDENT, start, end, "end");
    } else {
      var block = value.slice(lineStart, end);
      var changed = outdent
        ? block.replace(/^ {1,2}/gm, "")
        : block.replace(/^/gm, INDENT);
      area.setRangeText(changed, lineStart, end, "select");
    }
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setUpEditor(area) {
    var escaped = false;
    area.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { escaped = true; return; }
      if (event.key === "Tab" && !escaped && !event.ctrlKey && !event.altKey && !event.metaKey) {
        event.preventDefault();
        indent(area, event.shiftKey);
        return;
      }
      escaped = false;
    });
    area.addEventListener("blur", function () { escaped = false; });
  }

  function utf8Bytes(text) {
    return new Blob([text]).size;
  }

  function checkSizes(form) {
    var limit = Number(form.dataset.maxFileBytes), maxFiles = Number(form.dataset.maxFiles);
    var problems = [], count = 0;
    form.querySelectorAll("textarea.code-editor").forEach(function (area) {
      if (area.value.trim()) count += 1;
      if (utf8Bytes(area.value) > limit) {
        problems.push(area.labels[0].firstChild.textContent.trim() + " is larger than 256 KiB.");
      }
    });
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files, function (file) {
        count += 1;
        if (file.size > limit) problems.push(file.name + " is larger than 256 KiB.");
      });
    });
    count += form.querySelectorAll("input[name=kept_name]").length;
    if (count > maxFiles) problems.push("At most " + maxFiles + " files can be submitted.");
    return problems;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("submission-form");
    if (!form) return;
    form.querySelectorAll("textarea.code-editor").forEach(setUpEditor);
    var box = form.querySelector(".client-errors");
    form.addEventListener("submit", function (event) {
      var problems = checkSizes(form);
      if (problems.length) {
        event.preventDefault();
        box.textContent = problems.join(" ");
        box.hidden = false;
        box.scrollIntoView({ block: "center" });
        return;
      }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      button.textContent = "Submitting…";
    });
    window.addEventListener("pageshow", function () {  // back button after submitting
      var button = form.querySelector("button[type=submit]");
      button.disabled = false;
      button.textContent = "Submit for grading";
    });
    var errors = document.getElementById("form-errors") || form.querySelector(".field-error");
    if (errors) errors.scrollIntoView({ block: "center" });
  });
})();
