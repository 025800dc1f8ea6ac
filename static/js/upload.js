/* Upload with a progress bar, drag-and-drop and resumable transfers.
 *
 * Without this script the form posts normally (multipart). With it, a chosen
 * file first goes to the resumable upload endpoint (tus 1.0.0, at
 * data-uploads-url): POST creates the upload, PATCH sends it in slices of
 * data-slice-bytes (8 MiB unless set), and after a dropped connection or a
 * 5xx the script waits (1 s, 2 s, 4 s, … up to 30 s), asks the server for its
 * offset (HEAD) and goes on from there. The upload's address is kept in
 * localStorage under the file's name, size and date, so choosing the same
 * file again resumes it. Once every byte is in, the form is posted through
 * XHR with upload=<id> in place of the file. The server answers 201
 * {redirect} or 400 with the form re-rendered (errors included), which
 * replaces the form in place; a finished upload is kept for the next try. */
(function () {
  "use strict";
  var root = document.querySelector("[data-upload]");
  if (!root || !window.FormData || !window.XMLHttpRequest) return;
  var msg = root.dataset;

  var TUS_VERSION = "1.0.0";
  var SLICE_BYTES = 8 * 1024 * 1024;
  var MAX_FAILURES = 10; // consecutive, before giving up
  var MAX_DELAY_MS = 30000;
  var STALL_MS = 60000; // no progress for this long: treat the request as lost
  var STORE_PREFIX = "occiportal.upload:";

  var busy = false; // a transfer or the form's POST is under way
  var active = null; // the resumable transfer in progress
  var kept = null; // {id, file}: finished, but its form came back with errors
  var shownPercent = null;

  function find(selector) { return root.querySelector(selector); }

  function fileInput(form) { return form.querySelector("input[type=file]"); }

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
    if (percent !== shownPercent) { // the percentage is a live region: announce changes only
      shownPercent = percent;
      find("progress").value = percent;
      find("[data-upload-percent]").textContent = percent + " %";
    }
    if (label) setStatus(label);
  }

  function setStatus(label) {
    var out = find("[data-upload-label]");
    if (out.textContent !== label) out.textContent = label;
  }

  function showCancel(visible) {
    var button = find("[data-upload-cancel]");
    if (button) button.hidden = !visible;
  }

  function fail(text) {
    busy = false;
    active = null;
    var error = find("[data-upload-error]");
    error.textContent = text;
    error.hidden = false;
    find("[data-upload-progress]").hidden = true;
    showCancel(false);
    find("[data-upload-submit]").disabled = false;
  }

  function replaceForm(html) {
    root.innerHTML = html;
    shownPercent = null;
    var summary = find("[data-error-summary]");
    if (summary) summary.focus();
  }

  function parseJSON(text) {
    try { return JSON.parse(text); } catch (error) { return null; }
  }

  // ---- remembered uploads: name + size + date → {id, url} ----------------

  function storeKey(file) { return STORE_PREFIX + [file.name, file.size, file.lastModified].join(":"); }

  function remember(file, upload) {
    try {
      window.localStorage.setItem(storeKey(file), JSON.stringify(upload));
    } catch (error) { /* private mode, or full: no resuming after a reload */ }
  }

  function recall(file) {
    try { return parseJSON(window.localStorage.getItem(storeKey(file))); } catch (error) { return null; }
  }

  function forget(file) {
    try { window.localStorage.removeItem(storeKey(file)); } catch (error) { /* nothing kept */ }
  }

  // ---- the form's POST ---------------------------------------------------

  // ``uploaded`` ({id, file}) when the file went ahead through the resumable endpoint.
  function postForm(form, data, uploaded) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    if (uploaded) {
      setProgress(100, msg.msgProcessing);
    } else {
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) setProgress(Math.floor((100 * event.loaded) / event.total));
      });
      xhr.upload.addEventListener("load", function () { setProgress(100, msg.msgProcessing); });
      setProgress(0, msg.msgUploading);
    }
    xhr.addEventListener("load", function () {
      busy = false;
      if (xhr.status === 201) {
        if (uploaded) forget(uploaded.file);
        kept = null;
        window.location.assign(JSON.parse(xhr.responseText).redirect);
      } else if (xhr.status === 400) {
        replaceForm(xhr.responseText);
        keepAfterErrors(uploaded);
      } else if (xhr.status === 413) {
        fail(msg.msgTooLarge);
      } else {
        fail(msg.msgFailed + " (" + xhr.status + ")");
      }
    });
    xhr.addEventListener("error", function () { fail(msg.msgFailed); });
    xhr.send(data);
  }

  // The re-rendered form has no file; a finished upload stands in for it,
  // unless the server refused the upload itself.
  function keepAfterErrors(uploaded) {
    var summary = find("[data-error-summary]");
    if (uploaded && summary && summary.hasAttribute("data-upload-refused")) {
      forget(uploaded.file);
      uploaded = null;
    }
    kept = uploaded || null;
    var out = find("[data-file-name]");
    if (kept && out) out.textContent = msg.msgKept + " " + kept.file.name + " (" + formatBytes(kept.file.size) + ")";
  }

  function formWithUpload(form, id) {
    var data = new FormData(form);
    var input = fileInput(form);
    if (input && input.name) data.delete(input.name);
    data.set("upload", id);
    return data;
  }

  // ---- the resumable transfer (tus 1.0.0) ----------------------------------

  function csrfToken(form) {
    var field = form.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function base64(text) {
    var bytes = new TextEncoder().encode(text), binary = "";
    for (var i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return window.btoa(binary);
  }

  function sliceBytes() {
    var n = parseInt(msg.sliceBytes, 10);
    return n > 0 ? n : SLICE_BYTES;
  }

  function startTransfer(form, file) {
    var transfer = {
      form: form, file: file, url: null, id: null, offset: null,
      resumed: false, failures: 0, conflicts: 0, xhr: null, timer: null, retry: null, stopped: false,
    };
    var stored = recall(file);
    if (stored && stored.url && stored.id) {
      transfer.url = stored.url;
      transfer.id = stored.id;
      transfer.resumed = true;
    }
    active = transfer;
    showCancel(true);
    setProgress(0, transfer.resumed ? msg.msgResuming : msg.msgUploading);
    next(transfer);
  }

  function next(transfer) {
    if (transfer.stopped) return;
    if (!transfer.url) create(transfer);
    else if (transfer.offset === null) head(transfer);
    else if (transfer.offset < transfer.file.size) patch(transfer);
    else finish(transfer);
  }

  // One tus request; network errors, stalls and 5xx go to retryLater, any other answer to onAnswer.
  function tusRequest(transfer, method, url, headers, body, onAnswer) {
    var xhr = new XMLHttpRequest();
    var watchdog = null;
    function alive() {
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(function () { xhr.abort(); }, STALL_MS);
    }
    function lost() {
      window.clearTimeout(watchdog);
      transfer.xhr = null;
      if (!transfer.stopped) retryLater(transfer);
    }
    xhr.open(method, url);
    xhr.setRequestHeader("Tus-Resumable", TUS_VERSION);
    xhr.setRequestHeader("X-CSRFToken", csrfToken(transfer.form));
    Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
    if (body) {
      xhr.upload.addEventListener("progress", function (event) {
        alive();
        showBytes(transfer, transfer.offset + event.loaded);
      });
    }
    xhr.addEventListener("progress", alive);
    xhr.addEventListener("load", function () {
      if (xhr.status === 0 || xhr.status >= 500) return lost();
      window.clearTimeout(watchdog);
      transfer.xhr = null;
      if (!transfer.stopped) onAnswer(xhr);
    });
    xhr.addEventListener("error", lost);
    xhr.addEventListener("abort", lost);
    transfer.xhr = xhr;
    alive();
    xhr.send(body || null);
  }

  function showBytes(transfer, bytes) {
    var size = transfer.file.size;
    setProgress(size ? Math.min(100, Math.floor((100 * bytes) / size)) : 100);
  }

  // ``label``: what to say while waiting; by default that the connection was lost.
  function retryLater(transfer, label) {
    transfer.failures += 1;
    if (transfer.failures >= MAX_FAILURES) {
      // The upload stays remembered: pressing the button or choosing the file again resumes it.
      fail(msg.msgGaveUp);
      return;
    }
    var delay = Math.min(1000 * Math.pow(2, transfer.failures - 1), MAX_DELAY_MS);
    setStatus(label || msg.msgRetrying.replace("{seconds}", String(Math.round(delay / 1000))));
    transfer.retry = function () {
      window.clearTimeout(transfer.timer);
      transfer.timer = transfer.retry = null;
      if (transfer.stopped) return;
      if (transfer.url) {
        transfer.offset = null; // ask the server where it stands
        setStatus(msg.msgReconnecting);
      }
      next(transfer);
    };
    transfer.timer = window.setTimeout(transfer.retry, delay);
  }

  // A 4xx other than 409: the server's word, then stop.
  function refused(transfer, xhr) {
    var body = parseJSON(xhr.responseText);
    if (xhr.status === 404 || xhr.status === 410) forget(transfer.file); // gone: the next try starts afresh
    var text = body && body.detail;
    if (!text) text = xhr.status === 413 ? msg.msgTooLarge : msg.msgFailed + " (" + xhr.status + ")";
    fail(text);
  }

  function create(transfer) {
    var headers = {
      "Upload-Length": String(transfer.file.size),
      "Upload-Metadata": "filename " + base64(transfer.file.name),
    };
    tusRequest(transfer, "POST", msg.uploadsUrl, headers, null, function (xhr) {
      if (xhr.status !== 201) return refused(transfer, xhr);
      var body = parseJSON(xhr.responseText) || {};
      transfer.url = xhr.getResponseHeader("Location") || body.url;
      transfer.id = body.id || transfer.url.replace(/\/+$/, "").split("/").pop();
      transfer.offset = 0;
      transfer.failures = 0;
      remember(transfer.file, { id: transfer.id, url: transfer.url });
      next(transfer);
    });
  }

  function head(transfer) {
    tusRequest(transfer, "HEAD", transfer.url, {}, null, function (xhr) {
      var offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      var length = parseInt(xhr.getResponseHeader("Upload-Length"), 10);
      var gone = xhr.status === 404 || xhr.status === 410 || xhr.status === 403;
      if (xhr.status === 200 && !isNaN(offset) && length === transfer.file.size) {
        transfer.offset = offset;
        transfer.resumed = false;
        showBytes(transfer, offset);
        setStatus(msg.msgUploading);
        next(transfer);
      } else if (transfer.resumed && (gone || xhr.status === 200)) {
        // A remembered upload the server no longer has (or not of this size): start afresh.
        forget(transfer.file);
        transfer.url = transfer.id = null;
        transfer.resumed = false;
        next(transfer);
      } else {
        refused(transfer, xhr);
      }
    });
  }

  function patch(transfer) {
    var start = transfer.offset;
    var end = Math.min(start + sliceBytes(), transfer.file.size);
    var headers = { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(start) };
    tusRequest(transfer, "PATCH", transfer.url, headers, transfer.file.slice(start, end), function (xhr) {
      if (xhr.status === 204) {
        var offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
        transfer.offset = isNaN(offset) ? end : offset;
        transfer.failures = 0;
        transfer.conflicts = 0;
        showBytes(transfer, transfer.offset);
        setStatus(msg.msgUploading);
        next(transfer);
      } else if (xhr.status === 409) {
        // Not the server's offset: ask for it and go on; wait first if that keeps happening.
        transfer.offset = null;
        transfer.conflicts += 1;
        if (transfer.conflicts === 1) next(transfer);
        else retryLater(transfer, msg.msgResuming); // the server is still taking an earlier piece, not a lost connection
      } else {
        refused(transfer, xhr);
      }
    });
  }

  function finish(transfer) {
    active = null;
    showCancel(false);
    postForm(transfer.form, formWithUpload(transfer.form, transfer.id), { id: transfer.id, file: transfer.file });
  }

  function cancel() {
    var transfer = active;
    if (!transfer) return;
    transfer.stopped = true;
    window.clearTimeout(transfer.timer);
    if (transfer.xhr) transfer.xhr.abort();
    forget(transfer.file);
    if (transfer.url) {
      var xhr = new XMLHttpRequest(); // termination; the server drops the bytes it holds
      xhr.open("DELETE", transfer.url);
      xhr.setRequestHeader("Tus-Resumable", TUS_VERSION);
      xhr.setRequestHeader("X-CSRFToken", csrfToken(transfer.form));
      xhr.send();
    }
    busy = false;
    active = null;
    showCancel(false);
    setStatus(msg.msgCancelled);
    find("[data-upload-submit]").disabled = false;
  }

  function send(form) {
    if (busy) return;
    var input = fileInput(form);
    var file = input && input.files && input.files[0];
    find("[data-upload-error]").hidden = true;
    if (file) kept = null;
    var resumable = msg.uploadsUrl && file && file.size > 0 && Blob.prototype.slice && window.TextEncoder;
    busy = true;
    find("[data-upload-submit]").disabled = true;
    if (resumable) {
      startTransfer(form, file);
    } else if (!file && kept) {
      postForm(form, formWithUpload(form, kept.id), kept);
    } else {
      postForm(form, new FormData(form), null); // no file (the server says so), an empty one, or no endpoint
    }
  }

  // Listeners sit on the wrapper, so they survive the form being replaced.
  root.addEventListener("submit", function (event) {
    event.preventDefault();
    send(event.target);
  });
  root.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-upload-cancel]")) cancel();
  });
  root.addEventListener("change", function (event) {
    if (event.target.type === "file") showFileName(event.target);
  });
  // Back online: do not wait out the rest of the pause.
  window.addEventListener("online", function () {
    if (active && active.retry) active.retry();
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
