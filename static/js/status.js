/* Follows a submission's checks: polls status.json every second, moves the
 * progress bar, and reloads the page once the checks have finished so the
 * server renders the figures. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-status-url]");
  if (!panel || !window.fetch) return;
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-status-text]");
  var badge = document.querySelector("[data-status-badge] .badge");

  function show(data) {
    bar.value = data.progress;
    bar.textContent = data.progress + " %";
    text.textContent = data.status_display + " — " + data.progress + " %";
    if (badge) {
      badge.textContent = data.status_display;
      badge.className = "badge badge-" + data.status;
    }
  }

  function poll() {
    fetch(panel.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (data.finished) window.location.reload();
        else window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1000);
})();
