// Klavi sandbox, bank and LGPD pages: a button that leads to a wait (above all the return to the partner, which
// confirms the consent before it answers) shows that wait and cannot be pressed twice. Progressive enhancement
// only: without this file every form is a plain HTML post. The texts come from the page (data-pending, in the
// page's language); the status line is a polite live region, so screen readers hear it.
(function () {
  "use strict";

  function statusLine() {
    return document.querySelector("[data-pending-status]");
  }

  function showPending(text) {
    var box = statusLine();
    if (!box || !text) return;
    var spin = document.createElement("span");
    spin.className = "spin";
    spin.setAttribute("aria-hidden", "true");
    var label = document.createElement("span");
    label.textContent = text;
    box.replaceChildren(spin, label);
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (form.dataset.busy === "1") {
      e.preventDefault(); // already on its way: a second submission (Enter, a script) would post a spent step
      return;
    }
    var b = e.submitter && e.submitter.hasAttribute("data-pending") ? e.submitter : null;
    if (!b) return;
    form.dataset.busy = "1";
    // A disabled button is left out of the posted form, the pressed one included: its name and value (the
    // action) travel in a hidden copy instead.
    if (b.name) {
      var copy = document.createElement("input");
      copy.type = "hidden";
      copy.name = b.name;
      copy.value = b.value;
      copy.setAttribute("data-pending-copy", "");
      form.appendChild(copy);
    }
    form.querySelectorAll("button").forEach(function (x) {
      if (!x.disabled) {
        x.disabled = true;
        x.setAttribute("data-pending-disabled", "");
      }
    });
    b.setAttribute("aria-busy", "true");
    b.classList.add("is-pending");
    showPending(b.getAttribute("data-pending"));
  });

  // A link back to the partner (error pages) shows the same wait; it cannot be disabled, so a second click is
  // ignored instead.
  document.addEventListener("click", function (e) {
    var a = e.target instanceof Element ? e.target.closest("a[data-pending]") : null;
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.getAttribute("aria-busy") === "true") {
      e.preventDefault();
      return;
    }
    a.setAttribute("aria-busy", "true");
    a.classList.add("is-pending");
    showPending(a.getAttribute("data-pending"));
  });

  // Coming back with the browser's Back button shows the page as it was left: undo the pending state.
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll("[data-pending-copy]").forEach(function (x) { x.remove(); });
    document.querySelectorAll("[data-pending-disabled]").forEach(function (x) {
      x.disabled = false;
      x.removeAttribute("data-pending-disabled");
    });
    document.querySelectorAll(".is-pending").forEach(function (x) {
      x.removeAttribute("aria-busy");
      x.classList.remove("is-pending");
    });
    document.querySelectorAll("form[data-busy]").forEach(function (f) { delete f.dataset.busy; });
    var box = statusLine();
    if (box) box.replaceChildren();
  });
})();
