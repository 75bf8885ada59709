// Berth portal: dialogs, confirmations and copy buttons. No inline
// scripts (the Content-Security-Policy forbids them).
"use strict";
(function () {
  function copied(btn, ok) {
    var label = btn.getAttribute("data-label") || btn.textContent;
    btn.setAttribute("data-label", label);
    btn.textContent = ok ? "✓" : "✗";
    btn.classList.toggle("copied", ok);
    setTimeout(function () { btn.textContent = label; btn.classList.remove("copied"); }, 1500);
  }
  function copyText(btn) {
    var text = btn.getAttribute("data-copy");
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { copied(btn, true); }, function () { fallback(btn, text); });
    } else {
      fallback(btn, text);
    }
  }
  function fallback(btn, text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(ta);
    copied(btn, ok);
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-copy],[data-dialog],[data-close]");
    if (!t) { return; }
    if (t.hasAttribute("data-copy")) { copyText(t); return; }
    if (t.hasAttribute("data-dialog")) {
      var d = document.getElementById(t.getAttribute("data-dialog"));
      if (d && d.showModal) { d.showModal(); }
      return;
    }
    var dlg = t.closest("dialog");
    if (dlg) { dlg.close(); }
  });
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog[data-open]").forEach(function (d) { if (d.showModal) { d.showModal(); } });
    var lang = document.getElementById("lang-select");
    if (lang) {
      lang.addEventListener("change", function () { lang.form.submit(); });
    }
  });
})();
