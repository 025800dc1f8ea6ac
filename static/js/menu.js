/* The header: on narrow screens the menu folds behind one button, and the
 * language picker's button shows only once another language is chosen (it
 * does not switch by itself: arrow keys on a closed select change it).
 * Without this script the header shows everything. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var header = document.querySelector(".site-header");
    var toggle = header && header.querySelector("[data-menu-toggle]");
    if (toggle) {
      header.classList.add("has-menu-toggle");
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        header.classList.toggle("menu-open", open);
      });
    }
    var language = document.querySelector(".language-form select");
    if (language) {
      var submit = language.form.querySelector("[data-language-submit]");
      var current = language.value;
      submit.hidden = true;
      language.addEventListener("change", function () { submit.hidden = language.value === current; });
    }
  });
})();
