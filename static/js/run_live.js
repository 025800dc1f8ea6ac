/* Follows a queued or running run on its page: polls the run's status.json and
 * swaps in the page's live regions ([data-live]) whose HTML changed, so the
 * scroll position and the rest of the page stay. Polls every 2 s while the run
 * moves, less often while it does not or the tab is hidden, backs off on
 * errors, and stops once the run has finished: the last answer's regions show
 * its final state. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-run-status-url]");
  if (!panel || !window.fetch) return;
  var FAST = 2000, SLOW = 15000, AWAY = 60000;
  var delay = FAST;
  var status = panel.dataset.runStatus;
  var shown = {};
  var note = panel.querySelector("[data-run-following]");
  if (note) note.hidden = false;

  function swap(data) {
    var moved = data.status !== status, changed = moved;
    document.querySelectorAll("[data-live]").forEach(function (region) {
      var name = region.dataset.live, html = data.regions[name];
      if (html === undefined) return;
      // Forms carry a fresh CSRF token in every answer: swap them only when the
      // run's state moves, not under someone typing in them.
      var due = region.hasAttribute("data-live-on-status") ? moved : html !== shown[name];
      if (due) {
        region.innerHTML = html;
        changed = true;
      }
      shown[name] = html;
    });
    status = data.status;
    return changed;
  }

  function stop() {
    if (note) note.hidden = true;
  }

  function poll() {
    if (document.hidden) {
      window.setTimeout(poll, SLOW);
      return;
    }
    fetch(panel.dataset.runStatusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status >= 400 && response.status < 500) return null;  // gone or no longer ours to see
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        if (data === null) return stop();
        var changed = swap(data);
        if (data.finished) return stop();
        delay = changed ? FAST : Math.min(delay * 1.5, SLOW);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, AWAY);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, FAST);
})();
