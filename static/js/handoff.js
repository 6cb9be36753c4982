// Klavi Link demo portal: the "continue on your phone" block of the institution step follows the phone. Progressive
// enhancement only: without this file the block's "I finished on my phone" link asks the server instead.
(function () {
  "use strict";

  function wireHandoff() {
    var box = document.querySelector('[data-testid="handoff"]');
    var live = document.getElementById("handoff-live");
    if (!box || !live || !box.dataset.liveUrl) return;
    // Hidden at phone widths (CSS): nothing to follow there.
    if (box.offsetParent === null) return;
    var url = box.dataset.liveUrl;
    var last = null;

    function apply() {
      var line = live.querySelector("[data-handoff-state]");
      if (!line) return;
      box.dataset.state = line.getAttribute("data-handoff-state");
      var next = line.getAttribute("data-location");
      if (box.dataset.state === "done" && next && next.charAt(0) === "/" && next.charAt(1) !== "/") {
        window.location.assign(next);
      }
    }

    function tick() {
      fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin", cache: "no-store" })
        .then(function (res) {
          if (!res.ok) throw new Error("status " + res.status);
          var on = res.headers.get("X-Live") === "on";
          return res.text().then(function (html) { return { html: html, on: on }; });
        })
        .then(function (r) {
          // Swap only when something changed, so that a screen reader hears each change once.
          if (r.html !== last) {
            last = r.html;
            live.innerHTML = r.html;
            apply();
          }
          if (r.on) setTimeout(tick, 1500);
        })
        .catch(function () { setTimeout(tick, 4000); });
    }
    setTimeout(tick, 1500);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wireHandoff);
  } else {
    wireHandoff();
  }
})();
