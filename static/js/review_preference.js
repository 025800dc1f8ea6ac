/* Keyboard shortcuts of a preference item, as listed beside it:
 * 1–n pick the better of two responses, or rank more (pressed best first;
 * the ranking saves itself once only one is left, Enter saves the best
 * alone), t tie, b both bad, w write a better response (Esc leaves it),
 * f flag (Space ticks, Enter flags), s skip.
 * Without this script the buttons work as a plain form. */
(function () {
  "use strict";
  var form = document.querySelector("[data-preference-form]");
  if (!form) return;
  var count = parseInt(form.dataset.responses, 10);
  var ranking = [];
  var sent = false;

  function send(answer) {
    if (sent) return;
    sent = true;
    form.querySelector('button[value="' + answer + '"]').click();
  }

  function showRanks() {
    form.querySelectorAll("[data-position]").forEach(function (item) {
      var rank = ranking.indexOf(parseInt(item.dataset.position, 10));
      item.classList.toggle("is-ranked", rank >= 0);
      item.querySelector("[data-rank]").textContent = rank >= 0 ? "#" + (rank + 1) : "";
    });
  }

  function press(position) {
    if (position > count || ranking.indexOf(position) >= 0) return;
    if (count === 2) { send("best-" + position); return; }
    ranking.push(position);
    if (ranking.length === count - 1) {
      for (var p = 1; p <= count; p++) if (ranking.indexOf(p) < 0) ranking.push(p);
      form.querySelector("[data-ranking]").value = ranking.join(",");
      showRanks();
      send("ranking");
      return;
    }
    showRanks();
  }

  form.addEventListener("submit", function () { sent = true; });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target.matches("textarea, input[type=text], select");
    if (event.key === "Escape" && typing) { target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter" && target.matches(".flags input[type=checkbox]")) {
      event.preventDefault();
      send("flag");
      return;
    }
    var handled = true;
    if (/^[1-9]$/.test(event.key)) press(parseInt(event.key, 10));
    else if (event.key === "Enter" && ranking.length === 1) send("best-" + ranking[0]);
    else if (event.key === "t") send("tie");
    else if (event.key === "b") send("both_bad");
    else if (event.key === "s") send("skip");
    else if (event.key === "w") form.querySelector("[name=written]").focus();
    else if (event.key === "f") form.querySelector(".flags input[type=checkbox]").focus();
    else handled = false;
    if (handled) event.preventDefault();
  });

  var summary = form.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
