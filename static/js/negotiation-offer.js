// The offer page's live preview (progressive: without this script the "Preview" button does the same).
// Each change of a term posts the form to the preview endpoint and swaps in the rendered schedule; the
// hidden terms_hash takes the new preview's hash, so "Send" always carries the hash of what is shown.
// The server compares it with the terms sent and refuses a difference (offer_terms_not_previewed).
(function () {
  "use strict";
  var form = document.getElementById("offer-form");
  if (!form || !form.dataset.previewUrl || !window.fetch) return;
  var hash = document.getElementById("id_terms_hash");
  var send = document.getElementById("offer-send");
  var timer = null;
  var seq = 0;

  function refresh() {
    var mine = ++seq;
    var data = new FormData(form);
    data.delete("preset");
    fetch(form.dataset.previewUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return; // a later change is on its way
        var current = document.getElementById("offer-preview");
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#offer-preview");
        if (!current || !fresh) return;
        current.replaceWith(fresh);
        hash.value = fresh.dataset.termsHash || "";
        if (send) send.disabled = !hash.value;
      });
  }

  function changed() {
    // Until the new preview is in, the page shows old figures: mark them and hold "Send".
    var current = document.getElementById("offer-preview");
    if (current) current.classList.add("stale");
    if (send) send.disabled = true;
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  form.addEventListener("input", function (event) {
    if (event.target.name !== "note" && event.target.name !== "monthly_limit") changed();
  });
  form.addEventListener("change", function (event) {
    if (event.target.name !== "note" && event.target.name !== "monthly_limit") changed();
  });
})();
