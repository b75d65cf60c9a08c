/* Progressive enhancement for every page. Without JavaScript the site still works: the theme
   follows the system, code stays highlighted, diagram sources stay readable, search is a form.
   - theme toggle (auto → light → dark), remembered in localStorage
   - "/" focuses the search box
   - Copy buttons on code blocks (in the block's header bar, never over the code)
   - the table of contents follows the scroll
   - Mermaid, fetched only when the page holds a diagram; each diagram sized so its smallest
     label stays legible (scrolling sideways if needed), named for screen readers, and
     openable full screen. */
(function () {
  "use strict";

  var script = document.currentScript;
  var MERMAID_URL = script && script.dataset.mermaid;
  var MIN_LABEL_PX = 12; // smallest diagram label on screen, in CSS px
  var THEME_KEY = "drydock-theme";
  var THEMES = { auto: ["◐", "Auto"], light: ["☀", "Light"], dark: ["☾", "Dark"] };
  var NEXT_THEME = { auto: "light", light: "dark", dark: "auto" };

  /* ---- Theme --------------------------------------------------------------------------- */
  function savedTheme() {
    try { return localStorage.getItem(THEME_KEY) || "auto"; } catch (e) { return "auto"; }
  }

  function isDark() {
    var theme = document.documentElement.dataset.theme; // the admin also sets "auto"
    if (theme === "light" || theme === "dark") return theme === "dark";
    return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  function isExplicit() {
    var theme = document.documentElement.dataset.theme;
    return theme === "light" || theme === "dark";
  }

  function applyTheme(theme) {
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
    var button = document.getElementById("theme-toggle");
    if (button) {
      var label = THEMES[theme] || THEMES.auto;
      button.innerHTML = '<span aria-hidden="true">' + label[0] + '</span> <span class="theme-name">' + label[1] + "</span>";
      button.setAttribute("aria-label", "Colour theme: " + theme + (theme === "auto" ? " (follows the system)" : "") + ". Change theme");
      button.dataset.theme = theme;
    }
    document.dispatchEvent(new Event("drydock:theme"));
  }

  function setUpThemeToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.hidden = false;
    applyTheme(savedTheme());
    button.addEventListener("click", function () {
      var next = NEXT_THEME[button.dataset.theme] || "auto";
      try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode: not kept */ }
      applyTheme(next);
    });
    if (window.matchMedia) {
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
        if (!isExplicit()) document.dispatchEvent(new Event("drydock:theme"));
      });
    }
  }

  /* ---- "/" focuses search ------------------------------------------------------------------ */
  function setUpSearchShortcut() {
    var input = document.getElementById("site-search-q");
    if (!input) return;
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      var target = event.target;
      if (target.closest && target.closest("input, textarea, select, [contenteditable], .cm-editor")) return;
      event.preventDefault();
      input.focus();
      input.select();
    });
  }

  /* ---- Copy buttons ------------------------------------------------------------------------ */
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

  /* ---- The TOC follows the scroll ------------------------------------------------------------ */
  function setUpTocFollow() {
    var toc = document.querySelector("nav.toc");
    var sections = Array.prototype.slice.call(document.querySelectorAll(".lesson-section[id]"));
    if (!toc || !sections.length) return;
    var current = null;
    function update() {
      var offset = Math.min(160, window.innerHeight * 0.3);
      var active = sections[0];
      sections.forEach(function (section) {
        if (section.getBoundingClientRect().top <= offset) active = section;
      });
      if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2) {
        active = sections[sections.length - 1];
      }
      var link = toc.querySelector('a[href="#' + active.id + '"]');
      toc.querySelectorAll('a[aria-current]').forEach(function (a) { if (a !== link) a.removeAttribute("aria-current"); });
      if (link && link !== current) {
        link.setAttribute("aria-current", "location");
        if (toc.scrollHeight > toc.clientHeight) link.scrollIntoView({ block: "nearest" });
      } else if (link) {
        link.setAttribute("aria-current", "location");
      }
      current = link;
    }
    var pending = false;
    window.addEventListener("scroll", function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; update(); });
    }, { passive: true });
    document.addEventListener("htmx:afterSettle", function () { current = null; update(); });
    update();
  }

  /* ---- Diagrams ------------------------------------------------------------------------------ */
  var mermaidLoading = null;

  function loadMermaid() {
    if (window.mermaid) return Promise.resolve(window.mermaid);
    if (!MERMAID_URL) return Promise.reject(new Error("no Mermaid bundle configured"));
    if (!mermaidLoading) {
      mermaidLoading = new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = MERMAID_URL;
        tag.onload = function () { resolve(window.mermaid); };
        tag.onerror = function () { reject(new Error("the diagram library failed to load")); };
        document.head.appendChild(tag);
      });
    }
    return mermaidLoading;
  }

  function headingBefore(node) {
    // The closest heading above the diagram: a sibling before it, else one before an ancestor.
    for (var el = node; el && el !== document.body; el = el.parentElement) {
      for (var prev = el.previousElementSibling; prev; prev = prev.previousElementSibling) {
        if (/^H[1-6]$/.test(prev.tagName)) return prev;
        var inner = prev.querySelectorAll && prev.querySelectorAll("h1, h2, h3, h4, h5, h6");
        if (inner && inner.length) return inner[inner.length - 1];
      }
    }
    return null;
  }

  function diagramName(pre) {
    var heading = headingBefore(pre);
    var text = heading ? heading.textContent.replace(/[#¶]\s*$/, "").trim() : "";
    return text ? "Diagram: " + text : "Diagram";
  }

  function smallestLabel(svg) {
    // Font size of the smallest label in SVG user units (= CSS px at scale 1).
    var smallest = Infinity;
    svg.querySelectorAll("text, foreignObject span, foreignObject div, foreignObject p").forEach(function (el) {
      if (!el.textContent.trim()) return;
      var size = parseFloat(getComputedStyle(el).fontSize);
      if (size > 0 && size < smallest) smallest = size;
    });
    return smallest === Infinity ? 16 : smallest;
  }

  function sizeDiagram(pre, svg, available) {
    var box = svg.viewBox && svg.viewBox.baseVal;
    if (!box || !box.width) return;
    if (!svg.dataset.minLabel) svg.dataset.minLabel = smallestLabel(svg);
    var fit = available / box.width;
    var legible = MIN_LABEL_PX / parseFloat(svg.dataset.minLabel);
    var scale = Math.max(Math.min(1, fit), legible);
    svg.style.maxWidth = "none";
    svg.style.width = Math.round(box.width * scale) + "px";
    svg.style.height = Math.round(box.height * scale) + "px";
    svg.removeAttribute("height");
    pre.classList.add("sized");
    pre.classList.toggle("fits", scale <= fit + 0.001);
    if (!pre.dataset.centred) { centre(pre); pre.dataset.centred = "1"; }
  }

  function centre(scroller) {
    // Wide trees grow from the middle: start there rather than at an empty left edge.
    if (scroller.scrollWidth > scroller.clientWidth) {
      scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2;
    }
  }

  function sizeAll() {
    document.querySelectorAll(".diagram pre.mermaid").forEach(function (pre) {
      var svg = pre.querySelector("svg");
      if (!svg) return;
      var style = getComputedStyle(pre);
      var available = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      sizeDiagram(pre, svg, available);
    });
  }

  var dialog = null;

  function openFullScreen(pre) {
    var svg = pre.querySelector("svg");
    if (!svg) return;
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "diagram-dialog";
      dialog.setAttribute("aria-labelledby", "diagram-dialog-title");
      dialog.innerHTML =
        '<header><h2 id="diagram-dialog-title"></h2><div class="zoom">' +
        '<button type="button" class="close" data-zoom="0.8" aria-label="Zoom out">−</button>' +
        '<button type="button" class="close" data-zoom="1.25" aria-label="Zoom in">+</button>' +
        '<button type="button" class="close" data-close>Close</button></div></header>' +
        '<div class="canvas"></div>';
      document.body.appendChild(dialog);
      dialog.addEventListener("click", function (event) {
        var button = event.target.closest("button");
        if (!button) return;
        if (button.hasAttribute("data-close")) dialog.close();
        var zoom = parseFloat(button.dataset.zoom);
        var shown = dialog.querySelector(".canvas svg");
        if (zoom && shown) {
          shown.style.width = Math.round(parseFloat(shown.style.width) * zoom) + "px";
          shown.style.height = Math.round(parseFloat(shown.style.height) * zoom) + "px";
        }
      });
      dialog.addEventListener("close", function () {
        var shown = dialog.querySelector(".canvas svg");
        if (shown && dialog.origin) {
          dialog.origin.appendChild(shown); // the same node goes back: no duplicated ids
          sizeAll();
          if (dialog.opener) dialog.opener.focus();
        }
        dialog.origin = null;
      });
    }
    dialog.querySelector("h2").textContent = pre.dataset.name || "Diagram";
    dialog.origin = pre;
    dialog.opener = pre.parentElement.querySelector(".diagram-bar button");
    var canvas = dialog.querySelector(".canvas");
    canvas.appendChild(svg);
    dialog.showModal();
    var box = svg.viewBox.baseVal;
    var fit = Math.min((canvas.clientWidth - 32) / box.width, (canvas.clientHeight - 32) / box.height);
    var legible = MIN_LABEL_PX / parseFloat(svg.dataset.minLabel || 16);
    var scale = Math.max(Math.min(fit, 2), legible);
    svg.style.width = Math.round(box.width * scale) + "px";
    svg.style.height = Math.round(box.height * scale) + "px";
    centre(canvas);
    dialog.querySelector("[data-close]").focus();
  }

  function decorate(pre) {
    var name = diagramName(pre);
    pre.dataset.name = name;
    var svg = pre.querySelector("svg");
    if (svg) {
      svg.setAttribute("role", "img");
      if (!svg.getAttribute("aria-labelledby")) svg.setAttribute("aria-label", name);
    }
    if (pre.parentElement.classList.contains("diagram")) return;
    var figure = document.createElement("div");
    figure.className = "diagram";
    var bar = document.createElement("div");
    bar.className = "diagram-bar";
    bar.innerHTML = '<span class="diagram-hint">Scroll sideways or open full screen</span>';
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Full screen";
    button.setAttribute("aria-label", "Open " + name + " full screen");
    bar.appendChild(button);
    pre.parentNode.insertBefore(figure, pre);
    figure.appendChild(bar);
    figure.appendChild(pre);
    button.addEventListener("click", function () { openFullScreen(pre); });
    pre.addEventListener("click", function () { openFullScreen(pre); });
  }

  function renderDiagrams(root) {
    root = root || document;
    var nodes = Array.prototype.slice.call(root.querySelectorAll("pre.mermaid"));
    if (!nodes.length) return Promise.resolve();
    var state = (window.drydockMermaid = { errors: [], done: false });
    nodes.forEach(function (pre) {
      if (pre.dataset.source === undefined) pre.dataset.source = pre.textContent;
      else {
        pre.textContent = pre.dataset.source;
        pre.removeAttribute("data-processed");
        delete pre.dataset.centred;
      }
    });
    return loadMermaid()
      .then(function (mermaid) {
        mermaid.initialize({
          startOnLoad: false,
          securityLevel: "strict",
          theme: isDark() ? "dark" : "default",
          flowchart: { useMaxWidth: false },
        });
        return mermaid.run({ nodes: nodes });
      })
      .then(function () { nodes.forEach(decorate); sizeAll(); })
      .catch(function (error) { state.errors.push(String((error && error.message) || error)); })
      .finally(function () {
        state.done = true;
        document.dispatchEvent(new Event("drydock:diagrams"));
      });
  }

  window.drydock = { renderDiagrams: renderDiagrams, addCopyButtons: addCopyButtons };

  document.addEventListener("DOMContentLoaded", function () {
    setUpThemeToggle();
    setUpSearchShortcut();
    addCopyButtons(document);
    setUpTocFollow();
    renderDiagrams(document);
    document.addEventListener("drydock:theme", function () {
      if (document.querySelector("pre.mermaid[data-processed]")) renderDiagrams(document);
    });
    // Phones fire "resize" when the URL bar hides; only a new width changes the layout.
    var resizeTimer = null;
    var lastWidth = window.innerWidth;
    window.addEventListener("resize", function () {
      if (window.innerWidth === lastWidth) return;
      lastWidth = window.innerWidth;
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(sizeAll, 150);
    });
  });
})();
