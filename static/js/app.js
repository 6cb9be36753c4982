// Klavi Link demo portal: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";

  // ---- Tax id masks (the server validates; this only formats while typing) ----
  function maskCPF(v) {
    var d = v.replace(/\D/g, "").slice(0, 11);
    var out = d.slice(0, 3);
    if (d.length > 3) out += "." + d.slice(3, 6);
    if (d.length > 6) out += "." + d.slice(6, 9);
    if (d.length > 9) out += "-" + d.slice(9, 11);
    return out;
  }
  function maskCNPJ(v) {
    // Alphanumeric CNPJ: 12 chars [0-9A-Z] + 2 digits.
    var c = v.toUpperCase().replace(/[^0-9A-Z]/g, "").slice(0, 14);
    var out = c.slice(0, 2);
    if (c.length > 2) out += "." + c.slice(2, 5);
    if (c.length > 5) out += "." + c.slice(5, 8);
    if (c.length > 8) out += "/" + c.slice(8, 12);
    if (c.length > 12) out += "-" + c.slice(12, 14);
    return out;
  }
  function personType(form) {
    var r = form && form.querySelector('input[name="person_type"]:checked');
    return r ? r.value : "personal";
  }
  function applyMask(input) {
    var form = input.form;
    var kind = input.getAttribute("data-mask");
    if (kind === "taxid") kind = personType(form) === "business" ? "cnpj" : "cpf";
    var before = input.value;
    var after = kind === "cnpj" ? maskCNPJ(before) : maskCPF(before);
    if (after !== before) {
      var atEnd = input.selectionStart === before.length;
      input.value = after;
      if (atEnd) input.setSelectionRange(after.length, after.length);
    }
  }
  function syncPersonType(form) {
    if (!form) return;
    var business = personType(form) === "business";
    form.classList.add("js");
    form.classList.toggle("is-business", business);
    form.classList.toggle("is-personal", !business);
    var tax = form.querySelector('[data-mask="taxid"]');
    if (tax) {
      tax.setAttribute("inputmode", business ? "text" : "numeric");
      tax.setAttribute("maxlength", business ? "18" : "14");
      if (tax.value) applyMask(tax);
    }
  }
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t && t.hasAttribute && t.hasAttribute("data-mask")) applyMask(t);
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.name === "person_type") syncPersonType(t.form);
  });

  // Sandbox table: click a tax id to fill the form.
  document.addEventListener("click", function (e) {
    var t = e.target && e.target.closest ? e.target.closest("[data-copy]") : null;
    if (!t) return;
    var form = document.querySelector('[data-testid="start-form"]');
    if (!form) return;
    var radio = form.querySelector('input[name="person_type"][value="' + t.getAttribute("data-person") + '"]');
    if (radio) { radio.checked = true; syncPersonType(form); }
    var tax = form.querySelector('[name="tax_id"]');
    if (tax) { tax.value = t.getAttribute("data-copy"); applyMask(tax); tax.focus(); }
  });

  // ---- Logos: fall back to initials when the image fails (no inline onerror: CSP) ----
  function logoFallback(img) {
    img.hidden = true;
    var sib = img.nextElementSibling;
    if (sib && sib.classList.contains("initials")) sib.hidden = false;
  }
  function wireLogos(root) {
    root.querySelectorAll("img[data-logo]").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) logoFallback(img);
      img.addEventListener("error", function () { logoFallback(img); });
    });
  }

  // ---- Institution picker: live filtering, same rules as the server ----
  var folds = { "á": "a", "à": "a", "â": "a", "ã": "a", "ä": "a", "é": "e", "è": "e", "ê": "e", "ë": "e",
    "í": "i", "ì": "i", "î": "i", "ï": "i", "ó": "o", "ò": "o", "ô": "o", "õ": "o", "ö": "o",
    "ú": "u", "ù": "u", "û": "u", "ü": "u", "ç": "c", "ñ": "n" };
  function fold(s) {
    return s.toLowerCase().replace(/[áàâãäéèêëíìîïóòôõöúùûüçñ]/g, function (c) { return folds[c] || c; });
  }
  function wirePicker() {
    var form = document.querySelector("[data-live-filter]");
    var list = document.querySelector('[data-testid="institution-list"]');
    if (!form || !list) return;
    var empty = document.querySelector('[data-testid="institutions-empty"]');
    var count = document.querySelector("[data-count]");
    function run() {
      var words = fold(form.q.value).split(/\s+/).filter(Boolean);
      var person = form.person.value, resource = form.resource.value, kind = form.kind.value;
      var visible = 0;
      list.querySelectorAll("li[data-search]").forEach(function (li) {
        var ok = words.every(function (w) { return li.dataset.search.indexOf(w) >= 0; });
        var od = li.dataset.kind === "opendata";
        if (kind === "openfinance" && od) ok = false;
        if (kind === "opendata" && !od) ok = false;
        var bt = li.dataset.person;
        if (person !== "all" && !od && bt !== "BOTH" && bt !== person) ok = false;
        if (resource && (" " + li.dataset.resources + " ").indexOf(" " + resource + " ") < 0) ok = false;
        li.hidden = !ok;
        if (ok) visible++;
      });
      if (empty) empty.hidden = visible > 0;
      if (count) count.textContent = String(visible);
      if (window.history && history.replaceState) {
        var p = new URLSearchParams(new FormData(form));
        history.replaceState(null, "", form.getAttribute("action") + "?" + p.toString());
      }
    }
    form.addEventListener("input", run);
    form.addEventListener("change", run);
    form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
  }

  // ---- Folded sections the person opened stay open across live refreshes and reloads ----
  function wireKeepOpen(root) {
    root.querySelectorAll("details[data-keep-open][id]").forEach(function (d) {
      var k = "open:" + location.pathname + "#" + d.id;
      try {
        var v = sessionStorage.getItem(k);
        if (v === "1") d.open = true; else if (v === "0") d.open = false;
      } catch (e) { /* storage may be disabled */ }
      d.addEventListener("toggle", function () {
        try { sessionStorage.setItem(k, d.open ? "1" : "0"); } catch (e) { /* ignore */ }
      });
    });
  }

  // ---- Buttons that lead to a wait show it, and cannot be pressed twice ----
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || !form || !form.querySelector) return;
    var b = e.submitter && e.submitter.hasAttribute("data-pending") ? e.submitter : form.querySelector("[data-pending]");
    if (!b) return;
    if (form.dataset.busy === "1") { e.preventDefault(); return; }
    form.dataset.busy = "1";
    b.dataset.idle = b.textContent;
    b.setAttribute("aria-busy", "true");
    b.classList.add("is-pending");
    b.textContent = " " + b.getAttribute("data-pending");
    var sp = document.createElement("span");
    sp.className = "spinner";
    sp.setAttribute("aria-hidden", "true");
    b.insertBefore(sp, b.firstChild);
  });
  // Coming back with the browser's Back button shows the page as it was left: undo the pending state.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll(".is-pending[data-idle]").forEach(function (b) {
      b.textContent = b.dataset.idle;
      b.removeAttribute("aria-busy");
      b.classList.remove("is-pending");
      if (b.form) delete b.form.dataset.busy;
    });
  });

  // ---- Consent page: poll the live fragment while the consent is moving ----
  function announce(box, first) {
    var el = box.querySelector("[data-announce]");
    var out = document.getElementById("live-announce");
    if (!el || !out) return;
    var text = el.getAttribute("data-announce");
    if (first) { out.dataset.last = text; return; }
    if (text && text !== out.dataset.last) {
      out.dataset.last = text;
      out.textContent = text;
    }
  }
  function wireLive() {
    var box = document.getElementById("live");
    if (!box) return;
    announce(box, true);
    if (box.dataset.live !== "on") return;
    // A long poll: the server answers when the fragment changes (or with 304 after a while); the ETag names the
    // fragment shown. Without JavaScript, <noscript> refreshes the whole page instead.
    var url = box.dataset.liveUrl + "?wait=1";
    var etag = box.dataset.liveEtag || null;
    var last = null;
    var failures = 0;
    function tick() {
      var headers = { "Accept": "text/html" };
      if (etag) headers["If-None-Match"] = etag;
      fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
        .then(function (res) {
          var live = res.headers.get("X-Live");
          if (res.status === 304) return { html: null, live: live };
          if (!res.ok) throw new Error("status " + res.status);
          etag = res.headers.get("ETag");
          return res.text().then(function (html) { return { html: html, live: live }; });
        })
        .then(function (r) {
          failures = 0;
          // Swap only when something changed: keeps focus and avoids moving targets under the pointer.
          if (r.html !== null && r.html !== last) {
            last = r.html;
            box.innerHTML = r.html;
            wireLogos(box);
            wireKeepOpen(box);
            announce(box, false);
          }
          box.dataset.live = r.live === "on" ? "on" : "off";
          if (r.live === "on") setTimeout(tick, 100);
        })
        .catch(function () {
          failures++;
          setTimeout(tick, Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5))));
        });
    }
    tick();
  }

  // ---- Consent page (operators): copy the support bundle. The download link next to it works without JS. ----
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on a host that is not loopback has no Clipboard API: select a hidden textarea and copy.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }
  function wireSupportCopy() {
    document.querySelectorAll("[data-support-copy]").forEach(function (btn) {
      var status = btn.parentNode.querySelector("[data-support-status]");
      function say(text) { if (status) status.textContent = text; }
      btn.hidden = false;
      btn.addEventListener("click", function () {
        say("");
        btn.disabled = true;
        fetch(btn.getAttribute("data-support-copy"), { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
          .then(function (res) {
            if (!res.ok) throw new Error("status " + res.status);
            return res.text();
          })
          .then(copyText)
          .then(function () { say(btn.getAttribute("data-copied")); })
          .catch(function () { say(btn.getAttribute("data-failed")); })
          .then(function () { btn.disabled = false; });
      });
    });
  }

  // ---- Theme switch: the links set the cookie on the server and come back; here the same cookie is written and
  // the dark stylesheet switched in place, so a half-filled form is not reloaded. ----
  var darkMedia = { light: "not all", dark: "all", system: "(prefers-color-scheme: dark)" };
  var schemes = { light: "light", dark: "dark", system: "light dark" };
  document.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a[data-theme-choice]") : null;
    if (!a) return;
    var mode = a.getAttribute("data-theme-choice");
    var link = document.querySelector("link[data-dark-css]");
    if (!darkMedia[mode] || !link) return;
    e.preventDefault();
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = mode === "system"
      ? "theme=; Path=/; Max-Age=0; SameSite=Lax" + secure
      : "theme=" + mode + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
    link.media = darkMedia[mode];
    var meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) meta.content = schemes[mode];
    document.body.setAttribute("data-theme", mode);
    document.querySelectorAll("a[data-theme-choice]").forEach(function (x) {
      if (x === a) x.setAttribute("aria-current", "true"); else x.removeAttribute("aria-current");
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    syncPersonType(document.querySelector('[data-testid="start-form"]'));
    wireLogos(document);
    wireKeepOpen(document);
    wirePicker();
    wireLive();
    wireSupportCopy();
  });
})();
