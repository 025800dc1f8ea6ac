/* Upload with a progress bar and drag-and-drop. Without this script the
 * form posts normally; with it the same POST goes through XHR so the bar
 * can follow the upload. The server answers 201 {redirect} or 400 with the
 * form re-rendered (errors included), which replaces the form in place. */
(function () {
  "use strict";
  var root = document.querySelector("[data-upload]");
  if (!root || !window.FormData || !window.XMLHttpRequest) return;
  var msg = root.dataset;

  function find(selector) { return root.querySelector(selector); }

  function showFileName(input) {
    var out = find("[data-file-name]");
    if (!out) return;
    var file = input.files && input.files[0];
    out.textContent = file ? msg.msgSelected + " " + file.name + " (" + formatBytes(file.size) + ")" : "";
  }

  function formatBytes(n) {
    var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function setProgress(percent, label) {
    var box = find("[data-upload-progress]");
    box.hidden = false;
    find("progress").value = percent;
    find("[data-upload-percent]").textContent = percent + " %";
    if (label) find("[data-upload-label]").textContent = label;
  }

  function fail(text) {
    var error = find("[data-upload-error]");
    error.textContent = text;
    error.hidden = false;
    find("[data-upload-progress]").hidden = true;
    find("[data-upload-submit]").disabled = false;
  }

  function replaceForm(html) {
    root.innerHTML = html;
    var summary = find("[data-error-summary]");
    if (summary) summary.focus();
  }

  function send(form) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) setProgress(Math.floor((100 * event.loaded) / event.total));
    });
    xhr.upload.addEventListener("load", function () { setProgress(100, msg.msgProcessing); });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        window.location.assign(JSON.parse(xhr.responseText).redirect);
      } else if (xhr.status === 400) {
        replaceForm(xhr.responseText);
      } else if (xhr.status === 413) {
        fail(msg.msgTooLarge);
      } else {
        fail(msg.msgFailed + " (" + xhr.status + ")");
      }
    });
    xhr.addEventListener("error", function () { fail(msg.msgFailed); });
    find("[data-upload-error]").hidden = true;
    find("[data-upload-submit]").disabled = true;
    setProgress(0, msg.msgUploading);
    xhr.send(new FormData(form));
  }

  // Listeners sit on the wrapper, so they survive the form being replaced.
  root.addEventListener("submit", function (event) {
    event.preventDefault();
    send(event.target);
  });
  root.addEventListener("change", function (event) {
    if (event.target.type === "file") showFileName(event.target);
  });
  ["dragenter", "dragover"].forEach(function (type) {
    root.addEventListener(type, function (event) {
      var zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("is-dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    root.addEventListener(type, function (event) {
      var zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.remove("is-dragover");
      if (type === "drop" && event.dataTransfer && event.dataTransfer.files.length) {
        var input = zone.querySelector("input[type=file]");
        input.files = event.dataTransfer.files;
        showFileName(input);
      }
    });
  });
})();
