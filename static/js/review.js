/* Keyboard shortcuts of the work page, as listed beside the item:
 * a accept, r reject (type the reason, Enter), e edit (Ctrl+Enter saves),
 * f flag (Space ticks, Enter flags), s skip, 1–5 rate the highlighted scale.
 * Without this script the buttons and fields work as a plain form. */
(function () {
  "use strict";
  var form = document.querySelector("[data-review-form]");
  if (!form) return;
  var reason = form.querySelector("[name=reason]");
  var edit = form.querySelector("[data-edit]");
  var scales = Array.prototype.slice.call(form.querySelectorAll("[data-scale]"));
  var current = 0;
  var sent = false;

  function send(action) {
    if (sent) return;
    sent = true;
    form.querySelector('button[value="' + action + '"]').click();
  }

  function highlight() {
    scales.forEach(function (scale, i) { scale.classList.toggle("is-current", i === current); });
  }

  function rate(value) {
    if (!scales.length) return;
    var radio = scales[current].querySelector('input[value="' + value + '"]');
    if (radio) radio.checked = true;
    current = Math.min(current + 1, scales.length - 1);
    highlight();
  }

  form.addEventListener("submit", function () { sent = true; });
  // Rating with the mouse moves the highlight on too.
  scales.forEach(function (scale, i) {
    scale.addEventListener("change", function () { current = Math.min(i + 1, scales.length - 1); highlight(); });
  });

  if (reason) {
    reason.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); send("reject"); }
    });
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target.matches("textarea, input[type=text], select");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && edit && edit.contains(target)) {
      event.preventDefault();
      send("edit");
      return;
    }
    if (event.key === "Escape" && typing) { target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter" && target.matches(".flags input[type=checkbox]")) {
      event.preventDefault();
      send("flag");
      return;
    }
    var handled = true;
    switch (event.key) {
      case "a": send("accept"); break;
      case "s": send("skip"); break;
      case "r": reason.focus(); break;
      case "e":
        edit.open = true;
        var box = edit.querySelector("[data-edit-primary]") || edit.querySelector("textarea");
        if (box) box.focus();
        break;
      case "f": form.querySelector(".flags input[type=checkbox]").focus(); break;
      case "1": case "2": case "3": case "4": case "5": rate(event.key); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  highlight();
  // A reject without a reason comes back to the reason field: focus on the
  // summary would let the next key (a, s) answer the item instead of typing.
  var summary = form.querySelector("[data-error-summary]");
  if (summary && summary.dataset.failedAction === "reject" && reason) reason.focus();
  else if (summary) summary.focus();
})();
