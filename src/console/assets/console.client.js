// lmcp console, in the browser: the live feed over SSE (/ui/events), its filters,
// the CSRF header on every htmx request, and a refresh of the status bar when
// another operator stops or resumes. No framework beyond htmx; no eval.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="lmcp-csrf"]');
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) e.detail.headers["x-csrf-token"] = csrf.getAttribute("content");
  });

  var rows = document.getElementById("feed-rows");
  var form = document.getElementById("filters");
  var live = document.getElementById("live");
  if (!rows || !form) return;
  var MAX_ROWS = 500;
  var source = null;
  var after = Number(rows.getAttribute("data-after") || "0");

  function query() {
    var q = new URLSearchParams();
    ["host", "tool", "token"].forEach(function (k) {
      var v = form.elements[k] && form.elements[k].value.trim();
      if (v) q.set(k, v);
    });
    return q;
  }

  function setLive(on, text) {
    if (!live) return;
    live.textContent = text;
    live.className = "badge " + (on ? "live" : "off");
  }

  function dropEmpty() {
    var empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
  }

  function connect() {
    if (source) source.close();
    var q = query();
    q.set("after", String(after));
    source = new EventSource("/ui/events?" + q.toString());
    source.addEventListener("open", function () { setLive(true, "live"); });
    source.addEventListener("error", function () { setLive(false, "reconnecting"); });
    source.addEventListener("call", function (e) {
      dropEmpty();
      rows.insertAdjacentHTML("afterbegin", e.data);
      after = Math.max(after, Number(e.lastEventId) || after);
      while (rows.rows.length > MAX_ROWS) rows.deleteRow(-1);
    });
    source.addEventListener("state", function () {
      if (window.htmx) window.htmx.ajax("GET", "/ui/status", { target: "#status", swap: "outerHTML" });
    });
    source.addEventListener("logout", function () { window.location.assign("/ui"); });
  }

  var timer = null;
  function refilter() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = query();
      var qs = q.toString();
      history.replaceState(null, "", "/ui" + (qs ? "?" + qs : ""));
      fetch("/ui/feed" + (qs ? "?" + qs : ""), { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { window.location.assign("/ui"); return; }
        after = Number(r.headers.get("x-lmcp-last-seq") || after);
        return r.text().then(function (html) { rows.innerHTML = html; connect(); });
      });
    }, 200);
  }
  form.addEventListener("input", refilter);
  form.addEventListener("submit", function (e) { e.preventDefault(); refilter(); });
  connect();
})();
