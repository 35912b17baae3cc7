/* Task lists (My queue, the department board): "all on this page" ticks every task of the
   list, and the bulk bar says how many are ticked. Without this script the checkboxes
   still work one by one. */
(function () {
  "use strict";
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="ids"][form="bulk"]'));
  }
  function update() {
    var ticked = boxes().filter(function (b) { return b.checked; }).length;
    var label = document.querySelector("[data-selected]");
    if (label) { label.textContent = ticked ? ticked + " selected:" : "Tick tasks, then:"; }
    var all = document.querySelector("[data-select-all]");
    if (all) { all.checked = ticked > 0 && ticked === boxes().length; }
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      boxes().forEach(function (b) { b.checked = target.checked; });
    }
    if (target.matches && target.matches('[data-select-all], input[name="ids"]')) { update(); }
  });
  document.addEventListener("htmx:afterSettle", update);
  document.addEventListener("DOMContentLoaded", update);
})();
