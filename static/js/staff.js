/* The instructors' dashboard: a "select all" box over the submissions of the page (it is hidden
   without JavaScript, where each box is ticked by hand). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (!all) return;
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=submission]"));
    if (!boxes.length) return;
    all.hidden = false;
    function sync() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) { box.addEventListener("change", sync); });
    sync();
  });
})();
