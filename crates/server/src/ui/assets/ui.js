// esxlcm web UI: progress of running tasks over server-sent events. Pages work without
// it (a task page also links to itself to refresh); no inline script anywhere (CSP).
"use strict";
(function () {
  function follow(el) {
    var url = el.getAttribute("data-task-events");
    var bar = el.querySelector("progress");
    var status = el.querySelector("[data-task-status]");
    var message = el.querySelector("[data-task-message]");
    var source = new EventSource(url);
    function show(data) {
      var t;
      try { t = JSON.parse(data); } catch (e) { return null; }
      if (status) { status.textContent = t.status; }
      if (message) { message.textContent = t.message || ""; }
      if (bar && t.total > 0) { bar.max = t.total; bar.value = t.completed; }
      return t;
    }
    source.addEventListener("progress", function (ev) { show(ev.data); });
    source.addEventListener("done", function (ev) {
      source.close();
      var t = show(ev.data);
      if (bar) { bar.max = 1; bar.value = 1; }
      var done = el.querySelector("[data-task-done]");
      if (done) { done.hidden = false; }
      if (t && t.error) {
        var err = el.querySelector("[data-task-error]");
        if (err) { err.textContent = t.error; err.hidden = false; }
      }
      el.setAttribute("data-task-finished", t ? t.status : "");
    });
    source.onerror = function () { source.close(); };
  }
  function start() {
    var els = document.querySelectorAll("[data-task-events]");
    for (var i = 0; i < els.length; i++) { follow(els[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
