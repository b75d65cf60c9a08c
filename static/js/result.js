/* The result page while grading: one polite announcement per stage (the polled fragment itself
   is not a live region, so screen readers are not interrupted every second), the verdict in the
   tab title, and an optional browser notification when grading finishes. */
(function () {
  "use strict";

  var lastAnnounced = "";

  function announce(text) {
    var region = document.getElementById("grading-announcer");
    if (!region || !text || text === lastAnnounced) return;
    lastAnnounced = text;
    region.textContent = text;
  }

  function update(status, initial) {
    if (!status) return;
    var done = status.classList.contains("done");
    if (done && status.dataset.title) document.title = status.dataset.title + " · Drydock";
    if (initial) { lastAnnounced = status.dataset.announce || ""; return; }
    announce(status.dataset.announce);
    if (done && window.Notification && Notification.permission === "granted" && document.hidden) {
      new Notification("Drydock", { body: status.dataset.announce });
    }
    var line = document.querySelector(".notify-line");
    if (done && line) line.hidden = true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var status = document.getElementById("grading-status");
    update(status, true);
    var line = document.querySelector(".notify-line");
    if (line && status && !status.classList.contains("done") && window.Notification && Notification.permission !== "denied") {
      line.hidden = false;
      document.getElementById("notify-button").addEventListener("click", function () {
        Notification.requestPermission().then(function (answer) {
          line.textContent = answer === "granted" ? "You will be notified when grading finishes." : "Notifications are off.";
        });
      });
    }
    document.body.addEventListener("htmx:afterSettle", function () {
      update(document.getElementById("grading-status"), false);
    });
  });
})();
